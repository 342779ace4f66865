//! The golden module `odd_names.rs` must compile as generated.

include!("../../golden/odd_names.rs");

fn main() {}
