//! The golden module with `--schemars` and `--name` must compile as generated.

include!("../../golden/configs_schemars.rs.out");

fn main() {}
