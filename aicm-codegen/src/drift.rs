//! `--check`: what changed between a committed module and what would be generated now.

use std::fmt;
use std::path::{Path, PathBuf};

use aicm_schema::Schema;

use crate::ConfigSchema;

/// The outcome of a drift check: empty when the committed files are what generation would
/// write now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriftReport {
    /// The module file checked.
    pub path: PathBuf,
    /// Every difference found, configs and fields first.
    pub changes: Vec<Change>,
}

/// One difference between the committed files and a fresh generation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// The module file does not exist.
    MissingFile,
    /// A config is in the source but not in the committed module.
    ConfigAdded {
        /// The config id.
        config_id: String,
    },
    /// A config is in the committed module but no longer generated.
    ConfigRemoved {
        /// The config id.
        config_id: String,
    },
    /// A field is new in a config's schema.
    FieldAdded {
        /// The config id.
        config_id: String,
        /// The schema key.
        field: String,
        /// Its type now.
        ty: String,
    },
    /// A field is gone from a config's schema.
    FieldRemoved {
        /// The config id.
        config_id: String,
        /// The schema key.
        field: String,
        /// Its type in the committed module.
        ty: String,
    },
    /// A field's type changed.
    FieldTypeChanged {
        /// The config id.
        config_id: String,
        /// The schema key.
        field: String,
        /// The type in the committed module.
        old: String,
        /// The type now.
        new: String,
    },
    /// The same fields, in another order (which changes the fingerprint).
    FieldsReordered {
        /// The config id.
        config_id: String,
    },
    /// The schemas agree but the bytes do not: names, flags, a newer generator or a hand edit.
    CodeDiffers,
    /// A schema snapshot file (`--schema-dir`) is missing or out of date.
    SnapshotOutdated {
        /// The snapshot file.
        path: PathBuf,
    },
}

impl DriftReport {
    /// Whether nothing changed.
    pub fn is_clean(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Compares the module on disk (`existing`, `None` when absent) with `generated`, naming the
/// configs and fields whose schemas changed; a byte difference the schemas do not explain is
/// reported as [`Change::CodeDiffers`].
pub(crate) fn compare(
    path: &Path,
    existing: Option<&str>,
    generated: &str,
    configs: &[ConfigSchema],
) -> DriftReport {
    let mut report = DriftReport {
        path: path.to_owned(),
        changes: Vec::new(),
    };
    let Some(existing) = existing else {
        report.changes.push(Change::MissingFile);
        return report;
    };
    if existing == generated {
        return report;
    }
    let old = embedded_schemas(existing);
    for config in configs {
        match old.iter().find(|(id, _)| *id == config.config_id) {
            None => report.changes.push(Change::ConfigAdded {
                config_id: config.config_id.clone(),
            }),
            Some((_, old_schema)) => {
                compare_fields(&config.config_id, old_schema, &config.schema, &mut report);
            }
        }
    }
    for (id, _) in &old {
        if !configs.iter().any(|c| &c.config_id == id) {
            report.changes.push(Change::ConfigRemoved {
                config_id: id.clone(),
            });
        }
    }
    if report.changes.is_empty() {
        report.changes.push(Change::CodeDiffers);
    }
    report
}

fn compare_fields(config_id: &str, old: &Schema, new: &Schema, report: &mut DriftReport) {
    let before = report.changes.len();
    for field in new.fields() {
        match old.get(&field.name) {
            None => report.changes.push(Change::FieldAdded {
                config_id: config_id.to_owned(),
                field: field.name.clone(),
                ty: field.ty.to_string(),
            }),
            Some(o) if o.ty != field.ty => report.changes.push(Change::FieldTypeChanged {
                config_id: config_id.to_owned(),
                field: field.name.clone(),
                old: o.ty.to_string(),
                new: field.ty.to_string(),
            }),
            Some(_) => {}
        }
    }
    for field in old.fields() {
        if new.get(&field.name).is_none() {
            report.changes.push(Change::FieldRemoved {
                config_id: config_id.to_owned(),
                field: field.name.clone(),
                ty: field.ty.to_string(),
            });
        }
    }
    if report.changes.len() == before && old != new {
        report.changes.push(Change::FieldsReordered {
            config_id: config_id.to_owned(),
        });
    }
}

/// `(config_id, schema)` of every struct with a `#[usage(schema = "…", config_id = "…")]`
/// attribute in a module; a file that does not parse yields none (every config then shows as
/// added).
pub(crate) fn embedded_schemas(text: &str) -> Vec<(String, Schema)> {
    let Ok(file) = syn::parse_file(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in &file.items {
        let syn::Item::Struct(item) = item else {
            continue;
        };
        for attr in item.attrs.iter().filter(|a| a.path().is_ident("usage")) {
            let mut schema = None;
            let mut config_id = None;
            let parsed = attr.parse_nested_meta(|meta| {
                // A flag (modules written before 0.1 had `write_fields`) has no value.
                if meta.input.is_empty() || meta.input.peek(syn::Token![,]) {
                    return Ok(());
                }
                let value: syn::LitStr = meta.value()?.parse()?;
                if meta.path.is_ident("schema") {
                    schema = Some(value.value());
                } else if meta.path.is_ident("config_id") {
                    config_id = Some(value.value());
                }
                Ok(())
            });
            if parsed.is_err() {
                continue;
            }
            if let (Some(schema), Some(config_id)) = (schema, config_id)
                && let Ok(schema) = Schema::from_json_str(&schema)
            {
                out.push((config_id, schema));
            }
        }
    }
    out
}

impl fmt::Display for DriftReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_clean() {
            return write!(f, "{} is up to date", self.path.display());
        }
        writeln!(
            f,
            "{} is out of date with the configs it was generated from:",
            self.path.display()
        )?;
        let mut current: Option<&str> = None;
        for change in &self.changes {
            let config = change_config(change);
            if config != current {
                if let Some(id) = config {
                    writeln!(f, "  config `{id}`:")?;
                }
                current = config;
            }
            let indent = if config.is_some() { "    " } else { "  " };
            writeln!(f, "{indent}{}", describe(change))?;
        }
        write!(
            f,
            "Regenerate with the same command without `--check`, then commit the result."
        )
    }
}

fn change_config(change: &Change) -> Option<&str> {
    match change {
        Change::ConfigAdded { config_id }
        | Change::ConfigRemoved { config_id }
        | Change::FieldAdded { config_id, .. }
        | Change::FieldRemoved { config_id, .. }
        | Change::FieldTypeChanged { config_id, .. }
        | Change::FieldsReordered { config_id } => Some(config_id),
        Change::MissingFile | Change::CodeDiffers | Change::SnapshotOutdated { .. } => None,
    }
}

fn describe(change: &Change) -> String {
    match change {
        Change::MissingFile => "the file does not exist".to_owned(),
        Change::ConfigAdded { .. } => "new config, not in the file".to_owned(),
        Change::ConfigRemoved { .. } => {
            "in the file, but no longer generated (gone from the source or not selected)".to_owned()
        }
        Change::FieldAdded { field, ty, .. } => format!("field `{field}` added: `{ty}`"),
        Change::FieldRemoved { field, ty, .. } => format!("field `{field}` removed (was `{ty}`)"),
        Change::FieldTypeChanged {
            field, old, new, ..
        } => format!("field `{field}` changed type: `{old}` -> `{new}`"),
        Change::FieldsReordered { .. } => "the fields are in a different order".to_owned(),
        Change::CodeDiffers => "the schemas are the same, but the generated code differs \
                                (struct names, --schemars, a newer aicm-codegen or a hand edit)"
            .to_owned(),
        Change::SnapshotOutdated { path } => {
            format!(
                "schema snapshot {} is missing or out of date",
                path.display()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RenderOptions, render_module};

    fn config(id: &str, schema: &str) -> ConfigSchema {
        ConfigSchema::new(id, Schema::from_json_str(schema).unwrap())
    }

    fn report(old: &[ConfigSchema], new: &[ConfigSchema]) -> DriftReport {
        let existing = render_module(old, &RenderOptions::default()).unwrap();
        let generated = render_module(new, &RenderOptions::default()).unwrap();
        compare(Path::new("usage.rs"), Some(&existing), &generated, new)
    }

    #[test]
    fn the_same_schemas_are_clean() {
        let configs = [config("a", r#"{"x": "int"}"#)];
        assert!(report(&configs, &configs).is_clean());
    }

    #[test]
    fn reordered_fields_are_named_as_such() {
        let r = report(
            &[config("a", r#"{"x": "int", "y": "str"}"#)],
            &[config("a", r#"{"y": "str", "x": "int"}"#)],
        );
        assert_eq!(
            r.changes,
            vec![Change::FieldsReordered {
                config_id: "a".into()
            }]
        );
    }

    #[test]
    fn a_respelled_but_equal_type_is_not_a_change() {
        // `int | None` and `Optional[int]` are one type, so the bytes are the same too.
        let r = report(
            &[config("a", r#"{"x": "int | None"}"#)],
            &[config("a", r#"{"x": "Optional[int]"}"#)],
        );
        assert!(r.is_clean(), "{r}");
    }

    #[test]
    fn a_module_with_the_retired_write_fields_flag_differs_in_code_only() {
        let configs = [config("a", r#"{"x": "int"}"#)];
        let generated = render_module(&configs, &RenderOptions::default()).unwrap();
        let older = generated.replace("config_id = \"a\")]", "config_id = \"a\", write_fields)]");
        assert_ne!(older, generated);
        let r = compare(Path::new("usage.rs"), Some(&older), &generated, &configs);
        assert_eq!(r.changes, vec![Change::CodeDiffers]);
    }

    #[test]
    fn an_unparsable_file_shows_every_config_as_new() {
        let new = [config("a", r#"{"x": "int"}"#)];
        let generated = render_module(&new, &RenderOptions::default()).unwrap();
        let r = compare(Path::new("usage.rs"), Some("fn {"), &generated, &new);
        assert_eq!(
            r.changes,
            vec![Change::ConfigAdded {
                config_id: "a".into()
            }]
        );
    }
}
