//! What a `build.rs` does to generate usage structs into `OUT_DIR` at build time.
//!
//! In a crate of your own, put this in `build.rs` (with `aicm-codegen` under
//! `[build-dependencies]`, and `aicm`, `serde` with `derive` and `serde_json` under
//! `[dependencies]`):
//!
//! ```text
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
//!     println!("cargo::rerun-if-changed=schemas/configs.json");
//!     aicm_codegen::generate(
//!         &aicm_codegen::GenerateOptions::from_file("schemas/configs.json")
//!             .all()
//!             .out(out.join("usage.rs")),
//!     )?;
//!     Ok(())
//! }
//! ```
//!
//! and in `src/lib.rs` (or any module):
//!
//! ```text
//! include!(concat!(env!("OUT_DIR"), "/usage.rs"));
//! ```
//!
//! The generated file has no inner attributes and no `use` items, so it can be `include!`d
//! anywhere. Generating from the live API in a build script (`GenerateOptions::from_api()`)
//! works too, but makes builds depend on the network; a committed file checked with
//! `aicm-codegen generate --check` in CI is usually the better trade.
//!
//! Run it as `cargo run -p aicm-codegen --example build_script`: it plays the build script with
//! `OUT_DIR` set to a temporary directory (or the one you give) and the sample configs.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = match std::env::var_os("OUT_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::temp_dir().join("aicm-codegen-example-out"),
    };
    let configs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/configs.json");
    let generated = aicm_codegen::generate(
        &aicm_codegen::GenerateOptions::from_file(&configs)
            .all()
            .out(out_dir.join("usage.rs")),
    )?;
    let mut stdout = std::io::stdout().lock();
    use std::io::Write as _;
    writeln!(stdout, "cargo::rerun-if-changed={}", configs.display())?;
    for config in &generated.configs {
        writeln!(
            stdout,
            "# {} -> {} ({} fields)",
            config.config_id,
            aicm_codegen::default_struct_name(&config.config_id),
            config.schema.len()
        )?;
    }
    writeln!(stdout, "# wrote {}", out_dir.join("usage.rs").display())?;
    Ok(())
}
