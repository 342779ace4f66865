//! Golden files: each `tests/golden/<case>.json` renders to exactly `tests/golden/<case>.rs`.
//!
//! After an intended change of the output, regenerate with
//! `AICM_UPDATE_GOLDEN=1 cargo test -p aicm-codegen --test it golden` and review the diff.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use aicm_codegen::{
    CodegenError, ConfigSchema, RenderOptions, Selection, Source, json_schema,
    json_schema_file_name, load_configs, render_module,
};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn load(case: &str) -> Vec<ConfigSchema> {
    let path = golden_dir().join(format!("{case}.json"));
    load_configs(&Source::File(path), &Selection::All).unwrap()
}

/// Compares `actual` with the committed file, or rewrites it when asked to.
fn assert_golden(path: &Path, actual: &str) {
    if std::env::var_os("AICM_UPDATE_GOLDEN").is_some() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with AICM_UPDATE_GOLDEN=1)", path.display()));
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the generated output at line {}:\n  expected: {:?}\n  actual:   {:?}\n\
             (run with AICM_UPDATE_GOLDEN=1 to accept, then review the diff)",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

const CASES: &[&str] = &[
    "configs",
    "every_form",
    "nesting",
    "unions",
    "odd_names",
    "keywords",
    "empty",
    "no_configs",
];

#[test]
fn every_case_renders_to_its_golden_file() {
    for case in CASES {
        let code = render_module(&load(case), &RenderOptions::default()).unwrap();
        assert_golden(&golden_dir().join(format!("{case}.rs")), &code);
    }
}

#[test]
fn every_golden_input_has_a_case() {
    let mut inputs: Vec<String> = std::fs::read_dir(golden_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".json").map(str::to_owned)
        })
        .collect();
    inputs.sort();
    let mut cases: Vec<String> = CASES.iter().map(|c| (*c).to_owned()).collect();
    cases.sort();
    assert_eq!(inputs, cases);
}

#[test]
fn schemars_flag_and_names_render_to_their_golden_file() {
    let mut options = RenderOptions {
        schemars: true,
        ..RenderOptions::default()
    };
    options
        .names
        .insert("chat-completions".into(), "Chat".into());
    options.names.insert("agent-run".into(), "AgentRun".into());
    let code = render_module(&load("configs"), &options).unwrap();
    assert!(code.contains("::schemars::JsonSchema"));
    assert!(code.contains("pub struct Chat {"));
    assert!(code.contains("pub enum AgentRunOutcome {"));
    assert_golden(&golden_dir().join("configs_schemars.rs.out"), &code);
}

#[test]
fn output_is_deterministic_and_independent_of_source_order() {
    let configs = load("configs");
    let first = render_module(&configs, &RenderOptions::default()).unwrap();
    let second = render_module(&configs, &RenderOptions::default()).unwrap();
    assert_eq!(first, second);

    // The same configs listed in reverse order in the file give the same module.
    // (serde_json's Map would sort the fields, so the text is reordered as text.)
    let text = std::fs::read_to_string(golden_dir().join("configs.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let reversed = dir.path().join("reversed.json");
    std::fs::write(&reversed, reorder_configs_keep_fields(&text)).unwrap();
    let configs = load_configs(&Source::File(reversed), &Selection::All).unwrap();
    assert_eq!(
        render_module(&configs, &RenderOptions::default()).unwrap(),
        first
    );
}

/// The configs file with its `configs` array reversed, each config's text kept verbatim.
fn reorder_configs_keep_fields(text: &str) -> String {
    let start = text.find('[').unwrap();
    let end = text.rfind(']').unwrap();
    let body = &text[start + 1..end];
    // Split top-level objects by brace depth.
    let mut items = Vec::new();
    let (mut depth, mut begin) = (0, 0);
    for (i, c) in body.char_indices() {
        match c {
            '{' => {
                if depth == 0 {
                    begin = i;
                }
                depth += 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    items.push(&body[begin..=i]);
                }
            }
            _ => {}
        }
    }
    items.reverse();
    format!("{{\"configs\": [{}]}}", items.join(","))
}

#[test]
fn every_golden_module_parses_as_rust() {
    for case in CASES {
        let text = std::fs::read_to_string(golden_dir().join(format!("{case}.rs"))).unwrap();
        let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("{case}.rs: {e}"));
        assert!(
            text.starts_with(aicm_codegen::HEADER_MARK),
            "{case}.rs header"
        );
        let structs = file
            .items
            .iter()
            .filter(|i| matches!(i, syn::Item::Struct(_)))
            .count();
        assert_eq!(structs, load(case).len(), "{case}: one struct per config");
    }
}

#[test]
fn json_schemas_of_the_sample_configs_match_their_golden_files() {
    for case in ["configs", "every_form"] {
        for config in load(case) {
            let name = json_schema_file_name(&config.config_id).unwrap();
            let mut text = serde_json::to_string_pretty(&json_schema(&config)).unwrap();
            text.push('\n');
            assert_golden(&golden_dir().join("json-schema").join(name), &text);
        }
    }
}

#[test]
fn keys_that_map_to_one_identifier_are_an_error_naming_both() {
    let configs = vec![ConfigSchema::new(
        "clash",
        aicm_schema::Schema::from_json_str(
            r#"{"cost-center": "str", "cost_center": "str", "Self": "int", "self": "int"}"#,
        )
        .unwrap(),
    )];
    let err = render_module(&configs, &RenderOptions::default()).unwrap_err();
    let CodegenError::FieldCollision {
        config_id,
        ident,
        fields,
    } = &err
    else {
        panic!("expected a collision, got {err}");
    };
    assert_eq!(config_id, "clash");
    assert_eq!(ident, "cost_center");
    assert_eq!(fields, &["cost-center", "cost_center"]);
    assert_eq!(
        err.to_string(),
        "config `clash`: fields `cost-center`, `cost_center` all map to the Rust field \
         `cost_center`; rename one of them in the schema"
    );
}

#[test]
fn configs_that_map_to_one_struct_name_are_an_error() {
    let empty = aicm_schema::Schema::empty();
    let configs = vec![
        ConfigSchema::new("chat-completions", empty.clone()),
        ConfigSchema::new("chat_completions", empty.clone()),
    ];
    let err = render_module(&configs, &RenderOptions::default()).unwrap_err();
    assert!(
        matches!(&err, CodegenError::NameCollision { name, config_ids }
            if name == "ChatCompletionsUsage" && config_ids.len() == 2),
        "{err}"
    );
    assert!(err.to_string().contains("--name ID=Name"), "{err}");

    // A --name resolves it.
    let mut options = RenderOptions::default();
    options
        .names
        .insert("chat_completions".into(), "ChatCompletionsUsage2".into());
    assert!(render_module(&configs, &options).is_ok());
}

#[test]
fn a_name_that_is_not_an_identifier_is_refused() {
    let configs = vec![ConfigSchema::new("a", aicm_schema::Schema::empty())];
    for bad in ["fn", "a-b", "r#Foo", "1x"] {
        let mut options = RenderOptions::default();
        options.names.insert("a".into(), bad.into());
        let err = render_module(&configs, &options).unwrap_err();
        assert!(
            matches!(&err, CodegenError::InvalidName { name, .. } if name == bad),
            "{bad}: {err}"
        );
    }
}

#[test]
fn a_name_for_a_config_that_is_not_generated_is_refused() {
    let configs = vec![ConfigSchema::new("chat", aicm_schema::Schema::empty())];
    let mut options = RenderOptions::default();
    options.names.insert("chta".into(), "Chat".into());
    let err = render_module(&configs, &options).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`--name chta=Chat`: no config with this id is being generated"
    );
}
