//! The Tracker end to end against the local API over real HTTP: what arrives, retries of 5xx,
//! and the three runtime situations (none, current-thread, multi-thread), with and without
//! `close`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::time::Duration;

use aicm::{TrackError, TrackOptions, Tracker};
use serde_json::json;
use support::{DEADLINE, builder, chat_usage, server};

#[test]
fn a_valid_record_arrives_with_exactly_the_fields_of_the_contract() {
    let api = server();
    let tracker = builder(&api, "chat-completions").build().unwrap();
    let with = tracker
        .track_with(
            chat_usage(3),
            TrackOptions::new()
                .client_customer_key("acme")
                .context(json!({"request": "r-1"})),
        )
        .unwrap();
    let without = tracker.track(chat_usage(4)).unwrap();
    tracker.close().unwrap();

    let records = api.records();
    assert_eq!(records.len(), 2);
    let r = records
        .iter()
        .find(|r| r.response_id == with.to_string())
        .expect("stored under its response id");
    assert_eq!(r.config_id, "chat-completions");
    assert_eq!(r.service_id, "openai::gpt-4o-mini");
    assert_eq!(serde_json::Value::Object(r.usage.clone()), chat_usage(3));
    assert_eq!(r.client_customer_key.as_deref(), Some("acme"));
    assert_eq!(
        r.context.clone().map(serde_json::Value::Object),
        Some(json!({"request": "r-1"}))
    );
    assert_eq!(r.response_id.len(), 32);
    assert!(r.response_id.bytes().all(|b| b.is_ascii_hexdigit()));
    // 2025-08-07T20:41:59.566193+00:00
    assert_eq!(r.timestamp.len(), 32, "{}", r.timestamp);
    assert!(r.timestamp.ends_with("+00:00"), "{}", r.timestamp);
    let bare = records
        .iter()
        .find(|r| r.response_id == without.to_string())
        .unwrap();
    assert_eq!(bare.client_customer_key, None);
    assert_eq!(bare.context, None);

    let stats = api.stats();
    assert_eq!(stats.last_authorized, Some(true));
    assert!(
        stats
            .last_user_agent
            .as_deref()
            .is_some_and(|ua| ua.starts_with("aicm-rust/")),
        "{:?}",
        stats.last_user_agent
    );
}

#[test]
fn invalid_usage_is_rejected_with_all_three_lists_and_nothing_is_sent() {
    let api = server();
    let tracker = builder(&api, "chat-completions").build().unwrap();
    let err = tracker
        .track(json!({"input_tokens": 1.5, "model": "m", "cached": true, "extra": 1}))
        .unwrap_err();
    let v = err.validation().expect("validation error");
    assert_eq!(v.missing_fields, vec!["output_tokens"]);
    assert_eq!(v.extra_fields, vec!["extra"]);
    assert!(v.errors.contains_key("input_tokens"), "{v:?}");
    tracker.close().unwrap();
    assert_eq!(api.stats().track_requests, 0);
}

#[test]
fn server_errors_are_retried_and_each_record_is_stored_once() {
    let api = server();
    api.fail_next(3, 503);
    let tracker = builder(&api, "chat-completions")
        .initial_backoff(Duration::from_millis(5))
        .batch_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    for i in 0..10 {
        tracker.track(chat_usage(i)).unwrap();
    }
    tracker.flush(DEADLINE).unwrap();
    let health = tracker.health();
    tracker.close().unwrap();
    let stats = api.stats();
    assert_eq!(stats.records_stored, 10);
    assert_eq!(stats.duplicates, 0);
    assert!(health.retries >= 3, "{health:?}");
    assert_eq!((health.total_sent, health.total_failed), (10, 0));
    assert!(health.is_balanced());
}

#[test]
fn an_unknown_config_is_a_clear_error() {
    let api = server();
    let err = builder(&api, "no-such-config").build().unwrap_err();
    let message = err.to_string();
    assert!(message.contains("no-such-config"), "{message}");
    assert!(matches!(err, aicm::Error::ConfigNotFound { .. }), "{err:?}");
}

#[test]
fn the_api_key_never_shows_in_debug_or_errors() {
    let api = server();
    let secret = "sk-very-secret-key-123";
    let b = Tracker::builder("chat-completions", "svc")
        .api_key(secret)
        .api_base(api.api_base())
        .ini_path(support::temp_ini());
    assert!(!format!("{b:?}").contains(secret));
    let err = b.build().unwrap_err();
    assert!(!err.to_string().contains(secret), "{err}");
    assert!(!format!("{err:?}").contains(secret), "{err:?}");
    let tracker = builder(&api, "chat-completions").build().unwrap();
    assert!(!format!("{tracker:?}").contains(&api.api_key()));
    tracker.close().unwrap();
}

// --- runtimes -----------------------------------------------------------------------------

const N: u64 = 500;

#[test]
fn no_runtime_create_track_flush_close() {
    let api = server();
    let tracker = builder(&api, "chat-completions").build().unwrap();
    for i in 0..N {
        tracker.track(chat_usage(i)).unwrap();
    }
    tracker.flush(DEADLINE).unwrap();
    tracker.close().unwrap();
    assert_eq!(api.stats().records_stored, N);
    assert!(matches!(
        tracker.track(chat_usage(0)),
        Err(TrackError::Closed)
    ));
}

#[test]
fn no_runtime_drop_without_close_still_delivers() {
    let api = server();
    let tracker = builder(&api, "chat-completions").build().unwrap();
    for i in 0..N {
        tracker.track(chat_usage(i)).unwrap();
    }
    drop(tracker);
    let stats = api
        .wait_for_blocking(DEADLINE, |s| s.records_stored == N)
        .expect("every record arrives after the drop");
    assert_eq!(stats.duplicates, 0);
}

#[tokio::test(flavor = "current_thread")]
async fn current_thread_runtime_create_track_flush_close() {
    let api = server();
    let tracker = builder(&api, "chat-completions")
        .build_async()
        .await
        .unwrap();
    for i in 0..N {
        tracker
            .track_async(chat_usage(i), TrackOptions::new())
            .await
            .unwrap();
    }
    tracker.flush_async(DEADLINE).await.unwrap();
    tracker.close_async().await.unwrap();
    assert_eq!(api.stats().records_stored, N);
}

#[tokio::test(flavor = "current_thread")]
async fn current_thread_runtime_sync_forms_do_not_deadlock() {
    let api = server();
    // The blocking constructor and close inside a current-thread runtime: they block this
    // thread, but the worker has its own, so nothing deadlocks.
    let tracker = builder(&api, "chat-completions").build().unwrap();
    for i in 0..N {
        tracker.track(chat_usage(i)).unwrap();
    }
    tracker.close().unwrap();
    assert_eq!(api.stats().records_stored, N);
}

#[tokio::test(flavor = "current_thread")]
async fn current_thread_runtime_drop_without_close() {
    let api = server();
    let tracker = builder(&api, "chat-completions")
        .build_async()
        .await
        .unwrap();
    for i in 0..N {
        tracker.track(chat_usage(i)).unwrap();
    }
    drop(tracker);
    api.wait_for(DEADLINE, |s| s.records_stored == N)
        .await
        .expect("every record arrives after the drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_thread_runtime_create_track_flush_close() {
    let api = server();
    let tracker = builder(&api, "chat-completions")
        .build_async()
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for t in 0..4 {
        let tracker = tracker.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..N / 4 {
                tracker
                    .track_async(chat_usage(t * 1000 + i), TrackOptions::new())
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    tracker.flush_async(DEADLINE).await.unwrap();
    tracker.close_async().await.unwrap();
    assert_eq!(api.stats().records_stored, N);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_thread_runtime_drop_without_close() {
    let api = server();
    let tracker = builder(&api, "chat-completions")
        .build_async()
        .await
        .unwrap();
    for i in 0..N {
        tracker.track(chat_usage(i)).unwrap();
    }
    drop(tracker);
    api.wait_for(DEADLINE, |s| s.records_stored == N)
        .await
        .expect("every record arrives after the drop");
}

// --- configs, limits, cache ---------------------------------------------------------------

fn limit(customer: Option<&str>) -> aicm_tests::TriggeredLimit {
    serde_json::from_value(json!({
        "event_id": "e-1",
        "limit_id": "l-1",
        "threshold_type": "limit",
        "amount": 100.0,
        "period": "month",
        "vendor": {"name": "openai", "config_ids": ["chat-completions"], "hostname": "api.openai.com"},
        "service_id": "openai::gpt-4o-mini",
        "client_customer_key": customer,
        "api_key_id": "k",
        "triggered_at": "2025-08-07T00:00:00Z",
        "expires_at": "2999-01-01T00:00:00Z",
    }))
    .unwrap()
}

#[test]
fn triggered_limits_follow_every_delivery_answer() {
    let api = server();
    let tracker = builder(&api, "chat-completions")
        .batch_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    assert!(tracker.triggered_limits(None).is_empty());
    api.set_triggered_limits(vec![limit(Some("acme"))]).unwrap();
    tracker.track(chat_usage(1)).unwrap();
    tracker.flush(DEADLINE).unwrap();
    let limits = tracker.triggered_limits(None);
    assert_eq!(limits.len(), 1, "{limits:?}");
    assert_eq!(limits[0].limit_id, "l-1");
    assert_eq!(tracker.triggered_limits(Some("acme")).len(), 1);
    assert!(tracker.triggered_limits(Some("globex")).is_empty());
    // The next answer without limits clears them.
    api.set_triggered_limits(Vec::new()).unwrap();
    tracker.track(chat_usage(2)).unwrap();
    tracker.flush(DEADLINE).unwrap();
    assert!(tracker.triggered_limits(None).is_empty());
    tracker.close().unwrap();
}

#[test]
fn refresh_picks_up_a_changed_schema() {
    let api = server();
    let tracker = builder(&api, "free-form").build().unwrap();
    tracker.track(json!({"anything": 1})).unwrap();
    // Delivered before the change: the server validates against the schema it has then.
    tracker.flush(DEADLINE).unwrap();
    api.upsert_config(
        aicm_tests::ConfigEntry::from_schema_json("free-form", r#"{"units": "int"}"#).unwrap(),
    )
    .unwrap();
    tracker.refresh().unwrap();
    let err = tracker.track(json!({"anything": 1})).unwrap_err();
    assert!(err.validation().is_some(), "{err}");
    tracker.track(json!({"units": 3})).unwrap();
    tracker.close().unwrap();
    assert_eq!(api.stats().records_stored, 2);
}

#[test]
fn a_warm_ini_cache_starts_a_tracker_while_the_api_is_down() {
    let api = server();
    let ini = support::temp_ini();
    let first = builder(&api, "chat-completions")
        .ini_path(&ini)
        .build()
        .unwrap();
    first.close().unwrap();
    let base = api.api_base();
    let key = api.api_key();
    drop(api); // the API is gone
    let tracker = Tracker::builder("chat-completions", "svc")
        .api_key(key.clone())
        .api_base(base.clone())
        .ini_path(&ini)
        .build()
        .expect("starts from the INI cache");
    assert_eq!(tracker.schema().len(), 5);
    assert!(tracker.track(chat_usage(1)).is_ok());
    drop(tracker);
    // No cache and no API: a clear error.
    let err = Tracker::builder("chat-completions", "svc")
        .api_key(key)
        .api_base(base)
        .ini_path(support::temp_ini())
        .build()
        .unwrap_err();
    assert!(matches!(err, aicm::Error::Unreachable { .. }), "{err:?}");
}

// --- worker sharing -----------------------------------------------------------------------

#[test]
fn trackers_with_equal_settings_share_a_worker_and_closing_one_keeps_it_running() {
    let api = server();
    let ini = support::temp_ini();
    let make = |config: &str| {
        Tracker::builder(config, "svc")
            .api_key(api.api_key())
            .api_base(api.api_base())
            .ini_path(&ini)
            .build()
            .unwrap()
    };
    let a = make("chat-completions");
    let b = make("free-form");
    a.track(chat_usage(1)).unwrap();
    b.track(json!({"x": 1})).unwrap();
    // One worker: each sees both records in its health.
    assert_eq!(a.health().total_accepted, 2);
    assert_eq!(b.health().total_accepted, 2);
    a.close().unwrap();
    assert!(
        b.health().worker_alive,
        "closing one tracker keeps the shared worker"
    );
    b.track(json!({"x": 2})).unwrap();
    b.close().unwrap();
    assert_eq!(api.stats().records_stored, 3);
}

#[test]
fn trackers_with_different_keys_or_roots_never_share_a_worker() {
    let one = server();
    let two = server();
    let a = builder(&one, "chat-completions").build().unwrap();
    let b = builder(&two, "chat-completions").build().unwrap();
    a.track(chat_usage(1)).unwrap();
    assert_eq!(a.health().total_accepted, 1);
    assert_eq!(b.health().total_accepted, 0);
    a.close().unwrap();
    b.close().unwrap();
    assert_eq!(one.stats().records_stored, 1);
    assert_eq!(two.stats().records_stored, 0);
}

#[test]
fn global_health_sums_workers_and_survives_close() {
    let api = server();
    let a = builder(&api, "chat-completions").build().unwrap();
    for i in 0..7 {
        a.track(chat_usage(i)).unwrap();
    }
    a.close().unwrap();
    let global = aicm::global_delivery_health().expect("a tracker was created");
    assert!(global.total_accepted >= 7, "{global:?}");
    // Each worker's snapshot balances, so their sum does too.
    assert!(global.is_balanced(), "{global:?}");
}

// --- immediate delivery -------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn deliver_now_returns_the_servers_event_id_or_its_refusal() {
    let api = server();
    let tracker = builder(&api, "free-form").build_async().await.unwrap();
    let receipt = tracker
        .deliver_now(
            json!({"units": 1}),
            TrackOptions::new().client_customer_key("acme"),
        )
        .await
        .unwrap();
    let stored = api.records();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        receipt.event_id.as_deref(),
        Some(stored[0].event_id.as_str())
    );
    assert_eq!(stored[0].response_id, receipt.response_id.to_string());

    api.set_poison_key(Some("bad"));
    let err = tracker
        .deliver_now(json!({"bad": 1}), TrackOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TrackError::Delivery {
                status: Some(422),
                ..
            }
        ),
        "{err:?}"
    );
    let h = tracker.health();
    assert_eq!((h.total_accepted, h.total_sent, h.total_failed), (2, 1, 1));
    assert!(h.is_balanced());
    tracker.close_async().await.unwrap();
}

// --- today's contract (POST /track) and the choice of contract -------------------------------

fn server_with(protocol: aicm_tests::Protocol) -> aicm_tests::LocalApiThread {
    aicm_tests::LocalApi::builder()
        .protocol(protocol)
        .start_in_thread()
        .expect("local API starts")
}

#[test]
fn default_settings_against_todays_api_deliver_to_track_with_the_service_id_as_key() {
    let api = server_with(aicm_tests::Protocol::Track);
    let tracker = builder(&api, "chat-completions").build().unwrap();
    assert_eq!(tracker.protocol(), aicm::Protocol::Track);
    assert_eq!(tracker.health().protocol, Some(aicm::Protocol::Track));
    let with = tracker
        .track_with(
            chat_usage(3),
            TrackOptions::new()
                .customer_key("acme")
                .context(json!({"request": "r-1"})),
        )
        .unwrap();
    let without = tracker.track(chat_usage(4)).unwrap();
    tracker.close().unwrap();

    let records = api.records();
    assert_eq!(records.len(), 2);
    let r = records
        .iter()
        .find(|r| r.response_id == with.to_string())
        .expect("stored under its response id");
    // The local API refuses any key outside today's record (config_id, usage, …), so a stored
    // record had exactly service_key, response_id, timestamp, payload and the optional two.
    assert_eq!(r.endpoint, "track");
    assert_eq!(r.service_id, "openai::gpt-4o-mini");
    assert_eq!(serde_json::Value::Object(r.usage.clone()), chat_usage(3));
    assert_eq!(r.client_customer_key.as_deref(), Some("acme"));
    assert_eq!(
        r.context.clone().map(serde_json::Value::Object),
        Some(json!({"request": "r-1"}))
    );
    assert!(r.timestamp.ends_with("+00:00"), "{}", r.timestamp);
    let bare = records
        .iter()
        .find(|r| r.response_id == without.to_string())
        .unwrap();
    assert_eq!(
        (bare.client_customer_key.as_ref(), bare.context.as_ref()),
        (None, None)
    );
    let stats = api.stats();
    assert_eq!(stats.track_usage_requests, 0);
    assert_eq!(stats.rejected_requests, 0);
}

#[test]
fn auto_against_a_config_based_api_changes_nothing() {
    let api = server_with(aicm_tests::Protocol::Configs);
    let tracker = builder(&api, "chat-completions").build().unwrap();
    assert_eq!(tracker.protocol(), aicm::Protocol::Configs);
    tracker.track(chat_usage(1)).unwrap();
    tracker.close().unwrap();
    let stats = api.stats();
    assert_eq!(
        (stats.records_stored, stats.track_endpoint_requests),
        (1, 0)
    );
    assert_eq!(api.records()[0].endpoint, "track-usage");
    assert_eq!(api.records()[0].config_id, "chat-completions");
}

#[test]
fn auto_asks_once_per_root_and_key_and_an_explicit_track_never_asks() {
    let api = server_with(aicm_tests::Protocol::Track);
    let first = builder(&api, "chat-completions").build().unwrap();
    // Requests besides today's start-up GET /triggered-limits.
    let asked = |s: aicm_tests::Stats| s.requests - s.triggered_limits_requests;
    assert_eq!(asked(api.stats()), 1, "one GET /configs, answered 404");
    let second = builder(&api, "speech-to-text").build().unwrap();
    assert_eq!(second.protocol(), aicm::Protocol::Track);
    assert_eq!(asked(api.stats()), 1, "the decision is not asked again");
    let explicit = builder(&api, "chat-completions")
        .protocol(aicm::Protocol::Track)
        .build()
        .unwrap();
    assert_eq!(asked(api.stats()), 1);
    for t in [&first, &second, &explicit] {
        t.close().unwrap();
    }

    // Against a server with both contracts, an explicit `track` skips /configs altogether.
    let both = server();
    let tracker = builder(&both, "chat-completions")
        .protocol(aicm::Protocol::Track)
        .build()
        .unwrap();
    tracker.track(chat_usage(1)).unwrap();
    tracker.close().unwrap();
    let stats = both.stats();
    assert_eq!(stats.config_requests, 0);
    assert_eq!(
        (stats.track_endpoint_requests, stats.records_stored),
        (1, 1)
    );
}

#[test]
fn configs_against_todays_api_is_a_clear_error_at_build() {
    let api = server_with(aicm_tests::Protocol::Track);
    let err = builder(&api, "chat-completions")
        .protocol(aicm::Protocol::Configs)
        .build()
        .unwrap_err();
    assert!(
        matches!(err, aicm::Error::Api { status: 404, .. }),
        "{err:?}"
    );
}

#[test]
fn one_tracker_without_a_config_serves_every_service_key() {
    let api = server_with(aicm_tests::Protocol::Track);
    let tracker = aicm::Tracker::track_api()
        .api_key(api.api_key())
        .api_base(api.api_base())
        .ini_path(support::temp_ini())
        .build()
        .unwrap();
    assert_eq!(tracker.protocol(), aicm::Protocol::Track);
    let stats = api.stats();
    assert_eq!(
        stats.requests - stats.triggered_limits_requests,
        0,
        "nothing to ask at start-up but triggered limits"
    );
    // The Python line `tracker.track("openai::gpt-5-mini", {...}, customer_key=…, context=…)`.
    let id = tracker
        .track_with(
            json!({"input_tokens": 10, "output_tokens": 20}),
            TrackOptions::for_service("openai::gpt-5-mini")
                .customer_key("acme")
                .context(json!({"env": "prod"})),
        )
        .unwrap();
    tracker
        .track_with(
            json!({"input_tokens": 1}),
            TrackOptions::new().service_key("anthropic::claude-sonnet-4"),
        )
        .unwrap();
    let missing = tracker.track(json!({"input_tokens": 1})).unwrap_err();
    assert!(
        matches!(
            missing,
            TrackError::InvalidOption {
                option: "service_key",
                ..
            }
        ),
        "{missing:?}"
    );
    let empty = tracker
        .track_with(json!({"a": 1}), TrackOptions::for_service(" "))
        .unwrap_err();
    assert!(matches!(
        empty,
        TrackError::InvalidOption {
            option: "service_key",
            ..
        }
    ));
    let not_object = tracker
        .track_with(json!([1]), TrackOptions::for_service("openai::gpt-5-mini"))
        .unwrap_err();
    assert!(matches!(not_object, TrackError::NotAnObject { .. }));
    tracker.close().unwrap();
    let records = api.records();
    assert_eq!(records.len(), 2);
    let r = records
        .iter()
        .find(|r| r.response_id == id.to_string())
        .unwrap();
    assert_eq!(r.service_id, "openai::gpt-5-mini");
    assert_eq!(
        serde_json::Value::Object(r.usage.clone()),
        json!({"input_tokens": 10, "output_tokens": 20})
    );
    assert_eq!(r.client_customer_key.as_deref(), Some("acme"));
    assert!(
        records
            .iter()
            .any(|r| r.service_id == "anthropic::claude-sonnet-4")
    );

    let err = aicm::Tracker::track_api()
        .api_key(api.api_key())
        .api_base(api.api_base())
        .protocol(aicm::Protocol::Configs)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            aicm::Error::InvalidSetting {
                name: "AICM_PROTOCOL",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn an_unknown_service_key_is_failed_reported_and_never_counted_as_sent() {
    let api = server_with(aicm_tests::Protocol::Track);
    let failed: std::sync::Arc<parking_lot::Mutex<Vec<aicm::FailedRecord>>> = Default::default();
    let sink = failed.clone();
    let tracker = aicm::Tracker::track_api()
        .api_key(api.api_key())
        .api_base(api.api_base())
        .ini_path(support::temp_ini())
        .on_failed(move |r| sink.lock().push(r.clone()))
        .build()
        .unwrap();
    for i in 0..10 {
        let key = if i == 3 {
            "nobody::nothing"
        } else {
            "openai::gpt-5-mini"
        };
        tracker
            .track_with(json!({"n": i}), TrackOptions::for_service(key))
            .unwrap();
    }
    tracker.flush(DEADLINE).unwrap();
    let h = tracker.health();
    assert_eq!((h.total_sent, h.total_failed), (9, 1), "{h:?}");
    assert!(h.is_balanced());
    assert!(
        h.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("service_key_unknown: ")),
        "{h:?}"
    );
    {
        let failed = failed.lock();
        assert_eq!(failed.len(), 1);
        let f = &failed[0];
        assert_eq!(f.record.service_id, "nobody::nothing");
        assert_eq!(f.record.usage, json!({"n": 3}));
        assert_eq!(f.record_status.as_deref(), Some("service_key_unknown"));
        assert_eq!(f.status, Some(200));
        assert!(
            f.messages.iter().any(|m| m.contains("nobody::nothing")),
            "{:?}",
            f.messages
        );
    }
    let stats = api.stats();
    assert_eq!(
        (stats.records_stored, stats.records_service_key_unknown),
        (9, 1)
    );
    assert_eq!(stats.track_requests, 1, "never retried or split");
    tracker.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliver_now_under_todays_contract_returns_the_records_status() {
    let api = server_with(aicm_tests::Protocol::Track);
    let tracker = aicm::Tracker::track_api()
        .api_key(api.api_key())
        .api_base(api.api_base())
        .ini_path(support::temp_ini())
        .build_async()
        .await
        .unwrap();
    let receipt = tracker
        .deliver_now(
            json!({"input_tokens": 3}),
            TrackOptions::for_service("openai::gpt-5-mini"),
        )
        .await
        .unwrap();
    assert_eq!(receipt.record_status.as_deref(), Some("queued"));
    assert_eq!(receipt.status, 200);
    let refused = tracker
        .deliver_now(
            json!({"input_tokens": 3}),
            TrackOptions::for_service("x::y"),
        )
        .await
        .unwrap_err();
    match refused {
        TrackError::Delivery { status, message } => {
            assert_eq!(status, Some(200));
            assert!(message.starts_with("service_key_unknown: "), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    let h = tracker.health();
    assert_eq!((h.total_sent, h.total_failed), (1, 1), "{h:?}");
    tracker.close_async().await.unwrap();
    assert_eq!(api.stats().records_stored, 1);
}

#[derive(serde::Serialize, aicm::Usage)]
#[usage(
    config_id = "chat-completions",
    schema = r#"{"input_tokens": "int", "output_tokens": "int"}"#
)]
struct TwoCounts {
    input_tokens: u32,
    output_tokens: u32,
}

#[derive(serde::Serialize, aicm::Usage)]
#[usage(schema = r#"{"input_tokens": "int", "model": "str"}"#)]
struct CountAndModel {
    input_tokens: u32,
    model: String,
}

#[test]
fn a_local_schema_validates_dynamic_usage_under_todays_contract() {
    let api = server_with(aicm_tests::Protocol::Track);
    let dir = support::temp_ini();
    let dir = dir.parent().unwrap();
    let snapshot = dir.join("chat.json");
    std::fs::write(
        &snapshot,
        r#"{"input_tokens": "int", "output_tokens": "int"}"#,
    )
    .unwrap();
    let fixture = aicm_tests::fixture_configs_path();
    let schemas = [
        aicm::Tracker::track_api()
            .usage_schema(r#"{"input_tokens": "int", "output_tokens": "int"}"#),
        aicm::Tracker::track_api().usage_schema_file(&snapshot),
        // A configs document: the entry of the Tracker's config id.
        aicm::Tracker::builder("chat-completions", "openai::gpt-4o-mini")
            .usage_schema_file(&fixture),
    ];
    for (i, b) in schemas.into_iter().enumerate() {
        let tracker = b
            .api_key(api.api_key())
            .api_base(api.api_base())
            .ini_path(support::temp_ini())
            .build()
            .unwrap();
        assert_eq!(tracker.protocol(), aicm::Protocol::Track, "{i}");
        let options = || TrackOptions::for_service("openai::gpt-5-mini");
        let err = tracker
            .track_with(json!({"input_tokens": "many", "colour": "red"}), options())
            .unwrap_err();
        let v = err.validation().expect("validation error");
        assert!(v.errors.contains_key("input_tokens"), "{i}: {v:?}");
        assert_eq!(v.extra_fields, vec!["colour"], "{i}");
        assert!(
            v.missing_fields.contains(&"output_tokens".to_owned()),
            "{i}"
        );
        if i < 2 {
            tracker
                .track_with(json!({"input_tokens": 1, "output_tokens": 2}), options())
                .unwrap();
            // Typed records: compared with the local schema once per type; the type's config
            // id means nothing to a Tracker without one.
            tracker
                .track_with(
                    TwoCounts {
                        input_tokens: 1,
                        output_tokens: 2,
                    },
                    options(),
                )
                .unwrap();
            let mismatch = tracker
                .track_with(
                    CountAndModel {
                        input_tokens: 1,
                        model: "m".into(),
                    },
                    options(),
                )
                .unwrap_err();
            assert!(
                matches!(mismatch, TrackError::SchemaMismatch(_)),
                "{mismatch:?}"
            );
        }
        tracker.close().unwrap();
    }
    assert_eq!(api.stats().records_stored, 4);

    // Without a local schema, any object goes.
    let open = aicm::Tracker::track_api()
        .api_key(api.api_key())
        .api_base(api.api_base())
        .ini_path(support::temp_ini())
        .build()
        .unwrap();
    open.track_with(
        CountAndModel {
            input_tokens: 1,
            model: "m".into(),
        },
        TrackOptions::for_service("openai::gpt-5-mini"),
    )
    .unwrap();
    open.track_with(
        json!({"anything": [1, 2]}),
        TrackOptions::for_service("openai::gpt-5-mini"),
    )
    .unwrap();
    open.close().unwrap();

    // A malformed schema fails the build, naming the field.
    let err = aicm::Tracker::track_api()
        .api_key(api.api_key())
        .api_base(api.api_base())
        .usage_schema(r#"{"tokens": "List[int"}"#)
        .build()
        .unwrap_err();
    assert!(matches!(err, aicm::Error::InvalidSchema { .. }), "{err:?}");
    assert!(err.to_string().contains("tokens"), "{err}");
    let err = aicm::Tracker::track_api()
        .api_key(api.api_key())
        .api_base(api.api_base())
        .usage_schema_file(dir.join("missing.json"))
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            aicm::Error::InvalidSetting {
                name: "TrackerBuilder::usage_schema_file",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn anonymized_fields_never_leave_the_process() {
    let api = server_with(aicm_tests::Protocol::Track);
    let tracker = aicm::Tracker::track_api()
        .api_key(api.api_key())
        .api_base(api.api_base())
        .ini_path(support::temp_ini())
        .anonymize_fields(["prompt"])
        .build()
        .unwrap();
    let both = tracker
        .track_with(
            json!({"tokens": 7, "prompt": "my secret", "user": {"email": "a@b", "age": 3}}),
            TrackOptions::for_service("openai::gpt-5-mini").anonymize_fields(["user"]),
        )
        .unwrap();
    let typed = tracker
        .track_with(
            CountAndModel {
                input_tokens: 2,
                model: "m".into(),
            },
            TrackOptions::for_service("openai::gpt-5-mini").anonymize_fields(["model"]),
        )
        .unwrap();
    let plain = tracker
        .track_with(
            json!({"user": "kept", "prompt": "hidden"}),
            TrackOptions::for_service("openai::gpt-5-mini"),
        )
        .unwrap();
    tracker.close().unwrap();
    let usage = |id: &aicm::ResponseId| {
        let records = api.records();
        let r = records
            .iter()
            .find(|r| r.response_id == id.to_string())
            .unwrap();
        serde_json::Value::Object(r.usage.clone())
    };
    assert_eq!(
        usage(&both),
        json!({"tokens": 7, "prompt": "[REDACTED]",
               "user": {"email": "[REDACTED]", "age": 3}})
    );
    assert_eq!(
        usage(&typed),
        json!({"input_tokens": 2, "model": "[REDACTED]"})
    );
    assert_eq!(
        usage(&plain),
        json!({"user": "kept", "prompt": "[REDACTED]"})
    );
}

// --- exit without close ------------------------------------------------------------------------

/// Set in a child run of this test binary: which child body to run.
const ROLE: &str = "AICM_TRACKER_HTTP_CHILD";

/// A child "program" that tracks 5,000 records and returns without `close`: its test
/// function ends, the harness exits the process.
#[test]
fn exit_without_close_child() {
    if std::env::var(ROLE).as_deref() != Ok("exit") {
        return;
    }
    let drop_timeout_ms: u64 = std::env::var("DROP_TIMEOUT_MS").unwrap().parse().unwrap();
    let tracker = aicm::Tracker::builder("chat-completions", "openai::gpt-4o-mini")
        .drop_timeout(Duration::from_millis(drop_timeout_ms))
        .build()
        .unwrap();
    for i in 0..5_000 {
        tracker.track(chat_usage(i)).unwrap();
    }
    // No close: the Tracker is dropped here and the process exits right after.
}

fn run_exit_child(api: &aicm_tests::LocalApiThread, drop_timeout_ms: u64) -> String {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "tracker_http::exit_without_close_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(ROLE, "exit")
        .env("DROP_TIMEOUT_MS", drop_timeout_ms.to_string())
        .env("AICM_API_KEY", api.api_key())
        .env("AICM_API_BASE", api.api_base())
        .env("AICM_INI_PATH", support::temp_ini())
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn returning_from_main_without_close_delivers_what_is_queued() {
    let api = server();
    // A slow service: the queue is far from drained when the child's main returns.
    api.set_delay(Duration::from_millis(50));
    run_exit_child(&api, 30_000);
    // The child is gone: what the server holds now is all it will ever get.
    let stats = api.stats();
    assert_eq!(stats.records_stored, 5_000, "{stats:?}");
    assert_eq!(stats.duplicates, 0);
}

#[test]
fn a_drop_timeout_of_zero_does_not_wait() {
    let api = server();
    api.set_stall(true);
    // The service holds every request: a waiting drop would never finish delivering; a drop
    // that does not wait lets the process exit at once, losing what was queued.
    run_exit_child(&api, 0);
    api.set_stall(false);
    assert!(api.stats().records_stored < 5_000);
}

// --- triggered limits under today's contract (pre-flight) ---------------------------------

/// The API key of the limits tests: `<secret>.<api_key_id>`, so limits can name its id.
const KEYED: &str = "secret.key-1";
const GPT5: &str = "openai::gpt-5-mini";

/// A limit of today's claims (`service_key`, `customer_key`, `limit_message`, ...).
fn todays_limit(
    event_id: &str,
    threshold_type: &str,
    service: Option<&str>,
    customer: Option<&str>,
    key_id: &str,
    expires_at: Option<&str>,
) -> aicm_tests::TriggeredLimit {
    serde_json::from_value(json!({
        "event_id": event_id,
        "limit_id": format!("l-{event_id}"),
        "threshold_type": threshold_type,
        "amount": 50.0,
        "period": "month",
        "limit_context": "spend",
        "limit_message": format!("{event_id} is over budget"),
        "service_key": service,
        "customer_key": customer,
        "api_key_id": key_id,
        "triggered_at": "2026-01-01T00:00:00Z",
        "expires_at": expires_at,
    }))
    .unwrap()
}

/// Ours for acme on GPT-5, an account-wide alert of ours, another key's limit on everything,
/// an expired one of ours, and one of ours on another service.
fn todays_limits() -> Vec<aicm_tests::TriggeredLimit> {
    vec![
        todays_limit("acme", "limit", Some(GPT5), Some("acme"), "key-1", None),
        todays_limit(
            "alert",
            "alert",
            None,
            None,
            "key-1",
            Some("2999-01-01T00:00:00Z"),
        ),
        todays_limit("other-key", "limit", None, None, "key-2", None),
        todays_limit(
            "expired",
            "limit",
            None,
            None,
            "key-1",
            Some("2020-01-01T00:00:00Z"),
        ),
        todays_limit(
            "claude",
            "limit",
            Some("anthropic::claude-sonnet-4"),
            None,
            "key-1",
            None,
        ),
    ]
}

fn keyed_track_server(limits: Vec<aicm_tests::TriggeredLimit>) -> aicm_tests::LocalApiThread {
    aicm_tests::LocalApi::builder()
        .protocol(aicm_tests::Protocol::Track)
        .api_key(KEYED)
        .service_keys([GPT5])
        .triggered_limits(limits)
        .start_in_thread()
        .expect("local API starts")
}

fn track_api_tracker(api: &aicm_tests::LocalApiControl, ini: std::path::PathBuf) -> Tracker {
    Tracker::track_api()
        .api_key(api.api_key())
        .api_base(api.api_base())
        .ini_path(ini)
        .batch_interval(Duration::from_millis(5))
        .build()
        .unwrap()
}

fn event_ids(limits: &[aicm::TriggeredLimit]) -> Vec<&str> {
    limits.iter().map(|l| l.event_id.as_str()).collect()
}

#[test]
fn todays_limits_load_at_start_up_and_the_pre_flight_follows_the_rules() {
    let api = keyed_track_server(todays_limits());
    let tracker = track_api_tracker(&api, support::temp_ini());
    assert_eq!(tracker.protocol(), aicm::Protocol::Track);
    let stats = api.stats();
    assert_eq!(
        (stats.triggered_limits_requests, stats.config_requests),
        (1, 0),
        "one GET /triggered-limits at start-up, no /configs"
    );

    // acme on GPT-5: acme's limit and the account-wide alert; not the other key's, not the
    // expired one, not the other service's.
    let acme = tracker.limits_in_force(GPT5, Some("acme"));
    assert_eq!(event_ids(&acme), ["acme", "alert"], "{acme:?}");
    let blocking = tracker
        .blocking_limit(GPT5, Some("acme"))
        .expect("acme is blocked");
    assert_eq!(blocking.event_id, "acme");
    assert_eq!(blocking.service(), Some(GPT5));
    assert_eq!(blocking.customer(), Some("acme"));
    assert_eq!(blocking.limit_context.as_deref(), Some("spend"));
    assert_eq!(
        blocking.limit_message.as_deref(),
        Some("acme is over budget")
    );
    // Without a customer, or for another one, acme's limit does not apply; the alert informs
    // and never blocks.
    for customer in [None, Some("globex")] {
        assert_eq!(
            event_ids(&tracker.limits_in_force(GPT5, customer)),
            ["alert"]
        );
        assert_eq!(tracker.blocking_limit(GPT5, customer), None);
    }
    // A limit of one service blocks every customer of that service only.
    let claude = tracker.blocking_limit("anthropic::claude-sonnet-4", None);
    assert_eq!(claude.map(|l| l.event_id), Some("claude".to_owned()));
    // The older listing still works and reads today's customer_key.
    assert_eq!(event_ids(&tracker.triggered_limits(Some("acme"))), ["acme"]);

    // Tracking never refuses a record because of a limit: the usage already happened.
    tracker
        .track_with(
            json!({"input_tokens": 1}),
            TrackOptions::for_service(GPT5).customer_key("acme"),
        )
        .unwrap();
    tracker.close().unwrap();
    assert_eq!(api.stats().records_stored, 1);
}

#[test]
fn auto_settling_on_todays_contract_loads_limits_at_start_up_too() {
    let api = keyed_track_server(todays_limits());
    let tracker = builder(&api, "chat-completions").build().unwrap();
    assert_eq!(tracker.protocol(), aicm::Protocol::Track);
    let stats = api.stats();
    assert_eq!(
        (stats.requests, stats.triggered_limits_requests),
        (2, 1),
        "GET /configs (404), then GET /triggered-limits"
    );
    assert!(tracker.blocking_limit(GPT5, Some("acme")).is_some());
    tracker.close().unwrap();
}

#[test]
fn todays_limits_follow_track_answers_and_refresh_and_a_bad_token_keeps_them() {
    let api = keyed_track_server(Vec::new());
    let tracker = track_api_tracker(&api, support::temp_ini());
    assert!(tracker.limits_in_force(GPT5, Some("acme")).is_empty());
    let send = |i: u64| {
        tracker
            .track_with(
                json!({"input_tokens": i}),
                TrackOptions::for_service(GPT5).customer_key("acme"),
            )
            .unwrap();
        tracker.flush(DEADLINE).unwrap();
    };

    // From a /track answer.
    api.set_triggered_limits(todays_limits()).unwrap();
    send(1);
    assert_eq!(
        event_ids(&tracker.limits_in_force(GPT5, Some("acme"))),
        ["acme", "alert"]
    );

    // Tokens that fail verification, in /track answers and on refresh, are skipped: the
    // limits held stay (0.3.2 drops them all).
    for fault in [
        aicm_tests::TokenFault::Tampered,
        aicm_tests::TokenFault::WrongKey,
        aicm_tests::TokenFault::WrongIssuer,
    ] {
        api.set_limits_token_fault(Some(fault)).unwrap();
        api.set_triggered_limits(Vec::new()).unwrap();
        send(2);
        tracker.refresh().unwrap();
        assert!(
            tracker.blocking_limit(GPT5, Some("acme")).is_some(),
            "{fault:?} must not wipe the limits held"
        );
    }
    api.set_limits_token_fault(None).unwrap();

    // Refresh under today's contract asks /triggered-limits only.
    let before = api.stats();
    api.set_triggered_limits(vec![todays_limit(
        "globex",
        "limit",
        None,
        Some("globex"),
        "key-1",
        None,
    )])
    .unwrap();
    tracker.refresh().unwrap();
    let after = api.stats();
    assert_eq!(
        after.triggered_limits_requests,
        before.triggered_limits_requests + 1
    );
    assert_eq!(after.config_requests, before.config_requests, "no /configs");
    assert_eq!(tracker.blocking_limit(GPT5, Some("acme")), None);
    assert!(tracker.blocking_limit(GPT5, Some("globex")).is_some());

    // A verified answer with an empty list: none active.
    api.set_triggered_limits(Vec::new()).unwrap();
    send(3);
    assert!(tracker.limits_in_force(GPT5, Some("globex")).is_empty());
    tracker.close().unwrap();
}

#[test]
fn todays_limits_are_kept_in_the_ini_and_serve_the_next_tracker_before_the_api_speaks() {
    let api = keyed_track_server(todays_limits());
    let ini = support::temp_ini();
    let tracker = track_api_tracker(&api, ini.clone());
    assert!(tracker.blocking_limit(GPT5, Some("acme")).is_some());
    tracker.close().unwrap();
    let text = std::fs::read_to_string(&ini).unwrap();
    let section = text
        .split("[triggered_limits]")
        .nth(1)
        .expect("a [triggered_limits] section");
    assert!(
        section.contains("payload") && section.contains("encrypted_payload"),
        "{text}"
    );
    assert!(!text.contains(KEYED), "the API key never reaches the INI");

    // Another Tracker (another store: another root) on the same INI, with the API out of
    // reach: the cache answers the pre-flight.
    let cached = Tracker::track_api()
        .api_key(KEYED)
        .api_base("http://127.0.0.1:1")
        .ini_path(ini)
        .build()
        .unwrap();
    let acme = cached.limits_in_force(GPT5, Some("acme"));
    assert_eq!(event_ids(&acme), ["acme", "alert"]);
    assert!(
        cached.refresh().is_err(),
        "refresh reports the API out of reach"
    );
    assert!(
        cached.blocking_limit(GPT5, Some("acme")).is_some(),
        "held limits stay"
    );
    drop(cached);
}
