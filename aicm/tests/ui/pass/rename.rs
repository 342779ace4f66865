//! serde's renames decide the checked name; names that are not Rust identifiers work.
use aicm::Usage;
use serde::Serialize;

#[derive(Serialize, Usage)]
#[serde(rename_all = "camelCase")]
#[usage(schema = r#"{"inputTokens": "int", "cost-center": "str", "type": "Optional[str]"}"#)]
struct Camel {
    input_tokens: u32,
    #[serde(rename = "cost-center")]
    cost_center: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    r#type: Option<String>,
}

#[derive(Serialize, Usage)]
#[serde(rename_all = "PascalCase")]
#[usage(schema = r#"{"InputTokens": "int"}"#)]
struct Pascal {
    input_tokens: u32,
}

#[derive(Serialize, Usage)]
#[serde(rename_all = "kebab-case")]
#[usage(schema = r#"{"input-tokens": "int"}"#)]
struct Kebab {
    input_tokens: u32,
}

#[derive(Serialize, Usage)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[usage(schema = r#"{"INPUT_TOKENS": "int"}"#)]
struct Screaming {
    input_tokens: u32,
}

#[derive(Serialize, Usage)]
#[serde(rename_all(serialize = "UPPERCASE", deserialize = "lowercase"))]
#[usage(schema = r#"{"INPUT_TOKENS": "int", "model": "str"}"#)]
struct Upper {
    input_tokens: u32,
    #[serde(rename(serialize = "model"))]
    name: String,
}

fn main() {}
