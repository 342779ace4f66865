//! Expansion tests: the errors the derive reports and the shape of what it emits, checked on
//! token streams without a compiler run (the trybuild suite in `aicm` checks real compiles).

use std::path::{Path, PathBuf};

use crate::errors::Errors;
use crate::expand::expand;

/// The expansion of `src` and its error messages (the text of each `compile_error!`).
fn run_in(src: &str, dir: Option<&Path>) -> (String, Vec<String>) {
    let input: syn::DeriveInput = syn::parse_str(src).expect("test input parses");
    let out = expand(&input, dir).to_string();
    let mut messages = Vec::new();
    let mut rest = out.as_str();
    while let Some(i) = rest.find("compile_error ! {") {
        rest = &rest[i + "compile_error ! {".len()..];
        let end = rest.find(" }").unwrap_or(rest.len());
        let lit: syn::LitStr = syn::parse_str(rest[..end].trim()).expect("message literal");
        messages.push(lit.value());
        rest = &rest[end..];
    }
    (out, messages)
}

fn run(src: &str) -> (String, Vec<String>) {
    run_in(src, None)
}

fn errors(src: &str) -> Vec<String> {
    run(src).1
}

#[test]
fn a_matching_struct_expands_without_errors() {
    let (out, errs) = run(r##"
        #[usage(schema = r#"{"tokens": "int", "model": "str", "note": "str | None"}"#)]
        struct U { tokens: u32, model: String, note: Option<String> }
    "##);
    assert!(errs.is_empty(), "{errs:?}");
    assert!(out.contains("impl :: aicm :: Usage for U"), "{out}");
    assert!(
        out.contains(r##""{\"tokens\":\"int\",\"model\":\"str\",\"note\":\"Optional[str]\"}""##),
        "{out}"
    );
    assert!(out.contains("prepare_borrowed (& self , ctx)"), "{out}");
    assert!(out.contains(":: aicm :: __private :: check_field :: < Option < String > , :: aicm :: __private :: conform :: Optional < :: aicm :: __private :: conform :: Str > >"), "{out}");
}

#[test]
fn unsupported_items_are_named() {
    for (src, what) in [
        ("#[usage(schema = \"{}\")] enum E { A }", "an enum"),
        ("#[usage(schema = \"{}\")] struct T(i64);", "a tuple struct"),
        ("#[usage(schema = \"{}\")] struct T;", "a unit struct"),
        ("#[usage(schema = \"{}\")] union N { a: u32 }", "a union"),
    ] {
        let errs = errors(src);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].contains(&format!("is {what}")), "{errs:?}");
        assert!(
            errs[0].contains("structs with named fields only"),
            "{errs:?}"
        );
    }
}

#[test]
fn the_schema_is_required() {
    let errs = errors("struct U { a: i64 }");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].contains("needs the schema"), "{errs:?}");
}

#[test]
fn usage_attribute_mistakes_are_reported() {
    let errs =
        errors(r##"#[usage(schema = "{}", schema_file = "x.json", colour = "red")] struct U {}"##);
    assert!(
        errs.iter()
            .any(|e| e.contains("the schema is already given")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("unknown `usage` attribute `colour`")),
        "{errs:?}"
    );
    let errs =
        errors(r##"#[usage(schema = "{}", config_id = "", crate = "not a path")] struct U {}"##);
    assert!(
        errs.iter()
            .any(|e| e.contains("`config_id` must not be empty")),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| e.contains("`crate` must be a path")),
        "{errs:?}"
    );
}

#[test]
fn malformed_schemas_name_every_bad_field_and_position() {
    let errs = errors(
        r##"#[usage(schema = r#"{"a": "List[int", "b": "strr", "c": "int"}"#)] struct U { c: i64 }"##,
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(
        errs[0],
        "invalid schema: field `a`: expected `,` or `]`, found end of input at position 8 in `List[int`"
    );
    assert!(
        errs[1].starts_with("invalid schema: field `b`: unknown type name `strr`"),
        "{errs:?}"
    );
    let errs = errors(r##"#[usage(schema = "[1, 2]")] struct U {}"##);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("invalid schema: invalid type: sequence"),
        "{errs:?}"
    );
    let errs = errors(r##"#[usage(schema = "{\"a\": \"int\",}")] struct U {}"##);
    assert!(errs[0].contains("line 1 column"), "{errs:?}");
}

#[test]
fn missing_and_extra_fields_are_all_reported() {
    let errs = errors(
        r##"#[usage(schema = r#"{"a": "int", "b": "str", "cost-center": "str", "opt": "Optional[int]"}"#)]
        struct U { a: i64, cost_center: String, extra: bool }"##,
    );
    assert_eq!(errs.len(), 4, "{errs:?}");
    assert!(
        errs.iter().any(
            |e| e.starts_with("field `cost_center` is not in the schema")
                && e.ends_with(
                    "did you mean `cost-center`? (`#[serde(rename = \"cost-center\")]`)"
                )
        ),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| e.starts_with(
            "field `extra` is not in the schema; its fields are `a`, `b`, `cost-center`, `opt`"
        )),
        "{errs:?}"
    );
    assert!(
        errs.contains(&"`U` lacks required schema field `b` (`str`)".to_owned()),
        "{errs:?}"
    );
    assert!(
        errs.contains(&"`U` lacks required schema field `cost-center` (`str`)".to_owned()),
        "{errs:?}"
    );
    assert!(
        !errs
            .iter()
            .any(|e| e.contains("`opt`") && e.contains("lacks")),
        "{errs:?}"
    );
}

#[test]
fn serde_renames_decide_the_checked_name() {
    let src = r##"
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        #[usage(schema = r#"{"inputTokens": "int", "cost-center": "str", "type": "str", "X": "bool"}"#)]
        struct U {
            input_tokens: i64,
            #[serde(rename = "cost-center")] cost_center: String,
            r#type: String,
            #[serde(rename(serialize = "X", deserialize = "x"))] x: bool,
        }"##;
    let (out, errs) = run(src);
    assert!(errs.is_empty(), "{errs:?}");
    assert!(out.contains(r##""inputTokens" , 0usize"##), "{out}");
    let errs = errors(
        r##"#[serde(rename_all(serialize = "SCREAMING-KEBAB-CASE"))] #[usage(schema = r#"{"INPUT-TOKENS": "int"}"#)]
        struct U { input_tokens: i64 }"##,
    );
    assert!(errs.is_empty(), "{errs:?}");
    let errs = errors(
        r##"#[serde(rename_all = "Kebab")] #[usage(schema = r#"{"a": "int"}"#)] struct U { a: i64 }"##,
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("unknown rename rule `rename_all = \"Kebab\"`"),
        "{errs:?}"
    );
}

#[test]
fn fields_serde_would_not_write_as_is_are_rejected() {
    let errs = errors(
        r##"#[usage(schema = r#"{"a": "int", "b": "Optional[int]"}"#)]
        struct U {
            a: i64,
            #[serde(skip)] s: i64,
            #[serde(skip_serializing)] t: i64,
            #[serde(flatten)] f: Inner,
            #[serde(serialize_with = "x")] w: i64,
            #[serde(with = "m")] m: i64,
            #[serde(skip_serializing_if = "Option::is_none")] b: Option<i64>,
        }"##,
    );
    assert_eq!(errs.len(), 5, "{errs:?}");
    assert!(
        errs[0].starts_with("`#[serde(skip)]` is not supported"),
        "{errs:?}"
    );
    assert!(
        errs[1].starts_with("`#[serde(skip_serializing)]` is not supported"),
        "{errs:?}"
    );
    assert!(
        errs[2].starts_with("`#[serde(flatten)]` is not supported"),
        "{errs:?}"
    );
    assert!(
        errs[3].starts_with("`#[serde(serialize_with = …)]` is not supported"),
        "{errs:?}"
    );
    assert!(
        errs[4].starts_with("`#[serde(with = …)]` is not supported"),
        "{errs:?}"
    );

    let errs = errors(
        r##"#[serde(tag = "kind")] #[usage(schema = r#"{"a": "int"}"#)]
        struct U { #[serde(skip_serializing_if = "is_zero")] a: i64 }"##,
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0].starts_with("`#[serde(tag = \"…\")]` adds a field"),
        "{errs:?}"
    );
    assert_eq!(
        errs[1],
        "`skip_serializing_if` may leave out `a`, but the schema requires it (`int`)"
    );
}

#[test]
fn optional_fields_must_be_options_and_required_ones_not() {
    let errs = errors(
        r##"#[usage(schema = r#"{"a": "Optional[str]", "b": "int", "c": "int | None", "d": "Any", "e": "Optional[int]"}"#)]
        struct U { a: String, b: Option<i64>, c: MaybeInt, d: String, e: serde_json::Value }"##,
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(
        errs[0],
        "schema field `a` is `Optional[str]`, so its Rust type must be an `Option<..>` (or `serde_json::Value`)"
    );
    assert!(
        errs[1].starts_with("schema field `b` is `int`, which is required"),
        "{errs:?}"
    );
}

#[test]
fn duplicate_names_and_field_usage_attributes_are_reported() {
    let errs = errors(
        r##"#[usage(schema = r#"{"a": "int"}"#)]
        struct U { a: i64, #[serde(rename = "a")] #[usage(schema = "{}")] b: i64 }"##,
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(
        errs[0],
        "`#[usage(...)]` belongs on the struct, not on a field"
    );
    assert_eq!(errs[1], "field `b` is serialised as `a`, like field `a`");
}

#[test]
fn generics_get_bounds_and_borrowed_records_are_serialised_by_the_caller() {
    let (out, errs) = run(r##"
        #[usage(schema = r#"{"a": "int", "b": "str", "c": "Any"}"#)]
        struct U<'a, T, C> where C: Clone { a: T, b: &'a str, c: C }"##);
    assert!(errs.is_empty(), "{errs:?}");
    assert!(out.contains("where C : Clone , Self : :: aicm :: __private :: serde :: Serialize , * const T : :: aicm :: __private :: FieldConforms < :: aicm :: __private :: conform :: Int , Value = T > ,"), "{out}");
    assert!(out.contains("prepare_borrowed (& self , ctx)"), "{out}");
    // `Any` needs no bound at all.
    assert!(!out.contains("conform :: Any"), "{out}");

    let (out, _) =
        run(r##"#[usage(schema = r#"{"a": "int"}"#)] struct U<const N: usize> { a: i64 }"##);
    assert!(out.contains("prepare_borrowed (& self , ctx)"), "{out}");
}

#[test]
fn the_type_schema_lists_the_struct_fields_in_schema_order() {
    let (out, errs) = run(r##"
        #[usage(schema = r#"{"z": "int", "opt": "Optional[int]", "a": "list[int]"}"#)]
        #[usage(config_id = "cfg", crate = "my::aicm")]
        struct U { a: Vec<i64>, z: i64 }"##);
    assert!(errs.is_empty(), "{errs:?}");
    let schema = aicm_schema::Schema::from_pairs([("z", "int"), ("a", "List[int]")]).unwrap();
    assert!(
        out.contains(&format!("{:?}", schema.canonical_json())),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}u64", schema.fingerprint())),
        "{out}"
    );
    assert!(out.contains(r##"Some ("cfg")"##), "{out}");
    assert!(out.contains("impl my :: aicm :: Usage for U"), "{out}");
    assert_eq!(
        out.matches(":: aicm ::").count(),
        out.matches("my :: aicm ::").count(),
        "{out}"
    );
}

/// A directory of its own under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("aicm-derive-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn schema_files_are_read_relative_to_the_manifest_dir_and_tracked() {
    let dir = TempDir::new("schema-file");
    std::fs::create_dir_all(dir.0.join("schemas")).unwrap();
    std::fs::write(
        dir.0.join("schemas/chat.json"),
        r##"{"tokens": "int", "model": "str"}"##,
    )
    .unwrap();
    std::fs::write(
        dir.0.join("schemas/bad.json"),
        r##"{"tokens": "Dict[str]"}"##,
    )
    .unwrap();

    let (out, errs) = run_in(
        r##"#[usage(schema_file = "schemas/chat.json")] struct U { tokens: i64, model: String }"##,
        Some(&dir.0),
    );
    assert!(errs.is_empty(), "{errs:?}");
    let expected = dir.0.join("schemas/chat.json");
    assert!(
        out.contains(&format!(
            "include_bytes ! ({:?})",
            expected.to_str().unwrap()
        )),
        "{out}"
    );

    let errs = run_in(
        r##"#[usage(schema_file = "schemas/bad.json")] struct U { tokens: i64 }"##,
        Some(&dir.0),
    )
    .1;
    assert_eq!(
        errs,
        [
            "invalid schema in `schemas/bad.json`: field `tokens`: `Dict` takes 2 type arguments, found 1 at position 0 in `Dict[str]`"
        ]
    );

    let errs = run_in(
        r##"#[usage(schema_file = "schemas/none.json")] struct U { tokens: i64 }"##,
        Some(&dir.0),
    )
    .1;
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("cannot read schema file `schemas/none.json` (paths are relative to CARGO_MANIFEST_DIR): "),
        "{errs:?}"
    );
}

#[test]
fn errors_collect_in_one_place() {
    let mut errors = Errors::default();
    errors.push(proc_macro2::Span::call_site(), "one");
    errors.push(proc_macro2::Span::call_site(), "two");
    assert_eq!(errors.messages(), ["one", "two"]);
}
