//! Runtime validation of dynamic JSON usage against schema types.
//!
//! Semantics (and where they deliberately differ from the Python SDK):
//! - `int` is a JSON number written without fraction or exponent that fits `i64` or `u64`;
//!   `1.0` is not an int and neither is `true` (Python accepts `true`).
//! - `float` is any JSON number (Python rejects `1`).
//! - `List[T]` checks every element at every depth (Python checks one level).
//! - `Dict[K, V]` checks every value; keys are JSON strings, so a `K` other than `str` means
//!   the key text must parse as `K`.
//! - `set` is an array without duplicates; `list`, `tuple` any array; `dict` any object.
//! - `Optional[T]` accepts `null` and an absent field; every other field must be present.
//! - Fields the schema does not name are errors; an empty schema accepts anything.

use std::collections::BTreeMap;
use std::fmt;

use aicm_schema::{ParseError, Schema, TypeExpr};
use serde_json::{Map, Value};

/// Checks JSON values against type strings or parsed schemas.
///
/// ```
/// use aicm::TypeValidator;
/// use serde_json::json;
///
/// let v = TypeValidator::new();
/// assert!(v.validate_value(&json!([1, 2]), "List[int]").is_ok());
/// let err = v.validate_value(&json!({"tags": ["a", 3]}), "Dict[str, List[str]]").unwrap_err();
/// assert_eq!(err.to_string(), "tags[1]: expected str, got number");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TypeValidator {
    _private: (),
}

/// Why a value did not validate against a type string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationIssue {
    /// The type string itself is malformed.
    #[error("invalid type string: {0}")]
    InvalidType(#[from] ParseError),
    /// The value does not have the type.
    #[error(transparent)]
    Mismatch(#[from] Mismatch),
}

/// A value that does not have the expected type, with the path to the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", display_mismatch(.path, .message))]
pub struct Mismatch {
    /// Where in the value: `tags[2]`, `meta.x`, `matrix[0][1]`; empty for the value itself.
    pub path: String,
    /// What was wrong: `expected str, got number`.
    pub message: String,
}

fn display_mismatch(path: &str, message: &str) -> String {
    if path.is_empty() {
        message.to_owned()
    } else {
        format!("{path}: {message}")
    }
}

/// A usage object that does not match its schema: every problem at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, thiserror::Error)]
pub struct UsageValidationError {
    /// Field (or path inside a field, such as `tags[2]`) → what is wrong there.
    pub errors: BTreeMap<String, String>,
    /// Required schema fields that are absent, in schema order.
    pub missing_fields: Vec<String>,
    /// Usage fields the schema does not name, in usage order.
    pub extra_fields: Vec<String>,
}

impl UsageValidationError {
    /// Whether no problem was recorded.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty() && self.missing_fields.is_empty() && self.extra_fields.is_empty()
    }
}

impl fmt::Display for UsageValidationError {
    /// `Missing fields: a; Type errors: f: expected int, got str; Unexpected fields: x`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sections: Vec<String> = Vec::new();
        if !self.missing_fields.is_empty() {
            sections.push(format!(
                "Missing fields: {}",
                self.missing_fields.join(", ")
            ));
        }
        if !self.errors.is_empty() {
            let errors: Vec<String> = self
                .errors
                .iter()
                .map(|(path, msg)| format!("{path}: {msg}"))
                .collect();
            sections.push(format!("Type errors: {}", errors.join("; ")));
        }
        if !self.extra_fields.is_empty() {
            sections.push(format!(
                "Unexpected fields: {}",
                self.extra_fields.join(", ")
            ));
        }
        if sections.is_empty() {
            f.write_str("usage is valid")
        } else {
            f.write_str(&sections.join("; "))
        }
    }
}

impl TypeValidator {
    /// A validator. It holds no state; it exists so the API matches the Python SDK's.
    pub fn new() -> Self {
        TypeValidator::default()
    }

    /// Parses `type_str` and checks `value` against it.
    pub fn validate_value(&self, value: &Value, type_str: &str) -> Result<(), ValidationIssue> {
        let ty = TypeExpr::parse(type_str)?;
        self.validate_type(value, &ty)?;
        Ok(())
    }

    /// Checks `value` against an already parsed type.
    pub fn validate_type(&self, value: &Value, ty: &TypeExpr) -> Result<(), Mismatch> {
        check(value, ty).map_err(|fail| fail.into_mismatch(None))
    }

    /// Checks a whole usage object against a parsed schema, collecting every problem.
    ///
    /// An empty schema accepts anything. A valid usage costs no allocation.
    pub fn validate_usage(
        &self,
        schema: &Schema,
        usage: &Map<String, Value>,
    ) -> Result<(), UsageValidationError> {
        if schema.is_empty() {
            return Ok(());
        }
        let mut report: Option<UsageValidationError> = None;
        let mut matched = 0usize;
        for field in schema.fields() {
            match usage.get(&field.name) {
                None => {
                    if !field.ty.is_optional() {
                        report
                            .get_or_insert_with(Default::default)
                            .missing_fields
                            .push(field.name.clone());
                    }
                }
                Some(value) => {
                    matched += 1;
                    if let Err(fail) = check(value, &field.ty) {
                        let mismatch = fail.into_mismatch(Some(&field.name));
                        report
                            .get_or_insert_with(Default::default)
                            .errors
                            .insert(mismatch.path, mismatch.message);
                    }
                }
            }
        }
        if matched != usage.len() {
            let extra = usage
                .keys()
                .filter(|k| schema.get(k).is_none())
                .cloned()
                .collect();
            report.get_or_insert_with(Default::default).extra_fields = extra;
        }
        match report {
            None => Ok(()),
            Some(report) => Err(report),
        }
    }
}

/// A step into a value, recorded while a failure unwinds.
enum Segment {
    Index(usize),
    Key(String),
}

/// A failure deep in a value: the path is collected innermost first.
struct Fail {
    reversed_path: Vec<Segment>,
    message: String,
}

impl Fail {
    fn new(message: String) -> Fail {
        Fail {
            reversed_path: Vec::new(),
            message,
        }
    }

    fn at(mut self, segment: Segment) -> Fail {
        self.reversed_path.push(segment);
        self
    }

    fn into_mismatch(self, field: Option<&str>) -> Mismatch {
        let mut path = field.unwrap_or_default().to_owned();
        for segment in self.reversed_path.iter().rev() {
            match segment {
                Segment::Index(i) => {
                    path.push('[');
                    path.push_str(&i.to_string());
                    path.push(']');
                }
                Segment::Key(k) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                }
            }
        }
        Mismatch {
            path,
            message: self.message,
        }
    }
}

/// The name of a JSON value's kind in the words of the type language.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn expected(ty: &TypeExpr, value: &Value) -> Fail {
    let got = match value {
        // Say which number, since "expected int, got number" alone puzzles.
        Value::Number(n) if matches!(ty, TypeExpr::Int) => format!("number {n}"),
        other => kind(other).to_owned(),
    };
    Fail::new(format!("expected {ty}, got {got}"))
}

fn is_int(value: &Value) -> bool {
    matches!(value, Value::Number(n) if n.is_i64() || n.is_u64())
}

fn check(value: &Value, ty: &TypeExpr) -> Result<(), Fail> {
    let ok = match ty {
        TypeExpr::Any => true,
        TypeExpr::Int => is_int(value),
        TypeExpr::Float => value.is_number(),
        TypeExpr::Str => value.is_string(),
        TypeExpr::Bool => value.is_boolean(),
        TypeExpr::AnyList | TypeExpr::Tuple => value.is_array(),
        TypeExpr::AnyDict => value.is_object(),
        TypeExpr::Set => match value {
            Value::Array(items) => {
                return match first_duplicate(items) {
                    None => Ok(()),
                    Some(i) => Err(Fail::new(format!(
                        "expected set, got list with a duplicate element at [{i}]"
                    ))),
                };
            }
            _ => false,
        },
        TypeExpr::List(elem) => match value {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    check(item, elem).map_err(|f| f.at(Segment::Index(i)))?;
                }
                true
            }
            _ => false,
        },
        TypeExpr::Dict(key_ty, value_ty) => match value {
            Value::Object(map) => {
                for (k, v) in map {
                    if !key_matches(k, key_ty) {
                        return Err(Fail::new(format!(
                            "key {}: expected {key_ty}",
                            serde_json::Value::String(k.clone())
                        )));
                    }
                    check(v, value_ty).map_err(|f| f.at(Segment::Key(k.clone())))?;
                }
                true
            }
            _ => false,
        },
        TypeExpr::Optional(inner) => {
            if value.is_null() {
                true
            } else {
                return check(value, inner);
            }
        }
        TypeExpr::Union(members) => members.iter().any(|m| check(value, m).is_ok()),
    };
    if ok { Ok(()) } else { Err(expected(ty, value)) }
}

/// Whether an object key (always a JSON string) reads as a value of `ty`.
fn key_matches(key: &str, ty: &TypeExpr) -> bool {
    match ty {
        TypeExpr::Any | TypeExpr::Str => true,
        TypeExpr::Int => key.parse::<i64>().is_ok() || key.parse::<u64>().is_ok(),
        TypeExpr::Float => key.parse::<f64>().is_ok_and(f64::is_finite),
        TypeExpr::Bool => key == "true" || key == "false",
        TypeExpr::Optional(inner) => key == "null" || key_matches(key, inner),
        TypeExpr::Union(members) => members.iter().any(|m| key_matches(key, m)),
        _ => false,
    }
}

/// The index of the first element equal to an earlier one.
fn first_duplicate(items: &[Value]) -> Option<usize> {
    if items.len() <= 32 {
        return (1..items.len()).find(|&i| items[..i].contains(&items[i]));
    }
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    items
        .iter()
        .position(|item| !seen.insert(serde_json::to_string(item).unwrap_or_default()))
}
