//! `DeliveryHealth`: one consistent snapshot of a worker, and the sum over all workers.

use std::sync::{Arc, OnceLock, Weak};
use std::time::SystemTime;

use parking_lot::Mutex;

use super::queue::{Counters, Queue};
use super::record::format_timestamp;

/// One consistent snapshot of a delivery worker, in which
/// `total_accepted = total_sent + total_failed + total_discarded + queue_size + in_flight`.
///
/// Every `total_*` counts records; `batches_sent` and `retries` count requests.
///
/// With a durable spool the counters are this process's view of the spool file, and the
/// identity holds for them: `total_accepted` counts the records this process's Trackers stored
/// plus rows of other processes (or of an earlier run) that this process's worker took over
/// or displaced; `queue_size` is how many of those rows wait in the file (fresh or backing off
/// before a retry) and `in_flight` how many this worker holds claimed. A row this process
/// stored but another process delivered counts as sent once `flush` (or a periodic check)
/// sees it gone. `spool_depth` and `spool_oldest_age_secs` describe the whole file, every
/// process's rows included (`spool_left_by_others` and `spool_held_by_others` say how much of
/// it is not this process's), and `queue_capacity` / `queue_utilization` are its row limit and
/// how full it is.
///
/// ```no_run
/// let tracker = aicm::Tracker::track_api().build()?;
/// let health = tracker.health();
/// assert!(health.is_balanced());
/// if health.total_failed > 0 {
///     eprintln!("{} record(s) not delivered, last error: {:?}", health.total_failed,
///               health.last_error);
/// }
/// # Ok::<(), aicm::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct DeliveryHealth {
    /// Whether the worker thread is running.
    pub worker_alive: bool,
    /// Records waiting in the queue.
    pub queue_size: usize,
    /// The queue's capacity.
    pub queue_capacity: usize,
    /// `queue_size / queue_capacity`, from 0.0 to 1.0.
    pub queue_utilization: f64,
    /// Records taken from the queue and not yet settled (being sent or waiting to retry).
    pub in_flight: usize,
    /// Records `track` accepted.
    pub total_accepted: u64,
    /// Records the server acknowledged with a 2xx.
    pub total_sent: u64,
    /// Records that will not be delivered: refused by the server or out of retries.
    pub total_failed: u64,
    /// Records dropped to make room under `OnFull::Backpressure`.
    pub total_discarded: u64,
    /// Successful `POST /track-usage` requests.
    pub batches_sent: u64,
    /// Requests that were retried.
    pub retries: u64,
    /// The most recent delivery error, if any.
    pub last_error: Option<String>,
    /// When the last 2xx arrived (RFC 3339).
    pub last_success_at: Option<String>,
    /// Rows waiting in the durable spool file (queued or claimed, by any process): what a
    /// restart would still deliver. `None` without a spool.
    pub spool_depth: Option<u64>,
    /// How long ago the oldest row waiting in the spool was stored, in seconds: how far behind
    /// delivery is during an outage. `None` without a spool, or when it is empty.
    pub spool_oldest_age_secs: Option<f64>,
    /// Of `spool_depth`, rows this process does not answer for: stored by another process
    /// or an earlier run (killed, or closed during an outage) and not yet taken over here.
    /// `None` without a spool.
    pub spool_left_by_others: Option<u64>,
    /// Rows of the spool file claimed by other running processes (a holder that is gone has
    /// its rows taken over within a heartbeat or two). `None` without a spool.
    pub spool_held_by_others: Option<u64>,
    /// The contract of the API the worker speaks (`track` or `configs`), in a Tracker's
    /// snapshot; `None` in a sum over workers that speak different ones.
    pub protocol: Option<crate::Protocol>,
}

impl DeliveryHealth {
    pub(crate) fn from_state(
        worker_alive: bool,
        queue_size: usize,
        queue_capacity: usize,
        in_flight: usize,
        c: Counters,
        last_error: Option<String>,
        last_success_at: Option<SystemTime>,
    ) -> DeliveryHealth {
        DeliveryHealth {
            worker_alive,
            queue_size,
            queue_capacity,
            queue_utilization: if queue_capacity == 0 {
                0.0
            } else {
                (queue_size as f64 / queue_capacity as f64).clamp(0.0, 1.0)
            },
            in_flight,
            total_accepted: c.accepted,
            total_sent: c.sent,
            total_failed: c.failed,
            total_discarded: c.discarded,
            batches_sent: c.batches_sent,
            retries: c.retries,
            last_error,
            last_success_at: last_success_at.map(format_timestamp),
            spool_depth: None,
            spool_oldest_age_secs: None,
            spool_left_by_others: None,
            spool_held_by_others: None,
            protocol: None,
        }
    }

    /// Whether the accounting identity holds (it always should; tests assert it).
    pub fn is_balanced(&self) -> bool {
        self.total_accepted
            == self.total_sent
                + self.total_failed
                + self.total_discarded
                + self.queue_size as u64
                + self.in_flight as u64
    }

    /// Adds another snapshot's figures (a sum over workers, or a spooled worker's in-memory
    /// part). Capacity and utilisation are summed as queues; spool figures as files.
    pub(crate) fn add(&mut self, other: &DeliveryHealth) {
        self.worker_alive |= other.worker_alive;
        self.queue_size += other.queue_size;
        self.queue_capacity += other.queue_capacity;
        self.in_flight += other.in_flight;
        self.total_accepted += other.total_accepted;
        self.total_sent += other.total_sent;
        self.total_failed += other.total_failed;
        self.total_discarded += other.total_discarded;
        self.batches_sent += other.batches_sent;
        self.retries += other.retries;
        if other.last_error.is_some() {
            self.last_error.clone_from(&other.last_error);
        }
        if other.last_success_at > self.last_success_at {
            self.last_success_at.clone_from(&other.last_success_at);
        }
        self.spool_depth = match (self.spool_depth, other.spool_depth) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.spool_oldest_age_secs = match (self.spool_oldest_age_secs, other.spool_oldest_age_secs)
        {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let sum = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.spool_left_by_others = sum(self.spool_left_by_others, other.spool_left_by_others);
        self.spool_held_by_others = sum(self.spool_held_by_others, other.spool_held_by_others);
        self.queue_utilization = if self.queue_capacity == 0 {
            0.0
        } else {
            (self.queue_size as f64 / self.queue_capacity as f64).clamp(0.0, 1.0)
        };
    }

    pub(crate) fn zero() -> DeliveryHealth {
        DeliveryHealth::from_state(false, 0, 0, 0, Counters::default(), None, None)
    }
}

/// What contributes to [`global_delivery_health`]: a worker's memory queue, or the ledger of a
/// durable spool open in this process.
pub(crate) trait HealthSource: Send + Sync {
    fn health(&self) -> DeliveryHealth;
}

impl HealthSource for Queue {
    fn health(&self) -> DeliveryHealth {
        Queue::health(self)
    }
}

/// Every source ever registered in this process (weakly) and the final figures of stopped
/// ones.
struct GlobalHealth {
    live: Vec<Weak<dyn HealthSource>>,
    retired: DeliveryHealth,
}

fn addr_of(w: &Weak<dyn HealthSource>) -> *const () {
    Weak::as_ptr(w) as *const ()
}

fn global() -> &'static Mutex<Option<GlobalHealth>> {
    static GLOBAL: OnceLock<Mutex<Option<GlobalHealth>>> = OnceLock::new();
    GLOBAL.get_or_init(|| Mutex::new(None))
}

/// Registers a new worker's queue for [`global_delivery_health`].
pub(crate) fn register(queue: &Arc<Queue>) {
    let queue: Arc<dyn HealthSource> = queue.clone();
    register_source(Arc::downgrade(&queue));
}

/// Registers any source (a spool's ledger) for [`global_delivery_health`].
pub(crate) fn register_source(source: Weak<dyn HealthSource>) {
    let mut global = global().lock();
    let g = global.get_or_insert_with(|| GlobalHealth {
        live: Vec::new(),
        retired: DeliveryHealth::zero(),
    });
    g.live.retain(|w| w.strong_count() > 0);
    g.live.push(source);
}

/// Moves a stopped worker's final figures into the retired sum.
pub(crate) fn retire(queue: &Arc<Queue>) {
    retire_source(Arc::as_ptr(queue) as *const (), queue.health());
}

/// Moves the final figures `last` of the source at `addr` into the retired sum (once: a
/// source no longer registered is ignored). Callable from the source's `Drop`.
pub(crate) fn retire_source(addr: *const (), mut last: DeliveryHealth) {
    let mut global = global().lock();
    if let Some(g) = global.as_mut() {
        let present = g.live.iter().any(|w| addr_of(w) == addr);
        g.live
            .retain(|w| w.strong_count() > 0 && addr_of(w) != addr);
        if present {
            last.worker_alive = false;
            last.queue_capacity = 0;
            // What is still in a file no handle has open is nobody's backlog here any more.
            last.spool_depth = None;
            last.spool_oldest_age_secs = None;
            last.spool_left_by_others = None;
            last.spool_held_by_others = None;
            g.retired.add(&last);
        }
    }
}

/// The sum of [`DeliveryHealth`] over every delivery worker of the process.
///
/// `None` before the first Tracker was created; afterwards always `Some`, closed workers
/// included (their final counts stay in the sum).
pub fn global_delivery_health() -> Option<DeliveryHealth> {
    let global = global().lock();
    let g = global.as_ref()?;
    let mut sum = g.retired.clone();
    sum.worker_alive = false;
    for queue in g.live.iter().filter_map(Weak::upgrade) {
        sum.add(&queue.health());
    }
    Some(sum)
}
