//! Whole schemas: an ordered list of fields, each with its parsed type.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

use crate::{ParseError, TypeExpr};

/// One field of a [`Schema`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaField {
    /// The JSON field name, exactly as the schema spells it.
    pub name: String,
    /// The parsed, normalised type.
    pub ty: TypeExpr,
}

impl SchemaField {
    /// Whether the field may be absent or `null`.
    pub fn is_optional(&self) -> bool {
        self.ty.is_optional()
    }
}

/// A parsed `manual_usage_schema`: fields in the order the schema lists them.
///
/// An empty schema accepts any usage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    fields: Vec<SchemaField>,
}

/// One field of a schema whose type could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The type string is malformed.
    #[error("field `{field}`: {error}")]
    Parse {
        /// The field name.
        field: String,
        /// Why the type string did not parse.
        error: ParseError,
    },
    /// The schema gave the field something other than a type string.
    #[error("field `{field}`: type must be a string, found {found}")]
    NotAString {
        /// The field name.
        field: String,
        /// The JSON kind found instead (`number`, `object`, ...).
        found: &'static str,
    },
    /// The field name appears twice.
    #[error("field `{field}` is listed more than once")]
    Duplicate {
        /// The field name.
        field: String,
    },
}

impl FieldError {
    /// The name of the field the error is about.
    pub fn field(&self) -> &str {
        match self {
            FieldError::Parse { field, .. }
            | FieldError::NotAString { field, .. }
            | FieldError::Duplicate { field } => field,
        }
    }
}

/// Every bad field of a schema (never just the first), or a schema that is not a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// One or more fields have unusable types.
    #[error("invalid schema: {}", join(.0))]
    Fields(Vec<FieldError>),
    /// The schema text is not a JSON object of field names to type strings.
    #[error("invalid schema: {0}")]
    NotAnObject(String),
}

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Schema {
    /// A schema with no fields, which accepts any usage.
    pub fn empty() -> Schema {
        Schema::default()
    }

    /// Parses `(field, type string)` pairs, keeping their order and reporting every bad field.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Schema, SchemaError>
    where
        K: Into<String>,
        V: AsRef<str>,
    {
        Self::from_raw(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), RawType::Str(v.as_ref().to_owned()))),
        )
    }

    /// Parses a schema from JSON text such as `{"tokens": "int", "note": "Optional[str]"}`,
    /// keeping the field order of the text. `null` is the empty schema.
    pub fn from_json_str(json: &str) -> Result<Schema, SchemaError> {
        let raw: RawSchema =
            serde_json::from_str(json).map_err(|e| SchemaError::NotAnObject(e.to_string()))?;
        raw.parse()
    }

    /// Parses a schema held in a `serde_json::Value` (an object, or `null` for empty).
    ///
    /// The field order is the iteration order of `serde_json::Map`, which is alphabetical unless
    /// serde_json's `preserve_order` feature is on; prefer [`Schema::from_json_str`] or
    /// [`RawSchema`] when the order matters.
    pub fn from_value(value: &serde_json::Value) -> Result<Schema, SchemaError> {
        match value {
            serde_json::Value::Null => Ok(Schema::empty()),
            serde_json::Value::Object(map) => {
                Self::from_raw(map.iter().map(|(k, v)| (k.clone(), RawType::from_value(v))))
            }
            other => Err(SchemaError::NotAnObject(format!(
                "expected a JSON object of field names to type strings, found {}",
                json_kind(other)
            ))),
        }
    }

    fn from_raw(pairs: impl IntoIterator<Item = (String, RawType)>) -> Result<Schema, SchemaError> {
        let mut fields: Vec<SchemaField> = Vec::new();
        let mut errors = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (name, raw) in pairs {
            if !seen.insert(name.clone()) {
                errors.push(FieldError::Duplicate { field: name });
                continue;
            }
            match raw {
                RawType::Str(s) => match TypeExpr::parse(&s) {
                    Ok(ty) => fields.push(SchemaField { name, ty }),
                    Err(error) => errors.push(FieldError::Parse { field: name, error }),
                },
                RawType::Other(found) => errors.push(FieldError::NotAString { field: name, found }),
            }
        }
        if errors.is_empty() {
            Ok(Schema { fields })
        } else {
            Err(SchemaError::Fields(errors))
        }
    }

    /// The fields in schema order.
    pub fn fields(&self) -> &[SchemaField] {
        &self.fields
    }

    /// The field called `name`.
    pub fn get(&self, name: &str) -> Option<&SchemaField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The position of the field called `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the schema has no fields (and so accepts any usage).
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The schema as JSON text with canonical type strings, in field order:
    /// `{"tokens":"int","note":"Optional[str]"}`.
    pub fn canonical_json(&self) -> String {
        let mut out = String::from("{");
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_json_string(&mut out, &field.name);
            out.push(':');
            push_json_string(&mut out, &field.ty.to_string());
        }
        out.push('}');
        out
    }

    /// A stable 64-bit fingerprint of the canonical schema (FNV-1a over
    /// [`Schema::canonical_json`]). Field order counts; spelling does not (`int | None` and
    /// `Optional[int]` give the same fingerprint). The derive macro and code generator embed it
    /// so the runtime can compare a compiled type with a live config once per type.
    pub fn fingerprint(&self) -> u64 {
        fnv1a(self.canonical_json().as_bytes())
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical_json())
    }
}

/// FNV-1a, 64 bit: tiny, dependency-free and stable across Rust versions (unlike `DefaultHasher`).
pub(crate) const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

fn push_json_string(out: &mut String, s: &str) {
    // serde_json's escaping of a plain string never fails.
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("\"\""),
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// A field's type as it stood in the JSON, before parsing.
#[derive(Debug, Clone)]
enum RawType {
    Str(String),
    Other(&'static str),
}

impl RawType {
    fn from_value(v: &serde_json::Value) -> RawType {
        match v {
            serde_json::Value::String(s) => RawType::Str(s.clone()),
            other => RawType::Other(json_kind(other)),
        }
    }
}

/// A schema as it arrives in JSON, with its field order kept, not yet parsed.
///
/// Deserialize this (for example as the `manual_usage_schema` field of a larger document) and
/// call [`RawSchema::parse`] to get every field error at once; `null` deserializes as empty.
#[derive(Debug, Clone, Default)]
pub struct RawSchema {
    pairs: Vec<(String, RawType)>,
}

impl RawSchema {
    /// Parses every field, reporting all bad ones together.
    pub fn parse(self) -> Result<Schema, SchemaError> {
        Schema::from_raw(self.pairs)
    }

    /// The field names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(k, _)| k.as_str())
    }
}

impl<'de> Deserialize<'de> for RawSchema {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RawVisitor;
        impl<'de> Visitor<'de> for RawVisitor {
            type Value = RawSchema;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object of field names to type strings, or null")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<RawSchema, E> {
                Ok(RawSchema::default())
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<RawSchema, E> {
                Ok(RawSchema::default())
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawSchema, D::Error> {
                d.deserialize_any(RawVisitor)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawSchema, A::Error> {
                let mut pairs = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                    pairs.push((k, RawType::from_value(&v)));
                }
                Ok(RawSchema { pairs })
            }
        }
        deserializer.deserialize_any(RawVisitor)
    }
}
