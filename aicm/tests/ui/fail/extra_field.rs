//! A struct field the schema does not have, with a hint when only the spelling differs.
use aicm::Usage;
use serde::Serialize;

#[derive(Serialize, Usage)]
#[usage(schema = r#"{"tokens": "int", "cost-center": "str"}"#)]
struct Extra {
    tokens: u32,
    cost_center: String,
    region: String,
}

#[derive(Serialize, Usage)]
#[serde(rename_all = "camelCase")]
#[usage(schema = r#"{"input_tokens": "int"}"#)]
struct RenamedAway {
    input_tokens: u32,
}

fn main() {}
