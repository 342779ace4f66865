//! The `aicm-codegen` binary, run as CI and build scripts run it (files only; the live API
//! tests are in `cli_live.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::golden_dir;

fn codegen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aicm-codegen"))
        .args(args)
        // Never reach for a real API or a user's AICM.INI from a test.
        .env_remove("AICM_API_KEY")
        .env("AICM_API_BASE", "http://127.0.0.1:9")
        .env("AICM_INI_PATH", "/nonexistent/aicm-codegen-test/AICM.INI")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn configs_json() -> PathBuf {
    golden_dir().join("configs.json")
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A copy of the sample configs with `edit` applied to the text.
fn edited_configs(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(configs_json()).unwrap();
    let path = dir.join("edited.json");
    std::fs::write(&path, edit(text)).unwrap();
    path
}

#[test]
fn generate_writes_the_golden_module_and_leaves_an_unchanged_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("src/usage.rs");
    let configs = configs_json();
    let args = [
        "generate",
        "--all",
        "--from-file",
        s(&configs),
        "--out",
        s(&out),
    ];
    let run = codegen(&args);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(stdout(&run).starts_with("wrote "), "{}", stdout(&run));
    let expected = std::fs::read_to_string(golden_dir().join("configs.rs")).unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), expected);

    let modified = std::fs::metadata(&out).unwrap().modified().unwrap();
    let again = codegen(&args);
    assert!(again.status.success());
    assert!(
        stdout(&again).starts_with("unchanged "),
        "{}",
        stdout(&again)
    );
    assert_eq!(
        std::fs::metadata(&out).unwrap().modified().unwrap(),
        modified
    );
}

#[test]
fn check_is_clean_on_an_up_to_date_file_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("usage.rs");
    std::fs::copy(golden_dir().join("configs.rs"), &out).unwrap();
    let run = codegen(&[
        "generate",
        "--all",
        "--from-file",
        s(&configs_json()),
        "--out",
        s(&out),
        "--check",
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert!(stdout(&run).contains("up to date"), "{}", stdout(&run));
}

#[test]
fn check_reports_changed_added_and_removed_fields_and_configs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("usage.rs");
    std::fs::copy(golden_dir().join("configs.rs"), &out).unwrap();
    let before = std::fs::read_to_string(&out).unwrap();
    let edited = edited_configs(dir.path(), |text| {
        text.replace(
            r#""outcome": "Union[str, int]""#,
            r#""outcome": "Union[str, int, float]""#,
        )
        .replace(
            r#""cost-center": "str","#,
            r#""priority": "Optional[int]","#,
        )
        .replace(
            r#""config_id": "free-form""#,
            r#""config_id": "free-form-2""#,
        )
    });
    let run = codegen(&[
        "generate",
        "--all",
        "--from-file",
        s(&edited),
        "--out",
        s(&out),
        "--check",
    ]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    let report = stderr(&run);
    for expected in [
        "is out of date",
        "config `agent-run`:",
        "field `outcome` changed type: `Union[str, int]` -> `Union[str, int, float]`",
        "field `priority` added: `Optional[int]`",
        "field `cost-center` removed (was `str`)",
        "config `free-form-2`:\n    new config, not in the file",
        "config `free-form`:\n    in the file, but no longer generated",
        "without `--check`",
    ] {
        assert!(
            report.contains(expected),
            "missing {expected:?} in:\n{report}"
        );
    }
    assert!(!report.contains("chat-completions"), "{report}");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        before,
        "--check wrote"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn check_reports_a_hand_edit_and_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("usage.rs");
    let golden = std::fs::read_to_string(golden_dir().join("configs.rs")).unwrap();
    std::fs::write(
        &out,
        golden.replace("pub model: String", "pub model: String "),
    )
    .unwrap();
    let args = |out: &Path| {
        codegen(&[
            "generate",
            "--all",
            "--from-file",
            s(&configs_json()),
            "--out",
            s(out),
            "--check",
        ])
    };
    let run = args(&out);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        stderr(&run).contains("the schemas are the same, but the generated code differs"),
        "{}",
        stderr(&run)
    );

    let missing = dir.path().join("nope.rs");
    let run = args(&missing);
    assert_eq!(run.status.code(), Some(1));
    assert!(stderr(&run).contains("the file does not exist"));
    assert!(!missing.exists());
}

#[test]
fn schema_dir_snapshots_are_written_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("usage.rs");
    let snapshots = dir.path().join("schemas");
    let configs = configs_json();
    let base = |extra: &[&str]| {
        let mut args = vec![
            "generate",
            "--config-id",
            "agent-run",
            "--config-id",
            "free-form",
            "--from-file",
            s(&configs),
            "--out",
            s(&out),
            "--schema-dir",
            s(&snapshots),
        ];
        args.extend_from_slice(extra);
        codegen(&args)
    };
    assert!(base(&[]).status.success());
    assert_eq!(
        std::fs::read_to_string(snapshots.join("agent-run.json")).unwrap(),
        "{\n  \"steps\": \"List[Dict[str, int]]\",\n  \"tool_calls\": \"Dict[str, List[str]]\",\n  \
         \"outcome\": \"Union[str, int]\",\n  \"cost-center\": \"str\",\n  \"type\": \
         \"Optional[str]\",\n  \"scores\": \"Optional[List[float]]\"\n}\n"
    );
    assert_eq!(
        std::fs::read_to_string(snapshots.join("free-form.json")).unwrap(),
        "{}\n"
    );
    assert_eq!(std::fs::read_dir(&snapshots).unwrap().count(), 2);
    assert_eq!(base(&["--check"]).status.code(), Some(0));

    std::fs::write(snapshots.join("free-form.json"), "{\"x\": \"int\"}\n").unwrap();
    let run = base(&["--check"]);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        stderr(&run).contains("free-form.json is missing or out of date"),
        "{}",
        stderr(&run)
    );
}

#[test]
fn unknown_config_ids_are_listed_with_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("usage.rs");
    let run = codegen(&[
        "generate",
        "--config-id",
        "chat-completions",
        "--config-id",
        "nope",
        "--from-file",
        s(&configs_json()),
        "--out",
        s(&out),
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(
        stderr(&run).trim(),
        "error: unknown config id `nope`; known config ids: `agent-run`, `chat-completions`, \
         `free-form`, `speech-to-text`"
    );
    assert!(!out.exists());
}

#[test]
fn a_malformed_type_names_the_config_the_field_and_the_position() {
    let dir = tempfile::tempdir().unwrap();
    let edited = edited_configs(dir.path(), |text| {
        text.replace(r#""features": "List[str]""#, r#""features": "List[str""#)
            .replace(r#""channels": "int""#, r#""channels": "integer""#)
    });
    let run = codegen(&[
        "generate",
        "--all",
        "--from-file",
        s(&edited),
        "--out",
        s(&dir.path().join("usage.rs")),
    ]);
    assert_eq!(run.status.code(), Some(2));
    let err = stderr(&run);
    assert!(
        err.contains("config `speech-to-text` has an invalid manual_usage_schema"),
        "{err}"
    );
    assert!(
        err.contains("field `channels`: unknown type name `integer`"),
        "{err}"
    );
    assert!(err.contains("at position 0 in `integer`"), "{err}");
    assert!(err.contains("field `features`: expected"), "{err}");
    assert!(err.contains("at position 8 in `List[str`"), "{err}");
    assert!(err.contains("    List[str\n            ^"), "{err}");
}

#[test]
fn a_bare_schema_file_is_named_by_its_config_id() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("schema.json");
    std::fs::write(&schema, r#"{"tokens": "int", "note": "str | None"}"#).unwrap();
    let out = dir.path().join("usage.rs");
    let run = codegen(&[
        "generate",
        "--config-id",
        "my-config",
        "--from-file",
        s(&schema),
        "--out",
        s(&out),
        "--name",
        "my-config=Tokens",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let code = std::fs::read_to_string(&out).unwrap();
    assert!(code.contains("pub struct Tokens {"), "{code}");
    assert!(code.contains(r#"config_id = "my-config""#), "{code}");
    assert!(code.contains("pub note: Option<String>"), "{code}");

    let run = codegen(&[
        "generate",
        "--all",
        "--from-file",
        s(&schema),
        "--out",
        s(&out),
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("needs exactly one `--config-id`"));
}

#[test]
fn colliding_keys_are_reported_not_merged() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("schema.json");
    std::fs::write(&schema, r#"{"cost-center": "str", "cost center": "int"}"#).unwrap();
    let out = dir.path().join("usage.rs");
    let run = codegen(&[
        "generate",
        "--config-id",
        "c",
        "--from-file",
        s(&schema),
        "--out",
        s(&out),
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        stderr(&run).contains(
            "fields `cost-center`, `cost center` all map to the Rust field `cost_center`"
        ),
        "{}",
        stderr(&run)
    );
    assert!(!out.exists());
}

#[test]
fn bad_arguments_are_usage_errors() {
    let run = codegen(&["generate", "--all", "--config-id", "x", "--out", "o.rs"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        stderr(&run).contains("cannot be used with"),
        "{}",
        stderr(&run)
    );
    let run = codegen(&["generate", "--out", "o.rs", "--from-file", "f.json"]);
    assert_eq!(run.status.code(), Some(2));
    let run = codegen(&["generate", "--all", "--out", "o.rs", "--name", "oops"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        stderr(&run).contains("expected ID=Name"),
        "{}",
        stderr(&run)
    );
}

#[test]
fn json_schema_writes_one_document_per_config() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("schemas");
    let run = codegen(&[
        "json-schema",
        "--all",
        "--from-file",
        s(&configs_json()),
        "--out-dir",
        s(&out_dir),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let mut names: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "agent-run.schema.json",
            "chat-completions.schema.json",
            "free-form.schema.json",
            "speech-to-text.schema.json"
        ]
    );
    for name in names {
        assert_eq!(
            std::fs::read_to_string(out_dir.join(&name)).unwrap(),
            std::fs::read_to_string(golden_dir().join("json-schema").join(&name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn without_from_file_an_unreachable_api_suggests_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_aicm-codegen"))
        .args(["generate", "--all", "--out"])
        .arg(dir.path().join("usage.rs"))
        .env("AICM_API_KEY", "sk-test-secret-key")
        // Port 9 (discard) on loopback: nothing listens there.
        .env("AICM_API_BASE", "http://127.0.0.1:9")
        .env("AICM_INI_PATH", dir.path().join("AICM.INI"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let err = stderr(&run);
    assert!(
        err.contains("cannot fetch configs from the AICostManager API"),
        "{err}"
    );
    assert!(err.contains("--from-file FILE"), "{err}");
    assert!(!err.contains("sk-test-secret-key"), "{err}");
}

#[test]
fn without_from_file_or_an_api_key_says_so_and_suggests_from_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("usage.rs");
    let run = codegen(&["generate", "--all", "--out", s(&out)]);
    assert_eq!(run.status.code(), Some(2));
    let err = stderr(&run);
    assert!(err.contains("AICM_API_KEY"), "{err}");
    assert!(err.contains("--from-file FILE"), "{err}");
    assert!(!out.exists());
}
