//! Typed usage structs from AICostManager configs, and a drift check for CI.
//!
//! Each config's `manual_usage_schema` becomes a `#[derive(aicm::Usage)]` struct in one
//! formatted, deterministic Rust module; the same schemas give the same bytes, so the module can
//! be committed and `--check`ed in CI the way `cargo sqlx prepare --check` checks queries.
//!
//! From the command line:
//!
//! ```text
//! aicm-codegen generate (--config-id ID ... | --all) [--from-file FILE] --out FILE
//!                       [--check] [--schema-dir DIR] [--name ID=Name] [--schemars]
//! aicm-codegen json-schema (--config-id ID ... | --all) [--from-file FILE] --out-dir DIR
//! ```
//!
//! From a build script, into `OUT_DIR` (see `examples/build_script.rs`):
//!
//! ```no_run
//! # fn main() -> Result<(), aicm_codegen::CodegenError> {
//! let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
//! aicm_codegen::generate(
//!     &aicm_codegen::GenerateOptions::from_file("schemas/configs.json")
//!         .all()
//!         .out(out.join("usage.rs")),
//! )?;
//! // and in the crate: include!(concat!(env!("OUT_DIR"), "/usage.rs"));
//! # Ok(()) }
//! ```
//!
//! The generated code refers to `::aicm`, `::serde` (with `derive`) and, when a schema uses
//! `Any`, `list`, `dict`, `tuple` or `set`, `::serde_json`: the crate that compiles it depends on
//! those (and on `schemars` with `--schemars`).
//!
//! Rust mapping: `int` → `i64`, `float` → `f64`, `str` → `String`, `bool` → `bool`,
//! `List[T]` → `Vec<T>`, `Dict[str, V]` → `BTreeMap<String, V>` (`int` and `bool` keys too;
//! other key types make the dict a `serde_json::Value`), `Optional[T]` → `Option<T>` (absent
//! when `None`), `Union[...]` → a generated `#[serde(untagged)]` enum with its conformance,
//! `list`/`tuple`/`set` → `Vec<serde_json::Value>`, `dict` → `serde_json::Map`, `Any` →
//! `serde_json::Value`.
#![deny(missing_docs)]

mod drift;
mod error;
mod fetch;
mod json_schema;
mod naming;
mod options;
mod render;
mod source;
mod types;

pub use drift::{Change, DriftReport};
pub use error::CodegenError;
pub use json_schema::{DRAFT_2020_12, json_schema, type_schema};
pub use options::{
    GenerateOptions, Generated, check, generate, json_schema_file_name, snapshot_file_name,
    write_json_schemas,
};
pub use render::{HEADER_MARK, RenderOptions, default_struct_name, render_module};
pub use source::{ConfigSchema, Selection, Source, load_configs};
