//! The compile-time half of `#[derive(Usage)]`: trybuild `pass` cases for every supported field
//! type and spelling, `compile_fail` cases (with committed `.stderr`) for every error.
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p aicm --test it derive_ui`
//! and read the diff: each error must point at the offending field, type or literal.

use std::error::Error;
use std::path::{Path, PathBuf};

/// trybuild builds the cases in `<target>/tests/trybuild/aicm`, which is their
/// `CARGO_MANIFEST_DIR`; `schema_file` cases find their files in `ui-schemas/` there.
fn install_schema_files() -> Result<(), Box<dyn Error>> {
    let dest = trybuild_project_dir()?.join("ui-schemas");
    std::fs::create_dir_all(&dest)?;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/schemas");
    for entry in std::fs::read_dir(&src)? {
        let path = entry?.path();
        if let Some(name) = path.file_name() {
            std::fs::copy(&path, dest.join(name))?;
        }
    }
    Ok(())
}

/// `<target_directory>/tests/trybuild/aicm`, computed the way trybuild computes it.
fn trybuild_project_dir() -> Result<PathBuf, Box<dyn Error>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version=1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into());
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let target = metadata["target_directory"]
        .as_str()
        .ok_or("cargo metadata has no target_directory")?;
    Ok(Path::new(target)
        .join("tests")
        .join("trybuild")
        .join("aicm"))
}

#[test]
fn ui() -> Result<(), Box<dyn Error>> {
    install_schema_files()?;
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
    Ok(())
}
