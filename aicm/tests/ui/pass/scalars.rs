//! Every Rust type the derive accepts for `int`, `float`, `str` and `bool`.
use std::borrow::Cow;
use std::num::NonZero;

use aicm::Usage;
use serde::Serialize;

#[derive(Serialize, Usage)]
#[usage(schema = r#"{
    "i8": "int", "i16": "int", "i32": "int", "i64": "int", "i128": "int", "isize": "int",
    "u8": "int", "u16": "int", "u32": "int", "u64": "int", "u128": "int", "usize": "int",
    "nonzero": "int", "int_ref": "int",
    "f32": "float", "f64": "float", "float_box": "float", "number": "float",
    "string": "str", "str_ref": "str", "boxed": "str", "cow": "str", "ch": "str",
    "flag": "bool", "flag_ref": "bool"
}"#)]
struct Scalars<'a> {
    i8: i8,
    i16: i16,
    i32: i32,
    i64: i64,
    i128: i128,
    isize: isize,
    u8: u8,
    u16: u16,
    u32: u32,
    u64: u64,
    u128: u128,
    usize: usize,
    nonzero: NonZero<u32>,
    int_ref: &'a u64,
    f32: f32,
    f64: f64,
    float_box: Box<f64>,
    number: serde_json::Number,
    string: String,
    str_ref: &'a str,
    boxed: Box<str>,
    cow: Cow<'a, str>,
    ch: char,
    flag: bool,
    flag_ref: &'a bool,
}

fn main() {
    assert_eq!(Scalars::TYPE_NAME, "Scalars");
}
