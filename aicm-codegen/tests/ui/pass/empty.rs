//! The golden module `empty.rs` must compile as generated.

include!("../../golden/empty.rs");

fn main() {}
