//! `#[usage(crate = "…")]` reaches aicm through a re-export.
mod sdk {
    pub use ::aicm as inner;
}

#[derive(serde::Serialize, sdk::inner::Usage)]
#[usage(crate = "sdk::inner", schema = r#"{"tokens": "int"}"#)]
struct Reexported {
    tokens: i64,
}

fn main() {
    let _ = <Reexported as sdk::inner::Usage>::SCHEMA;
}
