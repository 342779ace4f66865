//! `#[usage(crate = "…")]`: the expansion reaches aicm through a re-export.

mod sdk {
    pub use ::aicm as inner;
}

use sdk::inner::Usage;

#[derive(serde::Serialize, Usage)]
#[usage(
    crate = "sdk::inner",
    schema = r#"{"tokens": "int", "ratio": "float"}"#
)]
struct Reexported {
    tokens: i64,
    ratio: f32,
}

#[test]
fn the_expansion_uses_the_given_path() {
    assert_eq!(Reexported::TYPE_NAME, "Reexported");
    let record = Reexported {
        tokens: 1,
        ratio: f32::NAN,
    };
    assert_eq!(
        record.check().unwrap_err().errors["ratio"],
        "expected a finite float, got NaN"
    );
}
