//! Reading and parsing the schema named by `#[usage(schema = …)]` or `schema_file = …`.

use std::path::{Path, PathBuf};

use aicm_schema::{Schema, SchemaError};
use proc_macro2::Span;

use crate::attrs::SchemaSource;
use crate::errors::Errors;

/// A schema that parsed, with where it came from.
pub(crate) struct LoadedSchema {
    pub(crate) schema: Schema,
    /// The file to `include_bytes!` so that editing it rebuilds the crate.
    pub(crate) file: Option<PathBuf>,
}

/// Loads the schema, reporting every problem on the literal that named it.
///
/// `manifest_dir` is `CARGO_MANIFEST_DIR` (absent only outside Cargo).
pub(crate) fn load(
    source: &SchemaSource,
    manifest_dir: Option<&Path>,
    errors: &mut Errors,
) -> Option<LoadedSchema> {
    match source {
        SchemaSource::Inline(lit) => {
            let schema = parse(&lit.value(), lit.span(), "invalid schema", errors)?;
            Some(LoadedSchema { schema, file: None })
        }
        SchemaSource::File(lit) => {
            let relative = lit.value();
            let path = match manifest_dir {
                Some(dir) => dir.join(&relative),
                None => PathBuf::from(&relative),
            };
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) => {
                    errors.push(
                        lit.span(),
                        format!(
                            "cannot read schema file `{relative}` (paths are relative to \
                             CARGO_MANIFEST_DIR): {e}"
                        ),
                    );
                    return None;
                }
            };
            let what = format!("invalid schema in `{relative}`");
            let schema = parse(&text, lit.span(), &what, errors)?;
            Some(LoadedSchema {
                schema,
                file: Some(path),
            })
        }
    }
}

fn parse(text: &str, span: Span, what: &str, errors: &mut Errors) -> Option<Schema> {
    match Schema::from_json_str(text) {
        Ok(schema) => Some(schema),
        Err(SchemaError::Fields(fields)) => {
            for field in fields {
                errors.push(span, format!("{what}: {field}"));
            }
            None
        }
        Err(SchemaError::NotAnObject(message)) => {
            errors.push(
                span,
                format!(
                    "{what}: {message} (expected a JSON object of field names to type strings)"
                ),
            );
            None
        }
    }
}
