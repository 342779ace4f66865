//! `#[derive(Usage)]` for [aicm](https://docs.rs/aicm): usage records the compiler checks
//! against their AICostManager schema.
//!
//! Use it through `aicm` (`aicm::Usage`, feature `derive`, on by default), the way `serde`
//! re-exports `serde_derive`; the expansion refers to `::aicm` and this crate is not meant to be
//! used on its own.
#![deny(missing_docs)]

mod attrs;
mod case;
mod errors;
mod expand;
mod fields;
mod marker;
mod schema_source;
mod serde_attrs;
mod shape;

#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Implements `aicm::Usage` and `aicm::IntoUsage` for a struct whose fields the compiler checks
/// against a `manual_usage_schema`.
///
/// Derive it beside `serde::Serialize`, which writes the record:
///
/// ```
/// use aicm::Usage;
/// use serde::Serialize;
///
/// #[derive(Serialize, Usage)]
/// #[usage(schema = r#"{"input_tokens": "int", "output_tokens": "int", "model": "str",
///                      "cached": "bool", "latency_ms": "Optional[float]"}"#)]
/// struct ChatUsage<'a> {
///     input_tokens: u32,
///     output_tokens: u32,
///     model: &'a str,
///     cached: bool,
///     latency_ms: Option<f64>,
/// }
///
/// let usage = ChatUsage { input_tokens: 12, output_tokens: 30, model: "gpt-4o-mini",
///                         cached: false, latency_ms: Some(f64::NAN) };
/// // What the compiler cannot see is checked by `track` (here: the float is not finite).
/// let err = usage.check().unwrap_err();
/// assert_eq!(err.errors["latency_ms"], "expected a finite float, got NaN");
/// ```
///
/// # Attributes
///
/// On the struct, in `#[usage(...)]`:
/// - `schema = "{…}"`: the schema as JSON text, e.g. `{"tokens": "int", "note": "Optional[str]"}`.
/// - `schema_file = "path.json"`: the same, read from a file relative to `CARGO_MANIFEST_DIR`
///   (an absolute path is taken as is). Editing the file rebuilds the crate. The file holds the
///   schema object itself, as `aicm-codegen` writes it.
/// - `config_id = "…"` (optional): the config the type is for; tracking it on a tracker of
///   another config is a `TrackError::ConfigMismatch`.
/// - `crate = "path"` (optional): where the `aicm` crate is, when it is re-exported under another
///   name (default `::aicm`).
///
/// `#[serde(rename = "…")]` and `#[serde(rename_all = "…")]` decide the JSON name that is
/// checked (raw identifiers such as `r#type` are `type`). `#[serde(skip)]`, `skip_serializing`,
/// `flatten`, `serialize_with`/`with`, and on the struct `tag`, `transparent`, `into` and
/// `remote`, are rejected: each would make the JSON differ from what the derive checks.
/// `skip_serializing_if` is allowed on optional schema fields only.
///
/// # What the compiler checks
///
/// Each is an error on the span of the offending field, type or literal, and all errors of one
/// struct come out in one compile:
/// - every required schema field is a struct field, and every struct field is in the schema
///   (optional schema fields may be left out of the struct);
/// - each field's Rust type conforms to its schema type, through a trait bound (the traits of
///   `aicm::conform`), so aliases, newtypes and generic parameters work;
/// - an `Optional[..]` schema field is an `Option<..>` (or a `serde_json::Value`), and a required
///   one is not an `Option`. The macro rejects by syntax only types it can see are not an
///   `Option` (primitives, std containers, references to them); an alias it cannot see through,
///   such as `type MaybeTokens = Option<u32>`, is accepted when the trait check accepts it;
/// - the schema is well formed (the message names the field and the position in its type);
/// - the item is a struct with named fields.
///
/// Generic and borrowed structs work (`struct ChatUsage<'a> { model: &'a str }`, `Cow<'a, str>`,
/// `T: Serialize`): the bounds a generic field needs are added to the impls. Every record,
/// owned or borrowed, is serialised by `track` on the caller's thread (measured cheaper than
/// moving owned records to the delivery worker); an owned struct must still be `Send`.
///
/// # The generated items
///
/// `Usage::SCHEMA` is the canonical schema of the fields the struct sends (schema order), and
/// `Usage::FINGERPRINT` its `aicm_schema::Schema::fingerprint`; the tracker compares them with
/// the live schema once per type. `Usage::check` is the cheap `track`-time check: floats finite,
/// `serde_json::Value` fields valid for their schema types.
#[proc_macro_derive(Usage, attributes(usage))]
pub fn derive_usage(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from);
    expand::expand(&input, manifest_dir.as_deref()).into()
}
