//! The golden module `every_form.rs` must compile as generated.

include!("../../golden/every_form.rs");

fn main() {}
