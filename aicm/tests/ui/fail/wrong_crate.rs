//! `#[usage(crate = "…")]` is the path the expansion uses: a wrong one fails to resolve there.
use aicm::Usage;
use serde::Serialize;

#[derive(Serialize, Usage)]
#[usage(crate = "not_aicm", schema = r#"{"tokens": "int"}"#)]
struct WrongCrate {
    tokens: u32,
}

fn main() {}
