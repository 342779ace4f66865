//! One open spool file per process: the `Spool` handle, the ledger of the rows this process
//! answers for, and the Trackers whose callbacks its rows belong to. Every Tracker and worker
//! of the process that names the file shares it, because two handles on one file would contend
//! for its write lock instead of sharing group commits (see the spool module).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::ledger::{Ledger, Outcome};
use crate::delivery::health::{self, DeliveryHealth, HealthSource};
use crate::delivery::record::Origin;
use crate::delivery::report::Reports;
use crate::delivery::signal::{How, Signal};
use crate::spool::{Spool, SpoolError, SpoolOptions};
use crate::{Error, FlushError};

/// Whose records a Tracker stores: each row records its account's [`Account::fingerprint`],
/// and a delivery loop claims only its own account's rows, so a leftover row is never sent
/// with another key. One process uses a file for one account.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Account {
    pub api_root: String,
    /// Compared and hashed, never printed nor stored.
    pub api_key: String,
}

/// Bytes of SHA-256 kept as a row's account tag: 128 bits tell accounts apart, at 16 bytes
/// a row.
const FINGERPRINT_LEN: usize = 16;

impl Account {
    /// What the file records instead of the key: the first 16 bytes of SHA-256 over
    /// `"<api root>\n<api key>"`. One way: the key cannot be read back from it.
    pub fn fingerprint(&self) -> [u8; FINGERPRINT_LEN] {
        let mut input = Vec::with_capacity(self.api_root.len() + 1 + self.api_key.len());
        input.extend_from_slice(self.api_root.as_bytes());
        input.push(b'\n');
        input.extend_from_slice(self.api_key.as_bytes());
        let digest = ring::digest::digest(&ring::digest::SHA256, &input);
        let mut out = [0u8; FINGERPRINT_LEN];
        out.copy_from_slice(&digest.as_ref()[..FINGERPRINT_LEN]);
        out
    }
}

pub(crate) struct SpoolShared {
    pub spool: Spool,
    /// The canonical path: the registry's key.
    path: PathBuf,
    account: Account,
    pub ledger: Mutex<Ledger>,
    /// `flush` waits here for settlements, blocking or awaiting.
    settled: Signal,
    /// Wakes delivery loops: fresh rows, a flush, a release whose retry time changes the plan.
    pub work: Notify,
    /// Rows of this account the file held when this process opened it (1 when that could
    /// not be read): a loop claims at once when there were any.
    pub left_at_open: u64,
    /// Asks a loop's heartbeat task for a take-over pass now (a flush began).
    pub recover: Notify,
    /// The owner names of this process's delivery loops on the file.
    pub owners: Mutex<Vec<String>>,
    trackers: Mutex<Vec<Weak<Origin>>>,
    /// Delivery loops running on this file in this process.
    pub drivers: AtomicUsize,
    /// The smallest `max_batch_size` of those loops: a full batch of fresh rows wakes them.
    wake_at: AtomicUsize,
    /// Causes of failure, refusal and displacement already warned about, for this file.
    pub reports: Reports,
}

impl std::fmt::Debug for SpoolShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpoolShared")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<SpoolShared>>> {
    static SPOOLS: OnceLock<Mutex<HashMap<PathBuf, Weak<SpoolShared>>>> = OnceLock::new();
    SPOOLS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The path a file is known by in the registry: canonical, also before the file exists (its
/// directory's canonical path and its name), so `./a.spool` and `/abs/a.spool` are one spool.
pub(crate) fn canonical(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    match (absolute.parent(), absolute.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(dir)
            .map(|d| d.join(name))
            .unwrap_or(absolute),
        _ => absolute,
    }
}

/// The process's handle on the spool at `path`, opened with `options` if this process has
/// none. Refuses a file this process already uses for another account or with other bounds,
/// durability or full policy: silently keeping the first settings would betray the second.
pub(crate) fn acquire(
    path: &Path,
    options: &SpoolOptions,
    account: Account,
) -> Result<Arc<SpoolShared>, Error> {
    let key = canonical(path);
    let mut map = registry().lock();
    map.retain(|_, w| w.strong_count() > 0);
    if let Some(shared) = map.get(&key).and_then(Weak::upgrade) {
        shared.check_compatible(options, &account)?;
        return Ok(shared);
    }
    let spool = Spool::open_for_account(&key, options.clone(), &account.fingerprint())
        .map_err(|e| open_error(&key, &e))?;
    match spool.live_rows_of_other_accounts() {
        Ok(0) => {}
        Ok(rows) => tracing::warn!(
            path = %key.display(),
            rows,
            "the spool holds {rows} queued records stored with another API root or key; they \
             stay in the file and will be delivered only by a Tracker with that root and key \
             (`aicm-spool stats` lists the rows per account)"
        ),
        Err(e) => tracing::debug!(error = %e, "could not count rows of other accounts"),
    }
    // Everything of this account in the file now was stored by another process: an earlier
    // run (killed, or closed during an outage) or one still running.
    let left = spool.pending_upto(i64::MAX);
    let left_at_open = left.as_ref().map_or(1, |(rows, _)| *rows);
    match left {
        Ok((0, _)) => {}
        Ok((rows, oldest)) => tracing::warn!(
            path = %key.display(),
            rows,
            oldest_age_secs = oldest.map_or(0, |a| a.as_secs()),
            "the spool holds {rows} records left by an earlier process (or held by another \
             running one), the oldest stored {}s ago; they are delivered now, and flush and \
             close wait for them",
            oldest.map_or(0, |a| a.as_secs())
        ),
        Err(e) => tracing::debug!(error = %e, "could not count the rows left in the spool"),
    }
    let shared = Arc::new(SpoolShared {
        spool,
        path: key.clone(),
        account,
        ledger: Mutex::new(Ledger::default()),
        settled: Signal::default(),
        work: Notify::new(),
        left_at_open,
        recover: Notify::new(),
        owners: Mutex::new(Vec::new()),
        trackers: Mutex::new(Vec::new()),
        drivers: AtomicUsize::new(0),
        wake_at: AtomicUsize::new(usize::MAX),
        reports: Reports::default(),
    });
    map.insert(key, Arc::downgrade(&shared));
    drop(map);
    let source: Arc<dyn HealthSource> = shared.clone();
    health::register_source(Arc::downgrade(&source));
    Ok(shared)
}

pub(crate) fn open_error(path: &Path, e: &SpoolError) -> Error {
    Error::Spool {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

impl SpoolShared {
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn check_compatible(&self, options: &SpoolOptions, account: &Account) -> Result<(), Error> {
        let refuse = |message: String| {
            Err(Error::Spool {
                path: self.path.clone(),
                message: format!("spool {}: {message}", self.path.display()),
            })
        };
        if *account != self.account {
            return refuse(
                "is already used in this process by a Tracker for another API root or key; a \
                 spool file holds the records of one account"
                    .to_owned(),
            );
        }
        let open = self.spool.options();
        let differs = open.durability != options.durability
            || open.max_rows != options.max_rows
            || open.max_bytes != options.max_bytes
            || open.on_full != options.on_full
            || open.block_timeout != options.block_timeout;
        if differs {
            return refuse(format!(
                "is already open in this process with durability {}, max_rows {:?}, max_bytes \
                 {:?}, on_full {}, block_timeout {:?}; every Tracker on one spool file needs the \
                 same spool settings (asked: durability {}, max_rows {:?}, max_bytes {:?}, \
                 on_full {}, block_timeout {:?})",
                open.durability,
                open.max_rows,
                open.max_bytes,
                open.on_full,
                open.block_timeout,
                options.durability,
                options.max_rows,
                options.max_bytes,
                options.on_full,
                options.block_timeout,
            ));
        }
        Ok(())
    }

    /// How many fresh rows make a batch for the eagerest loop.
    pub fn wake_at_fresh(&self) -> usize {
        self.wake_at.load(Ordering::Relaxed)
    }

    /// A loop with this batch size runs on the file.
    pub fn note_batch_size(&self, max_batch: usize) {
        self.wake_at.fetch_min(max_batch, Ordering::Relaxed);
    }

    /// Remembers a Tracker whose records this spool holds, for its callbacks.
    pub fn register_tracker(&self, core: &Arc<Origin>) {
        let mut trackers = self.trackers.lock();
        trackers.retain(|w| w.strong_count() > 0);
        trackers.push(Arc::downgrade(core));
    }

    /// The live Tracker a row belongs to: same config and service, else same config.
    pub fn tracker_for(&self, config_id: &str, service_id: &str) -> Option<Arc<Origin>> {
        let trackers = self.trackers.lock();
        let live: Vec<Arc<Origin>> = trackers.iter().filter_map(Weak::upgrade).collect();
        drop(trackers);
        let by_service = live
            .iter()
            .find(|t| t.config_id == config_id && t.service_id == service_id);
        by_service
            .or_else(|| live.iter().find(|t| t.config_id == config_id))
            .cloned()
    }

    /// Wakes flush waiters after the ledger changed.
    pub fn notify_settled(&self) {
        self.settled.notify();
    }

    /// Records rows settled with `outcome` and wakes flush waiters.
    pub fn settle(&self, keys: impl IntoIterator<Item = super::ledger::Key>, outcome: Outcome) {
        self.ledger.lock().settle(keys, outcome);
        self.notify_settled();
    }

    /// Where a flush starts: the highest row id in the file (0 when it cannot be read: then
    /// only this process's rows are waited for).
    fn file_target(&self) -> FileTarget {
        let upto = self.spool.max_id().unwrap_or_else(|e| {
            tracing::debug!(error = %e, "could not read the spool's last row for a flush");
            0
        });
        FileTarget { upto, from: 0 }
    }

    /// Whether the file still holds a queued or claimed row of this account up to the
    /// target; moves the target's start up to it. A failed read counts as pending.
    fn file_pending(&self, target: &mut FileTarget) -> bool {
        if target.from > target.upto {
            return false;
        }
        match self.spool.first_pending(target.from, target.upto) {
            Ok(Some(id)) => {
                target.from = id;
                true
            }
            Ok(None) => {
                target.from = target.upto.saturating_add(1);
                false
            }
            Err(e) => {
                tracing::debug!(error = %e, "could not read the spool for a flush");
                true
            }
        }
    }

    /// The error of a flush that ran out of time: this process's rows, and the rest of what
    /// the file held of this account when it began.
    fn flush_error(&self, here: usize, target: &FileTarget, timeout: Duration) -> FlushError {
        let in_file = if target.from > target.upto {
            0
        } else {
            self.spool
                .pending_upto(target.upto)
                .map_or(0, |(n, _)| usize::try_from(n).unwrap_or(usize::MAX))
        };
        let others = in_file.saturating_sub(here);
        FlushError {
            pending: here + others,
            pending_here: here,
            pending_others: others,
            timeout,
        }
    }

    /// Waits (as `how` says) until every row this process stored before the call, and every
    /// row of this account the file held then, is delivered or failed, or `timeout`. Reads of
    /// the file run inline when blocking and on the blocking pool when awaiting (the disk may
    /// be slow, the executor must not wait on it).
    pub async fn flush(self: &Arc<Self>, how: How, timeout: Duration) -> Result<(), FlushError> {
        let deadline = std::time::Instant::now() + timeout;
        let mut file = self
            .read_file(how, |this| this.file_target())
            .await
            .unwrap_or(FileTarget { upto: 0, from: 0 });
        let target = {
            let mut ledger = self.ledger.lock();
            ledger.flush_waiters += 1;
            ledger.flush_target()
        };
        // Counted out however this ends (a dropped future included).
        let _waiting = FlushWaiter(self);
        self.work.notify_waiters();
        self.recover.notify_one();
        loop {
            let mine_done = self.ledger.lock().settled_below(target);
            if mine_done {
                let (pending, read) = self
                    .read_file(how, move |this| {
                        let pending = this.file_pending(&mut file);
                        (pending, file)
                    })
                    .await
                    .unwrap_or((true, file));
                file = read;
                if !pending {
                    return Ok(());
                }
            }
            let now = std::time::Instant::now();
            if self.drivers.load(Ordering::Acquire) == 0 || now >= deadline {
                let here = self.ledger.lock().pending_below(target);
                return Err(self
                    .read_file(how, move |this| this.flush_error(here, &file, timeout))
                    .await
                    .unwrap_or_else(|| FlushError::new(here, timeout)));
            }
            // Any settlement wakes the wait to look again; rows settled by other processes
            // are looked for every FILE_POLL.
            let wake = if mine_done {
                deadline.min(now + FILE_POLL)
            } else {
                deadline
            };
            // The first check (made once the wait is registered) catches a settlement that
            // came after `mine_done` was read; every later one follows a notification.
            let mut checks = 0u32;
            let settled = || {
                checks += 1;
                (checks > 1 || self.ledger.lock().settled_below(target) != mine_done).then_some(())
            };
            self.settled.wait(how, Some(wake), settled).await;
        }
    }

    /// Runs a read of the file inline (`How::Block`) or on the blocking pool (`How::Await`);
    /// `None` when the pool lost the task.
    async fn read_file<T: Send + 'static>(
        self: &Arc<Self>,
        how: How,
        read: impl FnOnce(&SpoolShared) -> T + Send + 'static,
    ) -> Option<T> {
        match how {
            How::Block => Some(read(self)),
            How::Await => {
                let this = self.clone();
                tokio::task::spawn_blocking(move || read(&this)).await.ok()
            }
        }
    }

    /// This process's counters with the file's depth and oldest row.
    pub fn health(&self) -> DeliveryHealth {
        let view = self.ledger.lock().view();
        let mut h = DeliveryHealth::from_state(
            self.drivers.load(Ordering::Acquire) > 0,
            view.queued,
            0,
            view.in_flight,
            view.counters,
            view.last_error,
            view.last_success_at,
        );
        let max_rows = self.spool.options().max_rows;
        h.queue_capacity = max_rows.map_or(0, |m| usize::try_from(m).unwrap_or(usize::MAX));
        match self.spool.stats() {
            Ok(stats) => {
                h.spool_depth = Some(stats.depth());
                let mine = (view.queued + view.in_flight) as u64;
                h.spool_left_by_others = Some(stats.depth().saturating_sub(mine));
                let owners = self.owners.lock().clone();
                let held_here: u64 = owners
                    .iter()
                    .filter_map(|o| self.spool.held_by(o).ok())
                    .sum();
                h.spool_held_by_others = Some(stats.claimed.saturating_sub(held_here));
                h.spool_oldest_age_secs = stats.oldest_age.map(|a| a.as_secs_f64());
                h.queue_utilization = match max_rows {
                    Some(max) if max > 0 => (stats.depth() as f64 / max as f64).clamp(0.0, 1.0),
                    _ => 0.0,
                };
            }
            Err(e) => {
                tracing::debug!(error = %e, "spool stats unavailable for health");
                h.spool_depth = None;
            }
        }
        h
    }
}

/// How often a flush reads the file again while only other processes' rows are left.
const FILE_POLL: Duration = Duration::from_millis(50);

/// The rows of the file a flush waits for: this account's, with ids `from..=upto`.
#[derive(Debug, Clone, Copy)]
struct FileTarget {
    upto: i64,
    from: i64,
}

struct FlushWaiter<'a>(&'a SpoolShared);

impl Drop for FlushWaiter<'_> {
    fn drop(&mut self) {
        self.0.ledger.lock().flush_waiters -= 1;
    }
}

impl HealthSource for SpoolShared {
    fn health(&self) -> DeliveryHealth {
        SpoolShared::health(self)
    }
}

impl Drop for SpoolShared {
    fn drop(&mut self) {
        let last = self.health();
        health::retire_source(self as *const SpoolShared as *const (), last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_sha256_of_root_and_key_and_tells_accounts_apart() {
        let a = Account {
            api_root: "https://aicostmanager.com/api/v1".into(),
            api_key: "sk-a".into(),
        };
        // printf 'https://aicostmanager.com/api/v1\nsk-a' | sha256sum
        let hex: String = a.fingerprint().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "a91f2b62a1ad321b543192a56f91d153");
        let b = Account {
            api_key: "sk-b".into(),
            ..a.clone()
        };
        let c = Account {
            api_root: "http://127.0.0.1:1/api/v1".into(),
            ..a.clone()
        };
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
    }
}
