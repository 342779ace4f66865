//! ConfigStore against a loopback stub API and a temporary AICM.INI.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;
use crate::config::test_support::stub::Stub;
use crate::config::test_support::*;
use crate::settings::{Settings, SettingsOverrides};

const KEY: &str = "sk-store-test-key-SECRET";

fn api(base: &str) -> ApiClient {
    let settings = Settings::resolve_with(
        SettingsOverrides {
            api_key: Some(KEY.into()),
            api_base: Some(base.into()),
            ini_path: Some("/unused".into()),
            ..Default::default()
        },
        |_| None,
    )
    .unwrap();
    ApiClient::new(None, &settings).unwrap()
}

/// Nothing listens on port 1 of loopback: connections are refused at once.
const DOWN: &str = "http://127.0.0.1:1";

fn ini_in(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("aicostmanager").join("AICM.INI")
}

fn read_ini(path: &Path) -> IniDocument {
    IniDocument::parse(&std::fs::read_to_string(path).unwrap())
}

fn chat_item() -> Value {
    config_item(&[(
        "chat",
        r#"{"tokens":"int","model":"str","note":"Optional[str]","a_last":"float"}"#,
    )])
}

#[tokio::test]
async fn first_load_fetches_verifies_and_caches() {
    // One signed item, served and compared: signing again could tick `iat` to the next second.
    let served = chat_item();
    let stub = Stub::start(vec![served.clone()], "\"v1\"").await;
    let dir = tempfile::tempdir().unwrap();
    let ini = ini_in(&dir);
    std::fs::create_dir_all(ini.parent().unwrap()).unwrap();
    std::fs::write(&ini, "[delivery]\ntimeout = 0.05\n\n[mine]\nKeep = Me\n").unwrap();

    let store = ConfigStore::new(api(&stub.base), ini.clone());
    let config = store.load_config("chat").await.unwrap();
    assert_eq!(config.config_id, "chat");
    assert_eq!(config.api_id.as_deref(), Some("manual"));
    assert_eq!(config.uuid.as_deref(), Some("u-chat"));
    assert_eq!(config.last_updated.as_deref(), Some("2025-08-07T00:00:00Z"));
    let names: Vec<&str> = config
        .schema
        .fields()
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["tokens", "model", "note", "a_last"],
        "service order kept"
    );

    let requests = stub.configs_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].if_none_match, None, "nothing cached yet");
    assert_eq!(
        requests[0].authorization.as_deref(),
        Some(&*format!("Bearer {KEY}"))
    );
    assert!(
        requests[0]
            .user_agent
            .as_deref()
            .unwrap()
            .starts_with("aicm-rust/")
    );

    let doc = read_ini(&ini);
    assert_eq!(doc.get("configs", "etag").as_deref(), Some("\"v1\""));
    let payload: Value = serde_json::from_str(&doc.get("configs", "payload").unwrap()).unwrap();
    assert_eq!(payload, json!([served]));
    assert_eq!(
        doc.get("triggered_limits", "payload").as_deref(),
        Some("{}")
    );
    assert_eq!(doc.get("delivery", "timeout").as_deref(), Some("0.05"));
    assert_eq!(doc.get("mine", "keep").as_deref(), Some("Me"));
    assert!(!lock::lock_path(&ini).exists(), "lock released");
}

#[tokio::test]
async fn cached_etag_gets_304_and_the_ini_payload_is_used() {
    let stub = Stub::start(vec![chat_item()], "\"v1\"").await;
    let dir = tempfile::tempdir().unwrap();
    let ini = ini_in(&dir);
    ConfigStore::new(api(&stub.base), ini.clone())
        .load_config("chat")
        .await
        .unwrap();
    let written = std::fs::read_to_string(&ini).unwrap();

    // A second process: fresh memory, same INI.
    let store = ConfigStore::new(api(&stub.base), ini.clone());
    let config = store.load_config("chat").await.unwrap();
    assert_eq!(config.schema.len(), 4);
    let requests = stub.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/api/v1/configs",
            "/api/v1/configs",
            "/api/v1/triggered-limits"
        ],
        "a 304 is followed by /triggered-limits"
    );
    assert_eq!(requests[1].if_none_match.as_deref(), Some("\"v1\""));
    assert_eq!(
        std::fs::read_to_string(&ini).unwrap(),
        written,
        "nothing changed, nothing written"
    );
}

#[tokio::test]
async fn a_recent_fetch_answers_without_a_request() {
    let stub = Stub::start(vec![chat_item()], "\"v1\"").await;
    let dir = tempfile::tempdir().unwrap();
    let store = ConfigStore::new(api(&stub.base), ini_in(&dir));
    store.load_config("chat").await.unwrap();
    store.load_config("chat").await.unwrap();
    assert_eq!(stub.configs_requests().len(), 1);
    store.refresh().await.unwrap();
    assert_eq!(stub.configs_requests().len(), 2, "refresh always asks");
}

#[tokio::test]
async fn stale_etag_is_recovered_by_a_fetch_without_if_none_match() {
    let dir = tempfile::tempdir().unwrap();
    let ini = ini_in(&dir);
    // The cache was written when only `chat` existed.
    let old = Stub::start(vec![chat_item()], "\"v1\"").await;
    ConfigStore::new(api(&old.base), ini.clone())
        .load_config("chat")
        .await
        .unwrap();

    // Now the server has a new config but answers 304 to the old ETag.
    let new_item = config_item(&[("fresh", r#"{"n":"int"}"#)]);
    let stub = Stub::start(vec![chat_item(), new_item], "\"v2\"").await;
    stub.state.lock().always_not_modified = true;
    let store = ConfigStore::new(api(&stub.base), ini.clone());
    let config = store.load_config("fresh").await.unwrap();
    assert_eq!(config.config_id, "fresh");

    let configs = stub.configs_requests();
    assert_eq!(configs.len(), 2);
    assert_eq!(configs[0].if_none_match.as_deref(), Some("\"v1\""));
    assert_eq!(configs[1].if_none_match, None);
    let doc = read_ini(&ini);
    assert_eq!(doc.get("configs", "etag").as_deref(), Some("\"v2\""));
    // The older config is still there too.
    assert!(store.config("chat").is_ok());
}

#[tokio::test]
async fn unknown_config_is_not_found_naming_the_known_ones() {
    let stub = Stub::start(vec![chat_item()], "\"v1\"").await;
    let dir = tempfile::tempdir().unwrap();
    let store = ConfigStore::new(api(&stub.base), ini_in(&dir));
    let err = store.load_config("nope").await.unwrap_err();
    match &err {
        Error::ConfigNotFound { config_id, known } => {
            assert_eq!(config_id, "nope");
            assert_eq!(known, &["chat".to_owned()]);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("`nope`"), "{err}");
    // Nothing was cached, so no If-None-Match was sent and one request was enough.
    assert_eq!(stub.configs_requests().len(), 1);

    // With an ETag cached, the second request goes without it.
    let store = ConfigStore::new(api(&stub.base), ini_in(&dir));
    assert!(matches!(
        store.load_config("nope").await,
        Err(Error::ConfigNotFound { .. })
    ));
    let configs = stub.configs_requests();
    assert_eq!(configs.len(), 3);
    assert!(configs[1].if_none_match.is_some());
    assert!(configs[2].if_none_match.is_none());
}

#[tokio::test]
async fn items_failing_verification_are_skipped_and_the_rest_used() {
    let mut tampered = config_item(&[("evil", r#"{"x":"int"}"#)]);
    let token = tampered["encrypted_payload"].as_str().unwrap().to_owned();
    let (head, rest) = token.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let forged = b64url(br#"{"iss":"aicm-api","configs":[{"config_id":"evil"}]}"#);
    tampered["encrypted_payload"] = json!(format!("{head}.{forged}.{sig}"));
    let wrong_key = {
        let claims = json!({"iss": "aicm-api", "configs": [{"config_id": "wrongkey"}]});
        signed_item(&claims, &other_private(), &test_public(), "k1")
    };
    let wrong_issuer = {
        let claims = json!({"iss": "mallory", "configs": [{"config_id": "wrongiss"}]});
        signed_item(&claims, &test_private(), &test_public(), "k1")
    };
    let stub = Stub::start(
        vec![
            tampered,
            wrong_key,
            wrong_issuer,
            json!("garbage"),
            chat_item(),
        ],
        "\"v1\"",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store = ConfigStore::new(api(&stub.base), ini_in(&dir));
    assert!(store.load_config("chat").await.is_ok());
    for id in ["evil", "wrongkey", "wrongiss"] {
        match store.load_config(id).await {
            Err(Error::ConfigNotFound { known, .. }) => assert_eq!(known, ["chat"]),
            other => panic!("{id}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_malformed_schema_names_config_field_and_position() {
    let item = config_item(&[
        ("bad", r#"{"ok":"int","tags":"List[str","n":5}"#),
        ("weird", r#""int""#),
        ("any", "null"),
        ("empty", "{}"),
    ]);
    let stub = Stub::start(vec![item], "").await;
    let dir = tempfile::tempdir().unwrap();
    let store = ConfigStore::new(api(&stub.base), ini_in(&dir));
    let err = store.load_config("bad").await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::InvalidSchema { ref config_id, .. } if config_id == "bad"));
    assert!(text.contains("`bad`") && text.contains("`tags`"), "{text}");
    assert!(text.contains("position"), "{text}");
    assert!(text.contains("`n`"), "every bad field: {text}");
    assert!(matches!(
        store.load_config("weird").await,
        Err(Error::InvalidSchema { .. })
    ));
    assert!(store.load_config("any").await.unwrap().schema.is_empty());
    assert!(store.load_config("empty").await.unwrap().schema.is_empty());
}

#[tokio::test]
async fn api_down_with_a_warm_cache_starts_from_the_cache() {
    let stub = Stub::start(vec![chat_item()], "\"v1\"").await;
    let dir = tempfile::tempdir().unwrap();
    let ini = ini_in(&dir);
    ConfigStore::new(api(&stub.base), ini.clone())
        .load_config("chat")
        .await
        .unwrap();

    let store = ConfigStore::new(api(DOWN), ini.clone());
    let config = store.load_config("chat").await.unwrap();
    assert_eq!(config.schema.len(), 4);
    // A config the cache lacks is still an error, saying the cache lacks it.
    let err = store.load_config("other").await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
}

#[tokio::test]
async fn api_5xx_with_a_warm_cache_starts_from_the_cache_but_401_does_not() {
    let stub = Stub::start(vec![chat_item()], "\"v1\"").await;
    let dir = tempfile::tempdir().unwrap();
    let ini = ini_in(&dir);
    ConfigStore::new(api(&stub.base), ini.clone())
        .load_config("chat")
        .await
        .unwrap();

    stub.state.lock().fail_with = Some(503);
    let store = ConfigStore::new(api(&stub.base), ini.clone());
    assert!(store.load_config("chat").await.is_ok());

    stub.state.lock().fail_with = Some(401);
    let store = ConfigStore::new(api(&stub.base), ini.clone());
    let err = store.load_config("chat").await.unwrap_err();
    match &err {
        Error::Api {
            status, message, ..
        } => {
            assert_eq!(*status, 401);
            assert_eq!(message, "stub says 401", "server message surfaced");
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{err} {err:?}").contains("SECRET"));
}

#[tokio::test]
async fn api_down_with_no_cache_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let ini = ini_in(&dir);
    let store = ConfigStore::new(api(DOWN), ini.clone());
    let err = store.load_config("chat").await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Unreachable { .. }), "{text}");
    assert!(text.contains("127.0.0.1:1/api/v1/configs"), "{text}");
    assert!(text.contains("holds no cached config `chat`"), "{text}");
    assert!(text.contains(&ini.display().to_string()), "{text}");
    assert!(!format!("{text} {err:?}").contains("SECRET"));
}

#[tokio::test]
async fn garbage_ini_is_an_empty_cache_and_is_repaired_by_a_fetch() {
    let stub = Stub::start(vec![chat_item()], "\"v1\"").await;
    let dir = tempfile::tempdir().unwrap();
    let ini = ini_in(&dir);
    std::fs::create_dir_all(ini.parent().unwrap()).unwrap();
    std::fs::write(
        &ini,
        "garbage\n[configs]\npayload = {not json\netag = \"v1\"\n[triggered_limits]\npayload = [[\n",
    )
    .unwrap();
    let store = ConfigStore::new(api(&stub.base), ini.clone());
    assert!(store.load_config("chat").await.is_ok());
    // The unusable payload means the ETag was not sent (a 304 would have left nothing).
    assert_eq!(stub.configs_requests()[0].if_none_match, None);
    let doc = read_ini(&ini);
    assert!(serde_json::from_str::<Vec<Value>>(&doc.get("configs", "payload").unwrap()).is_ok());
    assert!(
        std::fs::read_to_string(&ini)
            .unwrap()
            .starts_with("garbage\n")
    );

    // A file that is not text is never overwritten.
    let binary = dir.path().join("bin.ini");
    std::fs::write(&binary, [0xff, 0x00, 0xfe]).unwrap();
    let store = ConfigStore::new(api(&stub.base), binary.clone());
    assert!(store.load_config("chat").await.is_ok());
    assert_eq!(std::fs::read(&binary).unwrap(), [0xff, 0x00, 0xfe]);
}

#[tokio::test]
async fn reads_a_cache_written_by_python_configparser() {
    // What aicostmanager 0.1.15 writes: json.dumps (", " / ": " separators) through
    // configparser, a [delivery] section of its own, `%` doubled.
    let item = config_item(&[("chat", r#"{"pct":"str"}"#)]);
    let python_json = serde_json::to_string(&json!([item]))
        .unwrap()
        .replace("\",\"", "\", \"")
        .replace("\":", "\": ");
    let text = format!(
        "[delivery]\ntimeout = 0.05\n\n[configs]\npayload = {python_json}\netag = \"v1\"\n\n[triggered_limits]\npayload = {{}}\n\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("AICM.INI");
    std::fs::write(&ini, &text).unwrap();
    let store = ConfigStore::new(api(DOWN), ini.clone());
    assert!(store.load_config("chat").await.is_ok());
    assert_eq!(std::fs::read_to_string(&ini).unwrap(), text, "read only");
}

#[tokio::test]
async fn triggered_limits_from_configs_and_from_track_usage_responses() {
    let now = OffsetDateTime::now_utc();
    let future = (now + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let past = (now - time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let stub = Stub::start(vec![chat_item()], "\"v1\"").await;
    stub.state.lock().limits = Some(limits_item(json!([
        limit_entry("e1", Some("c1"), Some(&future)),
        limit_entry("e2", Some("c2"), Some(&past)),
        limit_entry("e3", None, None),
    ])));
    let dir = tempfile::tempdir().unwrap();
    let ini = ini_in(&dir);
    let store = ConfigStore::new(api(&stub.base), ini.clone());
    store.load_config("chat").await.unwrap();

    let ids =
        |limits: Vec<TriggeredLimit>| limits.into_iter().map(|l| l.event_id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.triggered_limits(None)),
        ["e1", "e3"],
        "expired one left out"
    );
    assert_eq!(ids(store.triggered_limits(Some("c1"))), ["e1"]);
    assert!(store.triggered_limits(Some("c2")).is_empty());
    let in_ini: Value =
        serde_json::from_str(&read_ini(&ini).get("triggered_limits", "payload").unwrap()).unwrap();
    assert_eq!(
        in_ini["encrypted_payload"],
        stub.state.lock().limits.as_ref().unwrap()["encrypted_payload"]
    );

    // A /track-usage response with new limits replaces them and rewrites the INI.
    let new_item = limits_item(json!([limit_entry("e9", Some("c9"), None)]));
    store.update_triggered_limits_from_response(
        &json!({"event_ids": [], "triggered_limits": new_item}),
    );
    assert_eq!(ids(store.triggered_limits(None)), ["e9"]);
    store.flush_ini().await;
    let in_ini: Value =
        serde_json::from_str(&read_ini(&ini).get("triggered_limits", "payload").unwrap()).unwrap();
    assert_eq!(in_ini, new_item);

    // A forged response is ignored: the previous limits stay.
    let mut forged = limits_item(json!([]));
    forged["public_key"] = json!(include_str!("../../../../tests/keys/other_public.pem"));
    store.update_triggered_limits_from_response(&forged);
    assert_eq!(ids(store.triggered_limits(None)), ["e9"]);

    // A response without triggered_limits means none are active.
    store.update_triggered_limits_from_response(&json!({"event_ids": [{"r": "e"}]}));
    assert!(store.triggered_limits(None).is_empty());
    store.flush_ini().await;
    assert_eq!(
        read_ini(&ini).get("triggered_limits", "payload").as_deref(),
        Some("{}")
    );
    // The configs written earlier are untouched by limit writes.
    assert!(
        read_ini(&ini)
            .get("configs", "payload")
            .unwrap()
            .contains("encrypted_payload")
    );
}

#[tokio::test]
async fn limits_write_is_spawned_and_lands_without_flush() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("AICM.INI");
    let store = ConfigStore::new(api(DOWN), ini.clone());
    let item = limits_item(json!([limit_entry("e1", None, None)]));
    store.update_triggered_limits_from_response(&item);
    // Poll with a deadline: the write runs on a spawned task.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(&ini)
            && IniDocument::parse(&text)
                .get("triggered_limits", "payload")
                .is_some()
        {
            break;
        }
        assert!(Instant::now() < deadline, "INI never written");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[test]
fn limits_update_without_a_runtime_writes_inline() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("AICM.INI");
    std::fs::write(&ini, "[other]\nx = 1\n").unwrap();
    let store = ConfigStore::new(api(DOWN), ini.clone());
    let item = limits_item(json!([limit_entry("e1", None, None)]));
    store.update_triggered_limits_from_response(&item);
    let doc = read_ini(&ini);
    let written: Value =
        serde_json::from_str(&doc.get("triggered_limits", "payload").unwrap()).unwrap();
    assert_eq!(written, item);
    assert_eq!(doc.get("other", "x").as_deref(), Some("1"));
}

#[test]
fn unchanged_limits_do_not_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("AICM.INI");
    let store = ConfigStore::new(api(DOWN), ini.clone());
    let limits = json!([limit_entry("e1", None, None)]);
    let item = limits_item(limits.clone());
    assert!(store.apply_limits(&item, Origin::Live));
    assert!(!store.apply_limits(&item, Origin::Live), "same item");
    // A re-signed token with the same limits is not a change either.
    let mut resigned = limits_item(limits);
    resigned["version"] = json!("v2");
    assert!(!store.apply_limits(&resigned, Origin::Live));

    let lock = lock::acquire_blocking(&ini, Duration::from_secs(1)).unwrap();
    assert!(rewrite(&ini, &lock, None, Some(item.clone())).unwrap());
    assert!(
        !rewrite(&ini, &lock, None, Some(item.clone())).unwrap(),
        "same content: no write"
    );
    // Python's formatting of the same JSON is the same content.
    let python = std::fs::read_to_string(&ini)
        .unwrap()
        .replace("\",\"", "\", \"");
    std::fs::write(&ini, &python).unwrap();
    assert!(!rewrite(&ini, &lock, None, Some(item)).unwrap());
    assert_eq!(std::fs::read_to_string(&ini).unwrap(), python);
}

#[tokio::test]
async fn a_held_lock_delays_the_write_and_a_stale_one_is_taken_over() {
    let stub = Stub::start(vec![chat_item()], "\"v1\"").await;
    let dir = tempfile::tempdir().unwrap();
    let ini = ini_in(&dir);
    std::fs::create_dir_all(ini.parent().unwrap()).unwrap();
    // A lock left behind by a crashed process.
    std::fs::write(lock::lock_path(&ini), b"").unwrap();
    std::fs::File::options()
        .write(true)
        .open(lock::lock_path(&ini))
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(60))
        .unwrap();
    let store = ConfigStore::new(api(&stub.base), ini.clone());
    store.load_config("chat").await.unwrap();
    assert!(read_ini(&ini).get("configs", "payload").is_some());
    assert!(!lock::lock_path(&ini).exists());
}

#[tokio::test]
async fn shared_stores_are_per_root_key_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let a = ConfigStore::shared(api("http://127.0.0.1:9"), ini_in(&dir));
    let b = ConfigStore::shared(api("http://127.0.0.1:9"), ini_in(&dir));
    let c = ConfigStore::shared(api("http://127.0.0.1:10"), ini_in(&dir));
    let d = ConfigStore::shared(api("http://127.0.0.1:9"), dir.path().join("other.ini"));
    assert!(Arc::ptr_eq(&a.inner, &b.inner));
    assert!(!Arc::ptr_eq(&a.inner, &c.inner));
    assert!(!Arc::ptr_eq(&a.inner, &d.inner));
    assert!(!format!("{a:?}").contains("SECRET"));
}

#[tokio::test]
async fn live_limits_are_not_overridden_by_an_older_ini() {
    let stub = Stub::start(vec![chat_item()], "\"v1\"").await;
    stub.state.lock().limits = Some(limits_item(json!([limit_entry("old", None, None)])));
    let dir = tempfile::tempdir().unwrap();
    let ini = ini_in(&dir);
    ConfigStore::new(api(&stub.base), ini.clone())
        .load_config("chat")
        .await
        .unwrap();

    // Cache only: the INI's limits are used while the API is silent.
    let cached = ConfigStore::new(api(DOWN), ini.clone());
    cached.load_config("chat").await.unwrap();
    assert_eq!(cached.triggered_limits(None).len(), 1);

    // A delivery response arrives before the INI is read: it wins over the file.
    let store = ConfigStore::new(api(DOWN), ini.clone());
    store.update_triggered_limits_from_response(&json!({"event_ids": []}));
    store.flush_ini().await;
    assert_eq!(
        read_ini(&ini).get("triggered_limits", "payload").as_deref(),
        Some("{}")
    );
    store.load_config("chat").await.unwrap();
    assert!(store.triggered_limits(None).is_empty());
}

fn todays_entry(event_id: &str, customer: Option<&str>, key_id: Option<&str>) -> Value {
    json!({"event_id": event_id, "limit_id": "l1", "threshold_type": "limit", "amount": 10,
           "period": "day", "limit_context": "spend", "limit_message": "over budget",
           "service_key": "openai::gpt-5-mini", "customer_key": customer, "api_key_id": key_id,
           "triggered_at": "2025-08-07T00:00:00Z", "expires_at": null})
}

fn event_ids(limits: Vec<TriggeredLimit>) -> Vec<String> {
    limits.into_iter().map(|l| l.event_id).collect()
}

fn forged(limits: Value) -> Value {
    let mut item = limits_item(limits);
    item["public_key"] = json!(include_str!("../../../../tests/keys/other_public.pem"));
    item
}

#[tokio::test]
async fn todays_answers_keep_limits_on_a_bad_token_and_clear_them_on_an_empty_list() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("AICM.INI");
    let store = ConfigStore::new(api(DOWN), ini.clone());
    let item = limits_item(json!([todays_entry("e1", Some("acme"), None)]));
    store.update_triggered_limits_from_response(
        &json!({"results": [{"response_id": "r", "status": "queued"}], "triggered_limits": item}),
    );
    assert_eq!(event_ids(store.triggered_limits(None)), ["e1"]);
    let held = store.triggered_limits(None);
    assert_eq!(held[0].customer(), Some("acme"));
    assert_eq!(held[0].limit_message.as_deref(), Some("over budget"));

    // A token that fails verification, in either contract's answer, is skipped.
    for body in [
        json!({"results": [], "triggered_limits": forged(json!([]))}),
        json!({"event_ids": [], "triggered_limits": forged(json!([]))}),
        forged(json!([])),
    ] {
        store.update_triggered_limits_from_response(&body);
        assert_eq!(event_ids(store.triggered_limits(None)), ["e1"], "{body}");
    }
    store.flush_ini().await;
    let in_ini: Value =
        serde_json::from_str(&read_ini(&ini).get("triggered_limits", "payload").unwrap()).unwrap();
    assert_eq!(in_ini, item, "the forgery never reaches the INI");

    // A verified item with an empty list: none active.
    store.update_triggered_limits_from_response(
        &json!({"results": [], "triggered_limits": limits_item(json!([]))}),
    );
    assert!(store.triggered_limits(None).is_empty());
}

#[tokio::test]
async fn start_up_and_refresh_fetch_triggered_limits_and_use_the_ini_until_the_api_speaks() {
    let stub = Stub::start(vec![], "\"v1\"").await;
    let item = limits_item(json!([todays_entry("e1", None, None)]));
    stub.state.lock().limits = Some(item.clone());
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("AICM.INI");

    let store = ConfigStore::new(api(&stub.base), ini.clone());
    store.load_limits_at_start_up().await;
    assert_eq!(event_ids(store.triggered_limits(None)), ["e1"]);
    let paths =
        |stub: &Stub| -> Vec<String> { stub.requests().into_iter().map(|r| r.path).collect() };
    assert_eq!(paths(&stub), ["/api/v1/triggered-limits"], "no /configs");
    let in_ini: Value =
        serde_json::from_str(&read_ini(&ini).get("triggered_limits", "payload").unwrap()).unwrap();
    assert_eq!(in_ini, item);
    // Once the API has spoken, a later start-up on the same store does not ask again.
    store.load_limits_at_start_up().await;
    assert_eq!(paths(&stub).len(), 1);

    // Refresh asks again and takes the change.
    stub.state.lock().limits = Some(limits_item(json!([todays_entry("e2", None, None)])));
    store.refresh_limits().await.unwrap();
    assert_eq!(event_ids(store.triggered_limits(None)), ["e2"]);
    // A refresh that gets a forged token keeps what is held.
    stub.state.lock().limits = Some(forged(json!([])));
    store.refresh_limits().await.unwrap();
    assert_eq!(event_ids(store.triggered_limits(None)), ["e2"]);
    store.flush_ini().await;

    // Another process with the API down: the INI serves, and refresh reports the failure.
    let cached = ConfigStore::new(api(DOWN), ini.clone());
    cached.load_limits_at_start_up().await;
    assert_eq!(event_ids(cached.triggered_limits(None)), ["e2"]);
    assert!(cached.refresh_limits().await.is_err());
    assert_eq!(event_ids(cached.triggered_limits(None)), ["e2"]);
}

#[test]
fn limits_in_force_use_the_stores_api_key_id() {
    let dir = tempfile::tempdir().unwrap();
    let with_id = |key: &str| {
        let settings = Settings::resolve_with(
            SettingsOverrides {
                api_key: Some(key.into()),
                api_base: Some(DOWN.into()),
                ini_path: Some("/unused".into()),
                ..Default::default()
            },
            |_| None,
        )
        .unwrap();
        ConfigStore::new(
            ApiClient::new(None, &settings).unwrap(),
            dir.path().join("AICM.INI"),
        )
    };
    let item = limits_item(json!([
        todays_entry("mine", None, Some("key-1")),
        todays_entry("other", None, Some("key-2")),
        todays_entry("any", None, None),
        todays_entry("acme", Some("acme"), None),
    ]));
    let store = with_id("secret.key-1");
    store.apply_limits(&item, Origin::Live);
    let svc = "openai::gpt-5-mini";
    assert_eq!(event_ids(store.limits_in_force(svc, None)), ["mine", "any"]);
    assert_eq!(
        event_ids(store.limits_in_force(svc, Some("acme"))),
        ["mine", "any", "acme"]
    );
    assert!(store.limits_in_force("anthropic::claude", None).is_empty());
    let no_id = with_id("sk-no-id");
    no_id.apply_limits(&item, Origin::Live);
    assert_eq!(event_ids(no_id.limits_in_force(svc, None)), ["any"]);
}

#[test]
fn an_item_without_a_public_key_is_verified_with_the_held_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = ConfigStore::new(api(DOWN), dir.path().join("AICM.INI"));
    let mut keyless = limits_item(json!([todays_entry("e2", None, None)]));
    keyless.as_object_mut().unwrap().remove("public_key");
    // Nothing held: nothing to verify it with.
    assert!(!store.apply_limits(&keyless, Origin::Live));
    assert!(store.triggered_limits(None).is_empty());

    let first = limits_item(json!([todays_entry("e1", None, None)]));
    assert!(store.apply_limits(&first, Origin::Live));
    assert!(store.apply_limits(&keyless, Origin::Live));
    assert_eq!(event_ids(store.triggered_limits(None)), ["e2"]);
    let held = store.current_limits_item().unwrap();
    assert_eq!(held["public_key"], first["public_key"], "kept with its key");

    // A keyless token signed with another key is still refused.
    let claims = json!({"iss": "aicm-api", "sub": "api-key-id", "jti": "tl",
                        "iat": crate::config::verify::unix_now(), "triggered_limits": []});
    let mut forged_keyless = signed_item(&claims, &other_private(), &test_public(), "k1");
    forged_keyless.as_object_mut().unwrap().remove("public_key");
    assert!(!store.apply_limits(&forged_keyless, Origin::Live));
    assert_eq!(event_ids(store.triggered_limits(None)), ["e2"]);
}
