//! Counting records the server refused or that ran out of retries, from the `on_failed`
//! callback (which runs on the delivery worker, after `track` has long returned).

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use aicm::FailedRecord;

/// How many failures are kept with their details; the rest are only counted.
const KEPT: usize = 20;

/// Delivery failures of a job. Cheap to clone: clones share the count.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFailures {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    count: u64,
    first: Vec<FailedRow>,
}

/// One failed record: which line it came from and why it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRow {
    /// The line, read back from the record's context (`None` if it carried none).
    pub line: Option<u64>,
    /// The HTTP status of the last answer, if there was one.
    pub status: Option<u16>,
    /// The server's message or the network error.
    pub error: String,
}

impl DeliveryFailures {
    /// A callback for `TrackerBuilder::on_failed` that counts into this value.
    pub fn callback(&self) -> impl Fn(&FailedRecord) + Send + Sync + 'static {
        let inner = Arc::clone(&self.inner);
        move |failed| {
            let mut state = lock(&inner.state);
            state.count += 1;
            if state.first.len() < KEPT {
                state.first.push(FailedRow {
                    line: failed
                        .record
                        .context
                        .as_ref()
                        .and_then(|c| c.get("line"))
                        .and_then(serde_json::Value::as_u64),
                    status: failed.status,
                    error: failed.error.clone(),
                });
            }
            drop(state);
            inner.changed.notify_all();
        }
    }

    /// Records that failed so far.
    pub fn count(&self) -> u64 {
        lock(&self.inner.state).count
    }

    /// The first failures (up to 20), with their lines.
    pub fn first(&self) -> Vec<FailedRow> {
        lock(&self.inner.state).first.clone()
    }

    /// Waits until at least `count` failures were reported or `timeout` passes; returns the
    /// count reached. The worker counts a record as settled just before it runs the callback,
    /// so right after `close` the callback may still be a record or two behind.
    pub fn wait_for(&self, count: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.inner.state);
        while state.count < count {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self
                .inner
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.count
    }
}

/// A panicking callback elsewhere must not stop the counting.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}
