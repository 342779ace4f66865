//! Feature `schemars`: the JSON Schema of a config's usage and of the SDK's serialisable types.
#![cfg(feature = "schemars")]

use aicm::schemars::{JsonSchema, schema_for};
use aicm::testing::recording_tracker;
use aicm::{DeliveryHealth, ResponseId, TrackOptions, TriggeredLimit, UsageValidationError};
use serde_json::json;

const SCHEMA: &str = r#"{"input_tokens": "int", "model": "str", "tags": "List[str]",
    "latency_ms": "Optional[float]"}"#;

#[test]
fn a_trackers_json_schema_follows_its_live_schema() {
    let (tracker, _recording) = recording_tracker("chat", "svc", SCHEMA).unwrap();
    let doc = tracker.json_schema().to_value();
    assert_eq!(doc["title"], "chat");
    assert_eq!(doc["additionalProperties"], false);
    assert_eq!(doc["required"], json!(["input_tokens", "model", "tags"]));
    assert_eq!(doc["properties"]["input_tokens"]["type"], "integer");
    assert_eq!(doc["properties"]["tags"]["items"]["type"], "string");
    assert_eq!(
        doc["properties"]["latency_ms"]["anyOf"],
        json!([{"type": "number"}, {"type": "null"}])
    );
    assert_eq!(
        doc["properties"]["latency_ms"]["description"],
        "Optional[float]"
    );
}

#[test]
fn an_empty_schema_accepts_any_object() {
    let (tracker, _recording) = recording_tracker("free", "svc", "{}").unwrap();
    let doc = tracker.json_schema().to_value();
    assert_eq!(doc["type"], "object");
    assert!(doc.get("properties").is_none());
    assert!(doc.get("additionalProperties").is_none());
}

#[test]
fn delivery_health_has_a_schema_with_every_counter() {
    let doc = schema_for!(DeliveryHealth).to_value();
    let properties = doc["properties"].as_object().unwrap();
    for field in [
        "worker_alive",
        "queue_size",
        "in_flight",
        "total_accepted",
        "total_sent",
        "total_failed",
        "total_discarded",
        "last_error",
    ] {
        assert!(properties.contains_key(field), "{field} missing from {doc}");
    }
}

#[test]
fn validation_errors_and_limits_have_schemas() {
    let doc = schema_for!(UsageValidationError).to_value();
    assert_eq!(doc["properties"]["missing_fields"]["type"], "array");
    let doc = schema_for!(TriggeredLimit).to_value();
    assert!(
        doc["required"]
            .as_array()
            .unwrap()
            .contains(&json!("limit_id"))
    );
}

#[test]
fn a_response_id_is_a_json_string_in_data_and_schema() {
    let (tracker, _recording) = recording_tracker("chat", "svc", "{}").unwrap();
    let id: ResponseId = tracker
        .track_with(json!({}), TrackOptions::new().response_id("run-7"))
        .unwrap();
    assert_eq!(serde_json::to_value(&id).unwrap(), json!("run-7"));
    assert_eq!(ResponseId::schema_name(), "ResponseId");
    assert_eq!(schema_for!(ResponseId).to_value()["type"], "string");
}
