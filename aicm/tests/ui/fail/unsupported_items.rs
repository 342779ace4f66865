//! Only structs with named fields are usage records.
use aicm::Usage;
use serde::Serialize;

#[derive(Serialize, Usage)]
#[usage(schema = r#"{"tokens": "int"}"#)]
enum Choice {
    A { tokens: u32 },
}

#[derive(Serialize, Usage)]
#[usage(schema = r#"{"tokens": "int"}"#)]
struct Tuple(u32);

#[derive(Serialize, Usage)]
#[usage(schema = "{}")]
struct Unit;

#[derive(Usage)]
#[usage(schema = r#"{"tokens": "int"}"#)]
union Raw {
    tokens: u32,
}

fn main() {}
