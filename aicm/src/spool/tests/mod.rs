//! Spool tests: the delivery operations, bounds, group commit, refusing bad files, and several
//! processes (the test binary re-runs itself as a child, its role chosen by environment).

mod bounds;
mod fresh_rows;
mod group_commit;
mod layout;
mod open_errors;
mod ops;
mod processes;
mod takeover;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use super::clock::Clock;
use super::{Spool, SpoolOptions};

/// A fresh directory and a spool path inside it.
fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.spool");
    (dir, path)
}

fn options(change: impl FnOnce(&mut SpoolOptions)) -> SpoolOptions {
    let mut o = SpoolOptions::default();
    change(&mut o);
    o
}

fn open(path: &Path, change: impl FnOnce(&mut SpoolOptions)) -> Spool {
    Spool::open(path, options(change)).unwrap()
}

/// A manual clock, in milliseconds since the epoch.
#[derive(Clone)]
struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    fn new() -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(1_754_000_000_000)))
    }
    fn advance(&self, d: Duration) {
        self.0.fetch_add(d.as_millis() as i64, Ordering::SeqCst);
    }
    fn now(&self) -> std::time::SystemTime {
        super::clock::from_ms(self.0.load(Ordering::SeqCst))
    }
}

fn open_at(path: &Path, clock: &ManualClock, change: impl FnOnce(&mut SpoolOptions)) -> Spool {
    Spool::open_with_clock(path, options(change), Clock::Manual(clock.0.clone())).unwrap()
}

/// A record body like the wire JSON, distinct per `i`.
fn body(i: usize) -> Vec<u8> {
    format!(
        "{{\"config_id\":\"cfg\",\"service_id\":\"svc\",\"timestamp\":\"2025-08-07T20:41:59.566193+00:00\",\"response_id\":\"r{i}\",\"usage\":{{\"input_tokens\":{i}}}}}"
    )
    .into_bytes()
}

fn rid(i: usize) -> String {
    format!("r{i}")
}

/// Appends the records `body(i)` / `rid(i)` of config "cfg" for each `i`; their row ids.
fn append_rows(spool: &Spool, range: std::ops::Range<usize>) -> Vec<i64> {
    range
        .map(|i| spool.append(body(i), &rid(i), "cfg").unwrap().id)
        .collect()
}

/// Polls `cond` until it holds or 20 s pass.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

/// The counts the triggers keep, checked against the rows themselves.
fn assert_meta_matches_rows(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let meta = super::store::meta(&conn).unwrap();
    let count = |state: &str| -> u64 {
        conn.query_row(
            "SELECT count(*) FROM spool WHERE state = ?1",
            [state],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as u64
    };
    let bytes = |failed: bool| -> u64 {
        conn.query_row(
            "SELECT coalesce(sum(length(body)), 0) FROM spool WHERE (state = 'failed') = ?1",
            [failed],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as u64
    };
    assert_eq!(meta.queued, count("queued"), "queued");
    assert_eq!(meta.claimed, count("claimed"), "claimed");
    assert_eq!(meta.failed, count("failed"), "failed");
    assert_eq!(meta.live_bytes, bytes(false), "live bytes");
    assert_eq!(meta.failed_bytes, bytes(true), "failed bytes");
}
