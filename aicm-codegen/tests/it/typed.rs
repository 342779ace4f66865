//! The generated structs themselves: compiled into this test (every golden module), filled from
//! sample JSON, written back, and checked by the TypeValidator and the config's JSON Schema.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

#[allow(dead_code)]
mod configs {
    include!("../golden/configs.rs");
}
#[allow(dead_code)]
mod every_form {
    include!("../golden/every_form.rs");
}
#[allow(dead_code)]
mod nesting {
    include!("../golden/nesting.rs");
}
#[allow(dead_code)]
mod unions {
    include!("../golden/unions.rs");
}
#[allow(dead_code)]
mod odd_names {
    include!("../golden/odd_names.rs");
}
#[allow(dead_code)]
mod keywords {
    include!("../golden/keywords.rs");
}
#[allow(dead_code)]
mod empty {
    include!("../golden/empty.rs");
}
#[allow(dead_code)]
mod no_configs {
    include!("../golden/no_configs.rs");
}
#[allow(dead_code)]
mod schemars_flag {
    include!("../golden/configs_schemars.rs.out");
}

use aicm::{TypeValidator, Usage};
use aicm_codegen::{ConfigSchema, json_schema};
use serde::de::DeserializeOwned;
use serde_json::Value;
use support::{CASES, SAMPLES, load, sample_usage};

/// Each config's struct, found by its `CONFIG_ID`; returns the config id it checked.
fn round_trip<T: Usage + DeserializeOwned + PartialEq + std::fmt::Debug>(case: &str) -> String {
    let config_id = T::CONFIG_ID.expect("generated structs name their config");
    let config: ConfigSchema = load(case)
        .into_iter()
        .find(|c| c.config_id == config_id)
        .unwrap();
    assert_eq!(T::SCHEMA, config.schema.canonical_json(), "{config_id}");
    assert_eq!(T::FINGERPRINT, config.schema.fingerprint(), "{config_id}");
    let schema_validator = jsonschema::validator_for(&json_schema(&config).to_value()).unwrap();
    for n in 0..SAMPLES {
        let sample = Value::Object(sample_usage(&config, n));
        let typed: T = serde_json::from_value(sample.clone())
            .unwrap_or_else(|e| panic!("{config_id}: sample {n} {sample}: {e}"));
        typed
            .check()
            .unwrap_or_else(|e| panic!("{config_id}: sample {n}: check: {e}"));
        let written = serde_json::to_value(&typed).unwrap();
        let Value::Object(map) = &written else {
            panic!("{config_id}: not an object: {written}")
        };
        TypeValidator::new()
            .validate_usage(&config.schema, map)
            .unwrap_or_else(|e| panic!("{config_id}: sample {n} wrote {written}: {e}"));
        assert!(
            schema_validator.is_valid(&written),
            "{config_id}: sample {n} wrote {written}: fails its JSON Schema"
        );
        // What was written reads back as the same value.
        let again: T = serde_json::from_value(written.clone()).unwrap();
        assert_eq!(again, typed, "{config_id}: sample {n}");
        // Optional fields given as null are left out when written.
        let mut sample = sample;
        if let Value::Object(map) = &mut sample {
            map.retain(|k, v| {
                !(v.is_null() && config.schema.get(k).is_some_and(|f| f.is_optional()))
            });
        }
        assert!(
            same_json(&written, &sample),
            "{config_id}: sample {n}: wrote {written}, read {sample}"
        );
    }
    config_id.to_owned()
}

/// Equal as JSON, numbers compared by value (`3` was read into an `f64` and written as `3.0`).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn every_generated_struct_round_trips_through_both_validators() {
    let mut checked = vec![
        round_trip::<configs::AgentRunUsage>("configs"),
        round_trip::<configs::ChatCompletionsUsage>("configs"),
        round_trip::<configs::FreeFormUsage>("configs"),
        round_trip::<configs::SpeechToTextUsage>("configs"),
        round_trip::<every_form::EveryFormUsage>("every_form"),
        round_trip::<nesting::DeeplyNestedUsage>("nesting"),
        round_trip::<unions::UnionsUsage>("unions"),
        round_trip::<unions::UnionsTooUsage>("unions"),
        round_trip::<odd_names::OddNamesUsage>("odd_names"),
        round_trip::<odd_names::Config2024BillingV2Usage>("odd_names"),
        round_trip::<odd_names::ÜnïcodeConfigUsage>("odd_names"),
        round_trip::<keywords::KeywordsUsage>("keywords"),
        round_trip::<keywords::TypeUsage>("keywords"),
        round_trip::<empty::EmptyObjectUsage>("empty"),
        round_trip::<empty::NullSchemaUsage>("empty"),
        round_trip::<empty::AbsentSchemaUsage>("empty"),
        round_trip::<schemars_flag::Chat>("configs"),
    ];
    checked.sort();
    checked.dedup();
    let mut all: Vec<String> = CASES
        .iter()
        .flat_map(|case| load(case))
        .map(|c| c.config_id)
        .collect();
    all.sort();
    assert_eq!(checked, all, "every golden config has its round trip");
}

#[test]
fn a_non_finite_float_inside_a_union_is_caught_by_check() {
    let usage = unions::UnionsTooUsage {
        number: unions::UnionsTooUsageNumber::Float(f64::NAN),
    };
    let err = usage.check().unwrap_err();
    assert!(err.errors.contains_key("number"), "{err:?}");
    let fine = unions::UnionsTooUsage {
        number: unions::UnionsTooUsageNumber::Int(3),
    };
    assert!(fine.check().is_ok());
}

#[test]
fn a_set_field_is_checked_for_duplicates_by_check() {
    let mut usage: every_form::EveryFormUsage =
        serde_json::from_value(Value::Object(sample_usage(&load("every_form")[0], 1))).unwrap();
    usage.unique = serde_json::json!([1, 2, 1]);
    let err = usage.check().unwrap_err();
    assert!(err.errors.contains_key("unique"), "{err:?}");
}

#[test]
fn renamed_and_keyword_fields_write_their_schema_names() {
    let usage = keywords::TypeUsage { self_: "me".into() };
    assert_eq!(
        serde_json::to_value(&usage).unwrap(),
        serde_json::json!({"Self": "me"})
    );
    let json = serde_json::to_value(configs::ChatCompletionsUsage {
        input_tokens: 1,
        output_tokens: 2,
        model: "m".into(),
        cached: false,
        latency_ms: None,
    })
    .unwrap();
    assert_eq!(
        json,
        serde_json::json!({"input_tokens": 1, "output_tokens": 2, "model": "m", "cached": false})
    );
}

#[test]
fn the_schemars_flag_derives_json_schema() {
    let schema = schemars::schema_for!(schemars_flag::Chat);
    let properties = schema.get("properties").unwrap().as_object().unwrap();
    assert!(properties.contains_key("latency_ms"));
    let required = schema.get("required").unwrap();
    assert!(!required.as_array().unwrap().contains(&"latency_ms".into()));
}

/// A hand-written struct on the snapshot `--schema-dir` wrote: the derive reads it.
#[derive(serde::Serialize, aicm::Usage)]
#[usage(
    schema_file = "tests/fixtures/snapshots/chat-completions.json",
    config_id = "chat-completions"
)]
struct ChatFromSnapshot<'a> {
    input_tokens: u32,
    output_tokens: u32,
    model: &'a str,
    cached: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ms: Option<f64>,
}

#[test]
fn a_schema_dir_snapshot_is_usable_as_schema_file_and_is_up_to_date() {
    assert_eq!(
        <ChatFromSnapshot<'_> as Usage>::SCHEMA,
        <configs::ChatCompletionsUsage as Usage>::SCHEMA
    );
    assert_eq!(
        <ChatFromSnapshot<'_> as Usage>::FINGERPRINT,
        <configs::ChatCompletionsUsage as Usage>::FINGERPRINT
    );
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("usage.rs");
    let options =
        aicm_codegen::GenerateOptions::from_file(support::golden_dir().join("configs.json"))
            .config_id("chat-completions")
            .out(&module)
            .schema_dir(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/snapshots"),
            );
    std::fs::write(
        &module,
        aicm_codegen::render_module(&load("configs")[1..2], &Default::default()).unwrap(),
    )
    .unwrap();
    let report = aicm_codegen::check(&options).unwrap();
    assert!(report.is_clean(), "{report}");
}
