//! The config store (signed configs, ETag, AICM.INI cache, triggered limits) against the
//! local API over HTTP, through `aicm::__ConfigProbe` (the store the Tracker uses, without
//! the Tracker around it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use aicm::__ConfigProbe as ConfigProbe;
use aicm::Error;
use aicm_tests::{ConfigEntry, LocalApi, LocalApiHandle, TokenFault, TriggeredLimit};
use serde_json::{Value, json};

/// A fresh INI path, so tests never share a cache: under Cargo's scratch directory for
/// integration tests (`target/tmp`), left for inspection.
fn temp_ini() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "aicm-config-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("AICM.INI")
}

async fn server() -> LocalApiHandle {
    LocalApi::builder().start().await.expect("local API starts")
}

fn probe(api: &LocalApiHandle, ini: &Path) -> ConfigProbe {
    ConfigProbe::new(&api.api_key(), &api.api_base(), ini).unwrap()
}

/// `section.key` as Python's configparser reads it (enough of it for these files: one-line
/// values, `%%` interpolated).
fn ini_value(path: &Path, section: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut current = None;
    let mut found = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') && trimmed.ends_with(']') {
            current = Some(trimmed[1..trimmed.len() - 1].to_owned());
        } else if current.as_deref() == Some(section)
            && let Some((k, v)) = line.split_once('=')
            && k.trim().eq_ignore_ascii_case(key)
        {
            found = Some(v.trim().replace("%%", "%"));
        }
    }
    found
}

fn ini_json(path: &Path, section: &str) -> Value {
    serde_json::from_str(&ini_value(path, section, "payload").expect("payload present")).unwrap()
}

/// The event ids of a list of `aicm` triggered limits.
macro_rules! ids {
    ($limits:expr) => {
        $limits
            .into_iter()
            .map(|l| l.event_id)
            .collect::<Vec<String>>()
    };
}

fn limit(event_id: &str, customer: Option<&str>) -> TriggeredLimit {
    TriggeredLimit {
        event_id: event_id.into(),
        limit_id: "l1".into(),
        threshold_type: "limit".into(),
        amount: 10.0,
        period: "day".into(),
        client_customer_key: customer.map(Into::into),
        api_key_id: "ak".into(),
        triggered_at: "2025-08-07T00:00:00Z".into(),
        ..TriggeredLimit::default()
    }
}

#[tokio::test]
async fn first_load_gets_200_verifies_and_writes_the_ini() {
    let api = server().await;
    let ini = temp_ini();
    let config = probe(&api, &ini).load_config("agent-run").await.unwrap();

    assert_eq!(config.config_id, "agent-run");
    assert_eq!(config.api_id.as_deref(), Some("manual"));
    let names: Vec<&str> = config
        .schema
        .fields()
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "steps",
            "tool_calls",
            "outcome",
            "cost-center",
            "type",
            "scores"
        ],
        "the service's field order survives signing, verification and parsing"
    );
    let stats = api.stats();
    assert_eq!((stats.config_requests, stats.not_modified), (1, 0));
    assert!(stats.last_user_agent.unwrap().starts_with("aicm-rust/"));
    assert_eq!(stats.last_authorized, Some(true));

    assert_eq!(ini_value(&ini, "configs", "etag"), Some(api.etag()));
    assert_eq!(ini_json(&ini, "configs").as_array().unwrap().len(), 4);
    assert!(ini_json(&ini, "triggered_limits")["encrypted_payload"].is_string());
}

#[tokio::test]
async fn cached_etag_gets_304_and_the_cached_payload_is_used() {
    let api = server().await;
    let ini = temp_ini();
    probe(&api, &ini)
        .load_config("chat-completions")
        .await
        .unwrap();
    let written = std::fs::read_to_string(&ini).unwrap();

    // Another process with the same INI.
    let config = probe(&api, &ini)
        .load_config("speech-to-text")
        .await
        .unwrap();
    assert_eq!(config.schema.len(), 4);
    let stats = api.stats();
    assert_eq!((stats.config_requests, stats.not_modified), (2, 1));
    assert_eq!(
        stats.triggered_limits_requests, 1,
        "a 304 is followed by /triggered-limits"
    );
    assert_eq!(
        std::fs::read_to_string(&ini).unwrap(),
        written,
        "nothing changed, nothing written"
    );
}

#[tokio::test]
async fn tampered_wrong_issuer_and_wrong_key_tokens_are_rejected() {
    let api = server().await;
    for fault in [
        TokenFault::Tampered,
        TokenFault::WrongIssuer,
        TokenFault::WrongKey,
    ] {
        api.set_token_fault(Some(fault)).unwrap();
        let ini = temp_ini();
        let err = probe(&api, &ini)
            .load_config("chat-completions")
            .await
            .unwrap_err();
        match err {
            Error::ConfigNotFound { config_id, known } => {
                assert_eq!(config_id, "chat-completions");
                assert!(
                    known.is_empty(),
                    "{fault:?}: no token may be trusted, got {known:?}"
                );
            }
            other => panic!("{fault:?}: {other:?}"),
        }
    }
    api.set_token_fault(None).unwrap();
    assert!(
        probe(&api, &temp_ini())
            .load_config("chat-completions")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn forged_triggered_limits_are_ignored() {
    let api = server().await;
    api.set_triggered_limits(vec![limit("e1", Some("c1"))])
        .unwrap();
    let ini = temp_ini();
    let good = probe(&api, &ini);
    good.load_config("chat-completions").await.unwrap();
    assert_eq!(good.triggered_limits(None).len(), 1);

    for fault in [
        TokenFault::Tampered,
        TokenFault::WrongIssuer,
        TokenFault::WrongKey,
    ] {
        api.set_limits_token_fault(Some(fault)).unwrap();
        let p = probe(&api, &temp_ini());
        p.load_config("chat-completions").await.unwrap();
        assert!(p.triggered_limits(None).is_empty(), "{fault:?}");
    }
}

#[tokio::test]
async fn stale_etag_is_recovered_by_a_fetch_without_if_none_match() {
    let api = server().await;
    let ini = temp_ini();
    probe(&api, &ini)
        .load_config("chat-completions")
        .await
        .unwrap();

    // A new config appears, and the cache's ETag has moved ahead of its payload (as when a
    // writer updated the ETag but not the payload): the server answers that ETag with 304.
    api.upsert_config(ConfigEntry::new("brand-new", [("n", "int")]))
        .unwrap();
    let text = std::fs::read_to_string(&ini).unwrap();
    let old_etag = ini_value(&ini, "configs", "etag").unwrap();
    std::fs::write(&ini, text.replace(&old_etag, &api.etag())).unwrap();

    let config = probe(&api, &ini).load_config("brand-new").await.unwrap();
    assert_eq!(config.schema.len(), 1);
    let stats = api.stats();
    assert_eq!(
        stats.config_requests, 3,
        "load, 304, then one fetch without If-None-Match"
    );
    assert_eq!(stats.not_modified, 1);
    assert_eq!(ini_json(&ini, "configs").as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn unknown_config_is_not_found_naming_the_known_ones() {
    let api = server().await;
    let err = probe(&api, &temp_ini())
        .load_config("nope")
        .await
        .unwrap_err();
    let text = err.to_string();
    match err {
        Error::ConfigNotFound { config_id, known } => {
            assert_eq!(config_id, "nope");
            assert_eq!(
                known,
                [
                    "chat-completions",
                    "speech-to-text",
                    "agent-run",
                    "free-form"
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(text.contains("`nope`"), "{text}");
}

#[tokio::test]
async fn api_down_with_a_warm_ini_cache_starts_from_the_cache() {
    let api = server().await;
    let base = api.api_base();
    let key = api.api_key();
    let ini = temp_ini();
    probe(&api, &ini)
        .load_config("chat-completions")
        .await
        .unwrap();
    api.shutdown().await;

    let cached = ConfigProbe::new(&key, &base, &ini).unwrap();
    let config = cached.load_config("chat-completions").await.unwrap();
    assert_eq!(config.schema.len(), 5);
}

#[tokio::test]
async fn api_down_with_no_cache_is_a_clear_error() {
    let api = server().await;
    let (base, key) = (api.api_base(), api.api_key());
    api.shutdown().await;
    let ini = temp_ini();
    let err = ConfigProbe::new(&key, &base, &ini)
        .unwrap()
        .load_config("chat-completions")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Unreachable { .. }), "{text}");
    assert!(text.contains(&format!("{base}/api/v1/configs")), "{text}");
    assert!(
        text.contains("holds no cached config `chat-completions`"),
        "{text}"
    );
    assert!(!text.contains(&key) && !format!("{err:?}").contains(&key));
}

#[tokio::test]
async fn wrong_key_is_an_api_error_with_the_server_message() {
    let api = server().await;
    let err = ConfigProbe::new("sk-wrong-key-SECRET", &api.api_base(), temp_ini())
        .unwrap()
        .load_config("chat-completions")
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, Error::Api { status: 401, .. }), "{text}");
    assert!(!text.contains("SECRET"), "{text}");
}

#[tokio::test]
async fn foreign_ini_sections_survive_and_the_file_stays_in_configparser_format() {
    let api = server().await;
    let ini = temp_ini();
    let foreign = "# written by someone else\n[delivery]\ntimeout = 0.05\n\n[custom]\nratio = 100%% sure\nmulti = first\n\tsecond\n\n";
    std::fs::write(&ini, foreign).unwrap();

    probe(&api, &ini)
        .load_config("chat-completions")
        .await
        .unwrap();
    let text = std::fs::read_to_string(&ini).unwrap();
    assert!(
        text.starts_with(foreign),
        "foreign content kept verbatim:\n{text}"
    );
    assert_eq!(
        ini_value(&ini, "custom", "ratio").as_deref(),
        Some("100% sure")
    );
    // configparser: `[section]` headers, `key = value`, each of our values on one line.
    for line in text.lines().skip_while(|l| !l.starts_with("[configs]")) {
        assert!(
            line.is_empty()
                || line.starts_with('[')
                || line.starts_with("payload = ")
                || line.starts_with("etag = "),
            "unexpected line {line:?}"
        );
    }
    assert!(!PathBuf::from(format!("{}.lock", ini.display())).exists());
}

#[tokio::test]
async fn triggered_limits_come_from_the_server_and_every_track_usage_response() {
    let api = server().await;
    api.set_triggered_limits(vec![limit("e1", Some("c1")), limit("e2", None)])
        .unwrap();
    let ini = temp_ini();
    let p = probe(&api, &ini);
    p.load_config("chat-completions").await.unwrap();
    assert_eq!(ids!(p.triggered_limits(None)), ["e1", "e2"]);
    assert_eq!(ids!(p.triggered_limits(Some("c1"))), ["e1"]);

    // refresh() picks up a change (a 304 for configs, then /triggered-limits).
    api.set_triggered_limits(vec![limit("e3", Some("c3"))])
        .unwrap();
    p.refresh().await.unwrap();
    assert_eq!(ids!(p.triggered_limits(None)), ["e3"]);
    p.flush_ini().await;
    assert!(ini_json(&ini, "triggered_limits")["encrypted_payload"].is_string());

    // A real /track-usage response body, as the delivery worker hands it over.
    api.set_triggered_limits(vec![limit("e4", None)]).unwrap();
    let body: Value = reqwest::Client::new()
        .post(format!("{}/track-usage", api.api_root()))
        .bearer_auth(api.api_key())
        .json(&json!({"usage_records": [{
            "config_id": "free-form", "service_id": "svc",
            "timestamp": "2025-08-07T20:41:59.566193+00:00",
            "response_id": "c49869882f37469c9f4c4faa8caa020b",
            "usage": {"anything": 1}}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    p.update_triggered_limits_from_response(&body);
    assert_eq!(ids!(p.triggered_limits(None)), ["e4"]);
    p.flush_ini().await;
    let in_ini = ini_json(&ini, "triggered_limits");
    assert_eq!(in_ini, body["triggered_limits"]);

    // None active: memory and INI follow the server.
    api.set_triggered_limits(vec![]).unwrap();
    p.refresh().await.unwrap();
    assert!(p.triggered_limits(None).is_empty());
    p.flush_ini().await;
    let served: Value = reqwest::Client::new()
        .get(format!("{}/triggered-limits", api.api_root()))
        .bearer_auth(api.api_key())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ini_json(&ini, "triggered_limits"),
        served["triggered_limits"]
    );
}
