//! [`SpoolRows`]: a spool's rows as the delivery loop has them, for tests and benchmarks
//! (features `testing` and `spool`).

use std::time::{Duration, SystemTime};

use crate::ResponseId;
use crate::spool::{self, IdSource, Spool, SpoolError};

/// Direct access to the rows of a [`Spool`] as a spooled Tracker and its delivery loop handle
/// them: append a record body, claim rows for an owner, then acknowledge, fail or release
/// them, and read the writer's commit counts.
///
/// It exists to build fixtures and measure the store: a file with failed, claimed and queued
/// rows for the tests of a tool that reads spools (the `aicm-spool` CLI's own tests use it),
/// rows that another thread keeps appending and delivering while such a tool runs, or many
/// threads appending to measure the group commit. An application does not need it: a
/// spooled [`Tracker`](crate::Tracker) appends and delivers by itself, and an operator uses
/// [`Spool::stats`], [`Spool::list_failed`], [`Spool::requeue`] and [`Spool::purge`]. A row
/// acknowledged here is deleted without being sent; one failed here waits for an operator.
///
/// * **Accounts.** A [`Spool::open`] handle belongs to no account: the rows appended through
///   it carry none, and a claim takes only such rows, never the rows a Tracker stored (those
///   carry its API account, see [`spool::AccountRows`]).
/// * **Owners** are names you choose (`"app"`). An owner here is not registered as a running
///   delivery loop: the rows it claimed stay claimed until their lease ends, then any claim
///   may take them over. `ack`, `fail` and `release` touch only the rows the owner still
///   holds, and return how many that was.
/// * **Blocking.** Every call returns once the spool's writer has committed it (as a spooled
///   `track` does), so it may block the calling thread: call it from a plain thread or
///   `spawn_blocking`, not on an async executor's thread.
///
/// ```
/// use std::time::Duration;
///
/// use aicm::spool::{Spool, SpoolOptions};
/// use aicm::testing::SpoolRows;
///
/// let dir = tempfile::tempdir()?;
/// let spool = Spool::open(dir.path().join("usage.spool"), SpoolOptions::default())?;
/// let rows = SpoolRows::new(&spool);
/// for i in 0..3 {
///     rows.append(format!(r#"{{"response_id":"r{i}"}}"#), &format!("r{i}"), "cfg")?;
/// }
/// assert!(rows.append(r#"{"response_id":"r0"}"#, "r0", "cfg")?.duplicate);
///
/// let claimed = rows.claim("app", 2, Duration::from_secs(600))?;
/// assert_eq!(claimed[0].response_id, "r0");
/// assert_eq!(claimed[0].attempts, 0);
/// assert_eq!(rows.fail("app", &[claimed[0].id], Some(422), "usage.tokens: expected int")?, 1);
/// assert_eq!(rows.ack("app", &[claimed[1].id])?, 1);
///
/// let stats = spool.stats()?;
/// assert_eq!((stats.queued, stats.claimed, stats.failed), (1, 0, 1));
/// assert_eq!(spool.list_failed(10)?[0].last_status, Some(422));
/// assert_eq!(rows.commit_stats().appends, 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SpoolRows<'a> {
    spool: &'a Spool,
}

/// A record [`SpoolRows::append`] or [`SpoolRows::append_generated`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppendedRow {
    /// The row id, for `ack`, `fail` and `release` once claimed, and for `requeue` and `purge`
    /// once failed.
    pub id: i64,
    /// The row's response id: the given one, or the one generated for it.
    pub response_id: String,
    /// The given response id was already stored (queued, claimed or failed): nothing new was
    /// stored and `id` is that row's.
    pub duplicate: bool,
    /// Response ids of queued rows deleted to make room under `OnFull::Backpressure`, oldest
    /// first (a spooled Tracker counts them as discarded).
    pub displaced: Vec<String>,
}

/// A row [`SpoolRows::claim`] took: it belongs to the claiming owner until its lease ends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClaimedRow {
    /// The row id, for `ack`, `fail` and `release`.
    pub id: i64,
    /// Its response id.
    pub response_id: String,
    /// Earlier delivery attempts that ended in a release (0 for a fresh or requeued row).
    pub attempts: u32,
}

/// What the group-commit writer of one [`Spool`] handle did since the handle was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CommitStats {
    /// Transactions committed.
    pub commits: u64,
    /// Appends stored by those commits (duplicates included): `appends / commits` is how many
    /// callers shared a commit.
    pub appends: u64,
    /// Time the writer spent running groups (the rest it waited for work).
    pub busy: Duration,
}

impl<'a> SpoolRows<'a> {
    /// The rows of `spool`.
    pub fn new(spool: &'a Spool) -> SpoolRows<'a> {
        SpoolRows { spool }
    }

    /// Stores a record under a response id the caller gives, as `TrackOptions::response_id`
    /// does, and returns once it is committed. `body` is stored as it is (a spooled Tracker
    /// stores one `usage_records` item of its contract's wire JSON). A re-append of a stored
    /// response id is a no-op ([`AppendedRow::duplicate`]). Under `OnFull::Block` it may wait
    /// up to `block_timeout` for room.
    pub fn append(
        &self,
        body: impl Into<Vec<u8>>,
        response_id: &str,
        config_id: &str,
    ) -> Result<AppendedRow, SpoolError> {
        self.append_from(
            body.into(),
            response_id.to_owned(),
            IdSource::Given,
            config_id,
        )
    }

    /// Stores a record under a response id generated for it (time-ordered, 32 hex digits,
    /// unique by construction), as a spooled `track` without a given id does: the spool
    /// stores it without a lookup. Returns once it is committed.
    pub fn append_generated(
        &self,
        body: impl Into<Vec<u8>>,
        config_id: &str,
    ) -> Result<AppendedRow, SpoolError> {
        let response_id = ResponseId::generate_ordered().to_string();
        self.append_from(body.into(), response_id, IdSource::Generated, config_id)
    }

    fn append_from(
        &self,
        body: Vec<u8>,
        response_id: String,
        source: IdSource,
        config_id: &str,
    ) -> Result<AppendedRow, SpoolError> {
        let appended = self
            .spool
            .append_from(body, &response_id, source, config_id)?;
        Ok(AppendedRow {
            id: appended.id,
            response_id,
            duplicate: appended.duplicate,
            displaced: appended
                .displaced
                .into_iter()
                .map(|row| row.response_id)
                .collect(),
        })
    }

    /// Claims up to `max` due rows for `owner` until now + `lease`, sorted by id: queued rows
    /// whose retry time has come (fresh rows in append order first), and claimed rows whose
    /// lease has ended.
    pub fn claim(
        &self,
        owner: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<ClaimedRow>, SpoolError> {
        Ok(self
            .spool
            .claim(owner, max, lease)?
            .into_iter()
            .map(|row: spool::ClaimedRow| ClaimedRow {
                id: row.id,
                response_id: row.response_id,
                attempts: row.attempts,
            })
            .collect())
    }

    /// Deletes rows `owner` holds, as the delivery loop does after the server's 2xx. Returns
    /// how many it still held.
    pub fn ack(&self, owner: &str, ids: &[i64]) -> Result<usize, SpoolError> {
        self.spool.ack(owner, ids)
    }

    /// Marks rows `owner` holds failed with the server's `status` and `reason`, as the
    /// delivery loop does for a refused record: they wait for an operator (`list_failed`,
    /// `requeue`, `purge`), one more attempt counted. Returns how many it still held.
    pub fn fail(
        &self,
        owner: &str,
        ids: &[i64],
        status: Option<u16>,
        reason: &str,
    ) -> Result<usize, SpoolError> {
        self.spool.fail(owner, ids, status, reason)
    }

    /// Puts rows `owner` holds back in the queue, due again at `retry_at`, with one more
    /// attempt counted and `status` and `error` kept, as the delivery loop does after a 5xx
    /// or a network error. Returns how many it still held.
    pub fn release(
        &self,
        owner: &str,
        ids: &[i64],
        retry_at: SystemTime,
        status: Option<u16>,
        error: &str,
    ) -> Result<usize, SpoolError> {
        self.spool.release(owner, ids, retry_at, status, error)
    }

    /// Commits and appends of the spool handle's writer so far (every write through this
    /// `Spool`, whichever `SpoolRows` or thread made it).
    pub fn commit_stats(&self) -> CommitStats {
        let stats = self.spool.writer_stats();
        CommitStats {
            commits: stats.commits,
            appends: stats.appends,
            busy: stats.busy,
        }
    }
}
