//! A schema file that is malformed, or missing.
use aicm::Usage;
use serde::Serialize;

#[derive(Serialize, Usage)]
#[usage(schema_file = "ui-schemas/bad_type.json")]
struct BadFile {
    input_tokens: u32,
}

#[derive(Serialize, Usage)]
#[usage(schema_file = "ui-schemas/does_not_exist.json")]
struct MissingFile {
    input_tokens: u32,
}

fn main() {}
