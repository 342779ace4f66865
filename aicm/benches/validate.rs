//! TypeValidator throughput: scalar field checks and the 5-field usage of the issue.
//!
//! `cargo bench -p aicm --bench validate`. Targets (DESIGN.md): at least 5 million scalar field
//! checks per second, and the 5-field usage well under 1 µs (the Python SDK takes 6.2 µs).

use std::hint::black_box;

use aicm::TypeValidator;
use aicm::schema::{Schema, TypeExpr};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Map, Value, json};

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn scalar_checks(c: &mut Criterion) {
    let validator = TypeValidator::new();
    let mut group = c.benchmark_group("scalar");

    group.throughput(Throughput::Elements(1));
    let int: TypeExpr = TypeExpr::Int;
    let value = json!(1234);
    group.bench_function("validate_type int", |b| {
        b.iter(|| validator.validate_type(black_box(&value), black_box(&int)))
    });

    // Ten scalar fields through the whole-usage path: lookup by name plus the check.
    let schema = Schema::from_pairs([
        ("a", "int"),
        ("b", "float"),
        ("c", "str"),
        ("d", "bool"),
        ("e", "Optional[int]"),
        ("f", "int"),
        ("g", "float"),
        ("h", "str"),
        ("i", "bool"),
        ("j", "int | None"),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    let usage = object(json!({
        "a": 1, "b": 2.5, "c": "x", "d": true, "e": null,
        "f": -7, "g": 3, "h": "model", "i": false, "j": 9,
    }));
    group.throughput(Throughput::Elements(10));
    group.bench_function("validate_usage 10 scalar fields", |b| {
        b.iter(|| validator.validate_usage(black_box(&schema), black_box(&usage)))
    });
    group.finish();
}

fn five_field_usage(c: &mut Criterion) {
    let validator = TypeValidator::new();
    let schema = Schema::from_json_str(
        r#"{"tokens": "int", "model": "str", "latency": "Optional[float]",
            "tags": "List[str]", "counts": "Dict[str, int]"}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let usage = object(json!({
        "tokens": 1234,
        "model": "gpt-4o-mini",
        "latency": 12.5,
        "tags": ["chat", "eu", "beta"],
        "counts": {"input": 1000, "output": 234},
    }));
    assert!(validator.validate_usage(&schema, &usage).is_ok());

    let mut group = c.benchmark_group("usage");
    group.throughput(Throughput::Elements(1));
    group.bench_function("validate_usage 5 fields (valid)", |b| {
        b.iter(|| validator.validate_usage(black_box(&schema), black_box(&usage)))
    });

    // The error path, for scale: it builds messages and paths, so it allocates.
    let mut bad = usage.clone();
    bad.insert("tokens".to_owned(), json!("many"));
    bad.insert("extra".to_owned(), json!(1));
    group.bench_function("validate_usage 5 fields (2 errors)", |b| {
        b.iter(|| validator.validate_usage(black_box(&schema), black_box(&bad)))
    });

    // The string API parses the type on every call; parsed schemas avoid that.
    let tags = json!(["chat", "eu", "beta"]);
    group.bench_function("validate_value List[str] (parses)", |b| {
        b.iter(|| validator.validate_value(black_box(&tags), black_box("List[str]")))
    });
    group.finish();
}

criterion_group!(benches, scalar_checks, five_field_usage);
criterion_main!(benches);
