//! `serde_json::Value` stands for every schema type (checked by `track`); unions take a `Value`
//! or a type implementing `IsUnion` with the members' markers in schema order.
use aicm::Usage;
use aicm::conform::{Int, IsUnion, List, Str};
use serde::Serialize;
use serde_json::Value;

#[derive(Serialize)]
#[serde(untagged)]
enum Outcome {
    Label(String),
    Codes(Vec<i64>),
}

impl IsUnion<(Str, List<Int>)> for Outcome {}

#[derive(Serialize, Usage)]
#[usage(schema = r#"{
    "int": "int", "float": "float", "str": "str", "bool": "bool",
    "list": "List[Dict[str, List[int]]]", "dict": "Dict[str, Union[int, str]]",
    "optional": "Optional[float]", "union": "Union[str, int]", "pipe_union": "str | int | None",
    "outcome": "str | List[int]", "maybe_outcome": "Optional[Union[str, List[int]]]",
    "boxed": "Union[str, bool]", "values": "List[Union[int, str]]"
}"#)]
struct Values {
    int: Value,
    float: Value,
    str: Value,
    bool: Value,
    list: Value,
    dict: Value,
    optional: Value,
    union: Value,
    pipe_union: Option<Value>,
    outcome: Outcome,
    maybe_outcome: Option<Outcome>,
    boxed: Box<Value>,
    values: Vec<Value>,
}

fn main() {}
