//! An `Optional[..]` schema field must be an `Option` (or a `Value`), a required one must not.
use aicm::Usage;
use serde::Serialize;

#[derive(Serialize, Usage)]
#[usage(schema = r#"{"note": "Optional[str]", "latency": "float | None", "tokens": "int"}"#)]
struct Optionals {
    note: String,
    latency: &'static [f64],
    tokens: Option<u32>,
}

fn main() {}
