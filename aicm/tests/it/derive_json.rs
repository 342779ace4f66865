//! With `#[usage(write_fields)]` the JSON a derived record writes for `track`
//! (`Usage::write_json`) is byte for byte what its serde-derived `Serialize` writes through
//! serde_json: field order, renames, escaped keys, skipped fields, nested and borrowed values.
//! Without it, `Serialize` writes it (also when hand-written).

#![allow(clippy::unwrap_used)]

use std::borrow::Cow;
use std::collections::BTreeMap;

use aicm::Usage;
use serde::Serialize;
use serde_json::json;

/// `write_json`'s bytes, checked against serde_json's and returned.
fn written<T: Usage>(record: &T) -> String {
    let mut out = aicm::__private::BytesMut::new();
    record.write_json(&mut out).unwrap();
    let expected = serde_json::to_vec(record).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&expected)
    );
    String::from_utf8(out.to_vec()).unwrap()
}

#[derive(Serialize, Usage)]
#[usage(
    schema = r#"{"input_tokens": "int", "output_tokens": "int", "model": "str",
    "cached": "bool", "latency_ms": "Optional[float]"}"#
)]
struct Chat {
    input_tokens: i64,
    output_tokens: i64,
    model: String,
    cached: bool,
    latency_ms: Option<f64>,
}

#[test]
fn plain_fields_in_declaration_order() {
    let mut record = Chat {
        input_tokens: -3,
        output_tokens: 42,
        model: "gpt-4o-mini \"quoted\" \\ \u{1}\n é".to_owned(),
        cached: true,
        latency_ms: Some(12.5),
    };
    assert_eq!(
        written(&record),
        r#"{"input_tokens":-3,"output_tokens":42,"model":"gpt-4o-mini \"quoted\" \\ \u0001\n é","cached":true,"latency_ms":12.5}"#
    );
    record.latency_ms = None;
    assert!(written(&record).ends_with(r#""latency_ms":null}"#));
}

/// The struct's order differs from the schema's: serde's (the struct's) is the one written.
#[derive(Serialize, Usage)]
#[usage(write_fields, schema = r#"{"a": "int", "b": "str", "c": "float"}"#)]
struct Reordered {
    c: f64,
    a: u8,
    b: &'static str,
}

#[test]
fn fields_follow_the_struct_not_the_schema() {
    let record = Reordered {
        c: 1e300,
        a: 7,
        b: "",
    };
    assert_eq!(written(&record), r#"{"c":1e+300,"a":7,"b":""}"#);
}

#[derive(Serialize, Usage)]
#[serde(rename_all = "camelCase")]
#[usage(
    write_fields,
    schema = r#"{"inputTokens": "int", "type": "str", "we\"ird\\ key\n\t\u0007": "bool"}"#
)]
struct Renamed {
    input_tokens: i32,
    r#type: String,
    #[serde(rename = "we\"ird\\ key\n\t\u{7}")]
    weird: bool,
}

#[test]
fn renamed_raw_and_escaped_keys() {
    let record = Renamed {
        input_tokens: 1,
        r#type: "t".to_owned(),
        weird: false,
    };
    assert_eq!(
        written(&record),
        r#"{"inputTokens":1,"type":"t","we\"ird\\ key\n\t\u0007":false}"#
    );
}

fn is_zero(n: &Option<i64>) -> bool {
    *n == Some(0)
}

#[derive(Serialize, Usage)]
#[usage(
    schema = r#"{"first": "Optional[int]", "mid": "int", "last": "Optional[str]",
    "zero": "Optional[int]"}"#
)]
struct Skipping<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    first: Option<i64>,
    mid: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last: Option<&'a str>,
    #[serde(skip_serializing_if = "is_zero")]
    zero: Option<i64>,
}

#[test]
fn skipped_fields_leave_no_stray_comma() {
    let all = Skipping {
        first: Some(1),
        mid: 2,
        last: Some("x"),
        zero: Some(3),
    };
    assert_eq!(written(&all), r#"{"first":1,"mid":2,"last":"x","zero":3}"#);
    let none = Skipping {
        first: None,
        mid: 2,
        last: None,
        zero: Some(0),
    };
    assert_eq!(written(&none), r#"{"mid":2}"#);
    let nulls = Skipping {
        first: None,
        mid: 2,
        last: None,
        zero: None,
    };
    assert_eq!(written(&nulls), r#"{"mid":2,"zero":null}"#);
}

#[derive(Serialize, Usage)]
#[usage(write_fields, schema = r#"{"first": "Optional[int]"}"#)]
struct OnlySkippable {
    #[serde(skip_serializing_if = "Option::is_none")]
    first: Option<i64>,
}

#[test]
fn every_field_skipped_is_an_empty_object() {
    assert_eq!(written(&OnlySkippable { first: None }), "{}");
    assert_eq!(written(&OnlySkippable { first: Some(5) }), r#"{"first":5}"#);
}

#[derive(Serialize, Usage)]
#[usage(
    schema = r#"{"nested": "List[Dict[str, List[int]]]", "any": "Union[int, str]",
    "text": "str", "tags": "List[str]", "ratio": "Optional[float]"}"#
)]
struct Nested<'a> {
    nested: Vec<BTreeMap<String, Vec<i64>>>,
    any: serde_json::Value,
    text: Cow<'a, str>,
    tags: &'a [&'a str],
    ratio: Option<f32>,
}

#[test]
fn nested_borrowed_and_value_fields() {
    let tags = ["a\"", "b"];
    let record = Nested {
        nested: vec![
            BTreeMap::from([("k\u{0}".to_owned(), vec![1, -2]), ("z".to_owned(), vec![])]),
            BTreeMap::new(),
        ],
        any: json!("str"),
        text: Cow::Borrowed("borrowed"),
        tags: &tags,
        ratio: Some(0.1),
    };
    assert_eq!(
        written(&record),
        r#"{"nested":[{"k\u0000":[1,-2],"z":[]},{}],"any":"str","text":"borrowed","tags":["a\"","b"],"ratio":0.1}"#
    );
}

#[derive(Serialize, Usage)]
#[usage(write_fields, schema = "{}")]
struct Empty {}

#[test]
fn a_struct_without_fields_is_an_empty_object() {
    assert_eq!(written(&Empty {}), "{}");
}

/// Generic structs keep the default `write_json`, which calls their `Serialize`.
#[derive(Serialize, Usage)]
#[usage(schema = r#"{"value": "int", "label": "str"}"#)]
struct Generic<T> {
    value: T,
    label: &'static str,
}

#[test]
fn generic_structs_write_through_serialize() {
    let record = Generic {
        value: 9_u64,
        label: "g",
    };
    assert_eq!(written(&record), r#"{"value":9,"label":"g"}"#);
}

/// The same hand-written `Serialize` on two records: with `write_fields` the derive writes the
/// fields it checked against the schema and does not call it; without, it is what writes.
/// (This is also how the tests tell the derive's writer from the default one.)
macro_rules! hand_written {
    ($name:ident, $($usage:tt)*) => {
        #[derive(Usage)]
        #[usage($($usage)*)]
        struct $name {
            tokens: i64,
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str("not the fields")
            }
        }
    };
}

hand_written!(FieldsWritten, write_fields, schema = r#"{"tokens": "int"}"#);
hand_written!(SerializeWritten, schema = r#"{"tokens": "int"}"#);

#[test]
fn write_fields_writes_the_checked_fields_and_the_default_calls_serialize() {
    let mut out = aicm::__private::BytesMut::new();
    FieldsWritten { tokens: 4 }.write_json(&mut out).unwrap();
    assert_eq!(out, &br#"{"tokens":4}"#[..]);
    out.clear();
    SerializeWritten { tokens: 4 }.write_json(&mut out).unwrap();
    assert_eq!(out, &br#""not the fields""#[..]);
}
