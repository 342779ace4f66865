//! Aliases and newtypes conform through the trait system.
use std::collections::BTreeMap;

use aicm::Usage;
use aicm::conform::{IsFloat, IsInt, IsStr};
use serde::Serialize;

type Tokens = u32;
type MaybeNote = Option<String>;
type Steps = Vec<BTreeMap<String, Tokens>>;

#[derive(Serialize)]
#[serde(transparent)]
struct Model(String);
impl IsStr for Model {}

#[derive(Serialize)]
#[serde(transparent)]
struct Count(u64);
impl IsInt for Count {}

#[derive(Serialize)]
#[serde(transparent)]
struct Millis(f64);
impl IsFloat for Millis {
    const NEEDS_CHECK: bool = true;
    fn check_value(&self, ty: &aicm::schema::TypeExpr) -> Result<(), aicm::Mismatch> {
        IsFloat::check_value(&self.0, ty)
    }
}

#[derive(Serialize, Usage)]
#[usage(schema = r#"{"tokens": "int", "note": "Optional[str]", "steps": "List[Dict[str, int]]",
    "model": "str", "counts": "List[int]", "latency": "Optional[float]"}"#)]
struct Aliased {
    tokens: Tokens,
    note: MaybeNote,
    steps: Steps,
    model: Model,
    counts: Vec<Count>,
    latency: Option<Millis>,
}

fn main() {}
