//! Whole usage objects against parsed schemas: missing, extra and mistyped fields together.

use std::collections::BTreeMap;

use aicm::schema::Schema;
use aicm::{TypeValidator, UsageValidationError};
use serde_json::{Map, Value, json};

fn schema(pairs: &[(&str, &str)]) -> Schema {
    Schema::from_pairs(pairs.iter().copied()).unwrap_or_else(|e| panic!("{e}"))
}

/// A usage object with its fields inserted in the order given.
fn usage(fields: &[(&str, Value)]) -> Map<String, Value> {
    let mut map = Map::new();
    for (k, v) in fields {
        map.insert((*k).to_owned(), v.clone());
    }
    map
}

fn validate(schema: &Schema, usage: &Map<String, Value>) -> Result<(), UsageValidationError> {
    TypeValidator::new().validate_usage(schema, usage)
}

fn errors(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Whether `serde_json::Map` keeps insertion order in this build (the `preserve_order`
/// feature), which decides what "usage order" is.
fn map_keeps_insertion_order() -> bool {
    let m = usage(&[("b", json!(1)), ("a", json!(1))]);
    m.keys().next().map(String::as_str) == Some("b")
}

#[test]
fn every_problem_is_reported_at_once_with_the_documented_display() {
    let s = schema(&[("a", "int"), ("f", "int"), ("note", "Optional[str]")]);
    let err = validate(&s, &usage(&[("f", json!("s")), ("x", json!(1))])).unwrap_err();
    assert_eq!(
        err,
        UsageValidationError {
            errors: errors(&[("f", "expected int, got str")]),
            missing_fields: strings(&["a"]),
            extra_fields: strings(&["x"]),
        }
    );
    assert_eq!(
        err.to_string(),
        "Missing fields: a; Type errors: f: expected int, got str; Unexpected fields: x"
    );
    assert!(!err.is_empty());
}

#[test]
fn display_lists_only_the_sections_that_have_problems() {
    let s = schema(&[("a", "int"), ("b", "int"), ("c", "str")]);
    let only_missing = validate(&s, &usage(&[("c", json!("x"))])).unwrap_err();
    assert_eq!(only_missing.to_string(), "Missing fields: a, b");

    let only_types = validate(
        &s,
        &usage(&[("a", json!(1.5)), ("b", json!(true)), ("c", json!(null))]),
    )
    .unwrap_err();
    assert_eq!(
        only_types.to_string(),
        "Type errors: a: expected int, got number 1.5; b: expected int, got bool; \
         c: expected str, got null"
    );

    let only_extra = validate(
        &s,
        &usage(&[
            ("a", json!(1)),
            ("b", json!(2)),
            ("c", json!("x")),
            ("d", json!(0)),
        ]),
    )
    .unwrap_err();
    assert_eq!(only_extra.to_string(), "Unexpected fields: d");
    assert!(only_extra.errors.is_empty() && only_extra.missing_fields.is_empty());
}

#[test]
fn missing_fields_come_in_schema_order() {
    let s = schema(&[
        ("zeta", "int"),
        ("alpha", "str"),
        ("mid", "List[int]"),
        ("o", "int | None"),
    ]);
    let err = validate(&s, &Map::new()).unwrap_err();
    assert_eq!(err.missing_fields, strings(&["zeta", "alpha", "mid"]));
    assert!(err.errors.is_empty() && err.extra_fields.is_empty());
}

#[test]
fn extra_fields_come_in_usage_order() {
    let s = schema(&[("ok", "int")]);
    let u = usage(&[
        ("zz", json!(1)),
        ("ok", json!(1)),
        ("aa", json!(1)),
        ("mm", json!(1)),
    ]);
    let err = validate(&s, &u).unwrap_err();
    let want = if map_keeps_insertion_order() {
        ["zz", "aa", "mm"]
    } else {
        ["aa", "mm", "zz"]
    };
    assert_eq!(err.extra_fields, strings(&want));
}

#[test]
fn optional_fields_may_be_null_or_absent() {
    let s = schema(&[("n", "int"), ("o", "Optional[float]"), ("p", "str | None")]);
    assert_eq!(validate(&s, &usage(&[("n", json!(1))])), Ok(()));
    assert_eq!(
        validate(
            &s,
            &usage(&[("n", json!(1)), ("o", json!(null)), ("p", json!(null))])
        ),
        Ok(())
    );
    assert_eq!(
        validate(
            &s,
            &usage(&[("n", json!(1)), ("o", json!(2)), ("p", json!("x"))])
        ),
        Ok(())
    );
    let err = validate(&s, &usage(&[("n", json!(1)), ("o", json!("x"))])).unwrap_err();
    assert_eq!(
        err.errors,
        errors(&[("o", "expected Optional[float], got str")])
    );
}

#[test]
fn a_non_optional_null_is_a_type_error_not_a_missing_field() {
    let s = schema(&[("n", "int")]);
    let err = validate(&s, &usage(&[("n", json!(null))])).unwrap_err();
    assert_eq!(err.errors, errors(&[("n", "expected int, got null")]));
    assert!(err.missing_fields.is_empty());
}

#[test]
fn any_accepts_null_but_must_be_present_optional_any_may_be_absent() {
    let s = schema(&[("a", "Any"), ("b", "Optional[Any]")]);
    assert_eq!(validate(&s, &usage(&[("a", json!(null))])), Ok(()));
    assert_eq!(
        validate(&s, &usage(&[("a", json!({"x": [1]})), ("b", json!(3))])),
        Ok(())
    );
    let err = validate(&s, &Map::new()).unwrap_err();
    assert_eq!(err.missing_fields, strings(&["a"]));
}

#[test]
fn an_empty_schema_accepts_anything() {
    let anything = usage(&[("x", json!(1)), ("y", json!({"deep": [null]}))]);
    assert_eq!(validate(&Schema::empty(), &anything), Ok(()));
    assert_eq!(validate(&Schema::empty(), &Map::new()), Ok(()));
    let from_null = Schema::from_json_str("null").unwrap();
    assert_eq!(validate(&from_null, &anything), Ok(()));
    let from_empty = Schema::from_json_str("{}").unwrap();
    assert_eq!(validate(&from_empty, &anything), Ok(()));
}

#[test]
fn nested_errors_name_their_path_under_the_field() {
    let s = schema(&[
        ("tags", "List[str]"),
        ("meta", "Dict[str, int]"),
        ("matrix", "List[List[int]]"),
        ("steps", "List[Dict[str, int]]"),
    ]);
    let err = validate(
        &s,
        &usage(&[
            ("tags", json!(["a", "b", 3])),
            ("meta", json!({"w": 1, "x": "no"})),
            ("matrix", json!([[1, "x"], [2]])),
            ("steps", json!([{"a": 1}, {"b": 2.5}])),
        ]),
    )
    .unwrap_err();
    assert_eq!(
        err.errors,
        errors(&[
            ("tags[2]", "expected str, got number"),
            ("meta.x", "expected int, got str"),
            ("matrix[0][1]", "expected int, got str"),
            ("steps[1].b", "expected int, got number 2.5"),
        ])
    );
    assert_eq!(
        err.to_string(),
        "Type errors: matrix[0][1]: expected int, got str; meta.x: expected int, got str; \
         steps[1].b: expected int, got number 2.5; tags[2]: expected str, got number"
    );
}

#[test]
fn field_names_that_are_not_identifiers_are_kept_as_written() {
    let s = schema(&[
        ("cost-center", "str"),
        ("type", "Optional[str]"),
        ("a.b", "int"),
    ]);
    let err = validate(
        &s,
        &usage(&[("cost-center", json!(1)), ("a.b", json!("x"))]),
    )
    .unwrap_err();
    assert_eq!(
        err.errors,
        errors(&[
            ("a.b", "expected int, got str"),
            ("cost-center", "expected str, got number")
        ])
    );
}

#[test]
fn the_five_field_record_validates() {
    let s = schema(&[
        ("tokens", "int"),
        ("model", "str"),
        ("latency", "Optional[float]"),
        ("tags", "List[str]"),
        ("counts", "Dict[str, int]"),
    ]);
    let good = usage(&[
        ("tokens", json!(1234)),
        ("model", json!("gpt-4o-mini")),
        ("latency", json!(12.5)),
        ("tags", json!(["a", "b"])),
        ("counts", json!({"in": 10, "out": 20})),
    ]);
    assert_eq!(validate(&s, &good), Ok(()));
    let mut bad = good.clone();
    bad.insert("tokens".to_owned(), json!(1.0));
    bad.insert("counts".to_owned(), json!({"in": "ten"}));
    bad.remove("model");
    let err = validate(&s, &bad).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Missing fields: model; Type errors: counts.in: expected int, got str; \
         tokens: expected int, got number 1.0"
    );
}

#[test]
fn the_error_serialises_with_the_documented_field_names() {
    let s = schema(&[("a", "int"), ("f", "int")]);
    let err = validate(&s, &usage(&[("f", json!("s")), ("x", json!(1))])).unwrap_err();
    assert_eq!(
        serde_json::to_value(&err).unwrap(),
        json!({
            "errors": {"f": "expected int, got str"},
            "missing_fields": ["a"],
            "extra_fields": ["x"],
        })
    );
}

#[test]
fn the_sample_config_schemas_accept_records_made_for_them() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/schemas/configs.json"
    ));
    // shared/ sits beside the repository; skip quietly where it is not checked out.
    let Ok(text) = text else { return };
    let doc: Value = serde_json::from_str(&text).unwrap();
    let configs = doc["configs"].as_array().unwrap();
    let chat = configs
        .iter()
        .find(|c| c["config_id"] == "chat-completions")
        .map(|c| Schema::from_value(&c["manual_usage_schema"]).unwrap());
    let Some(chat) = chat else { return };
    let mut record = Map::new();
    for field in chat.fields() {
        let value = match field.ty.strip_optional().to_string().as_str() {
            "int" => json!(1),
            "float" => json!(0.5),
            "str" => json!("x"),
            "bool" => json!(true),
            _ => continue,
        };
        record.insert(field.name.clone(), value);
    }
    assert_eq!(validate(&chat, &record), Ok(()));
}
