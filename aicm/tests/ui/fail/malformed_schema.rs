//! A schema that is not valid: every bad field, with the position in its type string.
use aicm::Usage;
use serde::Serialize;

#[derive(Serialize, Usage)]
#[usage(schema = r#"{"tokens": "int", "tags": "List[str", "meta": "Dict[str]", "x": "strr"}"#)]
struct BadTypes {
    tokens: u32,
}

#[derive(Serialize, Usage)]
#[usage(schema = r#"{"tokens": "int",}"#)]
struct BadJson {
    tokens: u32,
}

#[derive(Serialize, Usage)]
#[usage(schema = r#"["tokens"]"#)]
struct NotAnObject {
    tokens: u32,
}

fn main() {}
