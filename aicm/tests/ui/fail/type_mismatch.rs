//! A field type that does not conform to its schema type: an error on that field's type,
//! naming the schema type, for every such field of the struct at once.
use std::collections::BTreeMap;

use aicm::Usage;
use serde::Serialize;

#[derive(Serialize, Usage)]
#[usage(schema = r#"{
    "tokens": "int", "ratio": "float", "model": "str", "cached": "bool",
    "tags": "List[str]", "counts": "Dict[str, List[int]]", "note": "Optional[int]",
    "outcome": "Union[str, int]", "flags": "set"
}"#)]
struct Mismatched {
    tokens: String,
    ratio: i64,
    model: u32,
    cached: &'static str,
    tags: Vec<i64>,
    counts: BTreeMap<String, Vec<String>>,
    note: Option<String>,
    outcome: String,
    flags: Vec<bool>,
}

fn main() {}
