//! The parts of `#[serde(...)]` that decide what JSON object a struct serialises to.
//!
//! Only what changes the field names or the set of fields matters here; everything else is left
//! to serde_derive, which also reports malformed serde attributes (so parse failures here are
//! ignored rather than reported twice).

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, LitStr, Token};

use crate::case::RenameRule;
use crate::errors::Errors;

/// Struct-level serde attributes.
#[derive(Default)]
pub(crate) struct ContainerAttrs {
    pub(crate) rename_all: Option<RenameRule>,
}

/// `skip_serializing_if = "…"` on a field.
pub(crate) struct SkipIf {
    /// Where it is written, for errors.
    pub(crate) span: Span,
}

/// Field-level serde attributes.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    /// `rename = "…"` or `rename(serialize = "…")`.
    pub(crate) rename: Option<LitStr>,
    /// `skip_serializing_if = "…"`: the field may be left out of the object.
    pub(crate) skip_serializing_if: Option<SkipIf>,
    /// The field is not written as `"name": value` (skip, flatten, custom serialisation).
    pub(crate) unsupported: bool,
}

fn serde_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|a| a.path().is_ident("serde"))
}

impl ContainerAttrs {
    pub(crate) fn parse(attrs: &[Attribute], errors: &mut Errors) -> ContainerAttrs {
        let mut out = ContainerAttrs::default();
        for attr in serde_attrs(attrs) {
            let _ = attr.parse_nested_meta(|meta| {
                let key = path_name(&meta);
                match key.as_str() {
                    "rename_all" => {
                        if let Some(lit) = serialize_name(&meta)? {
                            match RenameRule::from_name(&lit.value()) {
                                Ok(rule) => out.rename_all = Some(rule),
                                Err(message) => errors.push(lit.span(), message),
                            }
                        }
                        Ok(())
                    }
                    "tag" => {
                        errors.push(
                            meta.path.span(),
                            "`#[serde(tag = \"…\")]` adds a field the schema cannot describe; \
                             `#[derive(Usage)]` does not support it",
                        );
                        skip_value(&meta)
                    }
                    "transparent" | "into" | "remote" => {
                        errors.push(
                            meta.path.span(),
                            format!(
                                "`#[serde({key})]` does not serialise the struct as its fields; \
                                 `#[derive(Usage)]` does not support it"
                            ),
                        );
                        skip_value(&meta)
                    }
                    _ => skip_value(&meta),
                }
            });
        }
        out
    }
}

impl FieldAttrs {
    pub(crate) fn parse(attrs: &[Attribute], errors: &mut Errors) -> FieldAttrs {
        let mut out = FieldAttrs::default();
        for attr in serde_attrs(attrs) {
            let _ = attr.parse_nested_meta(|meta| {
                let key = path_name(&meta);
                match key.as_str() {
                    "rename" => {
                        if let Some(lit) = serialize_name(&meta)? {
                            out.rename = Some(lit);
                        }
                        Ok(())
                    }
                    "skip_serializing_if" => {
                        // Recorded before the value is read, so that a malformed one (which
                        // serde_derive reports) still counts for the required-field check.
                        out.skip_serializing_if = Some(SkipIf {
                            span: meta.path.span(),
                        });
                        skip_value(&meta)
                    }
                    "skip" | "skip_serializing" => {
                        out.unsupported = true;
                        errors.push(
                            meta.path.span(),
                            format!(
                                "`#[serde({key})]` is not supported by `#[derive(Usage)]`: every \
                                 field of a usage record is checked and sent, so keep other data \
                                 out of the struct (an `Optional[..]` field can be left out with an \
                                 `Option` and `skip_serializing_if = \"Option::is_none\"`)"
                            ),
                        );
                        skip_value(&meta)
                    }
                    "flatten" => {
                        out.unsupported = true;
                        errors.push(
                            meta.path.span(),
                            "`#[serde(flatten)]` is not supported by `#[derive(Usage)]`: the \
                             derive checks each field by name, so write the fields out in this \
                             struct",
                        );
                        Ok(())
                    }
                    "serialize_with" | "with" => {
                        out.unsupported = true;
                        errors.push(
                            meta.path.span(),
                            format!(
                                "`#[serde({key} = …)]` is not supported by `#[derive(Usage)]`: the \
                                 derive cannot check what a custom function writes; use a newtype \
                                 with its own `Serialize` impl that implements the matching \
                                 `aicm::conform` trait, or a `serde_json::Value` field"
                            ),
                        );
                        skip_value(&meta)
                    }
                    _ => skip_value(&meta),
                }
            });
        }
        out
    }
}

fn path_name(meta: &ParseNestedMeta<'_>) -> String {
    meta.path
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// The serialisation name of `key = "…"` or `key(serialize = "…", deserialize = "…")`.
fn serialize_name(meta: &ParseNestedMeta<'_>) -> syn::Result<Option<LitStr>> {
    if meta.input.peek(Token![=]) {
        return Ok(Some(meta.value()?.parse()?));
    }
    let mut name = None;
    meta.parse_nested_meta(|inner| {
        if inner.path.is_ident("serialize") {
            name = Some(inner.value()?.parse()?);
            Ok(())
        } else {
            skip_value(&inner)
        }
    })?;
    Ok(name)
}

/// Consumes whatever follows a key we do not interpret: `= value`, `(…)` or nothing.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.input.parse::<proc_macro2::Group>()?;
    }
    Ok(())
}
