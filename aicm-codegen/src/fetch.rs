//! Live configs from the AICostManager API, through aicm's settings, client and signed-config
//! verification.

use crate::CodegenError;
use crate::source::RawConfig;

/// Every config the API serves (signature-verified), in the order it lists them.
pub(crate) fn fetch_raw_configs() -> Result<Vec<RawConfig>, CodegenError> {
    Err(CodegenError::Unreachable {
        message: "this build of aicm-codegen has no API client yet".to_owned(),
    })
}
