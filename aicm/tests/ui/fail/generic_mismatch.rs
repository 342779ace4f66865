//! A generic field's bound is checked where the struct is tracked with a concrete type.
use aicm::{IntoUsage, Usage};
use serde::Serialize;

#[derive(Serialize, Usage)]
#[usage(schema = r#"{"value": "int", "tags": "List[str]"}"#)]
struct Generic<T, U> {
    value: T,
    tags: Vec<U>,
}

/// Stands for `Tracker::track`, which takes `impl IntoUsage`.
fn track(_usage: impl IntoUsage) {}

fn main() {
    track(Generic { value: 1u8, tags: vec!["ok"] });
    track(Generic { value: "not an int", tags: vec![1.5f64] });
    track(&Generic { value: 2i64, tags: vec![true] });
}
