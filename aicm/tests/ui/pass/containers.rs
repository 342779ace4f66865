//! Lists, dicts, optionals and the untyped containers, nested and in every spelling.
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use aicm::Usage;
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Serialize, Usage)]
#[usage(schema = r#"{
    "vec": "List[int]", "slice": "List[str]", "array": "List[float]", "deque": "list[bool]",
    "btree_set": "List[str]", "hash_set": "List[int]", "boxed": "List[int]", "cow": "List[int]",
    "nested": "List[Dict[str, List[int]]]",
    "btree": "Dict[str, int]", "hash": "dict[str, float]", "int_keys": "Dict[int, str]",
    "json_map": "Dict[str, int]",
    "opt": "Optional[int]", "opt_pipe": "int | None", "opt_union": "Union[str, None]",
    "opt_nested": "Optional[List[Optional[str]]]",
    "list": "list", "tuple": "tuple", "set": "set", "dict": "dict",
    "tuple_as_list": "list", "vec_as_tuple": "tuple",
    "anything": "Any", "any_list": "List[Any]", "any_dict": "Dict[str, Any]"
}"#)]
struct Containers<'a> {
    vec: Vec<i64>,
    slice: &'a [&'a str],
    array: [f64; 3],
    deque: VecDeque<bool>,
    btree_set: BTreeSet<String>,
    hash_set: HashSet<u8>,
    boxed: Box<[i32]>,
    cow: Cow<'a, [i32]>,
    nested: Vec<BTreeMap<String, Vec<i64>>>,
    btree: BTreeMap<String, i64>,
    hash: HashMap<&'a str, f64>,
    int_keys: BTreeMap<u32, String>,
    json_map: Map<String, Value>,
    opt: Option<i64>,
    opt_pipe: Option<u8>,
    opt_union: Option<String>,
    opt_nested: Option<Vec<Option<&'a str>>>,
    list: Vec<Value>,
    tuple: (i64, String, bool),
    set: BTreeSet<i64>,
    dict: HashMap<String, Value>,
    tuple_as_list: (u8, u8),
    vec_as_tuple: Vec<String>,
    anything: Vec<(String, Option<f64>)>,
    any_list: Vec<Value>,
    any_dict: BTreeMap<String, Vec<String>>,
}

fn main() {
    assert!(Containers::SCHEMA.contains(r#""opt_pipe":"Optional[int]""#));
}
