//! The delivery queue under faults, against the local API's fault injection: nothing accepted
//! is lost without a trace. Every test also samples the accounting identity throughout.
//! Synchronisation is on server counts or health with a deadline, never on sleeps.
//!
//! The fault suite runs under both contracts of the wire (`configs::…` posts to
//! `/track-usage`, `track::…` to today's `/track`): the queue, retries, splitting and
//! accounting are written once, and these tests hold them to it on both endpoints.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;
use crate::support::under_both_contracts;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aicm::{DiscardedRecord, FailedRecord, OnFull, Protocol, TrackError};
use parking_lot::Mutex;
use serde_json::json;
use support::{DEADLINE, IdentityProbe, builder, chat_usage, server};

/// Every stored record came through the contract's own endpoint (none of one contract ever
/// reaches the other's).
fn assert_endpoint(api: &aicm_tests::LocalApiThread, protocol: Protocol) {
    let expected = match protocol {
        Protocol::Configs => "track-usage",
        _ => "track",
    };
    let records = api.records();
    assert!(!records.is_empty());
    assert!(
        records.iter().all(|r| r.endpoint == expected),
        "records outside {expected}"
    );
    let stats = api.stats();
    let other = match protocol {
        Protocol::Configs => stats.track_endpoint_requests,
        _ => stats.track_usage_requests,
    };
    assert_eq!(other, 0, "{stats:?}");
}

fn fast(b: aicm::TrackerBuilder) -> aicm::TrackerBuilder {
    b.initial_backoff(Duration::from_millis(5))
        .max_backoff(Duration::from_millis(50))
        .batch_interval(Duration::from_millis(5))
}

fn a_503_storm_then_recovery_stores_every_record_exactly_once(protocol: Protocol) {
    let api = server();
    api.fail_next(5, 503);
    let tracker = fast(builder(&api, "chat-completions").protocol(protocol))
        .max_batch_size(50)
        .build()
        .unwrap();
    let probe = IdentityProbe::start(&tracker);
    for i in 0..2_000 {
        tracker.track(chat_usage(i)).unwrap();
    }
    tracker.flush(DEADLINE).unwrap();
    let h = tracker.health();
    tracker.close().unwrap();
    probe.finish();
    let stats = api.stats();
    assert_eq!(stats.records_stored, 2_000);
    assert_eq!(stats.duplicates, 0);
    assert_eq!(
        (h.total_sent, h.total_failed, h.total_discarded),
        (2_000, 0, 0)
    );
    assert!(h.retries >= 5, "{h:?}");
    assert_endpoint(&api, protocol);
}

fn retry_after_is_honoured(protocol: Protocol) {
    let api = server();
    api.rate_limit_next(1, 1);
    let tracker = fast(builder(&api, "chat-completions").protocol(protocol))
        .max_backoff(Duration::from_secs(5))
        .build()
        .unwrap();
    let probe = IdentityProbe::start(&tracker);
    let start = Instant::now();
    tracker.track(chat_usage(1)).unwrap();
    tracker.flush(DEADLINE).unwrap();
    let elapsed = start.elapsed();
    probe.finish();
    assert!(
        elapsed >= Duration::from_secs(1),
        "retried after {elapsed:?}, before the server's Retry-After of 1 s"
    );
    assert_eq!(api.stats().records_stored, 1);
    assert_eq!(tracker.health().retries, 1);
    tracker.close().unwrap();
}

fn retry_after_is_clamped_to_the_max_backoff(protocol: Protocol) {
    let api = server();
    api.rate_limit_next(1, 3_600);
    let tracker = fast(builder(&api, "chat-completions").protocol(protocol))
        .max_backoff(Duration::from_millis(100))
        .build()
        .unwrap();
    tracker.track(chat_usage(1)).unwrap();
    tracker.flush(DEADLINE).unwrap();
    assert_eq!(api.stats().records_stored, 1);
    tracker.close().unwrap();
}

fn dropped_connections_and_drop_after_store_lose_nothing(protocol: Protocol) {
    let api = server();
    api.drop_next(2);
    api.drop_after_store_next(2);
    let tracker = fast(builder(&api, "chat-completions").protocol(protocol))
        .max_batch_size(10)
        .build()
        .unwrap();
    let probe = IdentityProbe::start(&tracker);
    let mut ids = Vec::new();
    for i in 0..100 {
        ids.push(tracker.track(chat_usage(i)).unwrap().to_string());
    }
    tracker.flush(DEADLINE).unwrap();
    probe.finish();
    let stats = api.stats();
    assert_eq!(stats.records_stored, 100, "{stats:?}");
    assert!(stats.dropped_connections >= 4, "{stats:?}");
    // Duplicates come only from re-sending the same response ids.
    let mut stored: Vec<String> = api.records().into_iter().map(|r| r.response_id).collect();
    stored.sort();
    ids.sort();
    assert_eq!(stored, ids);
    assert_eq!(tracker.health().total_failed, 0);
    assert_endpoint(&api, protocol);
    tracker.close().unwrap();
}

fn timeouts_are_retried_without_loss(protocol: Protocol) {
    let api = server();
    api.set_delay(Duration::from_millis(400));
    let tracker = fast(builder(&api, "chat-completions").protocol(protocol))
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let probe = IdentityProbe::start(&tracker);
    for i in 0..20 {
        tracker.track(chat_usage(i)).unwrap();
    }
    // Let at least one request time out, then heal the server.
    let deadline = Instant::now() + DEADLINE;
    while tracker.health().retries == 0 {
        assert!(Instant::now() < deadline, "no timeout happened");
        std::thread::yield_now();
    }
    api.set_delay(Duration::ZERO);
    tracker.flush(DEADLINE).unwrap();
    probe.finish();
    api.wait_for_blocking(DEADLINE, |s| s.records_stored == 20)
        .expect("all 20 stored once");
    assert_eq!(tracker.health().total_failed, 0);
    tracker.close().unwrap();
}

fn one_poison_record_among_999_good_ones_is_isolated(protocol: Protocol) {
    let api = server();
    // The poison fault refuses any request holding a record whose usage has this key; the
    // empty schema of `free-form` lets the SDK accept it.
    api.set_poison_key(Some("poison"));
    let failed: Arc<Mutex<Vec<FailedRecord>>> = Arc::default();
    let sink = failed.clone();
    let tracker = fast(builder(&api, "free-form").protocol(protocol))
        .max_batch_size(1_000)
        .batch_interval(Duration::from_secs(60))
        .on_failed(move |r| sink.lock().push(r.clone()))
        .build()
        .unwrap();
    let probe = IdentityProbe::start(&tracker);
    let mut poison_id = None;
    for i in 0..1_000 {
        if i == 617 {
            poison_id = Some(tracker.track(json!({"poison": true})).unwrap());
        } else {
            tracker.track(json!({"n": i})).unwrap();
        }
    }
    tracker.flush(DEADLINE).unwrap();
    probe.finish();
    let h = tracker.health();
    assert_eq!((h.total_sent, h.total_failed), (999, 1), "{h:?}");
    assert_eq!(api.stats().records_stored, 999);
    let failed = failed.lock();
    assert_eq!(failed.len(), 1);
    assert_eq!(Some(&failed[0].record.response_id), poison_id.as_ref());
    match protocol {
        // The config-based contract refuses the whole request; splitting isolates the record.
        Protocol::Configs => {
            assert_eq!(failed[0].status, Some(422));
            assert!(failed[0].error.contains("422"), "{}", failed[0].error);
            assert!(h.last_error.as_deref().is_some_and(|e| e.contains("422")));
            assert_eq!(failed[0].record_status, None);
        }
        // Today's contract answers it `error` in a 2xx: failed at once, nothing split.
        _ => {
            assert_eq!(failed[0].status, Some(200));
            assert_eq!(failed[0].record_status.as_deref(), Some("error"));
            assert!(
                failed[0].messages.iter().any(|m| m.contains("poison")),
                "{:?}",
                failed[0].messages
            );
            assert!(
                failed[0].error.starts_with("error: "),
                "{}",
                failed[0].error
            );
            assert_eq!(api.stats().track_requests, 1, "nothing is split or retried");
            assert_eq!(api.stats().records_error, 1);
        }
    }
    tracker.close().unwrap();
}

fn unauthorized_fails_the_batch_as_a_configuration_error_without_splitting(protocol: Protocol) {
    let api = server();
    let tracker = fast(builder(&api, "chat-completions").protocol(protocol))
        .max_batch_size(100)
        .batch_interval(Duration::from_secs(60))
        .build()
        .unwrap();
    // Rotate the server's key after the config was loaded.
    let mut configs = api.configs();
    configs.api_key = "sk-rotated".to_owned();
    api.set_configs(configs).unwrap();
    for i in 0..40 {
        tracker.track(chat_usage(i)).unwrap();
    }
    tracker.flush(DEADLINE).unwrap();
    let h = tracker.health();
    assert_eq!(h.total_failed, 40);
    assert!(
        h.last_error
            .as_deref()
            .is_some_and(|e| e.contains("configuration error")),
        "{h:?}"
    );
    assert_eq!(api.stats().track_requests, 1, "401 is not split or retried");
    tracker.close().unwrap();
}

// --- OnFull under a stalled server --------------------------------------------------------

fn stalled_tracker(
    api: &aicm_tests::LocalApiThread,
    policy: OnFull,
    protocol: Protocol,
) -> aicm::TrackerBuilder {
    api.set_stall(true);
    fast(builder(api, "chat-completions").protocol(protocol))
        .queue_size(10)
        .max_batch_size(5)
        .max_concurrent_requests(1)
        .on_full(policy)
}

/// Waits until the stalled server holds the worker's first request (5 records in flight).
fn wait_for_stalled_request(tracker: &aicm::Tracker) {
    let deadline = Instant::now() + DEADLINE;
    while tracker.health().in_flight == 0 {
        assert!(Instant::now() < deadline, "no request reached the server");
        std::thread::yield_now();
    }
}

fn raise_refuses_when_full_and_delivers_what_it_accepted(protocol: Protocol) {
    let api = server();
    let tracker = stalled_tracker(&api, OnFull::Raise, protocol)
        .build()
        .unwrap();
    let probe = IdentityProbe::start(&tracker);
    for i in 0..5 {
        tracker.track(chat_usage(i)).unwrap();
    }
    wait_for_stalled_request(&tracker);
    let mut accepted = 5;
    let mut refused = 0;
    for i in 5..40 {
        match tracker.track(chat_usage(i)) {
            Ok(_) => accepted += 1,
            Err(TrackError::QueueFull { capacity: 10 }) => refused += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!((accepted, refused), (15, 25));
    api.set_stall(false);
    tracker.flush(DEADLINE).unwrap();
    probe.finish();
    assert_eq!(api.stats().records_stored, 15);
    assert_eq!(tracker.health().total_discarded, 0);
    tracker.close().unwrap();
}

fn backpressure_drops_the_oldest_counts_and_reports_each(protocol: Protocol) {
    let api = server();
    let discarded: Arc<Mutex<Vec<DiscardedRecord>>> = Arc::default();
    let sink = discarded.clone();
    let tracker = stalled_tracker(&api, OnFull::Backpressure, protocol)
        .on_discard(move |r| sink.lock().push(r.clone()))
        .build()
        .unwrap();
    let probe = IdentityProbe::start(&tracker);
    for i in 0..5 {
        tracker.track(chat_usage(i)).unwrap();
    }
    wait_for_stalled_request(&tracker);
    for i in 5..40 {
        tracker.track(chat_usage(i)).unwrap();
    }
    let h = tracker.health();
    assert_eq!(
        (h.total_accepted, h.total_discarded, h.queue_size),
        (40, 25, 10)
    );
    {
        let discarded = discarded.lock();
        assert_eq!(discarded.len(), 25);
        // The oldest queued records (5..30) were dropped, in order.
        let tokens: Vec<u64> = discarded
            .iter()
            .map(|d| d.record.usage["input_tokens"].as_u64().unwrap())
            .collect();
        assert_eq!(tokens, (5..30).collect::<Vec<u64>>());
    }
    api.set_stall(false);
    tracker.flush(DEADLINE).unwrap();
    probe.finish();
    assert_eq!(api.stats().records_stored, 15);
    tracker.close().unwrap();
}

fn block_waits_for_room_and_can_time_out(protocol: Protocol) {
    let api = server();
    let tracker = stalled_tracker(&api, OnFull::Block, protocol)
        .block_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let probe = IdentityProbe::start(&tracker);
    for i in 0..5 {
        tracker.track(chat_usage(i)).unwrap();
    }
    wait_for_stalled_request(&tracker);
    for i in 5..15 {
        tracker.track(chat_usage(i)).unwrap();
    }
    let start = Instant::now();
    assert!(matches!(
        tracker.track(chat_usage(99)),
        Err(TrackError::QueueFull { .. })
    ));
    assert!(start.elapsed() >= Duration::from_millis(200));
    // A blocked producer resumes when the server does.
    let producer = {
        let tracker = tracker.clone();
        std::thread::spawn(move || tracker.track(chat_usage(15)))
    };
    api.set_stall(false);
    producer.join().unwrap().unwrap();
    tracker.flush(DEADLINE).unwrap();
    probe.finish();
    assert_eq!(api.stats().records_stored, 16);
    tracker.close().unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn block_awaits_room_in_async_code_without_blocking_the_executor() {
    block_awaits_room_async(Protocol::Configs).await;
}

#[tokio::test(flavor = "current_thread")]
async fn block_awaits_room_in_async_code_without_blocking_the_executor_on_track() {
    block_awaits_room_async(Protocol::Track).await;
}

async fn block_awaits_room_async(protocol: Protocol) {
    let api = server();
    let tracker = stalled_tracker(&api, OnFull::Block, protocol)
        .build_async()
        .await
        .unwrap();
    for i in 0..15 {
        tracker
            .track_async(chat_usage(i), aicm::TrackOptions::new())
            .await
            .unwrap();
        if i == 4 {
            // Let the first batch go out and stall before filling the queue.
            let deadline = Instant::now() + DEADLINE;
            while tracker.health().in_flight == 0 {
                assert!(Instant::now() < deadline);
                tokio::task::yield_now().await;
            }
        }
    }
    // The queue is full: this track awaits. Another task on this same single thread unstalls
    // the server, which can only happen if the awaiting task does not block the thread.
    let control = api.control();
    let unstall = tokio::spawn(async move { control.set_stall(false) });
    tracker
        .track_async(chat_usage(15), aicm::TrackOptions::new())
        .await
        .unwrap();
    unstall.await.unwrap();
    tracker.flush_async(DEADLINE).await.unwrap();
    tracker.close_async().await.unwrap();
    assert_eq!(api.stats().records_stored, 16);
}

// --- load ----------------------------------------------------------------------------------

#[test]
fn twenty_threads_with_block_and_a_slow_server_deliver_every_record() {
    let api = server();
    api.set_delay(Duration::from_millis(2));
    let tracker = builder(&api, "chat-completions")
        .on_full(OnFull::Block)
        .queue_size(5_000)
        .batch_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let probe = IdentityProbe::start(&tracker);
    let threads: Vec<_> = (0..20u64)
        .map(|t| {
            let tracker = tracker.clone();
            std::thread::spawn(move || {
                for i in 0..10_000u64 {
                    tracker.track(chat_usage(t * 100_000 + i)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    tracker.flush(Duration::from_secs(120)).unwrap();
    probe.finish();
    let h = tracker.health();
    assert_eq!(
        (h.total_accepted, h.total_sent, h.total_discarded),
        (200_000, 200_000, 0)
    );
    assert_eq!(api.stats().records_stored, 200_000);
    tracker.close().unwrap();
}

fn close_with_100_000_queued_delivers_all_before_returning(protocol: Protocol) {
    let api = server();
    api.set_stall(true);
    let tracker = builder(&api, "chat-completions")
        .protocol(protocol)
        .queue_size(100_000)
        .build()
        .unwrap();
    let probe = IdentityProbe::start(&tracker);
    for i in 0..100_000 {
        tracker.track(chat_usage(i)).unwrap();
    }
    assert_eq!(tracker.health().total_discarded, 0);
    api.set_stall(false);
    tracker.close().unwrap();
    probe.finish();
    assert_eq!(api.stats().records_stored, 100_000);
    assert_endpoint(&api, protocol);
}

under_both_contracts! {
    a_503_storm_then_recovery_stores_every_record_exactly_once,
    retry_after_is_honoured,
    retry_after_is_clamped_to_the_max_backoff,
    dropped_connections_and_drop_after_store_lose_nothing,
    timeouts_are_retried_without_loss,
    one_poison_record_among_999_good_ones_is_isolated,
    unauthorized_fails_the_batch_as_a_configuration_error_without_splitting,
    raise_refuses_when_full_and_delivers_what_it_accepted,
    backpressure_drops_the_oldest_counts_and_reports_each,
    block_waits_for_room_and_can_time_out,
    close_with_100_000_queued_delivers_all_before_returning,
}
