//! The durable spool: an on-disk queue in SQLite so that records survive a crash, a restart or
//! a long outage (feature `spool`).
//!
//! A [`Spool`] is one SQLite file in write-ahead-log mode, shareable by several processes. Each
//! row is one record's wire JSON (one `usage_records` item), its `response_id` (one given with
//! `TrackOptions::response_id` is unique, a re-append is a no-op; a generated one is new by
//! construction), its config id, and its delivery state:
//!
//! ```text
//!   append ──► queued ──claim──► claimed ──ack──► (deleted: the server said 2xx)
//!                ▲                 │  │
//!                └────release──────┘  └──fail──► failed ──requeue──► queued
//!              (5xx, network; retry_at)          (purge deletes)
//! ```
//!
//! * **Durable.** An append (a spooled `track`) returns only once the row is committed. With
//!   [`Durability::Process`] (the default) a committed row survives the process being killed;
//!   with [`Durability::Fsync`] it also survives a power loss.
//! * **Group commit.** One writer thread per `Spool` commits every append waiting at that
//!   moment in one transaction, so concurrent callers share the cost of a commit.
//! * **At least once, across processes.** A claim is one `UPDATE … WHERE id IN (SELECT … LIMIT
//!   n) RETURNING …` that records the owner and a lease end. A delivery loop registers its
//!   owner in `spool_owners` and beats (renewing its leases) while it runs; another process
//!   takes a claimed row over once its owner is gone (a process of this host that no longer
//!   runs, a heartbeat older than `heartbeat_timeout`: see the `owner` module) or, for an owner
//!   that is not registered, once its lease has ended. So live processes never deliver the
//!   same row twice; a row is delivered again only after its owner died mid-delivery (same
//!   `response_id`, which the server deduplicates). `ack`, `release`, `fail` and `renew` touch
//!   only rows the given owner still holds.
//! * **One host.** WAL needs memory shared by every process on the file: a spool on a network
//!   filesystem is not safe. Keep it on a local disk.
//! * **Bounded.** `max_rows` / `max_bytes` over queued and claimed rows, with the `OnFull`
//!   policies of the memory queue.
//! * **Refuses bad files.** A file that is not an SQLite database, is corrupt, unreadable,
//!   read-only, a directory or another application's database is an error naming the path,
//!   never a silently empty queue.
//!
//! # Operating a spool
//!
//! A spooled `Tracker` (`TrackerBuilder::spool`) appends its records and its delivery loop
//! claims, acknowledges, releases and fails them; those operations are the crate's own. What
//! an operator (or the `aicm-spool` CLI) does with a file is public: [`Spool::open`],
//! [`Spool::stats`] and [`Spool::accounts`] (how many rows are in which state, and whose),
//! [`Spool::list_failed`] / [`Spool::list_failed_after`] (failed rows with the server's status
//! and reason), [`Spool::requeue`] (failed rows back to the queue) and [`Spool::purge`]
//! (delete failed rows), each with a [`Selection`]. Reads never wait for the writer;
//! `requeue` and `purge` go through it and may wait for another process's lock up to
//! `busy_timeout`: call them from plain threads or `spawn_blocking`, not on an executor
//! thread. [`SpoolError::is_transient`] says whether a failed call may succeed later (full,
//! block timeout, lock held past `busy_timeout`).
//!
//! Tests and benchmarks that need the rows as the delivery loop has them (append, claim, ack,
//! fail, release, the writer's commit counts) use `aicm::testing::SpoolRows` (features
//! `testing` and `spool`).
//!
//! # Threads and sharing
//!
//! A `Spool` runs two threads: the group-commit writer (every write of this handle goes
//! through it, in submission order within a group: other operations first, then appends) and
//! a checkpointer that copies the log back into the file off the commit path. Reads (`stats`,
//! `list_failed`) use a third connection and never wait for the writer. Open **one `Spool` per
//! file per process** and share it with `Arc`: two handles in one process work (as two
//! processes do) but contend for the file's write lock instead of sharing commits.
//!
//! Dropping a `Spool` finishes the jobs already submitted, answers appends still blocked on a
//! full spool with [`SpoolError::Closed`], and joins both threads (a few milliseconds).
//!
//! # Cost
//!
//! A commit costs a few dozen system calls plus one log write per page it changes; for
//! appends that is the table's pages and `spool_meta`'s (a row enters the due index only when
//! first claimed). Given response ids also go into the unique index `spool_given`: a random
//! one lands on a random page of it, about one more page per record. Generated ids stay out
//! of every index, which is worth ~15% of the append rate (`cargo bench -p aicm-tests --bench
//! spool_track`).

// # Contract for the delivery worker (crate-internal)
//
// The row operations below are `pub(crate)`: the spooled Tracker (`tracker/spooled.rs`)
// appends, its delivery loop (`delivery/spooled/`) claims and settles. The sync forms the
// crate itself does not call exist for the unit tests (`#[cfg(test)]`) and, where
// `aicm::testing::SpoolRows` wraps them, also with feature `testing`.
//
// Every sync method may block (on the writer, on disk, on another process's lock up to
// `busy_timeout`): call them from plain threads or `spawn_blocking`, never on an executor
// thread. The `*_async` variants only await a oneshot, so they are safe on an executor; they
// submit their work when called (before the first poll), and dropping the future does not
// cancel it.
//
// ```text
// Spool::open(path: impl AsRef<Path>, options: SpoolOptions) -> Result<Spool, SpoolError>
// Spool::new_owner() -> String                       // unique per call: "<pid>-<random>"
//
// append_from(&self, body: Vec<u8>, response_id: &str, source: IdSource, config_id: &str)
//     -> Result<Appended, SpoolError>         // a generated id is stored without a lookup
// append_from_async(same) -> impl Future<Output = Result<Appended, SpoolError>> + Send
//     + 'static                               // owns its data
// append_many(&self, Vec<(body, response_id, IdSource, config_id)>) -> Vec<Result<Appended, _>>
// append(&self, body, response_id, config_id), append_async(…)   // tests: IdSource::Given
//
// claim(&self, owner: &str, max: usize, lease: Duration) -> Result<Vec<ClaimedRow>, SpoolError>
// ack(&self, owner: &str, ids: &[i64]) -> Result<usize, SpoolError>         // after a 2xx only
// release(&self, owner: &str, ids: &[i64], retry_at: SystemTime,
//         status: Option<u16>, error: &str) -> Result<usize, SpoolError>   // attempts + 1
// fail(&self, owner: &str, ids: &[i64], status: Option<u16>, reason: &str)
//     -> Result<usize, SpoolError>                                          // attempts + 1
// renew(&self, owner: &str, ids: &[i64], lease: Duration) -> Result<usize, SpoolError>
// (the loop uses the `*_async` forms: same arguments, owned result future; the sync forms
// are for tests, `renew` for the unit tests only)
// unclaim_async(&self, owner: &str, ids: &[i64])  // back to queued, due now, no attempt
//     -> impl Future<Output = Result<usize, SpoolError>>
// heartbeat_async, deregister_async, take_over_gone      // the owner registry
// writer_stats(&self) -> WriterStats       // tests: commits, appends, writer busy time
//
// stats(&self) -> Result<SpoolStats, SpoolError>                            // public
// list_failed(&self, limit: usize) -> Result<Vec<FailedRow>, SpoolError>    // public
// requeue(&self, Selection) -> Result<usize, SpoolError>                    // public
// purge(&self, Selection) -> Result<usize, SpoolError>                      // public
// ```
//
// The returned `usize` is how many of the given rows the owner still held: fewer than asked
// means their lease ran out and another process took them over (do not count them as yours).
// `ClaimedRow::attempts` counts earlier releases, for the retry budget: fail a row instead of
// releasing it once `attempts + 1` exceeds it. Rows come back from `claim` sorted by id; a
// claim takes the rows that have been due longest (fresh rows in append order, then rows
// whose retry time or lease end came first). `Appended::displaced` lists rows deleted to
// make room under `OnFull::Backpressure` (count them as discarded); `Appended::duplicate`
// says the given `response_id` was already stored.

mod checkpoint;
mod clock;
mod error;
mod limits;
mod options;
mod owner;
mod reply;
mod rows;
mod schema;
mod store;
mod writer;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use rusqlite::Connection;

pub use error::SpoolError;
pub use options::{Durability, ParseDurabilityError, SpoolOptions, defaults};
pub use rows::{AccountRows, FailedRow, Selection, SpoolStats};
pub(crate) use rows::{Appended, ClaimedRow, DisplacedRow, IdSource};
pub(crate) use store::RowState;

#[cfg(any(test, feature = "testing"))]
pub(crate) use rows::WriterStats;

use clock::{Clock, from_ms, to_ms};
use limits::Limits;
use schema::Role;
use writer::{AppendJob, Ctx, Job, Ran, Writer};

/// An open spool file. Share it with `Arc`; every method takes `&self` and may be called from
/// any thread. See the [module documentation](self) for the model and what an operator can do
/// with a file.
pub struct Spool {
    path: Arc<PathBuf>,
    options: SpoolOptions,
    clock: Clock,
    /// Reads (stats, listings) go through their own connection: with WAL they never wait for
    /// the writer.
    reader: Mutex<Connection>,
    writer: Writer,
    /// The fingerprint of the account this handle appends and claims for; empty for a handle
    /// opened with [`Spool::open`].
    account: Arc<[u8]>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("path", &self.path)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Spool {
    /// Opens the spool at `path`, creating it (unless `options.create` is off) when it does not
    /// exist. Fails, naming the path, when the file is not a healthy aicm spool.
    pub fn open(path: impl AsRef<Path>, options: SpoolOptions) -> Result<Spool, SpoolError> {
        Self::open_with_clock(path.as_ref(), options, Clock::System)
    }

    /// [`Spool::open`] for a delivery worker of one account: it appends rows tagged with
    /// `account` (a fingerprint, never the key) and claims only rows so tagged.
    pub(crate) fn open_for_account(
        path: &Path,
        options: SpoolOptions,
        account: &[u8],
    ) -> Result<Spool, SpoolError> {
        let mut spool = Self::open_with_clock(path, options, Clock::System)?;
        spool.account = Arc::from(account);
        Ok(spool)
    }

    fn open_with_clock(
        path: &Path,
        options: SpoolOptions,
        clock: Clock,
    ) -> Result<Spool, SpoolError> {
        let path = Arc::new(path.to_owned());
        let write_conn = schema::open_connection(&path, &options, Role::Writer)?;
        let reader = schema::open_connection(&path, &options, Role::Reader)?;
        let limits = Limits {
            max_rows: options.max_rows,
            max_bytes: options.max_bytes,
            on_full: options.on_full,
            block_timeout: options.block_timeout,
            path: path.clone(),
        };
        let checkpointer = checkpoint::Checkpointer::start(
            schema::open_connection(&path, &options, Role::Checkpointer)?,
            path.clone(),
        )
        .map_err(|e| SpoolError::Storage {
            path: (*path).clone(),
            operation: "open",
            message: format!("could not spawn the checkpoint thread: {e}"),
            busy: false,
        })?;
        checkpoint::count_log_frames(&write_conn);
        let writer = Writer::start(
            write_conn,
            limits,
            clock.clone(),
            path.clone(),
            checkpointer,
        )?;
        tracing::debug!(path = %path.display(), durability = %options.durability, "spool opened");
        Ok(Spool {
            path,
            options,
            clock,
            reader: Mutex::new(reader),
            writer,
            account: Arc::from(&[][..]),
        })
    }

    /// The file this spool lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The options it was opened with.
    pub fn options(&self) -> &SpoolOptions {
        &self.options
    }

    /// A fresh owner name for `claim`: the process id and a random part, so that two
    /// processes (or two workers of one process) never share one.
    pub(crate) fn new_owner() -> String {
        let random = uuid::Uuid::new_v4().simple().to_string();
        format!("{}-{}", std::process::id(), &random[..12])
    }

    /// [`Spool::append_from`] with a given response id ([`IdSource::Given`]): a re-append of a
    /// stored one is a no-op.
    #[cfg(test)]
    pub(crate) fn append(
        &self,
        body: Vec<u8>,
        response_id: &str,
        config_id: &str,
    ) -> Result<Appended, SpoolError> {
        self.append_from(body, response_id, IdSource::Given, config_id)
    }

    /// Stores a record and returns once it is durable (see [`Durability`]). `body` is one
    /// `usage_records` item exactly as it will be sent; the spool does not parse it. Under
    /// `OnFull::Block` this may wait up to `block_timeout` for room. `source` says where the
    /// response id comes from: a given one is looked up (a re-append of a stored one is a
    /// no-op), a generated one is stored without a lookup.
    pub(crate) fn append_from(
        &self,
        body: Vec<u8>,
        response_id: &str,
        source: IdSource,
        config_id: &str,
    ) -> Result<Appended, SpoolError> {
        let (reply, slot) = reply::for_thread(self.path.clone(), self.writer.hub());
        self.writer.submit(Job::Append(self.append_job(
            body,
            response_id,
            source,
            config_id,
            reply,
        )));
        slot.wait(self.writer.hub())
    }

    /// [`Spool::append_from_async`] with a given response id.
    #[cfg(test)]
    pub(crate) fn append_async(
        &self,
        body: Vec<u8>,
        response_id: &str,
        config_id: &str,
    ) -> impl Future<Output = Result<Appended, SpoolError>> + Send + use<> {
        self.append_from_async(body, response_id, IdSource::Given, config_id)
    }

    /// [`Spool::append_from`] for async callers: submits now, and the future awaits the commit
    /// without blocking the executor.
    pub(crate) fn append_from_async(
        &self,
        body: Vec<u8>,
        response_id: &str,
        source: IdSource,
        config_id: &str,
    ) -> impl Future<Output = Result<Appended, SpoolError>> + Send + use<> {
        let (reply, rx) = reply::for_task(self.path.clone());
        self.writer.submit(Job::Append(self.append_job(
            body,
            response_id,
            source,
            config_id,
            reply,
        )));
        let path = self.path.clone();
        async move { reply::closed(rx.await, &path) }
    }

    /// Stores several records, returning once each is durable: every append is submitted
    /// before the first is waited for, so they share commits. Results in the given order.
    /// Items are `(body, response_id, source, config_id)`.
    pub(crate) fn append_many(
        &self,
        records: Vec<(Vec<u8>, String, IdSource, String)>,
    ) -> Vec<Result<Appended, SpoolError>> {
        let slots: Vec<_> = records
            .into_iter()
            .map(|(body, response_id, source, config_id)| {
                let (reply, slot) = reply::for_thread(self.path.clone(), self.writer.hub());
                self.writer.submit(Job::Append(self.append_job(
                    body,
                    &response_id,
                    source,
                    &config_id,
                    reply,
                )));
                slot
            })
            .collect();
        slots
            .iter()
            .map(|slot| slot.wait(self.writer.hub()))
            .collect()
    }

    /// Where the rows with these ids are now, read on the reader connection (never waits for
    /// the writer): `None` for a row that is gone. With the row's response id, so a caller can
    /// tell a reused id from the row it knew.
    pub(crate) fn row_states(
        &self,
        ids: &[i64],
    ) -> Result<Vec<Option<(RowState, String)>>, SpoolError> {
        let conn = self.reader.lock();
        read_tx(&conn, |c| {
            ids.iter()
                .map(|&id| store::row_state(c, id))
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| SpoolError::storage(&self.path, "row_states", &e))
    }

    fn append_job(
        &self,
        body: Vec<u8>,
        response_id: &str,
        source: IdSource,
        config_id: &str,
        reply: reply::Reply<Appended>,
    ) -> AppendJob {
        AppendJob {
            body,
            response_id: response_id.to_owned(),
            source,
            config_id: config_id.to_owned(),
            account: self.account.clone(),
            deadline: match self.options.block_timeout {
                Some(t) if self.options.on_full == crate::OnFull::Block => Some(Instant::now() + t),
                _ => None,
            },
            reply,
        }
    }

    /// [`Spool::claim_async`], blocking the calling thread until it is committed.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn claim(
        &self,
        owner: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<ClaimedRow>, SpoolError> {
        self.run(claim_op(owner, &self.account, max, lease))
    }

    /// Claims up to `max` due rows for `owner` until `now + lease`: queued rows whose retry
    /// time has come, and rows whose previous owner's lease has ended.
    pub(crate) fn claim_async(
        &self,
        owner: &str,
        max: usize,
        lease: Duration,
    ) -> impl Future<Output = Result<Vec<ClaimedRow>, SpoolError>> + Send + use<> {
        self.run_async(claim_op(owner, &self.account, max, lease))
    }

    /// [`Spool::ack_async`], blocking the calling thread until it is committed.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn ack(&self, owner: &str, ids: &[i64]) -> Result<usize, SpoolError> {
        self.run(ack_op(owner, ids))
    }

    /// Deletes delivered rows (call only after the server's 2xx). Returns how many `owner`
    /// still held.
    pub(crate) fn ack_async(
        &self,
        owner: &str,
        ids: &[i64],
    ) -> impl Future<Output = Result<usize, SpoolError>> + Send + use<> {
        self.run_async(ack_op(owner, ids))
    }

    /// [`Spool::release_async`], blocking the calling thread until it is committed.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn release(
        &self,
        owner: &str,
        ids: &[i64],
        retry_at: SystemTime,
        status: Option<u16>,
        error: &str,
    ) -> Result<usize, SpoolError> {
        self.run(release_op(owner, ids, retry_at, status, error))
    }

    /// Puts rows back in the queue, due again at `retry_at`, with one more attempt counted and
    /// the error kept. Returns how many `owner` still held.
    pub(crate) fn release_async(
        &self,
        owner: &str,
        ids: &[i64],
        retry_at: SystemTime,
        status: Option<u16>,
        error: &str,
    ) -> impl Future<Output = Result<usize, SpoolError>> + Send + use<> {
        self.run_async(release_op(owner, ids, retry_at, status, error))
    }

    /// [`Spool::fail_async`], blocking the calling thread until it is committed.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn fail(
        &self,
        owner: &str,
        ids: &[i64],
        status: Option<u16>,
        reason: &str,
    ) -> Result<usize, SpoolError> {
        self.run(fail_op(owner, ids, status, reason))
    }

    /// Marks rows failed, keeping the server's status and reason for the operator. Returns how
    /// many `owner` still held.
    pub(crate) fn fail_async(
        &self,
        owner: &str,
        ids: &[i64],
        status: Option<u16>,
        reason: &str,
    ) -> impl Future<Output = Result<usize, SpoolError>> + Send + use<> {
        self.run_async(fail_op(owner, ids, status, reason))
    }

    /// [`Spool::renew_async`], blocking the calling thread until it is committed.
    #[cfg(test)]
    pub(crate) fn renew(
        &self,
        owner: &str,
        ids: &[i64],
        lease: Duration,
    ) -> Result<usize, SpoolError> {
        self.run(renew_op(owner, ids, lease))
    }

    /// Extends the lease of rows `owner` still holds to `now + lease` (for batches whose
    /// delivery outlasts the lease). Returns how many it still held.
    pub(crate) fn renew_async(
        &self,
        owner: &str,
        ids: &[i64],
        lease: Duration,
    ) -> impl Future<Output = Result<usize, SpoolError>> + Send + use<> {
        self.run_async(renew_op(owner, ids, lease))
    }

    /// Hands rows back to the queue, due at once, without counting an attempt: for a worker
    /// that stops while it holds them. Returns how many `owner` still held.
    pub(crate) fn unclaim_async(
        &self,
        owner: &str,
        ids: &[i64],
    ) -> impl Future<Output = Result<usize, SpoolError>> + Send + use<> {
        let (owner, ids) = (owner.to_owned(), ids.to_vec());
        self.run_async(op("unclaim", move |ctx| {
            store::unclaim(ctx.conn, &owner, &ids, ctx.now)
        }))
    }

    /// Registers `owner` as alive (first call) or refreshes its heartbeat, and extends the
    /// lease of every row it holds to `now + lease`. Returns how many rows it holds. A delivery
    /// loop calls it before its first claim and every `heartbeat_interval` after.
    pub(crate) fn heartbeat_async(
        &self,
        owner: &str,
        lease: Duration,
    ) -> impl Future<Output = Result<usize, SpoolError>> + Send + use<> {
        let owner = owner.to_owned();
        self.run_async(op("heartbeat", move |ctx| {
            store::heartbeat(
                ctx.conn,
                &owner,
                owner::this_process(),
                clock::add_ms(ctx.now, lease),
                ctx.now,
            )
        }))
    }

    /// Removes `owner` from the registry: its loop stopped and holds nothing.
    pub(crate) fn deregister_async(
        &self,
        owner: &str,
    ) -> impl Future<Output = Result<usize, SpoolError>> + Send + use<> {
        let owner = owner.to_owned();
        self.run_async(op("deregister", move |ctx| {
            store::deregister(ctx.conn, &owner)
        }))
    }

    /// Finds registered owners that are gone (see the `owner` module: a process that no
    /// longer runs on this host, a heartbeat older than `heartbeat_timeout` elsewhere) and
    /// takes their rows over: claimed rows and rows they released for a later retry go back
    /// to the queue, due now. Blocks (reads, then one write per gone owner).
    pub(crate) fn take_over_gone(&self) -> Result<TakeOver, SpoolError> {
        let owners = {
            let conn = self.reader.lock();
            store::owners(&conn).map_err(|e| SpoolError::storage(&self.path, "owners", &e))?
        };
        let me = owner::this_process();
        let now = self.clock.now_ms();
        let timeout = i64::try_from(self.options.heartbeat_timeout.as_millis()).unwrap_or(i64::MAX);
        let mut result = TakeOver::default();
        for row in owners {
            if !owner::is_gone(&row, me, now, timeout) {
                result.live_owners += 1;
                continue;
            }
            let (name, seen) = (row.owner.clone(), row.heartbeat_at);
            let (claimed, retries) = self.run(op("take_over", move |ctx| {
                store::take_over(ctx.conn, &name, seen, ctx.now)
            }))?;
            if claimed + retries > 0 {
                tracing::info!(
                    path = %self.path.display(),
                    owner = %row.owner,
                    pid = row.pid,
                    claimed,
                    retries,
                    "took over the rows of a spool owner that is gone"
                );
            }
            result.owners += 1;
            result.claimed += claimed;
            result.retries += retries;
        }
        Ok(result)
    }

    /// Rows held claimed by `owner`, read on the reader connection.
    pub(crate) fn held_by(&self, owner: &str) -> Result<u64, SpoolError> {
        let conn = self.reader.lock();
        store::held_by(&conn, owner).map_err(|e| SpoolError::storage(&self.path, "held_by", &e))
    }

    /// The highest row id in the file (0 when empty): a flush waits for the rows up to it.
    pub(crate) fn max_id(&self) -> Result<i64, SpoolError> {
        let conn = self.reader.lock();
        store::max_id(&conn).map_err(|e| SpoolError::storage(&self.path, "max_id", &e))
    }

    /// The lowest queued or claimed row of this handle's account with an id in `from..=upto`.
    pub(crate) fn first_pending(&self, from: i64, upto: i64) -> Result<Option<i64>, SpoolError> {
        let conn = self.reader.lock();
        store::first_pending(&conn, &self.account, from, upto)
            .map_err(|e| SpoolError::storage(&self.path, "pending", &e))
    }

    /// Queued and claimed rows of this handle's account with an id of at most `upto`, and how
    /// long ago the oldest of them was stored. Reads those rows.
    pub(crate) fn pending_upto(&self, upto: i64) -> Result<(u64, Option<Duration>), SpoolError> {
        let conn = self.reader.lock();
        let (count, oldest) = store::pending_of(&conn, &self.account, upto)
            .map_err(|e| SpoolError::storage(&self.path, "pending", &e))?;
        drop(conn);
        let now = self.clock.now_ms();
        Ok((
            count,
            oldest.map(|t| Duration::from_millis(u64::try_from(now - t).unwrap_or(0))),
        ))
    }

    /// Puts failed rows back in the queue, due now, with a fresh retry budget. Returns how many.
    pub fn requeue(&self, selection: Selection) -> Result<usize, SpoolError> {
        self.run(op("requeue", move |ctx| {
            store::requeue(ctx.conn, &selection, ctx.now)
        }))
    }

    /// Deletes failed rows. Returns how many.
    pub fn purge(&self, selection: Selection) -> Result<usize, SpoolError> {
        self.run(op("purge", move |ctx| store::purge(ctx.conn, &selection)))
    }

    /// Depth, failed rows, bytes and the oldest record's age, in one consistent read. Does not
    /// wait for the writer.
    pub fn stats(&self) -> Result<SpoolStats, SpoolError> {
        let err = |e: rusqlite::Error| SpoolError::storage(&self.path, "stats", &e);
        let conn = self.reader.lock();
        let (meta, oldest, appended) = read_tx(&conn, |c| {
            Ok((store::meta(c)?, store::oldest_live(c)?, store::appended(c)?))
        })
        .map_err(err)?;
        drop(conn);
        let now = self.clock.now_ms();
        let wal = wal_path(&self.path);
        let file_bytes = [self.path.as_path(), wal.as_path()]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        Ok(SpoolStats {
            queued: meta.queued,
            claimed: meta.claimed,
            failed: meta.failed,
            live_bytes: meta.live_bytes,
            failed_bytes: meta.failed_bytes,
            oldest_created_at: oldest.map(from_ms),
            oldest_age: oldest.map(|t| Duration::from_millis(u64::try_from(now - t).unwrap_or(0))),
            appended_total: u64::try_from(appended).unwrap_or(0),
            file_bytes,
            max_rows: self.options.max_rows,
            max_bytes: self.options.max_bytes,
        })
    }

    /// Rows per account that stored them (see [`AccountRows`]), most rows first: a file
    /// reused with another API key shows two. Reads every row: for the operator, not for a
    /// hot path.
    pub fn accounts(&self) -> Result<Vec<AccountRows>, SpoolError> {
        let conn = self.reader.lock();
        store::accounts(&conn).map_err(|e| SpoolError::storage(&self.path, "accounts", &e))
    }

    /// Queued and claimed rows stored for another account than this handle's: they wait for
    /// a process with that account's key.
    pub(crate) fn live_rows_of_other_accounts(&self) -> Result<u64, SpoolError> {
        let conn = self.reader.lock();
        store::live_rows_of_others(&conn, &self.account)
            .map_err(|e| SpoolError::storage(&self.path, "accounts", &e))
    }

    /// Failed rows, oldest first, at most `limit`.
    pub fn list_failed(&self, limit: usize) -> Result<Vec<FailedRow>, SpoolError> {
        self.list_failed_after(0, limit)
    }

    /// Failed rows with an id above `after_id`, oldest first, at most `limit`: pages through a
    /// long list.
    pub fn list_failed_after(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<FailedRow>, SpoolError> {
        let conn = self.reader.lock();
        store::list_failed(&conn, after_id, limit)
            .map_err(|e| SpoolError::storage(&self.path, "list_failed", &e))
    }

    /// Commits and appends of this handle's writer so far (group-commit efficiency).
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn writer_stats(&self) -> WriterStats {
        self.writer.stats()
    }

    fn run<T: Send + 'static>(&self, op: Op<T>) -> Result<T, SpoolError> {
        let (reply, slot) = reply::for_thread(self.path.clone(), self.writer.hub());
        self.writer.submit(Job::Op(op.into_job(reply)));
        slot.wait(self.writer.hub())
    }

    fn run_async<T: Send + 'static>(
        &self,
        op: Op<T>,
    ) -> impl Future<Output = Result<T, SpoolError>> + Send + use<T> {
        let (reply, rx) = reply::for_task(self.path.clone());
        self.writer.submit(Job::Op(op.into_job(reply)));
        let path = self.path.clone();
        async move { reply::closed(rx.await, &path) }
    }

    #[cfg(test)]
    fn writer(&self) -> &Writer {
        &self.writer
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.writer.close();
    }
}

/// What [`Spool::take_over_gone`] found and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TakeOver {
    /// Gone owners removed from the registry.
    pub owners: usize,
    /// Their claimed rows, back in the queue.
    pub claimed: usize,
    /// Their rows waiting for a retry, due now.
    pub retries: usize,
    /// Registered owners that are alive (this process's included).
    pub live_owners: usize,
}

/// An operation for the writer: its name (for errors) and its statements.
struct Op<T> {
    name: &'static str,
    #[allow(clippy::type_complexity)]
    run: Box<dyn FnOnce(&Ctx<'_>) -> rusqlite::Result<T> + Send>,
}

fn op<T>(
    name: &'static str,
    run: impl FnOnce(&Ctx<'_>) -> rusqlite::Result<T> + Send + 'static,
) -> Op<T> {
    Op {
        name,
        run: Box::new(run),
    }
}

impl<T: Send + 'static> Op<T> {
    /// The writer's job: run, then answer once the commit's outcome is known.
    fn into_job(self, reply: reply::Reply<T>) -> writer::OpFn {
        let Op { name, run } = self;
        Box::new(move |ctx: Option<&Ctx<'_>>| {
            let result =
                ctx.map(|ctx| run(ctx).map_err(|e| SpoolError::storage(ctx.path, name, &e)));
            let ok = matches!(result, Some(Ok(_)));
            Ran {
                ok,
                settle: Box::new(move |commit| {
                    reply.send(match (commit, result) {
                        (Err(e), _) => Err(e),
                        (Ok(()), Some(r)) => r,
                        // Not run and yet committed cannot happen; answer as closed.
                        (Ok(()), None) => Err(SpoolError::Storage {
                            path: PathBuf::new(),
                            operation: name,
                            message: "not run".to_owned(),
                            busy: false,
                        }),
                    })
                }),
            }
        })
    }
}

fn claim_op(owner: &str, account: &Arc<[u8]>, max: usize, lease: Duration) -> Op<Vec<ClaimedRow>> {
    let (owner, account) = (owner.to_owned(), account.clone());
    op("claim", move |ctx| {
        store::claim(ctx.conn, &owner, &account, max, lease, ctx.now)
    })
}

fn ack_op(owner: &str, ids: &[i64]) -> Op<usize> {
    let (owner, ids) = (owner.to_owned(), ids.to_vec());
    op("ack", move |ctx| store::ack(ctx.conn, &owner, &ids))
}

fn release_op(
    owner: &str,
    ids: &[i64],
    retry_at: SystemTime,
    status: Option<u16>,
    error: &str,
) -> Op<usize> {
    let (owner, ids, error) = (owner.to_owned(), ids.to_vec(), error.to_owned());
    let retry_at = to_ms(retry_at);
    op("release", move |ctx| {
        store::release(ctx.conn, &owner, &ids, retry_at, status, &error)
    })
}

fn fail_op(owner: &str, ids: &[i64], status: Option<u16>, reason: &str) -> Op<usize> {
    let (owner, ids, reason) = (owner.to_owned(), ids.to_vec(), reason.to_owned());
    op("fail", move |ctx| {
        store::fail(ctx.conn, &owner, &ids, status, &reason, ctx.now)
    })
}

fn renew_op(owner: &str, ids: &[i64], lease: Duration) -> Op<usize> {
    let (owner, ids) = (owner.to_owned(), ids.to_vec());
    op("renew", move |ctx| {
        store::renew(ctx.conn, &owner, &ids, lease, ctx.now)
    })
}

/// Runs `f` in one read transaction, so its reads agree with each other.
fn read_tx<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.execute_batch("BEGIN")?;
    let result = f(conn);
    let end = conn.execute_batch("COMMIT");
    let value = result?;
    end?;
    Ok(value)
}

fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}
