//! The binary against the local AICostManager API (loopback): live fetch through aicm's
//! settings, client, signature checks and AICM.INI, and the drift check CI runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::path::Path;
use std::process::{Command, Output};

use aicm_tests::{ConfigEntry, ConfigsFile, LocalApi, LocalApiThread};
use support::golden_dir;

fn start() -> LocalApiThread {
    LocalApi::builder()
        .configs(ConfigsFile::fixture())
        .start_in_thread()
        .unwrap()
}

/// Runs the binary with the environment a Tracker would read, aimed at `api`.
fn codegen(api: &LocalApiThread, ini: &Path, key: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aicm-codegen"))
        .args(args)
        .env("AICM_API_KEY", key)
        .env("AICM_API_BASE", api.api_base())
        .env_remove("AICM_API_URL")
        .env("AICM_INI_PATH", ini)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn live_fetch_generates_the_same_module_as_the_file_and_caches_configs_in_the_ini() {
    let api = start();
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("AICM.INI");
    let out = dir.path().join("usage.rs");
    let key = api.api_key();
    let run = codegen(
        &api,
        &ini,
        &key,
        &["generate", "--all", "--out", out.to_str().unwrap()],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        std::fs::read_to_string(golden_dir().join("configs.rs")).unwrap()
    );
    let ini_text = std::fs::read_to_string(&ini).unwrap();
    assert!(ini_text.contains("[configs]"), "{ini_text}");
    assert!(ini_text.contains(&api.etag()), "{ini_text}");

    // A second run revalidates the cached payload with the ETag (304) and agrees.
    let check = codegen(
        &api,
        &ini,
        &key,
        &[
            "generate",
            "--all",
            "--out",
            out.to_str().unwrap(),
            "--check",
        ],
    );
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
}

#[test]
fn check_against_the_live_api_is_clean_then_dirty_after_a_schema_change() {
    let api = start();
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("AICM.INI");
    let out = dir.path().join("usage.rs");
    std::fs::copy(golden_dir().join("configs.rs"), &out).unwrap();
    let key = api.api_key();
    let args = [
        "generate",
        "--all",
        "--out",
        out.to_str().unwrap(),
        "--check",
    ];
    let clean = codegen(&api, &ini, &key, &args);
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));

    api.upsert_config(ConfigEntry::new(
        "chat-completions",
        [
            ("input_tokens", "int"),
            ("output_tokens", "int"),
            ("model", "str"),
            ("cached", "Optional[bool]"),
            ("latency_ms", "Optional[float]"),
            ("region", "str"),
        ],
    ))
    .unwrap();
    let dirty = codegen(&api, &ini, &key, &args);
    assert_eq!(dirty.status.code(), Some(1), "{}", stderr(&dirty));
    let report = stderr(&dirty);
    assert!(report.contains("config `chat-completions`:"), "{report}");
    assert!(
        report.contains("field `cached` changed type: `bool` -> `Optional[bool]`"),
        "{report}"
    );
    assert!(report.contains("field `region` added: `str`"), "{report}");
    assert!(!report.contains("agent-run"), "{report}");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        std::fs::read_to_string(golden_dir().join("configs.rs")).unwrap(),
        "--check must not write"
    );
}

#[test]
fn unknown_ids_list_the_live_configs() {
    let api = start();
    let dir = tempfile::tempdir().unwrap();
    let run = codegen(
        &api,
        &dir.path().join("AICM.INI"),
        &api.api_key(),
        &[
            "json-schema",
            "--config-id",
            "chat-completion",
            "--out-dir",
            dir.path().to_str().unwrap(),
        ],
    );
    assert_eq!(run.status.code(), Some(2));
    assert!(
        stderr(&run).contains(
            "unknown config id `chat-completion`; known config ids: `agent-run`, \
             `chat-completions`, `free-form`, `speech-to-text`"
        ),
        "{}",
        stderr(&run)
    );
}

#[test]
fn a_refused_key_is_reported_without_the_key_and_suggests_from_file() {
    let api = start();
    let dir = tempfile::tempdir().unwrap();
    let run = codegen(
        &api,
        &dir.path().join("AICM.INI"),
        "sk-wrong-secret-1234567890",
        &[
            "generate",
            "--all",
            "--out",
            dir.path().join("usage.rs").to_str().unwrap(),
        ],
    );
    assert_eq!(run.status.code(), Some(2));
    let err = stderr(&run);
    assert!(err.contains("cannot fetch configs"), "{err}");
    assert!(err.contains("401"), "{err}");
    assert!(err.contains("--from-file FILE"), "{err}");
    assert!(!err.contains("sk-wrong-secret-1234567890"), "{err}");
}

#[test]
fn json_schema_from_the_live_api_matches_the_golden_documents() {
    let api = start();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("schemas");
    let run = codegen(
        &api,
        &dir.path().join("AICM.INI"),
        &api.api_key(),
        &[
            "json-schema",
            "--config-id",
            "agent-run",
            "--out-dir",
            out_dir.to_str().unwrap(),
        ],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(
        std::fs::read_to_string(out_dir.join("agent-run.schema.json")).unwrap(),
        std::fs::read_to_string(golden_dir().join("json-schema/agent-run.schema.json")).unwrap()
    );
}

#[test]
fn against_todays_api_without_configs_it_says_so_in_one_line_naming_from_file() {
    let api = LocalApi::builder()
        .configs(ConfigsFile::fixture())
        .protocol(aicm_tests::Protocol::Track)
        .start_in_thread()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("usage.rs");
    let key = api.api_key();
    let run = codegen(
        &api,
        &dir.path().join("AICM.INI"),
        &key,
        &["generate", "--all", "--out", out.to_str().unwrap()],
    );
    assert_eq!(run.status.code(), Some(2));
    let err = stderr(&run);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("has no /configs"), "{err}");
    assert!(err.contains("--from-file FILE"), "{err}");
    assert!(!err.contains(&key), "{err}");
    assert!(!out.exists());
    // From a file it works against the same service.
    let run = codegen(
        &api,
        &dir.path().join("AICM.INI"),
        &key,
        &[
            "generate",
            "--all",
            "--from-file",
            golden_dir().join("configs.json").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(out.exists());
}
