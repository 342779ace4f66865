//! Every golden module compiles, as a crate of its own (`tests/ui/pass/*.rs` include them).
//!
//! The generated code names `::aicm`, `::serde`, `::serde_json` and `::schemars`, which are
//! dependencies of this package, so trybuild's crates see them.

#[test]
fn golden_modules_compile() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
}
