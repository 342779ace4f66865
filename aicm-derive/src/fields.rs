//! Matching the struct's fields against the schema by their JSON names.

use std::collections::HashMap;

use aicm_schema::{Schema, TypeExpr};
use syn::ext::IdentExt;
use syn::{Field, Ident};

use crate::attrs::reject_field_usage_attrs;
use crate::errors::Errors;
use crate::serde_attrs::{ContainerAttrs, FieldAttrs};
use crate::shape;

/// A struct field that is in the schema.
pub(crate) struct MatchedField<'a> {
    pub(crate) field: &'a Field,
    pub(crate) ident: &'a Ident,
    /// The name serde writes, which is the schema's name for it.
    pub(crate) json_name: String,
    /// The field's schema type.
    pub(crate) ty: TypeExpr,
    /// Where the field stands in the schema.
    pub(crate) schema_position: usize,
    /// Whether to emit the trait-bound conformance check (not when the macro already reported
    /// a clearer error for this field, which would only be repeated).
    pub(crate) check_conformance: bool,
}

/// Reports every field-level problem and returns the fields that are in the schema.
///
/// With no schema (it failed to load), only the field attributes are checked.
pub(crate) fn match_fields<'a>(
    struct_ident: &Ident,
    fields: impl IntoIterator<Item = &'a Field>,
    schema: Option<&Schema>,
    container: &ContainerAttrs,
    errors: &mut Errors,
) -> Vec<MatchedField<'a>> {
    let mut matched = Vec::new();
    let mut seen: HashMap<String, &Ident> = HashMap::new();
    for field in fields {
        reject_field_usage_attrs(&field.attrs, errors);
        let attrs = FieldAttrs::parse(&field.attrs, errors);
        let Some(ident) = field.ident.as_ref() else {
            continue;
        };
        if attrs.unsupported {
            continue;
        }
        let json_name = match (&attrs.rename, container.rename_all) {
            (Some(lit), _) => lit.value(),
            (None, Some(rule)) => rule.apply_to_field(&ident.unraw().to_string()),
            (None, None) => ident.unraw().to_string(),
        };
        if let Some(first) = seen.get(&json_name) {
            errors.push(
                ident.span(),
                format!("field `{ident}` is serialised as `{json_name}`, like field `{first}`"),
            );
            continue;
        }
        seen.insert(json_name.clone(), ident);
        let Some(schema) = schema else {
            continue;
        };
        let Some(schema_position) = schema.position(&json_name) else {
            errors.push(ident.span(), not_in_schema(ident, &json_name, schema));
            continue;
        };
        let ty = schema.fields()[schema_position].ty.clone();
        let mut check_conformance = !matches!(ty, TypeExpr::Any);
        if ty.is_optional() {
            if !matches!(ty, TypeExpr::Any) && shape::visibly_not_option(&field.ty) {
                errors.push_spanned(
                    &field.ty,
                    format!(
                        "schema field `{json_name}` is `{ty}`, so its Rust type must be an \
                         `Option<..>` (or `serde_json::Value`)"
                    ),
                );
                check_conformance = false;
            }
        } else {
            if shape::is_option(&field.ty) {
                errors.push_spanned(
                    &field.ty,
                    format!(
                        "schema field `{json_name}` is `{ty}`, which is required: an `Option` \
                         could send null; make the schema type `Optional[{ty}]` or the field \
                         not an `Option`"
                    ),
                );
                check_conformance = false;
            }
            if let Some(skip_if) = &attrs.skip_serializing_if {
                errors.push(
                    skip_if.span,
                    format!(
                        "`skip_serializing_if` may leave out `{json_name}`, but the schema \
                         requires it (`{ty}`)"
                    ),
                );
            }
        }
        matched.push(MatchedField {
            field,
            ident,
            json_name,
            ty,
            schema_position,
            check_conformance,
        });
    }
    if let Some(schema) = schema {
        for schema_field in schema.fields() {
            if !schema_field.is_optional() && !seen.contains_key(&schema_field.name) {
                errors.push(
                    struct_ident.span(),
                    format!(
                        "`{struct_ident}` lacks required schema field `{}` (`{}`)",
                        schema_field.name, schema_field.ty
                    ),
                );
            }
        }
    }
    matched
}

fn not_in_schema(ident: &Ident, json_name: &str, schema: &Schema) -> String {
    let shown = if ident.unraw() == json_name {
        format!("field `{json_name}`")
    } else {
        format!("field `{ident}` (serialised as `{json_name}`)")
    };
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("`{}`", f.name))
        .collect();
    let mut message = if names.is_empty() {
        format!("{shown} is not in the schema, which has no fields")
    } else {
        format!(
            "{shown} is not in the schema; its fields are {}",
            names.join(", ")
        )
    };
    let folded = fold(json_name);
    if let Some(near) = schema.fields().iter().find(|f| fold(&f.name) == folded) {
        message.push_str(&format!(
            "; did you mean `{}`? (`#[serde(rename = \"{}\")]`)",
            near.name, near.name
        ));
    }
    message
}

/// A name without case or separators, to suggest `cost-center` for `cost_center`.
fn fold(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}
