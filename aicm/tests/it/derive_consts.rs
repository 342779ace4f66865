//! The constants a derived type carries, and that its JSON uses the names the derive checked.

use aicm::Usage;
use aicm::schema::Schema;
use serde::Serialize;
use serde_json::json;

const CHAT_SCHEMA: &str = r#"{"input_tokens": "int", "output_tokens": "int", "model": "str",
    "cached": "bool", "latency_ms": "float | None"}"#;

#[derive(Serialize, Usage)]
#[usage(
    schema = r#"{"input_tokens": "int", "output_tokens": "int", "model": "str",
    "cached": "bool", "latency_ms": "float | None"}"#,
    config_id = "chat-completions"
)]
struct ChatUsage {
    // Struct order differs from schema order on purpose.
    model: String,
    input_tokens: u64,
    output_tokens: u64,
    cached: bool,
    latency_ms: Option<f64>,
}

#[test]
fn constants_describe_the_canonical_schema() {
    let schema = Schema::from_json_str(CHAT_SCHEMA).unwrap();
    assert_eq!(ChatUsage::TYPE_NAME, "ChatUsage");
    assert_eq!(
        ChatUsage::SCHEMA,
        r#"{"input_tokens":"int","output_tokens":"int","model":"str","cached":"bool","latency_ms":"Optional[float]"}"#
    );
    assert_eq!(ChatUsage::SCHEMA, schema.canonical_json());
    assert_eq!(ChatUsage::FINGERPRINT, schema.fingerprint());
    assert_eq!(ChatUsage::CONFIG_ID, Some("chat-completions"));
}

/// The same schema from a file (relative to this package's manifest dir).
#[derive(Serialize, Usage)]
#[usage(schema_file = "tests/ui/schemas/chat_completions.json")]
struct ChatFromFile<'a> {
    input_tokens: u64,
    output_tokens: u64,
    model: &'a str,
    cached: bool,
    latency_ms: Option<f64>,
}

#[test]
fn a_schema_file_gives_the_same_constants() {
    assert_eq!(ChatFromFile::SCHEMA, ChatUsage::SCHEMA);
    assert_eq!(ChatFromFile::FINGERPRINT, ChatUsage::FINGERPRINT);
    assert_eq!(ChatFromFile::CONFIG_ID, None);
}

/// Optional schema fields may be left out; the type's schema is then what it sends.
#[derive(Serialize, Usage)]
#[usage(
    schema = r#"{"input_tokens": "int", "output_tokens": "int", "model": "str",
    "cached": "bool", "latency_ms": "float | None"}"#
)]
struct ChatWithoutLatency {
    input_tokens: u64,
    output_tokens: u64,
    model: String,
    cached: bool,
}

#[test]
fn the_type_schema_is_the_fields_the_type_sends() {
    let expected = Schema::from_pairs([
        ("input_tokens", "int"),
        ("output_tokens", "int"),
        ("model", "str"),
        ("cached", "bool"),
    ])
    .unwrap();
    assert_eq!(ChatWithoutLatency::SCHEMA, expected.canonical_json());
    assert_eq!(ChatWithoutLatency::FINGERPRINT, expected.fingerprint());
    assert_ne!(ChatWithoutLatency::FINGERPRINT, ChatUsage::FINGERPRINT);
}

#[derive(Serialize, Usage)]
#[serde(rename_all = "camelCase")]
#[usage(
    schema = r#"{"inputTokens": "int", "cost-center": "str", "type": "Optional[str]",
    "CACHED": "bool"}"#
)]
struct Renamed {
    input_tokens: i32,
    #[serde(rename = "cost-center")]
    cost_center: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    r#type: Option<String>,
    #[serde(rename(serialize = "CACHED"))]
    cached: bool,
}

#[test]
fn serde_writes_exactly_the_names_the_derive_checked() {
    let value = serde_json::to_value(Renamed {
        input_tokens: 1,
        cost_center: "ops".into(),
        r#type: None,
        cached: true,
    })
    .unwrap();
    assert_eq!(
        value,
        json!({"inputTokens": 1, "cost-center": "ops", "CACHED": true})
    );
    let schema = Schema::from_json_str(Renamed::SCHEMA).unwrap();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["inputTokens", "cost-center", "type", "CACHED"]);
    // What serde wrote validates against the schema the derive checked.
    let map = value.as_object().unwrap();
    aicm::TypeValidator::new()
        .validate_usage(&schema, map)
        .unwrap();
}

#[derive(Serialize, Usage)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
#[usage(schema = r#"{"INPUT-TOKENS": "int", "MODEL-NAME": "str"}"#)]
struct Screaming {
    input_tokens: i32,
    model_name: String,
}

#[test]
fn rename_all_rules_match_serde() {
    let value = serde_json::to_value(Screaming {
        input_tokens: 2,
        model_name: "m".into(),
    })
    .unwrap();
    assert_eq!(value, json!({"INPUT-TOKENS": 2, "MODEL-NAME": "m"}));
    assert_eq!(
        Screaming::SCHEMA,
        r#"{"INPUT-TOKENS":"int","MODEL-NAME":"str"}"#
    );
}

#[derive(Serialize, Usage)]
#[usage(schema = "{}")]
struct Empty {}

#[test]
fn an_empty_schema_fits_an_empty_struct() {
    assert_eq!(Empty::SCHEMA, "{}");
    assert_eq!(Empty::FINGERPRINT, Schema::empty().fingerprint());
    assert_eq!(Empty {}.check(), Ok(()));
}
