//! Delivery settings: what makes two Trackers share a worker, and what happens when the queue
//! is full.

use std::time::Duration;

pub(crate) use crate::policy::OnFull;

/// Everything about delivery that a worker is built with. Trackers whose options (and API root
/// and key) are equal share one worker.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct DeliveryOptions {
    pub queue_size: usize,
    pub max_batch_size: usize,
    pub batch_interval: Duration,
    pub timeout: Duration,
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub max_concurrent_requests: usize,
    pub on_full: OnFull,
    pub block_timeout: Option<Duration>,
    pub close_timeout: Duration,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            queue_size: defaults::QUEUE_SIZE,
            max_batch_size: defaults::MAX_BATCH_SIZE,
            batch_interval: defaults::BATCH_INTERVAL,
            timeout: defaults::TIMEOUT,
            max_retries: defaults::MAX_RETRIES,
            initial_backoff: defaults::INITIAL_BACKOFF,
            max_backoff: defaults::MAX_BACKOFF,
            max_concurrent_requests: defaults::MAX_CONCURRENT_REQUESTS,
            on_full: OnFull::Backpressure,
            block_timeout: None,
            close_timeout: defaults::CLOSE_TIMEOUT,
        }
    }
}

/// The documented defaults of every delivery setting.
pub mod defaults {
    use std::time::Duration;

    /// Records the in-memory queue holds (about 150 bytes each plus the usage itself).
    pub const QUEUE_SIZE: usize = 10_000;
    /// Records per `POST /track-usage`.
    pub const MAX_BATCH_SIZE: usize = 1_000;
    /// How long a partial batch may wait for more records.
    pub const BATCH_INTERVAL: Duration = Duration::from_millis(500);
    /// Per-request HTTP timeout.
    pub const TIMEOUT: Duration = Duration::from_secs(30);
    /// Retries of one batch after its first attempt (network errors, timeouts, 408, 429, 5xx).
    pub const MAX_RETRIES: u32 = 8;
    /// First retry wait before jitter; doubles per attempt.
    pub const INITIAL_BACKOFF: Duration = Duration::from_millis(250);
    /// Longest single retry wait, `Retry-After` included.
    pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
    /// Batches in flight at once, so one retrying batch never stalls the rest.
    pub const MAX_CONCURRENT_REQUESTS: usize = 4;
    /// How long `close()` waits for queued records to be delivered.
    pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);
    /// How long dropping the last clone of an unclosed Tracker waits for queued records.
    pub const DROP_TIMEOUT: Duration = Duration::from_secs(5);
}
