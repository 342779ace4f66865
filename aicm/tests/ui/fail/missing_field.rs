//! A required schema field the struct lacks (optional ones may be left out).
use aicm::Usage;
use serde::Serialize;

#[derive(Serialize, Usage)]
#[usage(schema = r#"{"input_tokens": "int", "output_tokens": "int", "model": "str", "note": "Optional[str]"}"#)]
struct ChatUsage {
    input_tokens: u32,
}

fn main() {}
