//! Sample usage values for a schema, shared by the round-trip tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use aicm_codegen::{ConfigSchema, Selection, Source, load_configs};
use aicm_schema::TypeExpr;
use serde_json::{Map, Value, json};

pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

pub fn load(case: &str) -> Vec<ConfigSchema> {
    let path = golden_dir().join(format!("{case}.json"));
    load_configs(&Source::File(path), &Selection::All).unwrap()
}

/// The golden cases whose structs a round trip exercises.
pub const CASES: &[&str] = &[
    "configs",
    "every_form",
    "nesting",
    "unions",
    "odd_names",
    "keywords",
    "empty",
];

/// How many distinct samples per config the tests draw (enough to visit every union member
/// and optional state of the schemas above).
pub const SAMPLES: usize = 12;

/// A valid usage object for `config`; `n` picks among values, union members, and whether an
/// optional field is absent, null or present.
pub fn sample_usage(config: &ConfigSchema, n: usize) -> Map<String, Value> {
    let mut usage = Map::new();
    for (i, field) in config.schema.fields().iter().enumerate() {
        let v = n + i;
        if field.is_optional() && v.is_multiple_of(3) {
            continue; // absent
        }
        usage.insert(field.name.clone(), sample(&field.ty, v));
    }
    usage
}

/// A value of type `ty`, varied by `v`; every value fits the Rust mapping too (ints in i64).
pub fn sample(ty: &TypeExpr, v: usize) -> Value {
    match ty {
        TypeExpr::Any => [json!(null), json!(1), json!({"a": [1, "x"]})][v % 3].clone(),
        TypeExpr::Int => [json!(0), json!(-42), json!(i64::MAX)][v % 3].clone(),
        TypeExpr::Float => [json!(0.5), json!(-1e10), json!(3)][v % 3].clone(),
        TypeExpr::Str => [json!(""), json!("héllo"), json!("a\"b")][v % 3].clone(),
        TypeExpr::Bool => json!(v.is_multiple_of(2)),
        TypeExpr::AnyList | TypeExpr::Tuple => [json!([]), json!([1, "a", null])][v % 2].clone(),
        TypeExpr::Set => [json!([]), json!([1, 2, "1", [1]])][v % 2].clone(),
        TypeExpr::AnyDict => [json!({}), json!({"k": [1]})][v % 2].clone(),
        TypeExpr::List(elem) => match v % 3 {
            0 => json!([]),
            _ => json!([sample(elem, v), sample(elem, v + 1)]),
        },
        TypeExpr::Dict(key, value) => {
            let mut map = Map::new();
            if !v.is_multiple_of(3) {
                for (j, k) in sample_keys(key).into_iter().enumerate() {
                    map.insert(k, sample(value, v + j));
                }
            }
            Value::Object(map)
        }
        TypeExpr::Optional(inner) => {
            if v.is_multiple_of(2) {
                Value::Null
            } else {
                sample(inner, v / 2)
            }
        }
        TypeExpr::Union(members) => sample(&members[v % members.len()], v / members.len()),
    }
}

/// Object keys that read as `ty` (always in the i64 range for ints).
fn sample_keys(ty: &TypeExpr) -> Vec<String> {
    match ty {
        TypeExpr::Any | TypeExpr::Str => vec!["k".into(), "cost-center".into()],
        TypeExpr::Int => vec!["-3".into(), "0".into(), "12".into()],
        TypeExpr::Float => vec!["1.5".into(), "2".into(), "-1e3".into()],
        TypeExpr::Bool => vec!["true".into(), "false".into()],
        TypeExpr::Optional(inner) => {
            let mut keys = sample_keys(inner);
            keys.push("null".into());
            keys
        }
        TypeExpr::Union(members) => members.iter().flat_map(sample_keys).collect(),
        _ => Vec::new(),
    }
}
