//! The golden module `nesting.rs` must compile as generated.

include!("../../golden/nesting.rs");

fn main() {}
