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

/// The retired `write_fields` flag (records are serialised by serde_json) is unknown.
#[derive(Serialize, Usage)]
#[usage(schema = r#"{"tokens": "int"}"#, write_fields)]
struct RetiredFlag {
    tokens: u32,
}

fn main() {}
