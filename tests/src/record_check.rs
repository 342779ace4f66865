//! The shape and usage checks of `POST /track-usage` records.
//!
//! Stricter than the real service in one respect, on purpose: optional keys sent as `null`
//! are errors, because the contract says they are omitted, and this server exists to catch
//! clients that drift from the contract.

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

/// One thing wrong with a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Problem {
    /// Where: `usage_records[2].usage.tokens`.
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
            || format!("usage_records[{}]", self.index),
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

/// Checks every record; returns the bad ones (empty when the batch can be stored).
pub(crate) fn check_records(records: &[Value], ctx: &CheckContext<'_>) -> Vec<BadRecord> {
    records
        .iter()
        .enumerate()
        .filter_map(|(index, record)| {
            let problems = check_record(index, record, ctx);
            (!problems.is_empty()).then(|| BadRecord {
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
    for key in OPTIONAL {
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
