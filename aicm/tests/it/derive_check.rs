//! `Usage::check`, the track-time checks of a derived type: non-finite floats and
//! `serde_json::Value` fields that do not match their schema types, wherever they are nested.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use aicm::Usage;
use aicm::conform::{Conforms, Dict, Float, Int, List, Optional, Str};
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Serialize, Usage)]
#[usage(schema = r#"{
    "input_tokens": "int",
    "model": "str",
    "latency_ms": "Optional[float]",
    "scores": "List[float]",
    "weights": "Dict[str, float]",
    "meta": "Dict[str, List[int]]",
    "outcome": "Union[str, int]",
    "extra": "Optional[Dict[str, int]]",
    "steps": "List[Dict[str, int]]"
}"#)]
struct Record {
    input_tokens: u32,
    model: String,
    latency_ms: Option<f64>,
    scores: Vec<f32>,
    weights: BTreeMap<String, f64>,
    meta: Value,
    outcome: Value,
    extra: Option<Value>,
    steps: Vec<Value>,
}

fn valid() -> Record {
    Record {
        input_tokens: 3,
        model: "m".into(),
        latency_ms: Some(12.5),
        scores: vec![0.5, 1.0],
        weights: BTreeMap::from([("a".into(), 1.0)]),
        meta: json!({"x": [1, 2]}),
        outcome: json!("done"),
        extra: None,
        steps: vec![json!({"a": 1})],
    }
}

fn errors(record: &Record) -> BTreeMap<String, String> {
    let Err(err) = record.check() else {
        panic!("record should be rejected");
    };
    assert!(err.missing_fields.is_empty() && err.extra_fields.is_empty());
    err.errors
}

#[test]
fn a_valid_record_passes() {
    assert_eq!(valid().check(), Ok(()));
    let mut record = valid();
    record.extra = Some(Value::Null);
    record.outcome = json!(7);
    assert_eq!(record.check(), Ok(()));
}

#[test]
fn non_finite_floats_are_rejected_by_field_and_path() {
    let mut record = valid();
    record.latency_ms = Some(f64::NAN);
    assert_eq!(
        errors(&record),
        BTreeMap::from([(
            "latency_ms".to_owned(),
            "expected a finite float, got NaN".to_owned()
        )])
    );

    let mut record = valid();
    record.scores = vec![1.0, 2.0, f32::INFINITY];
    record.weights.insert("b".into(), f64::NEG_INFINITY);
    assert_eq!(
        errors(&record),
        BTreeMap::from([
            (
                "scores[2]".to_owned(),
                "expected a finite float, got inf".to_owned()
            ),
            (
                "weights.b".to_owned(),
                "expected a finite float, got -inf".to_owned()
            ),
        ])
    );
}

#[test]
fn value_fields_are_validated_against_their_schema_types() {
    let mut record = valid();
    record.meta = json!({"x": [1, "a"]});
    record.outcome = json!(true);
    record.extra = Some(json!([1]));
    record.steps = vec![json!({"a": 1}), json!({"b": 2.5})];
    assert_eq!(
        errors(&record),
        BTreeMap::from([
            ("meta.x[1]".to_owned(), "expected int, got str".to_owned()),
            (
                "outcome".to_owned(),
                "expected Union[str, int], got bool".to_owned()
            ),
            (
                "extra".to_owned(),
                "expected Optional[Dict[str, int]], got list".to_owned()
            ),
            (
                "steps[1].b".to_owned(),
                "expected int, got number 2.5".to_owned()
            ),
        ])
    );
}

#[test]
fn every_problem_of_a_record_is_reported_at_once() {
    let mut record = valid();
    record.latency_ms = Some(f64::NAN);
    record.meta = json!("nope");
    let err = record.check().unwrap_err();
    assert_eq!(err.errors.len(), 2, "{err}");
    assert_eq!(
        err.to_string(),
        "Type errors: latency_ms: expected a finite float, got NaN; \
         meta: expected Dict[str, List[int]], got str"
    );
}

#[derive(Serialize, Usage)]
#[usage(
    schema = r#"{"a": "float", "b": "Optional[List[float]]", "c": "Dict[str, float]", "d": "Any"}"#
)]
struct Wrapped<'a> {
    a: Box<f64>,
    b: Option<Cow<'a, [f64]>>,
    c: HashMap<String, &'a f64>,
    /// `Any` accepts anything, NaN included (serde_json writes it as null).
    d: f64,
}

#[test]
fn pointers_and_borrowed_containers_are_checked_through() {
    let ok = Wrapped {
        a: Box::new(1.0),
        b: Some(Cow::Borrowed(&[1.0, 2.0])),
        c: HashMap::from([("k".into(), &0.0)]),
        d: f64::NAN,
    };
    assert_eq!(ok.check(), Ok(()));
    let bad = Wrapped {
        a: Box::new(f64::NAN),
        b: Some(Cow::Owned(vec![1.0, f64::NAN])),
        c: HashMap::from([("k".into(), &f64::INFINITY)]),
        d: 0.0,
    };
    let keys: Vec<String> = bad.check().unwrap_err().errors.into_keys().collect();
    assert_eq!(keys, ["a", "b[1]", "c.k"]);
}

#[test]
fn only_types_that_can_fail_are_walked() {
    // These consts are what lets `check` compile to nothing for ordinary records.
    const { assert!(!<String as Conforms<Str>>::NEEDS_CHECK) };
    const { assert!(!<Vec<Option<i64>> as Conforms<List<Optional<Int>>>>::NEEDS_CHECK) };
    const { assert!(!<&[&str] as Conforms<List<Str>>>::NEEDS_CHECK) };
    const { assert!(<f64 as Conforms<Float>>::NEEDS_CHECK) };
    const { assert!(<BTreeMap<String, Vec<f32>> as Conforms<Dict<Str, List<Float>>>>::NEEDS_CHECK) };
    const { assert!(<Value as Conforms<Int>>::NEEDS_CHECK) };
    const { assert!(!<Value as Conforms<aicm::conform::Any>>::NEEDS_CHECK) };
}

#[derive(Serialize, Usage)]
#[usage(schema = r#"{"tokens": "int", "model": "str"}"#)]
struct Plain {
    tokens: i64,
    model: &'static str,
}

#[test]
fn a_record_without_floats_or_values_always_passes() {
    assert_eq!(
        Plain {
            tokens: -1,
            model: ""
        }
        .check(),
        Ok(())
    );
}
