//! JSON Schema (draft 2020-12) of a config's usage objects (feature `schemars`), for API
//! documentation (OpenAPI generators built on schemars), form builders and non-Rust
//! validators.
//!
//! The documents follow the [`TypeValidator`](crate::TypeValidator) as closely as JSON Schema
//! can: `int` is an integer in the i64/u64 range, `Optional[T]` fields are not `required`,
//! `set` has `uniqueItems`, and `Dict[K, V]` with a non-`str` key restricts `propertyNames` to
//! the key's text form. JSON Schema cannot tell `1.0` from `1`, so an `int` field accepts `1.0`
//! there while the validator refuses it.
//!
//! ```
//! let schema = aicm::schema::Schema::from_json_str(
//!     r#"{"input_tokens": "int", "note": "Optional[str]"}"#,
//! ).unwrap();
//! let doc = aicm::json_schema::usage_schema("chat-completions", &schema);
//! assert_eq!(doc.get("required"), Some(&serde_json::json!(["input_tokens"])));
//! ```

use aicm_schema::{Schema as UsageSchema, TypeExpr};
use schemars::{Schema, json_schema};
use serde_json::{Map, Value, json};

/// The `$schema` of every document.
pub const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// The JSON Schema of the usage objects `config_id` accepts under `schema`.
///
/// An empty schema accepts any object, as the validator does.
pub fn usage_schema(config_id: &str, schema: &UsageSchema) -> Schema {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in schema.fields() {
        let mut field_schema = type_schema(&field.ty).to_value();
        if let Value::Object(map) = &mut field_schema {
            map.insert("description".into(), json!(field.ty.to_string()));
        }
        properties.insert(field.name.clone(), field_schema);
        if !field.is_optional() {
            required.push(json!(field.name));
        }
    }
    let description = format!(
        "Usage accepted by the AICostManager config `{config_id}` (schema fingerprint {:016x}).",
        schema.fingerprint()
    );
    if schema.is_empty() {
        return json_schema!({
            "$schema": DRAFT_2020_12,
            "title": config_id,
            "description": description,
            "type": "object",
        });
    }
    json_schema!({
        "$schema": DRAFT_2020_12,
        "title": config_id,
        "description": description,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// The JSON Schema of one schema type.
pub fn type_schema(ty: &TypeExpr) -> Schema {
    match ty {
        // `{}` rather than `true`, so that a description can be attached.
        TypeExpr::Any => json_schema!({}),
        TypeExpr::Int => json_schema!({
            "type": "integer",
            "minimum": i64::MIN,
            "maximum": u64::MAX,
        }),
        TypeExpr::Float => json_schema!({"type": "number"}),
        TypeExpr::Str => json_schema!({"type": "string"}),
        TypeExpr::Bool => json_schema!({"type": "boolean"}),
        TypeExpr::AnyList | TypeExpr::Tuple => json_schema!({"type": "array"}),
        TypeExpr::Set => json_schema!({"type": "array", "uniqueItems": true}),
        TypeExpr::AnyDict => json_schema!({"type": "object"}),
        TypeExpr::List(elem) => json_schema!({"type": "array", "items": type_schema(elem)}),
        TypeExpr::Dict(key, value) => {
            let mut schema = json_schema!({
                "type": "object",
                "additionalProperties": type_schema(value),
            });
            if let Some(names) = key_schema(key) {
                schema.insert("propertyNames".into(), names);
            }
            schema
        }
        TypeExpr::Optional(inner) => match inner.as_ref() {
            TypeExpr::Any => json_schema!({}),
            inner => json_schema!({"anyOf": [type_schema(inner), {"type": "null"}]}),
        },
        TypeExpr::Union(members) => {
            let members: Vec<Schema> = members.iter().map(type_schema).collect();
            json_schema!({"anyOf": members})
        }
    }
}

const INT_KEY: &str = "^-?(0|[1-9][0-9]*)$";
const FLOAT_KEY: &str = "^-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?$";

/// What an object key (always a string) must look like to read as `ty`; `None` when any
/// string does.
fn key_schema(ty: &TypeExpr) -> Option<Value> {
    match ty {
        TypeExpr::Any | TypeExpr::Str => None,
        TypeExpr::Int => Some(json!({"pattern": INT_KEY})),
        TypeExpr::Float => Some(json!({"pattern": FLOAT_KEY})),
        TypeExpr::Bool => Some(json!({"enum": ["true", "false"]})),
        TypeExpr::Optional(inner) => {
            key_schema(inner).map(|inner| json!({"anyOf": [inner, {"const": "null"}]}))
        }
        TypeExpr::Union(members) => {
            let mut any_of = Vec::new();
            for member in members {
                match key_schema(member) {
                    None => return None,
                    Some(schema) => any_of.push(schema),
                }
            }
            Some(json!({"anyOf": any_of}))
        }
        // No container reads from a key's text.
        _ => Some(json!(false)),
    }
}
