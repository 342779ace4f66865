//! JSON Schema (draft 2020-12) documents for configs; the documents themselves come from
//! [`aicm::json_schema`], so the SDK and the generator never disagree.
//!
//! The differences from the TypeValidator are listed in the crate docs ("JSON Schema").

use schemars::Schema;

use crate::ConfigSchema;

pub use aicm::json_schema::{DRAFT_2020_12, type_schema};

/// The JSON Schema of a config's usage objects.
///
/// An empty schema accepts any object, as the validator does.
pub fn json_schema(config: &ConfigSchema) -> Schema {
    aicm::json_schema::usage_schema(&config.config_id, &config.schema)
}
