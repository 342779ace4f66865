//! The shape checks of `POST /track` records and the shape and usage checks of
//! `POST /track-usage` records.
//!
//! Stricter than the real service in one respect, on purpose: optional keys sent as `null`
//! are errors, because the contracts say they are omitted, and this server exists to catch
//! clients that drift from the contract.
//!
//! `POST /track` payloads are not checked against any schema (the service stopped doing that);
//! the fault-injection poison key is not a check either there: it makes a per-record `error`
//! answer, decided by the route.

use std::collections::HashMap;
use std::sync::Arc;

use aicm::TypeValidator;
use aicm::schema::Schema;
use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::{Iso8601, Rfc3339};

const REQUIRED: [&str; 5] = [
    "config_id",
    "service_id",
    "timestamp",
    "response_id",
    "usage",
];
const OPTIONAL: [&str; 3] = ["client_customer_key", "context", "base_url"];

/// The keys of a `POST /track` record.
const TRACK_REQUIRED: [&str; 4] = ["service_key", "response_id", "timestamp", "payload"];
const TRACK_OPTIONAL: [&str; 2] = ["customer_key", "context"];

/// One thing wrong with a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Problem {
    /// Where: `usage_records[2].usage.tokens`, `tracked[0].customer_key`.
    pub(crate) field: String,
    /// What.
    pub(crate) message: String,
}

/// A record that cannot be stored, with every problem found in it.
///
/// Serialized as a `details` entry: `field` and `message` (the shape the Python SDK's
/// `ErrorResponse` expects) summarise; `record`, `response_id` and `problems` name it exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadRecord {
    /// The body's list: `usage_records` or `tracked`.
    pub(crate) list: &'static str,
    pub(crate) index: usize,
    pub(crate) response_id: Option<String>,
    pub(crate) problems: Vec<Problem>,
}

impl Serialize for BadRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(5))?;
        map.serialize_entry("record", &self.index)?;
        map.serialize_entry("response_id", &self.response_id)?;
        let field = self.problems.first().map_or_else(
            || format!("{}[{}]", self.list, self.index),
            |p| p.field.clone(),
        );
        map.serialize_entry("field", &field)?;
        let message: Vec<String> = self
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect();
        map.serialize_entry("message", &message.join("; "))?;
        map.serialize_entry("problems", &self.problems)?;
        map.end()
    }
}

/// What the checks need from the server state.
pub(crate) struct CheckContext<'a> {
    pub(crate) schemas: &'a HashMap<String, Arc<Schema>>,
    pub(crate) poison_key: Option<&'a str>,
}

/// Checks every `/track-usage` record; returns the bad ones (empty when the batch can be
/// stored).
pub(crate) fn check_records(records: &[Value], ctx: &CheckContext<'_>) -> Vec<BadRecord> {
    bad_records("usage_records", records, |index, record| {
        check_record(index, record, ctx)
    })
}

/// Checks every `/track` record's shape; returns the bad ones (empty when the batch can be
/// taken).
pub(crate) fn check_track_records(records: &[Value]) -> Vec<BadRecord> {
    bad_records("tracked", records, check_track_record)
}

fn bad_records(
    list: &'static str,
    records: &[Value],
    check: impl Fn(usize, &Value) -> Vec<Problem>,
) -> Vec<BadRecord> {
    records
        .iter()
        .enumerate()
        .filter_map(|(index, record)| {
            let problems = check(index, record);
            (!problems.is_empty()).then(|| BadRecord {
                list,
                index,
                response_id: record
                    .get("response_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                problems,
            })
        })
        .collect()
}

fn check_record(index: usize, record: &Value, ctx: &CheckContext<'_>) -> Vec<Problem> {
    let at = |key: &str| format!("usage_records[{index}].{key}");
    let mut problems = Vec::new();
    let mut problem = |field: String, message: String| problems.push(Problem { field, message });
    let Some(object) = record.as_object() else {
        problem(
            format!("usage_records[{index}]"),
            format!("expected an object, got {}", kind(record)),
        );
        return problems;
    };
    for key in object.keys() {
        if !REQUIRED.contains(&key.as_str()) && !OPTIONAL.contains(&key.as_str()) {
            problem(at(key), "unknown key".to_owned());
        }
    }
    for key in REQUIRED {
        if !object.contains_key(key) {
            problem(at(key), "required key is missing".to_owned());
        }
    }
    let string = |key: &str| object.get(key).map(|v| v.as_str().ok_or(v));
    for key in ["config_id", "service_id", "timestamp", "response_id"] {
        if let Some(Err(value)) = string(key) {
            problem(at(key), format!("expected a string, got {}", kind(value)));
        }
    }
    if let Some(Ok(timestamp)) = string("timestamp")
        && !is_timestamp(timestamp)
    {
        problem(
            at("timestamp"),
            format!("`{timestamp}` is not an ISO 8601 timestamp with a UTC offset"),
        );
    }
    if let Some(Ok("")) = string("response_id") {
        problem(at("response_id"), "must not be empty".to_owned());
    }
    let schema = match string("config_id") {
        Some(Ok(config_id)) => match ctx.schemas.get(config_id) {
            Some(schema) => Some(schema),
            None => {
                problem(at("config_id"), format!("unknown config_id `{config_id}`"));
                None
            }
        },
        _ => None,
    };
    check_optional(object, &OPTIONAL, &at, &mut problem);
    match object.get("usage") {
        None => {}
        Some(Value::Object(usage)) => {
            let usage_at = |path: &str| format!("usage_records[{index}].usage.{path}");
            if let Some(schema) = schema {
                check_usage(schema, usage, &mut problem, &usage_at);
            }
            if let Some(key) = ctx.poison_key
                && usage.contains_key(key)
            {
                problem(usage_at(key), "poisoned key (fault injection)".to_owned());
            }
        }
        Some(other) => problem(
            at("usage"),
            format!("expected an object, got {}", kind(other)),
        ),
    }
    problems
}

/// The shape of one `/track` record: required keys and types, optional keys never `null`,
/// no unknown key. The payload is any object.
fn check_track_record(index: usize, record: &Value) -> Vec<Problem> {
    let at = |key: &str| format!("tracked[{index}].{key}");
    let mut problems = Vec::new();
    let mut problem = |field: String, message: String| problems.push(Problem { field, message });
    let Some(object) = record.as_object() else {
        problem(
            format!("tracked[{index}]"),
            format!("expected an object, got {}", kind(record)),
        );
        return problems;
    };
    for key in object.keys() {
        if !TRACK_REQUIRED.contains(&key.as_str()) && !TRACK_OPTIONAL.contains(&key.as_str()) {
            problem(at(key), "unknown key".to_owned());
        }
    }
    for key in TRACK_REQUIRED {
        if !object.contains_key(key) {
            problem(at(key), "required key is missing".to_owned());
        }
    }
    for key in ["service_key", "response_id"] {
        match object.get(key) {
            None => {}
            Some(Value::String(text)) if text.is_empty() => {
                problem(at(key), "must not be empty".to_owned());
            }
            Some(Value::String(_)) => {}
            Some(other) => problem(at(key), format!("expected a string, got {}", kind(other))),
        }
    }
    match object.get("timestamp") {
        Some(Value::String(text)) if !is_timestamp(text) && !is_epoch_seconds(text) => problem(
            at("timestamp"),
            format!(
                "`{text}` is neither an ISO 8601 timestamp with a UTC offset nor UNIX epoch \
                 seconds"
            ),
        ),
        Some(Value::Number(number)) if !is_epoch_number(number) => problem(
            at("timestamp"),
            format!("{number} is not UNIX epoch seconds"),
        ),
        None | Some(Value::String(_) | Value::Number(_)) => {}
        Some(other) => problem(
            at("timestamp"),
            format!("expected a string, got {}", kind(other)),
        ),
    }
    match object.get("payload") {
        None | Some(Value::Object(_)) => {}
        Some(other) => problem(
            at("payload"),
            format!("expected an object, got {}", kind(other)),
        ),
    }
    check_optional(object, &TRACK_OPTIONAL, &at, &mut problem);
    problems
}

/// Optional keys: absent, or a string (an object for `context`); never `null`.
fn check_optional(
    object: &Map<String, Value>,
    keys: &[&str],
    at: &impl Fn(&str) -> String,
    problem: &mut impl FnMut(String, String),
) {
    for &key in keys {
        match object.get(key) {
            None => {}
            Some(Value::Null) => problem(
                at(key),
                "must be omitted rather than sent as null".to_owned(),
            ),
            Some(Value::String(_)) if key != "context" => {}
            Some(Value::Object(_)) if key == "context" => {}
            Some(other) => {
                let expected = if key == "context" {
                    "an object"
                } else {
                    "a string"
                };
                problem(at(key), format!("expected {expected}, got {}", kind(other)));
            }
        }
    }
}

fn check_usage(
    schema: &Schema,
    usage: &Map<String, Value>,
    problem: &mut impl FnMut(String, String),
    usage_at: &impl Fn(&str) -> String,
) {
    let Err(report) = TypeValidator::new().validate_usage(schema, usage) else {
        return;
    };
    for field in report.missing_fields {
        problem(usage_at(&field), "missing required field".to_owned());
    }
    for (path, message) in report.errors {
        problem(usage_at(&path), message);
    }
    for field in report.extra_fields {
        problem(
            usage_at(&field),
            "not in the config's manual_usage_schema".to_owned(),
        );
    }
}

/// RFC 3339, or any ISO 8601 date-time that carries an offset.
fn is_timestamp(text: &str) -> bool {
    OffsetDateTime::parse(text, &Rfc3339).is_ok()
        || OffsetDateTime::parse(text, &Iso8601::DEFAULT).is_ok()
}

/// UNIX epoch seconds as decimal text: `1754600519` or `1754600519.566193`.
fn is_epoch_seconds(text: &str) -> bool {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && fraction.is_none_or(digits)
}

/// A JSON number of UNIX epoch seconds: finite and not negative.
fn is_epoch_number(number: &serde_json::Number) -> bool {
    number
        .as_f64()
        .is_some_and(|secs| secs.is_finite() && secs >= 0.0)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx_with(schemas: &HashMap<String, Arc<Schema>>) -> CheckContext<'_> {
        CheckContext {
            schemas,
            poison_key: Some("poison"),
        }
    }

    fn schemas() -> HashMap<String, Arc<Schema>> {
        let schema = Schema::from_pairs([("tokens", "int"), ("note", "Optional[str]")]).unwrap();
        HashMap::from([("cfg".to_owned(), Arc::new(schema))])
    }

    fn good() -> Value {
        json!({"config_id": "cfg", "service_id": "svc",
               "timestamp": "2025-08-07T20:41:59.566193+00:00",
               "response_id": "c49869882f37469c9f4c4faa8caa020b",
               "usage": {"tokens": 3}, "client_customer_key": "c1", "context": {"a": 1}})
    }

    #[test]
    fn a_good_record_passes() {
        let schemas = schemas();
        assert!(check_records(&[good()], &ctx_with(&schemas)).is_empty());
    }

    #[test]
    fn timestamps_need_an_offset() {
        assert!(is_timestamp("2025-08-07T20:41:59Z"));
        assert!(is_timestamp("2025-08-07T20:41:59+02:00"));
        assert!(is_timestamp("2025-08-07T20:41:59.566193+00:00"));
        assert!(!is_timestamp("2025-08-07T20:41:59"));
        assert!(!is_timestamp("yesterday"));
    }

    #[test]
    fn every_problem_of_a_record_is_named() {
        let schemas = schemas();
        let mut bad = good();
        let obj = bad.as_object_mut().unwrap();
        obj.insert("extra".into(), json!(1));
        obj.insert("usage".into(), json!({"tokens": "x", "poison": 1}));
        obj.insert("context".into(), Value::Null);
        obj.remove("service_id");
        let report = check_records(&[good(), bad], &ctx_with(&schemas));
        assert_eq!(report.len(), 1);
        assert_eq!(report[0].index, 1);
        let fields: Vec<&str> = report[0]
            .problems
            .iter()
            .map(|p| p.field.as_str())
            .collect();
        for expected in [
            "usage_records[1].extra",
            "usage_records[1].service_id",
            "usage_records[1].context",
            "usage_records[1].usage.tokens",
            "usage_records[1].usage.poison",
        ] {
            assert!(fields.contains(&expected), "{expected} not in {fields:?}");
        }
    }

    fn good_tracked() -> Value {
        json!({"service_key": "openai::gpt-4o-mini",
               "response_id": "91087a6419aa40ef8248de68bb21c131",
               "timestamp": "2026-12-06T08:41:59.566193+00:00",
               "payload": {"input_tokens": 10}, "customer_key": "acme", "context": {"env": "prod"}})
    }

    fn track_fields(record: Value) -> Vec<String> {
        check_track_records(&[record])
            .into_iter()
            .flat_map(|bad| bad.problems)
            .map(|p| p.field)
            .collect()
    }

    #[test]
    fn a_good_tracked_record_passes_with_either_timestamp_form() {
        assert!(track_fields(good_tracked()).is_empty());
        for timestamp in [
            json!("1754600519.566193"),
            json!("1754600519"),
            json!(1754600519.5),
        ] {
            let mut record = good_tracked();
            record["timestamp"] = timestamp;
            assert!(track_fields(record).is_empty());
        }
        let mut minimal = good_tracked();
        let object = minimal.as_object_mut().unwrap();
        object.remove("customer_key");
        object.remove("context");
        object.insert("payload".into(), json!({}));
        assert!(track_fields(minimal).is_empty());
    }

    #[test]
    fn every_problem_of_a_tracked_record_is_named() {
        let mut bad = good_tracked();
        let object = bad.as_object_mut().unwrap();
        object.insert("client_customer_key".into(), json!("c1"));
        object.insert("customer_key".into(), Value::Null);
        object.insert("context".into(), json!([1]));
        object.insert("service_key".into(), json!(""));
        object.insert("timestamp".into(), json!("2026-12-06 08:41:59"));
        object.insert("payload".into(), json!("tokens"));
        object.remove("response_id");
        let mut fields = track_fields(bad);
        fields.sort();
        assert_eq!(
            fields,
            [
                "tracked[0].client_customer_key",
                "tracked[0].context",
                "tracked[0].customer_key",
                "tracked[0].payload",
                "tracked[0].response_id",
                "tracked[0].service_key",
                "tracked[0].timestamp",
            ]
        );
        assert_eq!(track_fields(json!(3)), ["tracked[0]"]);
    }

    #[test]
    fn epoch_seconds_are_decimal_text() {
        assert!(is_epoch_seconds("1754600519.566193"));
        assert!(is_epoch_seconds("0"));
        assert!(!is_epoch_seconds("1754600519."));
        assert!(!is_epoch_seconds(".5"));
        assert!(!is_epoch_seconds("-1"));
        assert!(!is_epoch_seconds("1e9"));
        assert!(!is_epoch_seconds(""));
    }

    #[test]
    fn unknown_config_and_empty_response_id_are_rejected() {
        let schemas = schemas();
        let mut bad = good();
        bad["config_id"] = json!("nope");
        bad["response_id"] = json!("");
        let report = check_records(&[bad], &ctx_with(&schemas));
        let messages: Vec<&str> = report[0]
            .problems
            .iter()
            .map(|p| p.message.as_str())
            .collect();
        assert!(
            messages.contains(&"unknown config_id `nope`"),
            "{messages:?}"
        );
        assert!(messages.contains(&"must not be empty"), "{messages:?}");
    }
}
