//! Group commit: one thread owns the write connection and commits, in ONE transaction, every
//! job waiting when it wakes (appends from any number of callers, claims, acks, ...), then
//! wakes their callers. A commit costs about the same for 1 row as for 100, so concurrent
//! `append`s share it; and since this process has a single writer, its own operations never
//! wait on each other's file locks (other processes are waited for through `busy_timeout`).
//!
//! Order inside a group: other operations first (an ack frees room for the appends behind
//! it), then appends still blocked from earlier groups (oldest first), then the new appends.
//!
//! A group's transaction opens as soon as its first job arrives, and stays open (up to
//! [`GATHER`]) for the callers the last group answered: their appends are stored as they come
//! in, so that the writer's inserts overlap with the callers' way back instead of following it.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use rusqlite::Connection;

use super::checkpoint::{self, COMMITS_PER_CHECKPOINT, Checkpointer, INLINE_ABOVE_FRAMES};
use super::clock::Clock;
use super::error::SpoolError;
use super::limits::{Limits, Room};
use super::reply::{Hub, Reply};
#[cfg(any(test, feature = "testing"))]
use super::rows::WriterStats;
use super::rows::{Appended, IdSource};
use super::store;

/// How often appends blocked on a full spool look for room freed by other processes (room
/// freed by this process is seen at once).
const BLOCKED_POLL: Duration = Duration::from_millis(20);

/// The longest a group's transaction stays open for the appends it expects (see
/// [`Group::commit_group`]): about the fixed cost of a commit, so waiting costs a caller less
/// than another commit would.
///
/// Synchronous callers have one append each in flight: when a group commits, its callers are
/// all waiting for it, and the next group can only be as large as the number of them that are
/// back by then. A commit costs a fixed ~60 µs plus ~6 µs a row (2-core machine), so committing
/// each group as soon as its first job arrives makes many small commits and caps the rate.
const GATHER: Duration = Duration::from_micros(100);

/// What a job sees while it runs inside the group's transaction.
pub(crate) struct Ctx<'a> {
    pub conn: &'a Connection,
    /// Milliseconds since the epoch, read once per group.
    pub now: i64,
    pub path: &'a Path,
}

/// The outcome of running one operation: whether its statements succeeded (else they are
/// rolled back to its savepoint), and how to tell its caller once the commit is known.
pub(crate) struct Ran {
    pub ok: bool,
    pub settle: Settle,
}

pub(crate) type Settle = Box<dyn FnOnce(Result<(), SpoolError>) + Send>;
/// Runs an operation in the group's transaction; `None` when the transaction could not be
/// started or was lost, so the operation only prepares its answer (the error).
pub(crate) type OpFn = Box<dyn FnOnce(Option<&Ctx<'_>>) -> Ran + Send>;

pub(crate) enum Job {
    Append(AppendJob),
    Op(OpFn),
}

pub(crate) struct AppendJob {
    pub body: Vec<u8>,
    pub response_id: String,
    pub source: IdSource,
    pub config_id: String,
    /// The fingerprint of the account that stores it (empty: none).
    pub account: Arc<[u8]>,
    /// When an `OnFull::Block` append gives up.
    pub deadline: Option<Instant>,
    pub reply: Reply<Appended>,
}

struct Inbox {
    jobs: Vec<Job>,
    closing: bool,
    stopped: bool,
    /// The writer is parked on `wake`: only then is a notify worth a syscall.
    parked: bool,
    /// While parked, wake it once this many jobs are waiting (1 unless it gathers a group).
    want: usize,
    /// Tests hold the writer to gather a known group.
    #[cfg(test)]
    held: bool,
}

struct Shared {
    inbox: Mutex<Inbox>,
    wake: Condvar,
    commits: AtomicU64,
    appends: AtomicU64,
    busy_ns: AtomicU64,
    /// Appends waiting for room after the last group, for tests and diagnostics.
    blocked: std::sync::atomic::AtomicUsize,
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    hub: Arc<Hub>,
    thread: Mutex<Option<JoinHandle<()>>>,
    checkpointer: Arc<Checkpointer>,
}

impl Writer {
    pub fn start(
        conn: Connection,
        limits: Limits,
        clock: Clock,
        path: Arc<std::path::PathBuf>,
        checkpointer: Checkpointer,
    ) -> Result<Writer, SpoolError> {
        let checkpointer = Arc::new(checkpointer);
        let thread_checkpointer = checkpointer.clone();
        let hub = Arc::new(Hub::default());
        let thread_hub = hub.clone();
        let shared = Arc::new(Shared {
            inbox: Mutex::new(Inbox {
                jobs: Vec::with_capacity(64),
                closing: false,
                stopped: false,
                parked: false,
                want: 1,
                #[cfg(test)]
                held: false,
            }),
            wake: Condvar::new(),
            commits: AtomicU64::new(0),
            appends: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            blocked: std::sync::atomic::AtomicUsize::new(0),
        });
        let thread_shared = shared.clone();
        let thread_path = path.clone();
        let thread = std::thread::Builder::new()
            .name("aicm-spool-writer".to_owned())
            .spawn(move || {
                let guard = StopGuard(thread_shared.clone());
                let mut group = Group {
                    shared: &thread_shared,
                    conn: &conn,
                    limits: &limits,
                    clock: &clock,
                    path: &thread_path,
                    blocked: VecDeque::new(),
                    checkpointer: &thread_checkpointer,
                    since_checkpoint: 0,
                    hub: &thread_hub,
                    last_group: 0,
                };
                group.run();
                drop(guard);
            })
            .map_err(|e| SpoolError::Storage {
                path: (*path).clone(),
                operation: "open",
                message: format!("could not spawn the writer thread: {e}"),
                busy: false,
            })?;
        Ok(Writer {
            shared,
            hub,
            thread: Mutex::new(Some(thread)),
            checkpointer,
        })
    }

    /// Queues a job for the next group. After close, the job is dropped, which answers its
    /// caller with `Closed`.
    pub fn submit(&self, job: Job) {
        let mut inbox = self.shared.inbox.lock();
        if inbox.closing || inbox.stopped {
            drop(inbox);
            drop(job);
            return;
        }
        inbox.jobs.push(job);
        let wake = inbox.parked && inbox.jobs.len() >= inbox.want;
        drop(inbox);
        if wake {
            self.shared.wake.notify_one();
        }
    }

    /// Where blocked callers wait for their replies.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Commits and appends so far (for tests and benchmarks: `aicm::testing::SpoolRows`).
    #[cfg(any(test, feature = "testing"))]
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            commits: self.shared.commits.load(Ordering::Relaxed),
            appends: self.shared.appends.load(Ordering::Relaxed),
            busy: Duration::from_nanos(self.shared.busy_ns.load(Ordering::Relaxed)),
        }
    }

    /// Finishes the jobs already queued, answers blocked appends with `Closed`, joins the thread.
    pub fn close(&self) {
        self.shared.inbox.lock().closing = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.lock().take()
            && thread.join().is_err()
        {
            tracing::error!("the aicm spool writer thread panicked");
        }
        self.checkpointer.close();
    }

    #[cfg(test)]
    pub fn hold(&self, held: bool) {
        self.shared.inbox.lock().held = held;
        self.shared.wake.notify_one();
    }

    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.shared.inbox.lock().jobs.len()
    }

    #[cfg(test)]
    pub fn checkpoints(&self) -> (u64, u64) {
        self.checkpointer.done()
    }

    #[cfg(test)]
    pub fn pause_background_checkpoints(&self) {
        self.checkpointer.pause_background();
    }

    #[cfg(test)]
    pub fn blocked(&self) -> usize {
        self.shared.blocked.load(Ordering::Relaxed)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.close();
    }
}

/// However the thread ends (even by a panic), later jobs are refused and queued ones answered.
struct StopGuard(Arc<Shared>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        let jobs = {
            let mut inbox = self.0.inbox.lock();
            inbox.stopped = true;
            std::mem::take(&mut inbox.jobs)
        };
        drop(jobs);
    }
}

/// The writer thread's state.
struct Group<'a> {
    shared: &'a Shared,
    conn: &'a Connection,
    limits: &'a Limits,
    clock: &'a Clock,
    path: &'a Path,
    /// `OnFull::Block` appends waiting for room, oldest first.
    blocked: VecDeque<AppendJob>,
    checkpointer: &'a Checkpointer,
    since_checkpoint: u64,
    /// Woken once after each group: the replies of its blocked callers are in their slots.
    hub: &'a Hub,
    /// Appends in the last group: the callers it answered are likely to append again.
    last_group: usize,
}

/// How many jobs wake a writer that waits for `missing` more appends in an open group: half,
/// so that it stores the first half while the rest arrive, for two wake-ups a group instead of
/// one per caller.
fn wake_after(missing: usize) -> usize {
    (missing / 2).max(1)
}

/// What a group's transaction has done so far.
#[derive(Default)]
struct Tx {
    /// How to answer the operations once the commit is known.
    settles: Vec<Settle>,
    stored: Vec<(Reply<Appended>, Appended)>,
    /// Appends waiting for room, oldest first.
    waiting: VecDeque<AppendJob>,
    /// Appends not looked at because the transaction was lost.
    unprocessed: Vec<AppendJob>,
    /// The spool's counts as this transaction has left them; `None`: read them again.
    live: Option<store::Live>,
    /// Rows and bytes inserted, for `spool_meta`.
    inserted: (u64, u64),
    /// What killed the transaction, if anything did.
    aborted: Option<SpoolError>,
    /// Appends taken in (not counting those blocked from earlier groups).
    new_appends: usize,
    /// The id the next insert takes; `None`: read it (once, at the transaction's first insert).
    next_id: Option<i64>,
}

/// What happened to one append inside the transaction.
enum Outcome {
    Stored(Reply<Appended>, Appended),
    Wait(AppendJob),
    Refused(Reply<Appended>, SpoolError),
}

impl Group<'_> {
    fn run(&mut self) {
        let mut jobs = Vec::with_capacity(64);
        loop {
            if !self.next_jobs(&mut jobs) {
                return;
            }
            let started = Instant::now();
            self.commit_group(&mut jobs);
            self.hub.wake_all();
            // After the callers are woken, before the next group, whose transaction then
            // starts the log over.
            if checkpoint::log_frames() > INLINE_ABOVE_FRAMES
                && self.checkpointer.try_inline(self.conn, self.path)
            {
                checkpoint::reset_log_frames();
            }
            let busy = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.shared.busy_ns.fetch_add(busy, Ordering::Relaxed);
        }
    }

    /// Waits for work. `false`: closing and nothing left to do.
    fn next_jobs(&mut self, jobs: &mut Vec<Job>) -> bool {
        let mut inbox = self.shared.inbox.lock();
        loop {
            #[cfg(test)]
            let held = inbox.held;
            #[cfg(not(test))]
            let held = false;
            if !inbox.jobs.is_empty() && !held {
                std::mem::swap(jobs, &mut inbox.jobs);
                return true;
            }
            if inbox.closing && inbox.jobs.is_empty() {
                drop(inbox);
                // Dropping the replies answers the blocked callers with `Closed`.
                self.blocked.clear();
                return false;
            }
            inbox.parked = true;
            if self.blocked.is_empty() || held {
                self.shared.wake.wait(&mut inbox);
                inbox.parked = false;
            } else {
                let poll = Instant::now() + BLOCKED_POLL;
                let until = self
                    .blocked
                    .iter()
                    .filter_map(|j| j.deadline)
                    .min()
                    .map_or(poll, |d| d.min(poll));
                let timed_out = self.shared.wake.wait_until(&mut inbox, until).timed_out();
                inbox.parked = false;
                if timed_out && inbox.jobs.is_empty() {
                    // Look at the blocked appends again: a deadline passed or room appeared.
                    return true;
                }
            }
        }
    }

    /// Jobs that arrived while the group's transaction is open, waiting for them until
    /// `until`; `false` when none came (or the spool is closing).
    fn more_jobs(&self, jobs: &mut Vec<Job>, until: Instant, missing: usize) -> bool {
        let mut inbox = self.shared.inbox.lock();
        loop {
            #[cfg(test)]
            if inbox.held {
                return false;
            }
            if !inbox.jobs.is_empty() {
                std::mem::swap(jobs, &mut inbox.jobs);
                return true;
            }
            if inbox.closing || Instant::now() >= until {
                return false;
            }
            inbox.parked = true;
            inbox.want = wake_after(missing);
            let timed_out = self.shared.wake.wait_until(&mut inbox, until).timed_out();
            inbox.parked = false;
            inbox.want = 1;
            if timed_out && inbox.jobs.is_empty() {
                return false;
            }
        }
    }

    /// One group: a transaction that takes in the jobs waiting now, then, while it is open,
    /// the appends of the callers the last group answered (see [`GATHER`]), and commits them
    /// all at once.
    fn commit_group(&mut self, jobs: &mut Vec<Job>) {
        self.expire_blocked();
        if jobs.is_empty() && !self.room_for_blocked() {
            return;
        }
        let started = Instant::now();
        let now = self.clock.now_ms();
        if let Err(e) = self.begin() {
            let e = SpoolError::storage(self.path, "begin", &e);
            for job in jobs.drain(..) {
                match job {
                    Job::Op(op) => (op(None).settle)(Err(e.clone())),
                    Job::Append(a) => a.reply.send(Err(e.clone())),
                }
            }
            return;
        }
        let ctx = Ctx {
            conn: self.conn,
            now,
            path: self.path,
        };
        let mut tx = Tx::default();
        // Appends blocked in earlier groups go first, before any new one.
        let blocked = std::mem::take(&mut self.blocked);
        self.take_in(&mut tx, jobs, blocked, &ctx);
        let until = started + GATHER;
        while tx.aborted.is_none()
            && tx.new_appends < self.last_group
            && self.more_jobs(jobs, until, self.last_group - tx.new_appends)
        {
            self.take_in(&mut tx, jobs, VecDeque::new(), &ctx);
        }
        self.last_group = tx.new_appends;
        let mut aborted = tx.aborted;
        if aborted.is_none()
            && tx.inserted.0 > 0
            && let Err(e) = store::add_inserted(self.conn, tx.inserted.0, tx.inserted.1)
        {
            aborted = Some(SpoolError::storage(self.path, "append", &e));
        }
        let result = match aborted {
            Some(e) => {
                self.rollback();
                Err(e)
            }
            None => self.commit(),
        };
        // Appends still waiting for room were not written either way: they keep waiting.
        self.blocked = tx.waiting;
        self.shared
            .blocked
            .store(self.blocked.len(), Ordering::Relaxed);
        match result {
            Ok(()) => {
                self.shared.commits.fetch_add(1, Ordering::Relaxed);
                self.since_checkpoint += 1;
                if self.since_checkpoint >= COMMITS_PER_CHECKPOINT {
                    self.since_checkpoint = 0;
                    self.checkpointer.request();
                }

                self.shared
                    .appends
                    .fetch_add(tx.stored.len() as u64, Ordering::Relaxed);
                for settle in tx.settles {
                    settle(Ok(()));
                }
                for (reply, appended) in tx.stored {
                    reply.send(Ok(appended));
                }
            }
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "spool commit failed");
                for settle in tx.settles {
                    settle(Err(e.clone()));
                }
                for (reply, _) in tx.stored {
                    reply.send(Err(e.clone()));
                }
                for job in tx.unprocessed {
                    job.reply.send(Err(e.clone()));
                }
            }
        }
    }

    /// Runs `jobs` in the open transaction: operations first (an ack frees room for the
    /// appends behind it), then `blocked`, then the new appends.
    fn take_in(
        &self,
        tx: &mut Tx,
        jobs: &mut Vec<Job>,
        mut pending: VecDeque<AppendJob>,
        ctx: &Ctx<'_>,
    ) {
        let mut appends = 0;
        for job in jobs.drain(..) {
            match job {
                Job::Append(a) => {
                    appends += 1;
                    pending.push_back(a);
                }
                Job::Op(op) => {
                    if tx.aborted.is_some() {
                        tx.settles.push(op(None).settle);
                        continue;
                    }
                    match self.run_op(op, ctx) {
                        Ok(settle) => tx.settles.push(settle),
                        Err((settle, e)) => {
                            tx.settles.push(settle);
                            tx.aborted = Some(e);
                        }
                    }
                    // The operation may have changed the counts (an ack, a requeue).
                    tx.live = None;
                }
            }
        }
        tx.new_appends += appends;
        while let Some(job) = pending.pop_front() {
            if tx.aborted.is_none() && tx.live.is_none() {
                match store::live(self.conn) {
                    Ok(l) => tx.live = Some(l),
                    Err(e) => tx.aborted = Some(SpoolError::storage(self.path, "append", &e)),
                }
            }
            let Some(live) = tx.live.as_mut().filter(|_| tx.aborted.is_none()) else {
                tx.unprocessed.push(job);
                continue;
            };
            if !tx.waiting.is_empty() && self.limits.blocks() {
                // First come, first served: nobody overtakes a blocked append.
                tx.waiting.push_back(job);
                continue;
            }
            let size = job.body.len() as u64;
            match self.store_one(job, live, &mut tx.next_id, ctx.now) {
                Outcome::Stored(reply, appended) => {
                    if !appended.duplicate {
                        tx.inserted.0 += 1;
                        tx.inserted.1 += size;
                    }
                    tx.stored.push((reply, appended));
                }
                Outcome::Wait(job) => tx.waiting.push_back(job),
                Outcome::Refused(reply, e) => reply.send(Err(e)),
            }
            if self.conn.is_autocommit() {
                tx.aborted = Some(rolled_back(self.path, "append"));
            }
        }
    }

    /// Runs one operation inside its own savepoint, so that a failed statement undoes only
    /// that operation. `Err` carries an error that killed the whole transaction.
    fn run_op(&self, op: OpFn, ctx: &Ctx<'_>) -> Result<Settle, (Settle, SpoolError)> {
        let storage = |e: rusqlite::Error| SpoolError::storage(self.path, "savepoint", &e);
        if let Err(e) = self.exec("SAVEPOINT op") {
            return Err((op(None).settle, storage(e)));
        }
        let ran = op(Some(ctx));
        if self.conn.is_autocommit() {
            return Err((ran.settle, rolled_back(self.path, "transaction")));
        }
        let end = if ran.ok {
            self.exec("RELEASE op")
        } else {
            self.exec("ROLLBACK TO op")
                .and_then(|()| self.exec("RELEASE op"))
        };
        match end {
            Ok(()) => Ok(ran.settle),
            Err(e) => Err((ran.settle, storage(e))),
        }
    }

    /// Stores one append if it fits, else applies the `OnFull` policy.
    fn store_one(
        &self,
        job: AppendJob,
        live: &mut store::Live,
        next_id: &mut Option<i64>,
        now: i64,
    ) -> Outcome {
        let size = job.body.len() as u64;
        let err = |e: rusqlite::Error| SpoolError::storage(self.path, "append", &e);
        if let Some(e) = self.limits.too_large(size) {
            return Outcome::Refused(job.reply, e);
        }
        if self.limits.fits(*live, size) {
            return match self.insert(&job, next_id, now) {
                Ok(appended) => {
                    if !appended.duplicate {
                        live.rows += 1;
                        live.bytes += size;
                    }
                    Outcome::Stored(job.reply, appended)
                }
                Err(e) => Outcome::Refused(job.reply, err(e)),
            };
        }
        // Full. A re-append of a stored row needs no room.
        let stored = match job.source {
            IdSource::Given => store::find_given(self.conn, &job.response_id),
            IdSource::Generated => Ok(None),
        };
        match stored {
            Ok(Some(id)) => {
                return Outcome::Stored(
                    job.reply,
                    Appended {
                        id,
                        duplicate: true,
                        displaced: Vec::new(),
                    },
                );
            }
            Ok(None) => {}
            Err(e) => return Outcome::Refused(job.reply, err(e)),
        }
        match self.limits.room(*live, size) {
            Room::Refuse(e) => Outcome::Refused(job.reply, e),
            Room::Wait => Outcome::Wait(job),
            Room::Displace => match self.displace_and_insert(&job, live, size, next_id, now) {
                Ok(Some(appended)) => Outcome::Stored(job.reply, appended),
                Ok(None) => {
                    let e = self.limits.full(*live);
                    Outcome::Refused(job.reply, e)
                }
                Err(e) => Outcome::Refused(job.reply, err(e)),
            },
        }
    }

    fn insert(
        &self,
        job: &AppendJob,
        next_id: &mut Option<i64>,
        now: i64,
    ) -> rusqlite::Result<Appended> {
        let id = match *next_id {
            Some(id) => id,
            None => store::next_id(self.conn)?,
        };
        let stored = store::insert(
            self.conn,
            &store::NewRow {
                id,
                response_id: &job.response_id,
                source: job.source,
                body: &job.body,
                config_id: &job.config_id,
                account: &job.account,
                now,
            },
        )?;
        if stored {
            *next_id = Some(id + 1);
            Ok(Appended {
                id,
                duplicate: false,
                displaced: Vec::new(),
            })
        } else {
            *next_id = Some(id);
            let id = store::find_given(self.conn, &job.response_id)?.unwrap_or(0);
            Ok(Appended {
                id,
                duplicate: true,
                displaced: Vec::new(),
            })
        }
    }

    /// Deletes the oldest queued rows until the record fits, then inserts it; `None` (and
    /// nothing deleted) when even an empty queue would not make room (claimed rows fill it).
    fn displace_and_insert(
        &self,
        job: &AppendJob,
        live: &mut store::Live,
        size: u64,
        next_id: &mut Option<i64>,
        now: i64,
    ) -> rusqlite::Result<Option<Appended>> {
        self.exec("SAVEPOINT displace")?;
        let before = *live;
        let mut displaced = Vec::new();
        let result = (|| {
            while !self.limits.fits(*live, size) {
                match store::displace_oldest(self.conn, &job.account)? {
                    Some(row) => {
                        live.rows = live.rows.saturating_sub(1);
                        live.bytes = live.bytes.saturating_sub(row.body.len() as u64);
                        displaced.push(row);
                    }
                    None => return Ok(None),
                }
            }
            let mut appended = self.insert(job, next_id, now)?;
            live.rows += 1;
            live.bytes += size;
            appended.displaced = std::mem::take(&mut displaced);
            Ok(Some(appended))
        })();
        match result {
            Ok(Some(appended)) => {
                self.exec("RELEASE displace")?;
                Ok(Some(appended))
            }
            other => {
                *live = before;
                self.exec("ROLLBACK TO displace")?;
                self.exec("RELEASE displace")?;
                other
            }
        }
    }

    /// Answers blocked appends whose `block_timeout` has passed.
    fn expire_blocked(&mut self) {
        if self.blocked.iter().all(|j| j.deadline.is_none()) {
            return;
        }
        let now = Instant::now();
        let (expired, keep): (VecDeque<_>, VecDeque<_>) = self
            .blocked
            .drain(..)
            .partition(|job| job.deadline.is_some_and(|d| d <= now));
        self.blocked = keep;
        self.shared
            .blocked
            .store(self.blocked.len(), Ordering::Relaxed);
        for job in expired {
            job.reply.send(Err(self.limits.timed_out()));
        }
    }

    /// Whether the oldest blocked append fits now (read without taking the write lock).
    fn room_for_blocked(&self) -> bool {
        let Some(front) = self.blocked.front() else {
            return false;
        };
        match store::live(self.conn) {
            Ok(live) => self.limits.fits(live, front.body.len() as u64),
            // Let the transaction report it.
            Err(_) => true,
        }
    }

    fn begin(&self) -> rusqlite::Result<()> {
        self.exec("BEGIN IMMEDIATE")
    }

    fn commit(&self) -> Result<(), SpoolError> {
        self.exec("COMMIT").map_err(|e| {
            let e = SpoolError::storage(self.path, "commit", &e);
            self.rollback();
            e
        })
    }

    fn rollback(&self) {
        if !self.conn.is_autocommit() {
            let _ = self.exec("ROLLBACK");
        }
    }

    fn exec(&self, sql: &str) -> rusqlite::Result<()> {
        self.conn.prepare_cached(sql)?.execute([]).map(|_| ())
    }
}

/// SQLite ends a transaction by itself on some errors (a full disk, an I/O error): everything
/// of the group is then undone.
fn rolled_back(path: &Path, operation: &'static str) -> SpoolError {
    SpoolError::Storage {
        path: path.to_owned(),
        operation,
        message: "SQLite rolled the transaction back".to_owned(),
        busy: false,
    }
}
