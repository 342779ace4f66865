//! Sample usage for every golden config passes both the TypeValidator and the config's JSON
//! Schema (checked with the `jsonschema` crate), and values that break the schema fail both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use aicm::TypeValidator;
use aicm_codegen::json_schema;
use serde_json::{Value, json};
use support::{CASES, SAMPLES, load, sample_usage};

fn validator(config: &aicm_codegen::ConfigSchema) -> jsonschema::Validator {
    let schema = json_schema(config).to_value();
    assert_eq!(schema["$schema"], aicm_codegen::DRAFT_2020_12);
    jsonschema::validator_for(&schema).unwrap()
}

#[test]
fn samples_pass_the_type_validator_and_the_json_schema() {
    let type_validator = TypeValidator::new();
    let mut checked = 0;
    for case in CASES {
        for config in load(case) {
            let schema_validator = validator(&config);
            for n in 0..SAMPLES {
                let usage = sample_usage(&config, n);
                if let Err(e) = type_validator.validate_usage(&config.schema, &usage) {
                    panic!(
                        "{}: sample {n} {usage:?}: TypeValidator: {e}",
                        config.config_id
                    );
                }
                let value = Value::Object(usage);
                let errors: Vec<String> = schema_validator
                    .iter_errors(&value)
                    .map(|e| e.to_string())
                    .collect();
                assert!(
                    errors.is_empty(),
                    "{}: sample {n} {value}: JSON Schema: {errors:?}",
                    config.config_id
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 100, "only {checked} samples");
}

/// `(type, value)` pairs the TypeValidator rejects, and JSON Schema must reject too.
const BOTH_REJECT: &[(&str, &str)] = &[
    ("int", r#""1""#),
    ("int", "true"),
    ("int", "1.5"),
    ("int", "18446744073709551616"),
    ("float", r#""1.5""#),
    ("str", "1"),
    ("bool", "0"),
    ("list", "{}"),
    ("tuple", r#""ab""#),
    ("set", "[1, 2, 1]"),
    ("set", "[1, 1.0]"),
    ("set", r#"[{"a": 1, "b": 2}, {"b": 2, "a": 1}]"#),
    ("dict", "[]"),
    ("List[int]", r#"[1, "a"]"#),
    ("List[List[int]]", "[[1], [2, [3]]]"),
    ("Dict[str, int]", r#"{"a": "b"}"#),
    ("Dict[int, str]", r#"{"x": "a"}"#),
    ("Dict[int, str]", r#"{"01": "a"}"#),
    ("Dict[int, str]", r#"{"+1": "a"}"#),
    ("Dict[float, str]", r#"{"1.": "a"}"#),
    ("Dict[bool, str]", r#"{"True": "a"}"#),
    ("Dict[List[int], str]", r#"{"[1]": "a"}"#),
    ("Optional[int]", r#""x""#),
    ("Union[int, str]", "1.5"),
    ("Union[List[int], bool]", r#"["a"]"#),
];

/// `(type, value)` pairs both accept, including the edges of each form.
const BOTH_ACCEPT: &[(&str, &str)] = &[
    ("int", "-9223372036854775808"),
    ("int", "18446744073709551615"),
    ("float", "1"),
    ("float", "-2.5e-3"),
    ("set", r#"[1, "1", true, [1], {"a": 1}]"#),
    ("Dict[int, str]", r#"{"-12": "a", "0": "b"}"#),
    ("Dict[float, str]", r#"{"1.5": "a", "2": "b", "-1e3": "c"}"#),
    ("Dict[bool, int]", r#"{"true": 1, "false": 0}"#),
    ("Dict[Optional[int], str]", r#"{"null": "a", "3": "b"}"#),
    ("Dict[Union[int, bool], str]", r#"{"true": "a", "3": "b"}"#),
    ("Optional[int]", "null"),
    ("Any", "null"),
    ("Optional[Any]", r#"{"x": [1]}"#),
    ("Union[List[int], Dict[str, float], bool]", r#"{"a": 1}"#),
];

/// Where JSON Schema is laxer than the TypeValidator (documented in the crate docs): these the
/// validator rejects and JSON Schema accepts.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    ("int", "1.0"),
    ("int", "1e2"),
    ("Dict[int, str]", r#"{"99999999999999999999": "a"}"#),
];

fn both(ty: &str, value: &str) -> (bool, bool) {
    let value: Value = serde_json::from_str(value).unwrap();
    let parsed: aicm_schema::TypeExpr = ty.parse().unwrap();
    let by_validator = TypeValidator::new().validate_value(&value, ty).is_ok();
    let mut schema = aicm_codegen::type_schema(&parsed).to_value();
    schema["$schema"] = json!(aicm_codegen::DRAFT_2020_12);
    let by_schema = jsonschema::validator_for(&schema).unwrap().is_valid(&value);
    (by_validator, by_schema)
}

#[test]
fn json_schema_rejects_what_the_validator_rejects() {
    for (ty, value) in BOTH_REJECT {
        assert_eq!(both(ty, value), (false, false), "{ty} with {value}");
    }
}

#[test]
fn json_schema_accepts_what_the_validator_accepts() {
    for (ty, value) in BOTH_ACCEPT {
        assert_eq!(both(ty, value), (true, true), "{ty} with {value}");
    }
}

#[test]
fn the_documented_differences_are_still_the_only_known_ones() {
    for (ty, value) in KNOWN_DIFFERENCES {
        assert_eq!(both(ty, value), (false, true), "{ty} with {value}");
    }
}

#[test]
fn missing_extra_and_null_required_fields_fail_both() {
    let config = &load("configs")
        .into_iter()
        .find(|c| c.config_id == "chat-completions")
        .unwrap();
    let schema_validator = validator(config);
    let good = sample_usage(config, 1);
    let mut cases = Vec::new();
    let mut missing = good.clone();
    missing.remove("model");
    cases.push(missing);
    let mut extra = good.clone();
    extra.insert("surprise".into(), json!(1));
    cases.push(extra);
    let mut null_required = good.clone();
    null_required.insert("model".into(), Value::Null);
    cases.push(null_required);
    for usage in cases {
        assert!(
            TypeValidator::new()
                .validate_usage(&config.schema, &usage)
                .is_err()
        );
        assert!(!schema_validator.is_valid(&Value::Object(usage)));
    }
}

#[test]
fn an_empty_schema_accepts_any_object_in_both() {
    let config = &load("empty")[0];
    let usage = json!({"anything": [1, {"goes": true}]});
    let Value::Object(map) = &usage else {
        unreachable!()
    };
    assert!(
        TypeValidator::new()
            .validate_usage(&config.schema, map)
            .is_ok()
    );
    assert!(validator(config).is_valid(&usage));
}
