//! serde attributes that make the JSON differ from what the derive checks are rejected.
use aicm::Usage;
use serde::Serialize;

#[derive(Serialize)]
struct Inner {
    a: u32,
}

fn as_text<S: serde::Serializer>(v: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

#[derive(Serialize, Usage)]
#[usage(schema = r#"{"tokens": "int", "a": "Optional[int]"}"#)]
struct Skipped {
    #[serde(skip_serializing_if = "is_zero")]
    tokens: u32,
    #[serde(skip)]
    hidden: u32,
    #[serde(flatten)]
    inner: Inner,
    #[serde(serialize_with = "as_text")]
    text: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

#[derive(Serialize, Usage)]
#[serde(tag = "kind")]
#[usage(schema = r#"{"tokens": "int"}"#)]
struct Tagged {
    tokens: u32,
}

fn main() {}
