//! Borrowed and generic records: the impls carry the generics and the bounds generic fields need.
use std::borrow::Cow;

use aicm::{IntoUsage, Usage};
use serde::Serialize;

#[derive(Serialize, Usage)]
#[usage(schema = r#"{"model": "str", "provider": "str", "tags": "List[str]"}"#)]
struct ChatUsage<'a> {
    model: &'a str,
    provider: Cow<'a, str>,
    tags: Vec<&'a str>,
}

#[derive(Serialize, Usage)]
#[usage(schema = r#"{"value": "int", "extra": "Any", "items": "List[float]"}"#)]
struct Generic<T: Serialize, E, I>
where
    E: Serialize,
{
    value: T,
    extra: E,
    items: Vec<I>,
}

fn track_like(_: impl IntoUsage) {}

fn main() {
    let model = String::from("gpt-4o-mini");
    let usage = ChatUsage {
        model: &model,
        provider: Cow::Borrowed("openai"),
        tags: vec!["a"],
    };
    track_like(&usage);
    track_like(usage);
    let generic = Generic {
        value: 3u8,
        extra: "anything",
        items: vec![1.0f32],
    };
    track_like(&generic);
    track_like(generic);
}
