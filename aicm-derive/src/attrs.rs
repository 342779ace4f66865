//! `#[usage(schema = "…" | schema_file = "…", config_id = "…", crate = "…")]`.

use syn::spanned::Spanned;
use syn::{Attribute, LitStr};

use crate::errors::Errors;

/// Where the schema comes from.
pub(crate) enum SchemaSource {
    /// `schema = "{…}"`: the JSON text itself.
    Inline(LitStr),
    /// `schema_file = "path.json"`, relative to `CARGO_MANIFEST_DIR`.
    File(LitStr),
}

/// The struct's `#[usage(...)]` settings.
#[derive(Default)]
pub(crate) struct UsageAttrs {
    pub(crate) schema: Option<SchemaSource>,
    pub(crate) config_id: Option<LitStr>,
    pub(crate) krate: Option<syn::Path>,
}

const KEYS: &str = "`schema`, `schema_file`, `config_id` or `crate`";

impl UsageAttrs {
    pub(crate) fn parse(attrs: &[Attribute], errors: &mut Errors) -> UsageAttrs {
        let mut out = UsageAttrs::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("usage")) {
            let result = attr.parse_nested_meta(|meta| {
                let key = meta.path.get_ident().map(ToString::to_string);
                let Some(key) = key else {
                    return Err(meta.error(format!("expected one of {KEYS}")));
                };
                let span = meta.path.span();
                match key.as_str() {
                    "schema" | "schema_file" => {
                        let lit: LitStr = meta.value()?.parse()?;
                        if out.schema.is_some() {
                            errors.push(
                                span,
                                "the schema is already given: use one `schema = \"…\"` or \
                                 `schema_file = \"…\"`",
                            );
                        } else if key == "schema" {
                            out.schema = Some(SchemaSource::Inline(lit));
                        } else {
                            out.schema = Some(SchemaSource::File(lit));
                        }
                    }
                    "config_id" => {
                        let lit: LitStr = meta.value()?.parse()?;
                        if out.config_id.is_some() {
                            errors.push(span, "`config_id` is given twice");
                        } else if lit.value().trim().is_empty() {
                            errors.push(lit.span(), "`config_id` must not be empty");
                        } else {
                            out.config_id = Some(lit);
                        }
                    }
                    "crate" => {
                        let lit: LitStr = meta.value()?.parse()?;
                        if out.krate.is_some() {
                            errors.push(span, "`crate` is given twice");
                        } else {
                            match lit.parse::<syn::Path>() {
                                Ok(path) => out.krate = Some(path),
                                Err(e) => errors.push(
                                    lit.span(),
                                    format!("`crate` must be a path such as \"::aicm\": {e}"),
                                ),
                            }
                        }
                    }
                    other => {
                        return Err(meta.error(format!(
                            "unknown `usage` attribute `{other}`; expected {KEYS}"
                        )));
                    }
                }
                Ok(())
            });
            if let Err(e) = result {
                errors.add(e);
            }
        }
        out
    }
}

/// `#[usage]` on a field: reported, since every setting belongs to the struct.
pub(crate) fn reject_field_usage_attrs(attrs: &[Attribute], errors: &mut Errors) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("usage")) {
        errors.push_spanned(
            attr,
            "`#[usage(...)]` belongs on the struct, not on a field",
        );
    }
}
