//! Where schemas come from: a configs file, a bare schema file, or (through `fetch`) the API;
//! and which of them were asked for.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use aicm_schema::{RawSchema, Schema, SchemaError};
use serde::Deserialize;

use crate::CodegenError;

/// One config's id and parsed `manual_usage_schema`: the input of every generator here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSchema {
    /// The config id, e.g. `chat-completions`.
    pub config_id: String,
    /// The parsed schema, fields in the order the source lists them.
    pub schema: Schema,
}

impl ConfigSchema {
    /// Pairs an id with a schema.
    pub fn new(config_id: impl Into<String>, schema: Schema) -> ConfigSchema {
        ConfigSchema {
            config_id: config_id.into(),
            schema,
        }
    }
}

/// Where to read configs from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// A local file: the local API's configs file (`{"configs": [{"config_id": …,
    /// "manual_usage_schema": {…}}, …]}`) or a bare `{field: type}` schema, which then needs
    /// exactly one config id to name it.
    File(PathBuf),
    /// The AICostManager API, with aicm's settings (`AICM_API_KEY`, `AICM_API_BASE`,
    /// `AICM_API_URL`, `AICM_INI_PATH`) and signed-config verification.
    Api,
}

/// Which configs to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every config the source holds.
    All,
    /// These ids; an id the source does not hold is an error that lists the known ones.
    Ids(Vec<String>),
}

/// A config whose schema is not parsed yet, so that only selected schemas can fail.
#[derive(Debug, Clone)]
pub(crate) struct RawConfig {
    pub(crate) config_id: String,
    pub(crate) schema: Result<Schema, SchemaError>,
}

/// Reads the configs `selection` asks for from `source`, sorted by config id.
pub fn load_configs(
    source: &Source,
    selection: &Selection,
) -> Result<Vec<ConfigSchema>, CodegenError> {
    match source {
        Source::File(path) => load_file(path, selection),
        Source::Api => {
            let raw = crate::fetch::fetch_raw_configs()?;
            select(raw, selection)
        }
    }
}

fn load_file(path: &Path, selection: &Selection) -> Result<Vec<ConfigSchema>, CodegenError> {
    let text = std::fs::read_to_string(path).map_err(|e| CodegenError::io(path, e))?;
    match parse_file_text(&text).map_err(|message| CodegenError::InputFormat {
        path: path.to_owned(),
        message,
    })? {
        FileContent::Configs(raw) => select(raw, selection),
        FileContent::BareSchema(schema) => match selection {
            Selection::Ids(ids) if dedup(ids).len() == 1 => {
                let config_id = ids[0].clone();
                let schema = schema_or_error(&config_id, schema.parse())?;
                Ok(vec![ConfigSchema { config_id, schema }])
            }
            other => Err(CodegenError::BareSchemaNeedsId {
                path: path.to_owned(),
                all: matches!(other, Selection::All),
            }),
        },
    }
}

/// What a `--from-file` file holds.
pub(crate) enum FileContent {
    Configs(Vec<RawConfig>),
    BareSchema(RawSchema),
}

#[derive(Deserialize)]
struct ConfigsDoc {
    configs: Vec<ConfigDoc>,
}

#[derive(Deserialize)]
struct ConfigDoc {
    config_id: String,
    #[serde(default)]
    manual_usage_schema: RawSchema,
}

/// Tells a configs file (an object with a `configs` array) from a bare schema (an object of
/// type strings), keeping field order in both.
pub(crate) fn parse_file_text(text: &str) -> Result<FileContent, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let serde_json::Value::Object(map) = &value else {
        return Err(
            "expected a configs file ({\"configs\": [...]}) or a schema ({field: type})".into(),
        );
    };
    if map.get("configs").is_some_and(serde_json::Value::is_array) {
        let doc: ConfigsDoc = serde_json::from_str(text)
            .map_err(|e| format!("not a configs file ({{\"configs\": [...]}}): {e}"))?;
        Ok(FileContent::Configs(
            doc.configs
                .into_iter()
                .map(|c| RawConfig {
                    config_id: c.config_id,
                    schema: c.manual_usage_schema.parse(),
                })
                .collect(),
        ))
    } else {
        let raw: RawSchema = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Ok(FileContent::BareSchema(raw))
    }
}

/// Picks the selected configs (first occurrence of an id wins), parses their schemas and sorts
/// them by id so that the output does not depend on the order the source lists them in.
pub(crate) fn select(
    raw: Vec<RawConfig>,
    selection: &Selection,
) -> Result<Vec<ConfigSchema>, CodegenError> {
    let mut seen = BTreeSet::new();
    let raw: Vec<RawConfig> = raw
        .into_iter()
        .filter(|c| seen.insert(c.config_id.clone()))
        .collect();
    let chosen: Vec<RawConfig> = match selection {
        Selection::All => raw,
        Selection::Ids(ids) => {
            let ids = dedup(ids);
            let unknown: Vec<String> = ids
                .iter()
                .filter(|id| !seen.contains(*id))
                .cloned()
                .collect();
            if !unknown.is_empty() {
                return Err(CodegenError::UnknownConfig {
                    unknown,
                    known: seen.into_iter().collect(),
                });
            }
            raw.into_iter()
                .filter(|c| ids.contains(&c.config_id))
                .collect()
        }
    };
    let mut out = chosen
        .into_iter()
        .map(|c| {
            let schema = schema_or_error(&c.config_id, c.schema)?;
            Ok(ConfigSchema {
                config_id: c.config_id,
                schema,
            })
        })
        .collect::<Result<Vec<_>, CodegenError>>()?;
    out.sort_by(|a, b| a.config_id.cmp(&b.config_id));
    Ok(out)
}

fn schema_or_error(
    config_id: &str,
    schema: Result<Schema, SchemaError>,
) -> Result<Schema, CodegenError> {
    schema.map_err(|e| match e {
        SchemaError::Fields(errors) => CodegenError::InvalidSchema {
            config_id: config_id.to_owned(),
            errors,
        },
        SchemaError::NotAnObject(message) => CodegenError::InputFormat {
            path: PathBuf::from(format!("config `{config_id}`")),
            message,
        },
    })
}

fn dedup(ids: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    ids.iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect()
}
