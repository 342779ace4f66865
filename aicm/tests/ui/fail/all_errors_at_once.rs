//! Name errors and type errors of one struct come out in the same compile.
use aicm::Usage;
use serde::Serialize;

#[derive(Serialize, Usage)]
#[usage(schema = r#"{"input_tokens": "int", "model": "str", "note": "Optional[str]", "cached": "bool"}"#)]
struct ChatUsage {
    input_tokens: String,
    note: String,
    cached: Vec<bool>,
    extra: u32,
}

fn main() {}
