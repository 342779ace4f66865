//! One worker per (API root, API key, INI path, delivery options): Trackers with equal settings
//! share it, Trackers with different keys or roots never do (no key mixing).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::options::DeliveryOptions;
use super::worker::Worker;
use crate::Error;

#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct WorkerKey {
    pub api_root: String,
    /// Compared, never printed (the type has no Debug).
    pub api_key: String,
    pub ini_path: PathBuf,
    pub options: DeliveryOptions,
    /// A caller-supplied HTTP client cannot be compared: such a worker is never shared.
    pub unique: Option<u64>,
    /// The durable spool's canonical path and the lease its loop claims with: Trackers on one
    /// file share its handle (one per process) and, with equal options, one delivery loop.
    pub spool: Option<(PathBuf, std::time::Duration)>,
    /// The contract setting: Trackers never share a worker across contracts.
    pub protocol: super::wire::Protocol,
}

struct Entry {
    worker: Arc<Worker>,
    users: usize,
}

fn workers() -> &'static Mutex<HashMap<WorkerKey, Entry>> {
    static WORKERS: OnceLock<Mutex<HashMap<WorkerKey, Entry>>> = OnceLock::new();
    WORKERS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The running worker for `key` with one more user, started by `start` if there is none.
pub(crate) fn acquire(
    key: WorkerKey,
    start: impl FnOnce() -> Result<Worker, Error>,
) -> Result<Arc<Worker>, Error> {
    let mut map = workers().lock();
    if let Some(entry) = map.get_mut(&key)
        && entry.users > 0
        && !entry.worker.queue.is_closing()
    {
        entry.users += 1;
        return Ok(entry.worker.clone());
    }
    let worker = Arc::new(start()?);
    map.insert(
        key,
        Entry {
            worker: worker.clone(),
            users: 1,
        },
    );
    Ok(worker)
}

/// One user fewer. The last one tells the worker to deliver what is left and stop; returns
/// whether this was the last.
pub(crate) fn release(worker: &Arc<Worker>) -> bool {
    let mut map = workers().lock();
    let key = map
        .iter()
        .find(|(_, e)| Arc::ptr_eq(&e.worker, worker))
        .map(|(k, _)| k.clone());
    let last = match key {
        Some(key) => {
            let last = match map.get_mut(&key) {
                Some(entry) => {
                    entry.users = entry.users.saturating_sub(1);
                    entry.users == 0
                }
                None => true,
            };
            if last {
                map.remove(&key);
            }
            last
        }
        None => true,
    };
    drop(map);
    if last {
        worker.begin_closing();
    }
    last
}
