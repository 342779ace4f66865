//! The golden module `no_configs.rs` must compile as generated.

include!("../../golden/no_configs.rs");

fn main() {}
