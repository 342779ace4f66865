//! The golden module `configs.rs` must compile as generated.

include!("../../golden/configs.rs");

fn main() {}
