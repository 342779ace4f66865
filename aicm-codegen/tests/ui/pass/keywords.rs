//! The golden module `keywords.rs` must compile as generated.

include!("../../golden/keywords.rs");

fn main() {}
