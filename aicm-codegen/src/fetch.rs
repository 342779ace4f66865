//! Live configs from the AICostManager API, through aicm's settings, client and signed-config
//! verification ([`aicm::fetch_all_configs_blocking`]).

use crate::CodegenError;
use crate::source::RawConfig;

/// Every config the API serves (signature-verified), in the order it lists them.
pub(crate) fn fetch_raw_configs() -> Result<Vec<RawConfig>, CodegenError> {
    let configs = aicm::fetch_all_configs_blocking().map_err(|error| match error {
        aicm::Error::MissingApiKey | aicm::Error::InvalidSetting { .. } => CodegenError::Settings {
            message: error.to_string(),
        },
        // Today's service (POST /track, since August 2025) keeps no usage schemas.
        aicm::Error::Api {
            status: 404, url, ..
        } => CodegenError::NoConfigsEndpoint {
            url: url.trim_end_matches("/configs").to_owned(),
        },
        other => CodegenError::Unreachable {
            message: other.to_string(),
        },
    })?;
    let mut out = Vec::with_capacity(configs.len());
    for config in configs {
        match config {
            Ok(loaded) => out.push(RawConfig {
                config_id: loaded.config_id,
                schema: Ok(loaded.schema),
            }),
            Err(aicm::Error::InvalidSchema { config_id, source }) => out.push(RawConfig {
                config_id,
                schema: Err(source),
            }),
            Err(other) => {
                return Err(CodegenError::Unreachable {
                    message: other.to_string(),
                });
            }
        }
    }
    Ok(out)
}
