//! Generic and borrowed records: the impls carry the struct's generics, generic fields get the
//! bounds they need, and both owned and borrowed values are accepted by `track`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use aicm::{IntoUsage, Usage};
use serde::Serialize;
use serde_json::json;

fn is_into_usage<U: IntoUsage>(_: &U) {}

#[derive(Serialize, Usage)]
#[usage(schema = r#"{"model": "str", "provider": "str", "tags": "List[str]", "tokens": "int"}"#)]
struct Borrowed<'a, 'b> {
    model: &'a str,
    provider: Cow<'b, str>,
    tags: &'a [&'b str],
    tokens: u32,
}

#[test]
fn borrowed_records_are_usage_owned_and_by_reference() {
    let tags = ["a", "b"];
    let record = Borrowed {
        model: "gpt",
        provider: Cow::Borrowed("openai"),
        tags: &tags,
        tokens: 5,
    };
    is_into_usage(&&record);
    is_into_usage(&record);
    assert_eq!(record.check(), Ok(()));
    assert_eq!(
        serde_json::to_value(&record).unwrap(),
        json!({"model": "gpt", "provider": "openai", "tags": ["a", "b"], "tokens": 5})
    );
}

#[derive(Serialize, Usage)]
#[usage(schema = r#"{"value": "float", "label": "str", "extra": "Any"}"#)]
struct Generic<T, L, X>
where
    L: AsRef<str>,
{
    value: T,
    label: L,
    extra: X,
}

#[test]
fn generic_fields_are_checked_per_instantiation() {
    let record = Generic {
        value: 1.5f32,
        label: String::from("x"),
        extra: vec![1, 2],
    };
    is_into_usage(&record);
    assert_eq!(record.check(), Ok(()));
    assert_eq!(
        Generic::<f64, &str, ()>::SCHEMA,
        r#"{"value":"float","label":"str","extra":"Any"}"#
    );
    let bad = Generic {
        value: f64::NAN,
        label: "y",
        extra: (),
    };
    assert_eq!(
        bad.check().unwrap_err().errors["value"],
        "expected a finite float, got NaN"
    );
    // A Value stands for any schema type and is checked when tracked.
    let dynamic = Generic {
        value: json!("not a number"),
        label: "z",
        extra: json!(null),
    };
    assert_eq!(
        dynamic.check().unwrap_err().errors["value"],
        "expected float, got str"
    );
}

/// Aliases and nested std types conform through the trait system.
type Counts = BTreeMap<String, Vec<i64>>;
type MaybeCounts = Option<Counts>;

#[derive(Serialize, Usage)]
#[usage(
    schema = r#"{"nested": "List[Dict[str, List[int]]]", "counts": "Dict[str, List[int]]",
    "maybe": "Optional[Dict[str, List[int]]]"}"#
)]
struct Nested {
    nested: Vec<Counts>,
    counts: Counts,
    maybe: MaybeCounts,
}

#[test]
fn aliases_and_nesting_work() {
    let record = Nested {
        nested: vec![Counts::from([("a".into(), vec![1])])],
        counts: Counts::new(),
        maybe: None,
    };
    is_into_usage(&record);
    assert_eq!(record.check(), Ok(()));
}

#[derive(Serialize, Usage)]
#[usage(schema = r#"{"xs": "List[List[int]]", "rgb": "List[int]"}"#)]
struct Fixed<const N: usize> {
    xs: Vec<[u8; 2]>,
    rgb: [u8; 3],
}

#[test]
fn const_generics_are_carried() {
    let record = Fixed::<4> {
        xs: vec![],
        rgb: [1, 2, 3],
    };
    is_into_usage(&record);
    assert_eq!(record.check(), Ok(()));
}
