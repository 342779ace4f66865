//! Mistakes in `#[usage(...)]`.
use aicm::Usage;
use serde::Serialize;

#[derive(Serialize, Usage)]
struct NoSchema {
    tokens: u32,
}

#[derive(Serialize, Usage)]
#[usage(schema = r#"{"tokens": "int"}"#, schema_file = "x.json", config_id = "")]
struct Twice {
    tokens: u32,
}

#[derive(Serialize, Usage)]
#[usage(schema = r#"{"tokens": "int"}"#, colour = "red")]
struct Unknown {
    #[usage(schema = "{}")]
    tokens: u32,
}

#[derive(Serialize, Usage)]
#[usage(schema = r#"{"tokens": "int"}"#, write_fields = true)]
struct FlagWithValue {
    tokens: u32,
}

/// A generic struct is written through its `Serialize`.
#[derive(Serialize, Usage)]
#[usage(schema = r#"{"tokens": "int"}"#, write_fields, write_fields)]
struct Generic<T> {
    tokens: T,
}

fn main() {}
