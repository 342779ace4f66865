//! The type language of AICostManager's `manual_usage_schema`.
//!
//! A config on the AICostManager service describes the usage it accepts as a JSON object that maps
//! each field name to a Python-style type string (`int`, `Optional[float]`, `Dict[str, List[int]]`,
//! `int | None`, ...). This crate turns those strings into a [`TypeExpr`], prints them back in one
//! canonical spelling, and parses whole schemas while reporting every bad field at once.
//!
//! It does no I/O and is shared by the `aicm` runtime, the `#[derive(Usage)]` macro and the code
//! generator, so the three agree on what a schema means.
//!
//! ```
//! use aicm_schema::{Schema, TypeExpr};
//!
//! let ty: TypeExpr = "dict[str, list[int]] | None".parse()?;
//! assert_eq!(ty.to_string(), "Optional[Dict[str, List[int]]]");
//!
//! let schema = Schema::from_json_str(r#"{"tokens": "int", "model": "str", "note": "Optional[str]"}"#)?;
//! assert_eq!(schema.len(), 3);
//! assert!(schema.get("note").is_some_and(|f| f.is_optional()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod expr;
mod parse;
mod schema;

pub use expr::TypeExpr;
pub use parse::{MAX_DEPTH, ParseError, ParseErrorKind};
pub use schema::{FieldError, RawSchema, Schema, SchemaError, SchemaField};
