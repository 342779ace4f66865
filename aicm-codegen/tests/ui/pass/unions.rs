//! The golden module `unions.rs` must compile as generated.

include!("../../golden/unions.rs");

fn main() {}
