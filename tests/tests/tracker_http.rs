//! The Tracker end to end against the local API over real HTTP: what arrives, retries of 5xx,
//! and the three runtime situations (none, current-thread, multi-thread), with and without
//! `close`.

mod support;

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
    let tracker = Tracker::builder("chat-completions", "svc")
        .api_key(api.api_key())
        .api_base(api.api_base())
        .ini_path(support::temp_ini())
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
    let tracker = Tracker::builder("chat-completions", "svc")
        .api_key(api.api_key())
        .api_base(api.api_base())
        .ini_path(support::temp_ini())
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
    let tracker = Tracker::builder("chat-completions", "svc")
        .api_key(api.api_key())
        .api_base(api.api_base())
        .ini_path(support::temp_ini())
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
