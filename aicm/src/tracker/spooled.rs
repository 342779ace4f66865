//! `track`, `flush` and `health` of a Tracker with a durable spool (feature `spool`).
//!
//! A record is validated exactly as without a spool (every error found in `track`), encoded
//! to its wire JSON once, here on the caller, and appended to the spool; `track` returns `Ok`
//! only once the append is durable. Concurrent callers share the spool's group commits, so
//! the cost of a commit is spread over everyone waiting for it. The delivery loop then sends
//! the stored bytes as they are.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{TrackOptions, Tracker};
use crate::delivery::health::DeliveryHealth;
use crate::delivery::options::{DeliveryOptions, OnFull};
use crate::delivery::record::{QueuedRecord, ResponseId};
use crate::delivery::spooled::{self, Account, SpoolDriver, SpoolShared, key_of};
use crate::delivery::worker::Worker;
use crate::spool::{Appended, Durability, IdSource, SpoolError, SpoolOptions};
use crate::{Error, FlushError, IntoUsage, TrackError};

/// Added to the request timeout for the shortest lease: a request that runs its full timeout
/// still acknowledges its rows before another process may take them.
const LEASE_MARGIN: Duration = Duration::from_secs(1);

/// The resolved spool settings of a builder.
pub(super) struct Setup {
    path: PathBuf,
    options: SpoolOptions,
}

impl Setup {
    /// Durability: builder, else `AICM_SPOOL_DURABILITY`, else `process`. Bounds from the
    /// builder's `SpoolOptions` (or their defaults), with the Tracker's full policy.
    pub fn resolve(
        path: PathBuf,
        options: Option<SpoolOptions>,
        durability: Option<Durability>,
        delivery: &DeliveryOptions,
    ) -> Result<Setup, Error> {
        let mut options = options.unwrap_or_default();
        options.durability = match durability {
            Some(d) => d,
            None => durability_from(env_text("AICM_SPOOL_DURABILITY")?)?.unwrap_or_default(),
        };
        options.on_full = delivery.on_full;
        options.block_timeout = delivery.block_timeout;
        Ok(Setup { path, options })
    }

    /// Opens the file (or joins this process's handle on it) for the account.
    pub fn acquire(&self, api_root: &str, api_key: &str) -> Result<Arc<SpoolShared>, Error> {
        spooled::acquire(
            &self.path,
            &self.options,
            Account {
                api_root: api_root.to_owned(),
                api_key: api_key.to_owned(),
            },
        )
    }

    /// The lease the delivery loop claims with: the configured one, but never so short that a
    /// request still running could lose its rows to another process.
    pub fn lease(&self, timeout: Duration) -> Duration {
        self.options.lease.max(timeout.saturating_add(LEASE_MARGIN))
    }
}

fn env_text(name: &'static str) -> Result<Option<String>, Error> {
    match std::env::var(name) {
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::InvalidSetting {
            name,
            message: "is not valid UTF-8".to_owned(),
        }),
    }
}

/// `AICM_SPOOL_DURABILITY`'s value; empty counts as unset, anything else invalid names the
/// valid spellings.
fn durability_from(value: Option<String>) -> Result<Option<Durability>, Error> {
    match value {
        Some(v) if !v.trim().is_empty() => v.parse().map(Some).map_err(|_| Error::InvalidSetting {
            name: "AICM_SPOOL_DURABILITY",
            message: format!("`{v}` is not one of {}", Durability::VARIANTS.join(", ")),
        }),
        _ => Ok(None),
    }
}

/// A record ready for the spool: its wire JSON and identity.
struct Encoded {
    body: Vec<u8>,
    response_id: String,
    source: IdSource,
    key: spooled::LedgerKey,
}

fn encode(contract: crate::delivery::wire::Contract, record: &QueuedRecord) -> Encoded {
    let mut body = Vec::with_capacity(384);
    contract.write_record(&record.frame(), &mut body);
    let response_id = record.response_id.to_string();
    let key = key_of(&response_id);
    Encoded {
        body,
        response_id,
        source: record.response_id.source(),
        key,
    }
}

pub(super) fn track(
    tracker: &Tracker,
    driver: &SpoolDriver,
    record: QueuedRecord,
) -> Result<ResponseId, TrackError> {
    let shared = &driver.shared;
    let encoded = encode(tracker.inner.contract, &record);
    refuse_block_on_worker_thread(tracker, shared, encoded.body.len())?;
    let new = shared.ledger.lock().register(encoded.key);
    let result = shared.spool.append_from(
        encoded.body,
        &encoded.response_id,
        encoded.source,
        &record.origin.config_id,
    );
    settle_append(shared, encoded.key, new, result)?;
    Ok(record.response_id)
}

pub(super) async fn track_async(
    tracker: &Tracker,
    driver: &SpoolDriver,
    record: QueuedRecord,
) -> Result<ResponseId, TrackError> {
    let shared = &driver.shared;
    let encoded = encode(tracker.inner.contract, &record);
    let new = shared.ledger.lock().register(encoded.key);
    // Submitted now; awaited without blocking the executor.
    let append = shared.spool.append_from_async(
        encoded.body,
        &encoded.response_id,
        encoded.source,
        &record.origin.config_id,
    );
    // If this future is dropped before the answer, the record is no longer this process's
    // to count (it may still be stored; then it is delivered as any other row).
    let mut pending = PendingAppend {
        shared,
        key: encoded.key,
        armed: new,
    };
    let result = append.await;
    pending.armed = false;
    settle_append(shared, encoded.key, new, result)?;
    Ok(record.response_id)
}

pub(super) fn track_many<U: IntoUsage>(
    tracker: &Tracker,
    driver: &SpoolDriver,
    usages: impl IntoIterator<Item = U>,
) -> Vec<Result<ResponseId, TrackError>> {
    let shared = &driver.shared;
    let mut results: Vec<Option<Result<ResponseId, TrackError>>> = Vec::new();
    let mut appends = Vec::new();
    let mut waiting = Vec::new();
    for usage in usages {
        match tracker.prepare(usage, TrackOptions::new()) {
            Ok(record) => {
                let encoded = encode(tracker.inner.contract, &record);
                let new = shared.ledger.lock().register(encoded.key);
                appends.push((
                    encoded.body,
                    encoded.response_id,
                    encoded.source,
                    record.origin.config_id.clone(),
                ));
                waiting.push((results.len(), encoded.key, new, record.response_id));
                results.push(None);
            }
            Err(e) => results.push(Some(Err(e))),
        }
    }
    if !appends.is_empty()
        && let Err(e) = refuse_block_on_worker_thread(tracker, shared, 0)
    {
        for (index, key, new, _) in waiting {
            if new {
                shared.ledger.lock().abandon(key);
            }
            results[index] = Some(Err(e.clone()));
        }
        return results.into_iter().flatten().collect();
    }
    let outcomes = shared.spool.append_many(appends);
    for ((index, key, new, response_id), outcome) in waiting.into_iter().zip(outcomes) {
        results[index] = Some(settle_append(shared, key, new, outcome).map(|()| response_id));
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(TrackError::Closed)))
        .collect()
}

/// Books the outcome of an append in the ledger: a durable row is this process's to count
/// (and wakes the loop when a batch starts or fills), a refused one is not.
fn settle_append(
    shared: &SpoolShared,
    key: spooled::LedgerKey,
    new: bool,
    result: Result<Appended, SpoolError>,
) -> Result<(), TrackError> {
    match result {
        Ok(appended) => {
            if new {
                let fresh = shared
                    .ledger
                    .lock()
                    .confirm(key, appended.id, Instant::now());
                if fresh == 1 || fresh == shared.wake_at_fresh() {
                    shared.work.notify_waiters();
                }
            }
            if !appended.displaced.is_empty() {
                spooled::report_displaced(shared, appended.displaced);
            }
            Ok(())
        }
        Err(e) => {
            if new {
                shared.ledger.lock().abandon(key);
                shared.notify_settled();
            }
            Err(track_error(shared, e))
        }
    }
}

/// Gives up the ledger entry of an async append whose caller stopped waiting.
struct PendingAppend<'a> {
    shared: &'a SpoolShared,
    key: spooled::LedgerKey,
    armed: bool,
}

impl Drop for PendingAppend<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.shared.ledger.lock().abandon(self.key);
            self.shared.notify_settled();
        }
    }
}

/// A full spool is the queue being full; the rest names the spool's problem.
fn track_error(shared: &SpoolShared, e: SpoolError) -> TrackError {
    match e {
        SpoolError::Full { .. } | SpoolError::BlockTimedOut { .. } => TrackError::QueueFull {
            capacity: capacity(shared),
        },
        SpoolError::Closed { .. } => TrackError::Closed,
        other => TrackError::Spool {
            message: other.to_string(),
        },
    }
}

fn capacity(shared: &SpoolShared) -> usize {
    shared
        .spool
        .options()
        .max_rows
        .map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX))
}

/// Inside a delivery callback (on the worker's thread), waiting for room under
/// `OnFull::Block` would wait for the very loop that thread runs: refuse instead when the
/// spool is full, as the memory queue does.
fn refuse_block_on_worker_thread(
    tracker: &Tracker,
    shared: &SpoolShared,
    size: usize,
) -> Result<(), TrackError> {
    if tracker.inner.on_full != OnFull::Block || !tracker.inner.worker.is_current_thread() {
        return Ok(());
    }
    let Ok(stats) = shared.spool.stats() else {
        return Ok(());
    };
    let rows_full = stats.max_rows.is_some_and(|max| stats.depth() >= max);
    let bytes_full = stats
        .max_bytes
        .is_some_and(|max| stats.live_bytes.saturating_add(size as u64) > max);
    if rows_full || bytes_full {
        return Err(TrackError::QueueFull {
            capacity: capacity(shared),
        });
    }
    Ok(())
}

/// Waits for the spool's rows and the worker's direct (`deliver_now`) records.
pub(super) fn flush(
    worker: &Worker,
    driver: &SpoolDriver,
    timeout: Duration,
) -> Result<(), FlushError> {
    let start = Instant::now();
    let spooled = crate::delivery::signal::run_blocking(
        driver
            .shared
            .flush(crate::delivery::signal::How::Block, timeout),
    );
    let memory = crate::delivery::signal::run_blocking(worker.queue.flush(
        crate::delivery::signal::How::Block,
        timeout.saturating_sub(start.elapsed()),
    ));
    combine(spooled, memory, timeout)
}

/// [`flush`] without blocking the executor.
pub(super) async fn flush_async(
    worker: &Worker,
    driver: &SpoolDriver,
    timeout: Duration,
) -> Result<(), FlushError> {
    let start = Instant::now();
    let spooled = driver
        .shared
        .flush(crate::delivery::signal::How::Await, timeout)
        .await;
    let memory = worker
        .queue
        .flush(
            crate::delivery::signal::How::Await,
            timeout.saturating_sub(start.elapsed()),
        )
        .await;
    combine(spooled, memory, timeout)
}

fn combine(
    a: Result<(), FlushError>,
    b: Result<(), FlushError>,
    timeout: Duration,
) -> Result<(), FlushError> {
    match (a, b) {
        (Ok(()), Ok(())) => Ok(()),
        (a, b) => {
            let (a, b) = (a.err(), b.err());
            let sum =
                |f: fn(&FlushError) -> usize| a.as_ref().map_or(0, f) + b.as_ref().map_or(0, f);
            Err(FlushError {
                pending: sum(|e| e.pending),
                pending_here: sum(|e| e.pending_here),
                pending_others: sum(|e| e.pending_others),
                timeout,
            })
        }
    }
}

/// The spool's figures plus the worker's direct (`deliver_now`) records: each part balances,
/// so their sum does.
pub(super) fn health(worker: &Worker, driver: &SpoolDriver) -> DeliveryHealth {
    let mut h = driver.shared.health();
    let memory = worker.queue.health();
    h.worker_alive = memory.worker_alive;
    h.queue_size += memory.queue_size;
    h.in_flight += memory.in_flight;
    h.total_accepted += memory.total_accepted;
    h.total_sent += memory.total_sent;
    h.total_failed += memory.total_failed;
    h.total_discarded += memory.total_discarded;
    h.batches_sent += memory.batches_sent;
    h.retries += memory.retries;
    if h.last_error.is_none() {
        h.last_error = memory.last_error;
    }
    if memory.last_success_at > h.last_success_at {
        h.last_success_at = memory.last_success_at;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durability_comes_from_the_environment_value_or_is_unset() {
        assert_eq!(durability_from(None).unwrap(), None);
        assert_eq!(durability_from(Some(" ".into())).unwrap(), None);
        assert_eq!(
            durability_from(Some("FSYNC".into())).unwrap(),
            Some(Durability::Fsync)
        );
        assert_eq!(
            durability_from(Some("process".into())).unwrap(),
            Some(Durability::Process)
        );
        let err = durability_from(Some("sometimes".into()))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid setting AICM_SPOOL_DURABILITY: `sometimes` is not one of process, fsync"
        );
    }

    #[test]
    fn the_lease_outlasts_a_request() {
        let options = SpoolOptions {
            lease: Duration::from_millis(100),
            ..SpoolOptions::default()
        };
        let setup = Setup {
            path: PathBuf::from("x"),
            options,
        };
        assert_eq!(
            setup.lease(Duration::from_secs(30)),
            Duration::from_secs(31)
        );
        assert_eq!(
            setup.lease(Duration::from_millis(10)),
            Duration::from_millis(1010)
        );
    }

    #[test]
    fn flush_errors_add_their_pending_counts() {
        let t = Duration::from_secs(1);
        let e = |here, others| {
            Err(FlushError {
                pending: here + others,
                pending_here: here,
                pending_others: others,
                timeout: t,
            })
        };
        assert_eq!(combine(Ok(()), Ok(()), t), Ok(()));
        assert_eq!(combine(e(3, 1), Ok(()), t), e(3, 1));
        assert_eq!(combine(e(3, 4), e(2, 0), t), e(5, 4));
    }
}
