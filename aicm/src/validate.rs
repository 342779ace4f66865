//! Runtime validation of dynamic JSON usage against schema types.
//!
//! Semantics (and where they deliberately differ from the Python SDK):
//! - `int` is a JSON number written without fraction or exponent that fits `i64` or `u64`;
//!   `1.0` and `1e3` are not ints and neither is `true` (Python accepts `true`). The validator
//!   sees numbers as serde_json parsed them, which reads `-0` as the float `-0.0`: that one
//!   literal is not an int.
//! - `float` is any JSON number (Python rejects `1`).
//! - `List[T]` checks every element at every depth (Python checks one level).
//! - `Dict[K, V]` checks every value; keys are JSON strings, so a `K` other than `str` means
//!   the key text must be the JSON text of a `K` (`"1"` for `int`, not `"01"` or `"+1"`).
//! - `set` is an array without duplicates (numbers compare by value, so `[1, 1.0]` has one);
//!   `list`, `tuple` any array; `dict` any object.
//! - `Optional[T]` accepts `null` and an absent field; every other field must be present and
//!   a `null` there is a type error. `Any` accepts `null` but must be present.
//! - Fields the schema does not name are errors; an empty schema accepts anything.
//!
//! Checking is split in two so that valid data is cheap: a boolean walk that never allocates,
//! and, only when it says no, a second walk that builds the message and the path.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};

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
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct UsageValidationError {
    /// Field (or path inside a field, such as `tags[2]`) → what is wrong there.
    pub errors: BTreeMap<String, String>,
    /// Required schema fields that are absent, in schema order.
    pub missing_fields: Vec<String>,
    /// Usage fields the schema does not name, in usage order (the iteration order of
    /// `serde_json::Map`: insertion order with serde_json's `preserve_order` feature,
    /// alphabetical without it).
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
    /// An empty schema accepts anything. A valid usage is checked without parsing or
    /// allocating (the one exception: a `set` of more than 16 elements needs a hash table to
    /// find duplicates); only a failure builds messages and paths.
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
    /// The value at the failure point was of the wrong kind altogether (as opposed to, say, a
    /// set with a duplicate), so an enclosing `Optional` may restate the message in its terms.
    wrong_kind: bool,
}

impl Fail {
    fn new(message: String) -> Fail {
        Fail {
            reversed_path: Vec::new(),
            message,
            wrong_kind: false,
        }
    }

    /// "expected {ty}, got {what value is}".
    fn expected(ty: &TypeExpr, value: &Value) -> Fail {
        let got = match value {
            // Say which number, since "expected int, got number" alone puzzles.
            Value::Number(n) if matches!(ty.strip_optional(), TypeExpr::Int) => {
                format!("number {n}")
            }
            other => json_kind(other).to_owned(),
        };
        Fail {
            wrong_kind: true,
            ..Fail::new(format!("expected {ty}, got {got}"))
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
                Segment::Key(k) if is_plain_key(k) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                }
                // A key that would make the dotted path ambiguous is quoted: `meta["a.b"]`.
                Segment::Key(k) => {
                    path.push('[');
                    path.push_str(&Value::String(k.clone()).to_string());
                    path.push(']');
                }
            }
        }
        Mismatch {
            path,
            message: self.message,
        }
    }
}

/// Whether a key can stand in a dotted path as it is.
fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && !key
            .chars()
            .any(|c| matches!(c, '.' | '[' | ']' | '"') || c.is_whitespace() || c.is_control())
}

/// The name of a JSON value's kind in the words of the type language.
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn is_int(value: &Value) -> bool {
    matches!(value, Value::Number(n) if n.is_i64() || n.is_u64())
}

/// Whether `value` has type `ty`. This is the hot path: it neither allocates nor builds
/// messages (except `set` over more than [`SMALL_SET`] elements, which needs a table);
/// [`diagnose`] explains a `false` afterwards.
fn check(value: &Value, ty: &TypeExpr) -> Result<(), Fail> {
    if conforms(value, ty) {
        Ok(())
    } else {
        Err(diagnose(value, ty))
    }
}

fn conforms(value: &Value, ty: &TypeExpr) -> bool {
    match ty {
        TypeExpr::Any => true,
        TypeExpr::Int => is_int(value),
        TypeExpr::Float => value.is_number(),
        TypeExpr::Str => value.is_string(),
        TypeExpr::Bool => value.is_boolean(),
        TypeExpr::AnyList | TypeExpr::Tuple => value.is_array(),
        TypeExpr::AnyDict => value.is_object(),
        TypeExpr::Set => matches!(value, Value::Array(items) if first_duplicate(items).is_none()),
        TypeExpr::List(elem) => {
            matches!(value, Value::Array(items) if items.iter().all(|item| conforms(item, elem)))
        }
        TypeExpr::Dict(key_ty, value_ty) => matches!(value, Value::Object(map)
            if map.iter().all(|(k, v)| key_conforms(k, key_ty) && conforms(v, value_ty))),
        TypeExpr::Optional(inner) => value.is_null() || conforms(value, inner),
        TypeExpr::Union(members) => members.iter().any(|m| conforms(value, m)),
    }
}

/// Explains why `value` does not have type `ty`, naming the innermost offending part.
/// Called only after [`conforms`] said no.
fn diagnose(value: &Value, ty: &TypeExpr) -> Fail {
    match (ty, value) {
        (TypeExpr::Set, Value::Array(items)) => match first_duplicate(items) {
            Some(i) => Fail::new(format!(
                "expected set, got list with a duplicate element at [{i}]"
            )),
            None => Fail::expected(ty, value),
        },
        (TypeExpr::List(elem), Value::Array(items)) => items
            .iter()
            .enumerate()
            .find(|(_, item)| !conforms(item, elem))
            .map_or_else(
                || Fail::expected(ty, value),
                |(i, item)| diagnose(item, elem).at(Segment::Index(i)),
            ),
        (TypeExpr::Dict(key_ty, value_ty), Value::Object(map)) => {
            for (k, v) in map {
                if !key_conforms(k, key_ty) {
                    return Fail::new(format!(
                        "expected {key_ty} key, got {}",
                        Value::String(k.clone())
                    ));
                }
                if !conforms(v, value_ty) {
                    return diagnose(v, value_ty).at(Segment::Key(k.clone()));
                }
            }
            Fail::expected(ty, value)
        }
        (TypeExpr::Optional(inner), v) if !v.is_null() => {
            let fail = diagnose(v, inner);
            if fail.wrong_kind && fail.reversed_path.is_empty() {
                Fail::expected(ty, value)
            } else {
                fail
            }
        }
        _ => Fail::expected(ty, value),
    }
}

/// Whether an object key (always a JSON string) reads as a value of `ty`: for `int` and
/// `float` the key must be the JSON text of such a number (`"1"`, `"-2.5"`), which is how
/// serializers write maps with number keys.
fn key_conforms(key: &str, ty: &TypeExpr) -> bool {
    match ty {
        TypeExpr::Any | TypeExpr::Str => true,
        TypeExpr::Int => {
            is_json_number(key, false) && (key.parse::<i64>().is_ok() || key.parse::<u64>().is_ok())
        }
        TypeExpr::Float => is_json_number(key, true),
        TypeExpr::Bool => key == "true" || key == "false",
        TypeExpr::Optional(inner) => key == "null" || key_conforms(key, inner),
        TypeExpr::Union(members) => members.iter().any(|m| key_conforms(key, m)),
        _ => false,
    }
}

/// Whether `text` is a JSON number (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`), with the
/// fraction and exponent only when `allow_fraction`.
fn is_json_number(text: &str, allow_fraction: bool) -> bool {
    let b = text.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if allow_fraction {
        if b.get(i) == Some(&b'.') {
            i += 1;
            if digits(&mut i) == 0 {
                return false;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if digits(&mut i) == 0 {
                return false;
            }
        }
    }
    i == b.len()
}

/// Up to this many elements a `set` is checked pairwise, without allocating.
const SMALL_SET: usize = 16;

/// The index of the first element equal to an earlier one. Numbers compare by value (`1` and
/// `1.0` are the same element, as in Python), objects regardless of key order; `true` and `1`
/// differ (JSON keeps booleans apart from numbers, and so does `int`).
fn first_duplicate(items: &[Value]) -> Option<usize> {
    if items.len() <= SMALL_SET {
        return (1..items.len()).find(|&i| items[..i].iter().any(|x| json_eq(x, &items[i])));
    }
    let state = std::collections::hash_map::RandomState::new();
    let mut keyed: Vec<(u64, usize)> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let mut hasher = state.build_hasher();
            hash_json(item, &mut hasher);
            (hasher.finish(), i)
        })
        .collect();
    keyed.sort_unstable();
    let mut first: Option<usize> = None;
    for run in keyed.chunk_by(|a, b| a.0 == b.0) {
        for (n, &(_, i)) in run.iter().enumerate() {
            if first.is_some_and(|f| f <= i) {
                break;
            }
            if run[..n].iter().any(|&(_, j)| json_eq(&items[j], &items[i])) {
                first = Some(i);
                break;
            }
        }
    }
    first
}

/// JSON equality with numbers compared by value.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_key(x) == number_key(y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// A number in a form where equal values are equal: integral values (`3`, `3.0`) as an
/// integer, the rest by their bits.
#[derive(PartialEq, Eq, Hash)]
enum NumberKey {
    Integral(i128),
    Fractional(u64),
}

fn number_key(n: &serde_json::Number) -> NumberKey {
    if let Some(i) = n.as_i64() {
        return NumberKey::Integral(i128::from(i));
    }
    if let Some(u) = n.as_u64() {
        return NumberKey::Integral(i128::from(u));
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    // Every f64 with no fraction and magnitude below 2^127 converts to i128 exactly.
    if f.fract() == 0.0 && f.abs() < 1.7e38 {
        return NumberKey::Integral(f as i128);
    }
    NumberKey::Fractional(f.to_bits())
}

/// A hash consistent with [`json_eq`]: object entries are combined in an order-free way.
fn hash_json<H: Hasher>(value: &Value, state: &mut H) {
    match value {
        Value::Null => state.write_u8(0),
        Value::Bool(b) => {
            state.write_u8(1);
            b.hash(state);
        }
        Value::Number(n) => {
            state.write_u8(2);
            number_key(n).hash(state);
        }
        Value::String(s) => {
            state.write_u8(3);
            s.hash(state);
        }
        Value::Array(items) => {
            state.write_u8(4);
            state.write_usize(items.len());
            for item in items {
                hash_json(item, state);
            }
        }
        Value::Object(map) => {
            state.write_u8(5);
            state.write_usize(map.len());
            let mut sum: u64 = 0;
            for (k, v) in map {
                let mut entry = std::hash::DefaultHasher::new();
                k.hash(&mut entry);
                hash_json(v, &mut entry);
                sum = sum.wrapping_add(entry.finish());
            }
            state.write_u64(sum);
        }
    }
}
