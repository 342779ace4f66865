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
//! those (and on `schemars` 1 with `--schemars`; enable aicm's `schemars` feature too for
//! `JsonSchema` on the SDK's own types).
//!
//! Rust mapping: `int` → `i64`, `float` → `f64`, `str` → `String`, `bool` → `bool`,
//! `List[T]` → `Vec<T>`, `Dict[str, V]` → `BTreeMap<String, V>` (`int` and `bool` keys too;
//! other key types make the dict a `serde_json::Value`), `Optional[T]` → `Option<T>` (absent
//! when `None`), `Union[...]` → a generated `#[serde(untagged)]` enum with its conformance,
//! `list`/`tuple` → `Vec<serde_json::Value>`, `dict` → `serde_json::Map`, `set` and `Any` →
//! `serde_json::Value`. Floats, sets and `Value`s standing for narrower types are checked by
//! `Usage::check` when the record is tracked (finiteness, uniqueness, shape); the generated
//! union enums take part in that check.
//!
//! Names: a struct per config, `<PascalCaseConfigId>Usage` (`chat-completions` →
//! `ChatCompletionsUsage`, override with `--name ID=Name`); fields keep snake_case keys as
//! they are, other keys are converted (`cost-center` → `cost_center`, `inputTokens` →
//! `input_tokens`, `2fa` → `_2fa`) with `#[serde(rename)]`; keywords become raw identifiers
//! (`r#type`) or, where Rust allows no raw form (`self`, `Self`, `super`, `crate`), get a
//! trailing underscore and a rename. Two keys that would become one field are an error, never
//! merged. Each union's enum is named after its struct and field (`AgentRunUsageOutcome`),
//! with variants named after the members (`Int`, `ListStr`, `DictStrFloat`); serde tries the
//! catch-all members (`float`, `list`, `dict`, ...) last when reading.
//!
//! # JSON Schema
//!
//! `aicm-codegen json-schema` (and [`json_schema`]) writes one draft 2020-12 document per
//! config. It accepts what the [`aicm::TypeValidator`] accepts wherever JSON Schema can say
//! it; the known differences, all where JSON Schema is the more lenient, are:
//! - `int`: JSON Schema's `integer` also accepts numbers written with a zero fraction or an
//!   exponent (`1.0`, `1e2`), which the validator rejects. The i64/u64 range is given as
//!   `minimum`/`maximum`; validators that compare numbers as f64 round at those edges.
//! - `Dict[int, V]`: the key text is checked by a pattern (JSON integer syntax), not against
//!   the i64/u64 range.
//! - NaN and infinities cannot be written in JSON, so neither side sees them; typed records
//!   check finiteness at `track` time.
//!
//! `set` maps to `uniqueItems`, whose equality (numbers by value, objects regardless of key
//! order, `true` distinct from `1`) is the validator's; `Dict[float | bool | Optional[..] |
//! Union[..], V]` keys map to `propertyNames` patterns and enums that say what the validator
//! checks. The tests hold both lists (`tests/roundtrip.rs`).
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
