//! Trackers with a durable spool against the local API, over real HTTP: nothing whose `track`
//! returned `Ok` is lost to a SIGKILL, a close during an outage, server errors or a poison
//! record; processes sharing a spool store each record once; health shows the spool and
//! balances. Synchronisation polls server counts, health or child output with a deadline,
//! never sleeps.
//!
//! The crash, multi-process and delivery tests run under both contracts (`configs::…`,
//! `track::…`), each checking that every record reached its contract's endpoint.
//!
//! The crash and multi-process tests run this test binary again as a child with
//! `--exact <child test>`; a child test does nothing unless `AICM_SPOOL_TEST_ROLE` names it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use crate::support;
use crate::support::under_both_contracts;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aicm::spool::{Spool, SpoolOptions};
use aicm::{FailedRecord, OnFull, Protocol, TrackError, Tracker, TrackerBuilder};
use parking_lot::Mutex;
use serde_json::json;
use support::{DEADLINE, IdentityProbe, builder, chat_usage, server};

const ROLE: &str = "AICM_SPOOL_TEST_ROLE";

/// A fresh directory for one test's spool, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "aicm-spool-tracker-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn spool(&self) -> PathBuf {
        self.0.join("usage.spool")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Quick retries and a short lease, so the tests take seconds, not minutes.
fn fast(b: TrackerBuilder) -> TrackerBuilder {
    b.initial_backoff(Duration::from_millis(5))
        .max_backoff(Duration::from_millis(50))
        .batch_interval(Duration::from_millis(5))
        .spool_options(spool_options(|o| {
            o.lease = Duration::from_secs(1);
            o.heartbeat_interval = Duration::from_millis(100);
        }))
}

/// A quick-retrying Tracker on the spool in `dir`.
fn spooled(api: &aicm_tests::LocalApiControl, dir: &TempDir) -> Tracker {
    fast(builder(api, "chat-completions"))
        .spool(dir.spool())
        .build()
        .unwrap()
}

/// `SpoolOptions` (non-exhaustive: built from the defaults) with one change.
fn spool_options(change: impl FnOnce(&mut SpoolOptions)) -> SpoolOptions {
    let mut options = SpoolOptions::default();
    change(&mut options);
    options
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

fn stored_ids(api: &aicm_tests::LocalApiControl) -> Vec<String> {
    api.records().into_iter().map(|r| r.response_id).collect()
}

fn open_spool(path: &Path) -> Spool {
    Spool::open(path, spool_options(|o| o.create = false)).unwrap()
}

// --- delivery ------------------------------------------------------------------------------

fn records_from_several_threads_are_stored_durably_and_delivered_once(protocol: Protocol) {
    let api = server();
    let dir = TempDir::new();
    let tracker = fast(builder(&api, "chat-completions").protocol(protocol))
        .spool(dir.spool())
        .max_batch_size(100)
        .build()
        .unwrap();
    let probe = IdentityProbe::start(&tracker);
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let tracker = &tracker;
                s.spawn(move || {
                    (0..250)
                        .map(|i| tracker.track(chat_usage(t * 1000 + i)).unwrap().to_string())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    tracker.flush(DEADLINE).unwrap();
    let h = tracker.health();
    probe.finish();
    assert!(h.is_balanced(), "{h:?}");
    assert_eq!(
        (
            h.total_accepted,
            h.total_sent,
            h.total_failed,
            h.queue_size,
            h.in_flight
        ),
        (1000, 1000, 0, 0, 0),
        "{h:?}"
    );
    assert_eq!(h.spool_depth, Some(0));
    assert!(h.batches_sent >= 10, "{h:?}");
    let stats = api.stats();
    assert_eq!((stats.records_stored, stats.duplicates), (1000, 0));
    let mut stored = stored_ids(&api);
    stored.sort();
    let mut ids = ids;
    ids.sort();
    assert_eq!(stored, ids);
    assert_delivered_through(&api, protocol, &ids.iter().cloned().collect());
    // Spooled ids are time-ordered (UUIDv7), still 32 lowercase hex digits.
    assert!(
        ids.iter()
            .all(|id| id.len() == 32 && id.as_bytes()[12] == b'7'),
        "{:?}",
        &ids[..3]
    );
    tracker.close().unwrap();
}

#[test]
fn track_many_stores_every_valid_record_and_reports_each_invalid_one() {
    let api = server();
    let dir = TempDir::new();
    let tracker = spooled(&api, &dir);
    let usages: Vec<serde_json::Value> = (0..50)
        .map(|i| {
            if i % 10 == 3 {
                json!({"input_tokens": "not a number"})
            } else {
                chat_usage(i)
            }
        })
        .collect();
    let results = tracker.track_many(usages);
    assert_eq!(results.len(), 50);
    let bad: Vec<usize> = (0..50).filter(|i| results[*i].is_err()).collect();
    assert_eq!(bad, vec![3, 13, 23, 33, 43]);
    assert!(matches!(results[3], Err(TrackError::Validation(_))));
    tracker.flush(DEADLINE).unwrap();
    assert_eq!(api.stats().records_stored, 45);
    assert_eq!(tracker.health().total_accepted, 45);
    tracker.close().unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn async_forms_on_a_current_thread_runtime_never_block_it() {
    let api = server();
    let dir = TempDir::new();
    let tracker = fast(builder(&api, "chat-completions"))
        .spool(dir.spool())
        .build_async()
        .await
        .unwrap();
    let mut ids = HashSet::new();
    for i in 0..200 {
        let id = tracker
            .track_async(chat_usage(i), aicm::TrackOptions::new())
            .await
            .unwrap();
        ids.insert(id.to_string());
    }
    tracker.flush_async(DEADLINE).await.unwrap();
    let stored: HashSet<String> = stored_ids(&api).into_iter().collect();
    assert_eq!(stored, ids);
    let h = tracker.health();
    assert!(h.is_balanced(), "{h:?}");
    tracker.close_async().await.unwrap();
}

// --- faults ----------------------------------------------------------------------------------

#[test]
fn server_errors_release_rows_that_are_retried_until_delivered() {
    let api = server();
    api.fail_next(4, 503);
    let dir = TempDir::new();
    let tracker = fast(builder(&api, "chat-completions"))
        .spool(dir.spool())
        .max_batch_size(50)
        .build()
        .unwrap();
    let probe = IdentityProbe::start(&tracker);
    for i in 0..200 {
        tracker.track(chat_usage(i)).unwrap();
    }
    tracker.flush(DEADLINE).unwrap();
    probe.finish();
    let h = tracker.health();
    assert_eq!((h.total_sent, h.total_failed), (200, 0), "{h:?}");
    assert!(h.retries >= 4, "{h:?}");
    assert!(
        h.last_error
            .as_deref()
            .is_some_and(|e| e.contains("503") || e.contains("Service")),
        "{h:?}"
    );
    let stats = api.stats();
    assert_eq!((stats.records_stored, stats.duplicates), (200, 0));
    tracker.close().unwrap();
    assert!(open_spool(&dir.spool()).list_failed(10).unwrap().is_empty());
}

#[test]
fn a_poison_row_is_isolated_failed_with_the_servers_message_and_kept_for_the_operator() {
    let api = server();
    api.set_poison_key(Some("poison"));
    let dir = TempDir::new();
    let failed: Arc<Mutex<Vec<FailedRecord>>> = Arc::default();
    let sink = failed.clone();
    let tracker = fast(builder(&api, "free-form"))
        .spool(dir.spool())
        .max_batch_size(1_000)
        .batch_interval(Duration::from_secs(60))
        .on_failed(move |r| sink.lock().push(r.clone()))
        .build()
        .unwrap();
    let probe = IdentityProbe::start(&tracker);
    let mut poison_id = None;
    for i in 0..300 {
        if i == 171 {
            poison_id = Some(tracker.track(json!({"poison": true, "n": i})).unwrap());
        } else {
            tracker.track(json!({"n": i})).unwrap();
        }
    }
    tracker.flush(DEADLINE).unwrap();
    probe.finish();
    let poison_id = poison_id.unwrap();
    let h = tracker.health();
    assert_eq!((h.total_sent, h.total_failed), (299, 1), "{h:?}");
    assert_eq!(api.stats().records_stored, 299);
    {
        let failed = failed.lock();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].record.response_id, poison_id);
        assert_eq!(failed[0].record.usage, json!({"poison": true, "n": 171}));
        assert_eq!(failed[0].record.config_id, "free-form");
        assert_eq!(failed[0].status, Some(422));
        assert!(
            failed[0].error.starts_with("HTTP 422: "),
            "{}",
            failed[0].error
        );
    }
    tracker.close().unwrap();
    let rows = open_spool(&dir.spool()).list_failed(10).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].response_id, poison_id.to_string());
    assert_eq!(rows[0].last_status, Some(422));
    let reason = rows[0].last_error.clone().unwrap_or_default();
    assert_eq!(
        reason,
        failed.lock()[0].error,
        "the server's reason is kept"
    );
}

#[test]
fn an_exhausted_retry_budget_fails_rows_with_the_last_reason() {
    let api = server();
    api.fail_next(1_000_000, 503);
    let dir = TempDir::new();
    let failed: Arc<Mutex<Vec<FailedRecord>>> = Arc::default();
    let sink = failed.clone();
    let tracker = fast(builder(&api, "chat-completions"))
        .spool(dir.spool())
        .max_retries(2)
        .on_failed(move |r| sink.lock().push(r.clone()))
        .build()
        .unwrap();
    let ids: HashSet<String> = (0..10)
        .map(|i| tracker.track(chat_usage(i)).unwrap().to_string())
        .collect();
    tracker.flush(DEADLINE).unwrap();
    let h = tracker.health();
    assert_eq!((h.total_sent, h.total_failed), (0, 10), "{h:?}");
    assert!(h.is_balanced());
    api.clear_faults();
    let reported: HashSet<String> = failed
        .lock()
        .iter()
        .map(|f| f.record.response_id.to_string())
        .collect();
    assert_eq!(reported, ids);
    tracker.close().unwrap();
    let rows = open_spool(&dir.spool()).list_failed(100).unwrap();
    assert_eq!(rows.len(), 10);
    for row in rows {
        assert_eq!(row.attempts, 3, "one try and two retries: {row:?}");
        assert_eq!(row.last_status, Some(503));
        let reason = row.last_error.unwrap_or_default();
        assert!(
            reason.starts_with("HTTP 503: gave up after 3 attempts"),
            "{reason}"
        );
    }
}

// --- bounds ----------------------------------------------------------------------------------

#[test]
fn a_full_spool_raises_or_displaces_the_oldest_as_the_tracker_says() {
    let api = server();
    api.set_stall(true);
    let small = spool_options(|o| o.max_rows = Some(10));
    // Raise: the 11th record is refused (nothing is claimed: the batch interval is long).
    let dir = TempDir::new();
    let raising = builder(&api, "chat-completions")
        .spool(dir.spool())
        .spool_options(small.clone())
        .batch_interval(Duration::from_secs(3_600))
        .max_batch_size(1_000)
        .on_full(OnFull::Raise)
        .close_timeout(Duration::ZERO)
        .build()
        .unwrap();
    for i in 0..10 {
        raising.track(chat_usage(i)).unwrap();
    }
    let err = raising.track(chat_usage(10)).unwrap_err();
    assert!(
        matches!(err, TrackError::QueueFull { capacity: 10 }),
        "{err:?}"
    );
    let h = raising.health();
    assert_eq!(
        (h.total_accepted, h.queue_size, h.spool_depth),
        (10, 10, Some(10))
    );
    assert!((h.queue_utilization - 1.0).abs() < f64::EPSILON, "{h:?}");
    assert!(raising.close().is_err(), "ten records stay in the spool");

    // Backpressure: the oldest queued rows make room, each counted and handed to on_discard.
    let dir = TempDir::new();
    let discarded: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = discarded.clone();
    let displacing = builder(&api, "chat-completions")
        .spool(dir.spool())
        .spool_options(small)
        .batch_interval(Duration::from_secs(3_600))
        .max_batch_size(1_000)
        .on_full(OnFull::Backpressure)
        .close_timeout(Duration::ZERO)
        .on_discard(move |r| sink.lock().push(r.record.response_id.to_string()))
        .build()
        .unwrap();
    let ids: Vec<String> = (0..25)
        .map(|i| displacing.track(chat_usage(i)).unwrap().to_string())
        .collect();
    let h = displacing.health();
    assert!(h.is_balanced(), "{h:?}");
    assert_eq!(
        (h.total_accepted, h.total_discarded, h.queue_size),
        (25, 15, 10)
    );
    assert_eq!(*discarded.lock(), ids[..15].to_vec(), "oldest first");
    assert!(displacing.close().is_err());
    api.set_stall(false);
}

// --- outage, close and restart -------------------------------------------------------------

#[test]
fn health_shows_the_spool_during_an_outage_and_close_leaves_the_rows_for_the_next_tracker() {
    let api = server();
    api.set_stall(true);
    let dir = TempDir::new();
    let first = fast(builder(&api, "chat-completions"))
        .spool(dir.spool())
        .max_batch_size(20)
        .close_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let probe = IdentityProbe::start(&first);
    let ids: HashSet<String> = (0..50)
        .map(|i| first.track(chat_usage(i)).unwrap().to_string())
        .collect();
    // The loop holds what it claimed in stalled requests; the rest waits in the file.
    api.wait_for_blocking(DEADLINE, |s| s.track_requests >= 1)
        .unwrap();
    wait_until("claimed rows in flight", || first.health().in_flight > 0);
    let h = first.health();
    probe.finish();
    assert!(h.is_balanced(), "{h:?}");
    assert_eq!(h.total_accepted, 50);
    assert_eq!(h.queue_size + h.in_flight, 50, "{h:?}");
    assert_eq!(h.spool_depth, Some(50));
    assert!(
        h.spool_oldest_age_secs.is_some_and(|age| age >= 0.0),
        "{h:?}"
    );
    let global = aicm::global_delivery_health().unwrap();
    assert!(global.spool_depth.is_some_and(|d| d >= 50), "{global:?}");

    // Close gives up after its timeout; the records stay in the spool, none claimed.
    match first.close() {
        Err(aicm::Error::Flush(e)) => assert_eq!(e.pending, 50),
        other => panic!("expected a flush error, got {other:?}"),
    }
    let observer = open_spool(&dir.spool());
    wait_until("the first tracker's rows to be handed back", || {
        let s = observer.stats().unwrap();
        s.queued == 50 && s.claimed == 0
    });
    drop(first);

    // The API recovers; a new tracker on the same file sees the rows left and its flush
    // covers them: when it returns, they are on the server.
    api.set_stall(false);
    let second = spooled(&api, &dir);
    second.flush(DEADLINE).unwrap();
    assert_eq!(api.stats().records_stored, 50);
    let h = second.health();
    assert_eq!(
        (h.spool_depth, h.spool_left_by_others),
        (Some(0), Some(0)),
        "{h:?}"
    );
    let stored: HashSet<String> = stored_ids(&api).into_iter().collect();
    assert_eq!(stored, ids);
    let h = second.health();
    assert!(h.is_balanced(), "{h:?}");
    assert_eq!(
        (h.total_accepted, h.total_sent),
        (50, 50),
        "adopted rows: {h:?}"
    );
    second.close().unwrap();
}

#[test]
fn a_given_response_id_is_stored_once_however_often_it_is_tracked() {
    let (api, dir) = (server(), TempDir::new());
    api.set_stall(true);
    let tracker = spooled(&api, &dir);
    let probe = IdentityProbe::start(&tracker);
    let backfill = || aicm::TrackOptions::new().response_id("backfill-7");
    // A backfill re-run: the same given id twice, around records with generated ids.
    let mut ids = vec![tracker.track(chat_usage(1)).unwrap().to_string()];
    for i in 0..2 {
        let id = tracker.track_with(chat_usage(10 + i), backfill()).unwrap();
        assert_eq!(id.to_string(), "backfill-7");
    }
    ids.push("backfill-7".to_owned());
    ids.push(tracker.track(chat_usage(2)).unwrap().to_string());
    let h = tracker.health();
    assert_eq!((h.total_accepted, h.spool_depth), (3, Some(3)), "{h:?}");

    api.set_stall(false);
    tracker.flush(DEADLINE).unwrap();
    let h = tracker.health();
    probe.finish();
    assert!(h.is_balanced(), "{h:?}");
    assert_eq!((h.total_accepted, h.total_sent), (3, 3), "{h:?}");
    let stats = api.stats();
    assert_eq!((stats.records_stored, stats.duplicates), (3, 0));
    let mut stored = stored_ids(&api);
    stored.sort();
    ids.sort();
    assert_eq!(stored, ids);
    // The first body is the one kept.
    let kept = api
        .records()
        .into_iter()
        .find(|r| r.response_id == "backfill-7")
        .unwrap();
    assert_eq!(serde_json::Value::Object(kept.usage), chat_usage(10));
    tracker.close().unwrap();
}

/// The spool trusts generated ids to be new (they stay out of its unique index): a caller that
/// hands one back as a given id gets a second row, which the server deduplicates.
#[test]
fn a_generated_id_given_back_is_delivered_twice_and_deduplicated_by_the_server() {
    let (api, dir) = (server(), TempDir::new());
    api.set_stall(true);
    let tracker = spooled(&api, &dir);
    let probe = IdentityProbe::start(&tracker);
    let id = tracker.track(chat_usage(1)).unwrap().to_string();
    let again = aicm::TrackOptions::new().response_id(id.clone());
    assert_eq!(
        tracker
            .track_with(chat_usage(1), again)
            .unwrap()
            .to_string(),
        id
    );
    assert_eq!(tracker.health().spool_depth, Some(2));

    api.set_stall(false);
    api.wait_for_blocking(DEADLINE, |s| s.records_stored + s.duplicates >= 2)
        .unwrap();
    wait_until("an empty spool and the rows counted", || {
        let h = tracker.health();
        h.spool_depth == Some(0) && h.in_flight == 0 && h.queue_size == 0
    });
    let h = tracker.health();
    probe.finish();
    assert!(h.is_balanced(), "{h:?}");
    assert_eq!((h.total_accepted, h.total_sent), (2, 2), "{h:?}");
    let stats = api.stats();
    assert_eq!((stats.records_stored, stats.duplicates), (1, 1));
    assert_eq!(stored_ids(&api), [id]);
    tracker.close().unwrap();
}

// --- contracts -------------------------------------------------------------------------------

/// The endpoint a contract's records reach on the local API.
fn endpoint(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Configs => "track-usage",
        _ => "track",
    }
}

/// Every record the API stored came through `protocol`'s endpoint; their ids are `ids`.
fn assert_delivered_through(
    api: &aicm_tests::LocalApiControl,
    protocol: Protocol,
    ids: &HashSet<String>,
) {
    let records = api.records();
    assert!(
        records.iter().all(|r| r.endpoint == endpoint(protocol)),
        "records outside /{}",
        endpoint(protocol)
    );
    let stored: HashSet<String> = records.into_iter().map(|r| r.response_id).collect();
    assert_eq!(&stored, ids);
}

/// Tracks `n` records with `tracker` while `api` stalls, then closes it: the rows stay in the
/// file, queued. Their response ids.
fn leave_rows(
    api: &aicm_tests::LocalApiThread,
    tracker: Tracker,
    spool: &Path,
    n: u64,
) -> HashSet<String> {
    api.set_stall(true);
    let ids: HashSet<String> = (0..n)
        .map(|i| tracker.track(chat_usage(i)).unwrap().to_string())
        .collect();
    assert!(tracker.close().is_err(), "the stalled API took nothing");
    drop(tracker);
    let observer = open_spool(spool);
    wait_until("the rows to be handed back", || {
        let s = observer.stats().unwrap();
        (s.queued, s.claimed) == (n, 0)
    });
    ids
}

/// A local API on `port` (the same API root as an earlier one there).
fn api_on(port: u16, protocol: aicm_tests::Protocol, key: &str) -> aicm_tests::LocalApiThread {
    aicm_tests::LocalApi::builder()
        .protocol(protocol)
        .api_key(key)
        .port(port)
        .start_in_thread()
        .unwrap()
}

/// Rows a Tracker stored in the shape of contract `written` (the API stalled, then closed
/// and gone) are delivered by a Tracker speaking `read`, against an API on the same root
/// serving only `read`'s endpoint: every row arrives there, reframed (the API refuses any
/// member of the other contract, so a stored record proves its shape).
fn a_spool_written_under_one_contract_is_delivered_under_the_other(
    written: Protocol,
    read: Protocol,
) {
    let dir = TempDir::new();
    let (ids, port, key) = {
        let api = server();
        let first = fast(builder(&api, "chat-completions").protocol(written))
            .spool(dir.spool())
            .close_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let ids = leave_rows(&api, first, &dir.spool(), 40);
        // Dropping the API cancels its stalled requests: nothing of `written` is stored.
        (ids, api.port(), api.api_key())
    };
    let only = match read {
        Protocol::Configs => aicm_tests::Protocol::Configs,
        _ => aicm_tests::Protocol::Track,
    };
    let api = api_on(port, only, &key);
    let second = fast(builder(&api, "chat-completions").protocol(read))
        .spool(dir.spool())
        .build()
        .unwrap();
    api.wait_for_blocking(DEADLINE, |s| s.records_stored >= 40)
        .unwrap();
    wait_until("an empty spool", || {
        let h = second.health();
        h.spool_depth == Some(0) && h.in_flight == 0
    });
    let h = second.health();
    assert_eq!((h.total_sent, h.total_failed), (40, 0), "{h:?}");
    assert_delivered_through(&api, read, &ids);
    second.close().unwrap();
}

#[test]
fn a_config_based_spool_is_delivered_by_a_tracker_speaking_todays_contract() {
    a_spool_written_under_one_contract_is_delivered_under_the_other(
        Protocol::Configs,
        Protocol::Track,
    );
}

#[test]
fn a_spool_of_todays_contract_is_delivered_by_a_config_based_tracker() {
    a_spool_written_under_one_contract_is_delivered_under_the_other(
        Protocol::Track,
        Protocol::Configs,
    );
}

// --- accounts --------------------------------------------------------------------------------

/// Rows stay bound to the API root and key that stored them: a Tracker with another key on
/// the same root and file sends only its own records and leaves the others untouched (counted
/// per account); a Tracker with the first key delivers them.
#[test]
fn leftover_rows_are_delivered_only_with_the_key_that_stored_them() {
    let dir = TempDir::new();
    let both = aicm_tests::Protocol::Both;
    let (a_ids, port) = {
        let api = aicm_tests::LocalApi::builder()
            .api_key("sk-account-a")
            .start_in_thread()
            .unwrap();
        let first = fast(builder(&api, "chat-completions"))
            .spool(dir.spool())
            .close_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        (leave_rows(&api, first, &dir.spool(), 30), api.port())
    };

    // Key B on the same root: its own records go, A's stay queued in the file.
    let api = api_on(port, both, "sk-account-b");
    let b = spooled(&api, &dir);
    let b_ids: HashSet<String> = (100..105)
        .map(|i| b.track(chat_usage(i)).unwrap().to_string())
        .collect();
    b.flush(DEADLINE).unwrap();
    let h = b.health();
    assert_eq!((h.total_accepted, h.total_sent), (5, 5), "{h:?}");
    assert_eq!(
        h.spool_depth,
        Some(30),
        "A's rows are still in the file: {h:?}"
    );
    let stored: HashSet<String> = stored_ids(&api).into_iter().collect();
    assert_eq!(stored, b_ids, "nothing of A's was sent with B's key");
    let observer = open_spool(&dir.spool());
    let s = observer.stats().unwrap();
    assert_eq!((s.queued, s.claimed, s.failed), (30, 0, 0));
    let accounts = observer.accounts().unwrap();
    assert_eq!(accounts.len(), 1, "B's rows are gone: {accounts:?}");
    assert_eq!((accounts[0].queued, accounts[0].account.len()), (30, 32));
    b.close().unwrap();
    drop(b);
    drop(api);

    // Key A again: every leftover row is delivered.
    let api = api_on(port, both, "sk-account-a");
    let a = spooled(&api, &dir);
    api.wait_for_blocking(DEADLINE, |s| s.records_stored >= 30)
        .unwrap();
    wait_until("an empty spool", || a.health().spool_depth == Some(0));
    let stored: HashSet<String> = stored_ids(&api).into_iter().collect();
    assert_eq!(stored, a_ids);
    assert!(observer.accounts().unwrap().is_empty());
    a.close().unwrap();
}

// --- bad files and settings ----------------------------------------------------------------

#[test]
fn a_corrupt_spool_file_is_an_error_at_build_naming_the_path() {
    let api = server();
    let dir = TempDir::new();
    let path = dir.spool();
    std::fs::write(&path, "this is not an SQLite database\n".repeat(200)).unwrap();
    let err = builder(&api, "chat-completions")
        .spool(&path)
        .build()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, aicm::Error::Spool { path: p, .. } if *p == path || p.ends_with("usage.spool")),
        "{err:?}"
    );
    assert!(
        text.contains(&path.display().to_string()) || text.contains("usage.spool"),
        "{text}"
    );
    assert!(text.contains("not an SQLite database"), "{text}");
    assert!(!text.contains(&api.api_key()), "{text}");
    // The file is left as it was: never replaced by an empty spool.
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .starts_with("this is not")
    );
}

#[test]
fn one_file_serves_one_account_in_a_process() {
    let api = server();
    let other = server();
    let dir = TempDir::new();
    let first = builder(&api, "chat-completions")
        .spool(dir.spool())
        .build()
        .unwrap();
    let err = builder(&other, "chat-completions")
        .api_key("sk-another-account")
        .spool(dir.spool())
        .build()
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, aicm::Error::Spool { .. }), "{err:?}");
    assert!(text.contains("another API root or key"), "{text}");
    assert!(!text.contains("sk-another-account"), "{text}");
    first.close().unwrap();
}

// --- child processes -------------------------------------------------------------------------

/// A command running child test `test` of this binary in `role`, with `envs`.
fn child(test: &str, role: &str, envs: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        &format!("spool_tracker::{test}"),
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env(ROLE, role)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

/// The environment a child Tracker reads its settings from: the spool path comes from
/// `AICM_SPOOL_PATH`, not the builder.
fn child_env(api: &aicm_tests::LocalApiControl, spool: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("AICM_API_KEY", api.api_key()),
        ("AICM_API_BASE", api.api_base()),
        ("AICM_INI_PATH", support::temp_ini().display().to_string()),
        ("AICM_SPOOL_PATH", spool.display().to_string()),
    ]
}

fn is_role(name: &str) -> bool {
    std::env::var(ROLE).is_ok_and(|r| r == name)
}

/// Lines of a child's stdout until `prefix` (exclusive) or the end.
fn read_ids(out: &mut BufReader<ChildStdout>, stop_at: Option<&str>) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        let mut line = String::new();
        match out.read_line(&mut line) {
            Ok(0) | Err(_) => return ids,
            Ok(_) => {}
        }
        // A line cut off by SIGKILL has no newline: it was never fully reported.
        if !line.ends_with('\n') {
            return ids;
        }
        let line = line.trim_end();
        if stop_at.is_some_and(|p| line.starts_with(p)) {
            return ids;
        }
        if let Some(id) = line.strip_prefix("ID ") {
            ids.push(id.to_owned());
        }
    }
}

fn random_below(n: u64) -> u64 {
    u64::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..8].try_into().unwrap()) % n
}

/// Child: tracks from four threads into the spool named by `AICM_SPOOL_PATH` during an
/// outage (answered 503, then stalled), printing each response id only after `track` returned
/// `Ok`, until killed.
#[test]
fn crash_child() {
    if !is_role("crash") {
        return;
    }
    // A long timeout, backoff and lease: what the killed process holds or put off, only
    // the new process's recognising it gone brings back within seconds.
    let tracker = Tracker::builder("chat-completions", "openai::gpt-4o-mini")
        .timeout(Duration::from_secs(120))
        .max_retries(u32::MAX)
        .initial_backoff(Duration::from_secs(120))
        .max_backoff(Duration::from_secs(300))
        .batch_interval(Duration::from_millis(5))
        .max_batch_size(50)
        .build()
        .unwrap();
    let out = Arc::new(Mutex::new(std::io::stdout()));
    println!("READY");
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (tracker, out) = (&tracker, out.clone());
            s.spawn(move || {
                for i in 0.. {
                    let id = tracker.track(chat_usage(t * 1_000_000 + i)).unwrap();
                    let mut out = out.lock();
                    writeln!(out, "ID {id}").unwrap();
                    out.flush().unwrap();
                }
            });
        }
    });
}

fn a_killed_process_loses_no_record_whose_track_returned_ok(protocol: Protocol) {
    let api = server();
    // The outage: every request answered 503 (rows released for a retry minutes away) ...
    api.fail_next(u32::MAX, 503);
    let dir = TempDir::new();
    let mut env = child_env(&api, &dir.spool());
    env.push(("AICM_PROTOCOL", protocol.to_string()));
    let mut killed = child("crash_child", "crash", &env).spawn().unwrap();
    let mut out = BufReader::new(killed.stdout.take().unwrap());
    // The test harness prints its own lines first.
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "child ended before READY"
        );
        if line.trim() == "READY" {
            break;
        }
    }
    // Kill at a random point: after 50 to 3,000 acknowledged records, once the child has rows
    // waiting for a retry and a batch claimed in a request that hangs.
    let kill_after = 50 + random_below(2_950) as usize;
    let mut printed = Vec::new();
    let mut read_until = |n: usize, printed: &mut Vec<String>| {
        while printed.len() < n {
            let mut line = String::new();
            assert!(out.read_line(&mut line).unwrap() > 0, "child ended early");
            if let Some(id) = line.trim_end().strip_prefix("ID ") {
                printed.push(id.to_owned());
            }
        }
    };
    read_until(kill_after / 2, &mut printed);
    api.wait_for_blocking(DEADLINE, |s| s.track_requests >= 1)
        .unwrap();
    // ... then stalled: the next request hangs with its batch claimed.
    api.set_stall(true);
    api.fail_next(0, 503);
    let observer = open_spool(&dir.spool());
    wait_until("a batch claimed in a hanging request", || {
        observer.stats().unwrap().claimed > 0
    });
    read_until(kill_after, &mut printed);
    killed.kill().unwrap(); // SIGKILL
    let status = killed.wait().unwrap();
    assert!(!status.success());
    printed.extend(read_ids(&mut out, None));
    let left = observer.stats().unwrap();
    println!(
        "killed after {} acknowledged records; the file holds {} queued and {} claimed",
        printed.len(),
        left.queued,
        left.claimed
    );
    assert!(left.claimed > 0, "{left:?}");

    // The API is back; a new process (here: a Tracker in this one) takes over the file: its
    // flush returns once every row the dead process left is on the server, including the
    // rows it held claimed (lease: 5 minutes) and those it put off for minutes.
    api.clear_faults();
    let started = Instant::now();
    // The start-up warning about the earlier process's records is logged where `build` runs.
    let log = LogCapture::default();
    let recovering = tracing::subscriber::with_default(log.subscriber(), || {
        fast(builder(&api, "chat-completions").protocol(protocol))
            .spool(dir.spool())
            .build()
            .unwrap()
    });
    let warning = log.text();
    assert!(
        warning.contains("left by an earlier process") && warning.contains("WARN"),
        "{warning}"
    );
    assert!(
        warning.contains(&format!("rows={}", left.queued + left.claimed)),
        "{warning}"
    );
    recovering.flush(DEADLINE).unwrap();
    let took = started.elapsed();
    println!("the new process delivered the backlog in {took:?}");
    let stored = stored_ids(&api);
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(
        unique.len(),
        stored.len(),
        "the server stores each response_id once"
    );
    let missing: Vec<&String> = printed.iter().filter(|id| !unique.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "lost {} acknowledged records: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
    // Records stored but not printed were committed just before the kill; re-sent rows
    // (the dead process's requests that reached the server) come back as duplicates of the
    // same response_id only.
    let stats = api.stats();
    assert_eq!(stats.records_stored as usize, stored.len());
    assert!(stored.len() >= printed.len());
    let h = recovering.health();
    assert!(h.is_balanced(), "{h:?}");
    assert_eq!(h.total_failed, 0, "{h:?}");
    assert_eq!(
        (h.spool_depth, h.spool_held_by_others),
        (Some(0), Some(0)),
        "{h:?}"
    );
    let stored: HashSet<String> = stored.into_iter().collect();
    assert_delivered_through(&api, protocol, &stored);
    recovering.close().unwrap();
}

/// Child: tracks 50 records with the API stalled (its request hangs with the batch claimed),
/// prints their ids and `HELD`, then flushes and closes once the API answers.
#[test]
fn holder_child() {
    if !is_role("holder") {
        return;
    }
    let tracker = Tracker::builder("chat-completions", "openai::gpt-4o-mini")
        .timeout(Duration::from_secs(120))
        .batch_interval(Duration::from_millis(5))
        .max_batch_size(100)
        .max_concurrent_requests(4)
        .spool_options(spool_options(|o| {
            o.heartbeat_interval = Duration::from_millis(100);
        }))
        .build()
        .unwrap();
    // One commit, so at most two batches (one claimed as the loop started) hold them all.
    for id in tracker.track_many((0..50).map(chat_usage)) {
        println!("ID {}", id.unwrap());
    }
    println!("HELD");
    tracker.flush(DEADLINE).unwrap();
    let h = tracker.health();
    tracker.close().unwrap();
    println!("DONE {}", h.total_sent);
}

/// A live process's claims are never taken over: while it holds 50 rows in a hanging
/// request, another process on the file (checking for gone owners every 100 ms) leaves them
/// alone, and its flush reports them as pending, held by others; once the API answers, each
/// record is stored once.
#[test]
fn a_live_holders_claims_are_never_taken_over() {
    let api = server();
    api.set_stall(true);
    let dir = TempDir::new();
    let env = child_env(&api, &dir.spool());
    let mut holder = child("holder_child", "holder", &env).spawn().unwrap();
    let mut out = BufReader::new(holder.stdout.take().unwrap());
    let ids = read_ids(&mut out, Some("HELD"));
    assert_eq!(ids.len(), 50);
    let observer = open_spool(&dir.spool());
    wait_until("the holder's batch claimed", || {
        observer.stats().unwrap().claimed == 50
    });
    let other = spooled(&api, &dir);
    let err = other.flush(Duration::from_secs(2)).unwrap_err();
    assert_eq!(
        (err.pending, err.pending_here, err.pending_others),
        (50, 0, 50),
        "{err}"
    );
    assert!(
        err.to_string().contains("50 of them in the spool file"),
        "{err}"
    );
    let h = other.health();
    assert_eq!(
        (
            h.total_accepted,
            h.in_flight,
            h.spool_depth,
            h.spool_left_by_others,
            h.spool_held_by_others
        ),
        (0, 0, Some(50), Some(50), Some(50)),
        "{h:?}"
    );
    assert_eq!(observer.stats().unwrap().claimed, 50);
    api.set_stall(false);
    assert_eq!(read_ids(&mut out, Some("DONE")), Vec::<String>::new());
    assert!(holder.wait().unwrap().success());
    other.flush(DEADLINE).unwrap();
    let stats = api.stats();
    assert_eq!(
        (stats.records_stored, stats.duplicates),
        (50, 0),
        "{stats:?}"
    );
    let stored: HashSet<String> = stored_ids(&api).into_iter().collect();
    assert_eq!(stored, ids.into_iter().collect());
    other.close().unwrap();
}

/// Child: tracks 300 records from two threads into the shared spool with the API up, prints
/// their ids, flushes (which also waits for its rows another process delivered) and closes.
#[test]
fn live_child() {
    if !is_role("live") {
        return;
    }
    let tracker = Tracker::builder("chat-completions", "openai::gpt-4o-mini")
        .batch_interval(Duration::from_millis(5))
        .max_batch_size(20)
        .build()
        .unwrap();
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2u64)
            .map(|t| {
                let tracker = &tracker;
                s.spawn(move || {
                    (0..150)
                        .map(|i| tracker.track(chat_usage(t * 1000 + i)).unwrap().to_string())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    for id in &ids {
        println!("ID {id}");
    }
    tracker.flush(DEADLINE).unwrap();
    let h = tracker.health();
    assert!(h.is_balanced(), "{h:?}");
    tracker.close().unwrap();
    println!("DONE {}", h.total_sent);
}

fn two_live_processes_sharing_a_spool_store_each_record_once(protocol: Protocol) {
    let api = server();
    let dir = TempDir::new();
    let mut env = child_env(&api, &dir.spool());
    env.push(("AICM_PROTOCOL", protocol.to_string()));
    let mut children: Vec<Child> = (0..2)
        .map(|_| child("live_child", "live", &env).spawn().unwrap())
        .collect();
    let mut printed = Vec::new();
    for c in &mut children {
        let mut out = BufReader::new(c.stdout.take().unwrap());
        printed.extend(read_ids(&mut out, Some("DONE")));
        assert!(c.wait().unwrap().success(), "a child failed");
    }
    assert_eq!(printed.len(), 600);
    let stats = api.stats();
    assert_eq!(
        (stats.records_stored, stats.duplicates),
        (600, 0),
        "{stats:?}"
    );
    let stored: HashSet<String> = stored_ids(&api).into_iter().collect();
    let printed: HashSet<String> = printed.into_iter().collect();
    assert_eq!(stored, printed);
    assert_delivered_through(&api, protocol, &printed);
    assert_eq!(open_spool(&dir.spool()).stats().unwrap().depth(), 0);
}

/// Child: builds a spooled Tracker and prints the error, if any.
#[test]
fn settings_child() {
    if !is_role("settings") {
        return;
    }
    match Tracker::builder("chat-completions", "openai::gpt-4o-mini").build() {
        Ok(t) => {
            println!("OK");
            let _ = t.close();
        }
        Err(e) => println!("ERR {e}"),
    }
}

#[test]
fn an_invalid_durability_in_the_environment_is_a_clear_error() {
    let api = server();
    let dir = TempDir::new();
    let mut env = child_env(&api, &dir.spool());
    env.push(("AICM_SPOOL_DURABILITY", "sometimes".to_owned()));
    let output = child("settings_child", "settings", &env).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains(
            "ERR invalid setting AICM_SPOOL_DURABILITY: `sometimes` is not one of process, fsync"
        ),
        "{text}"
    );
    assert!(
        !dir.spool().exists(),
        "no spool is created for a refused setting"
    );
    // A valid one (case-insensitive) builds.
    env.pop();
    env.push(("AICM_SPOOL_DURABILITY", "FSYNC".to_owned()));
    let output = child("settings_child", "settings", &env).output().unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("OK"));
    assert!(dir.spool().exists());
}

under_both_contracts! {
    records_from_several_threads_are_stored_durably_and_delivered_once,
    a_killed_process_loses_no_record_whose_track_returned_ok,
    two_live_processes_sharing_a_spool_store_each_record_once,
}

/// Collects what `tracing` logs under [`LogCapture::subscriber`], as text.
#[derive(Clone, Default)]
struct LogCapture(Arc<parking_lot::Mutex<Vec<u8>>>);

impl LogCapture {
    fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
        tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .finish()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;

    fn make_writer(&'a self) -> LogCapture {
        self.clone()
    }
}
