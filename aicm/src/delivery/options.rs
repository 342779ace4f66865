//! Delivery settings: what makes two Trackers share a worker, and what happens when the queue
//! is full.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// What `track` does when the delivery queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OnFull {
    /// Wait for room: `track` blocks the calling thread, `track_async` awaits.
    Block,
    /// Refuse the record with [`TrackError::QueueFull`](crate::TrackError::QueueFull).
    Raise,
    /// Drop the oldest queued record (counted in `total_discarded`, handed to `on_discard`)
    /// to make room. The default: a metering SDK must never stall its host.
    #[default]
    Backpressure,
}

impl OnFull {
    /// The accepted spellings, for error messages.
    pub const VARIANTS: [&'static str; 3] = ["block", "raise", "backpressure"];

    fn as_str(self) -> &'static str {
        match self {
            OnFull::Block => "block",
            OnFull::Raise => "raise",
            OnFull::Backpressure => "backpressure",
        }
    }
}

impl fmt::Display for OnFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `OnFull` spelling that is not one of `block`, `raise`, `backpressure`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid on-full policy `{0}`: expected one of block, raise, backpressure")]
pub struct ParseOnFullError(pub String);

impl FromStr for OnFull {
    type Err = ParseOnFullError;

    /// Case-insensitive, surrounding whitespace ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "block" => Ok(OnFull::Block),
            "raise" => Ok(OnFull::Raise),
            "backpressure" => Ok(OnFull::Backpressure),
            _ => Err(ParseOnFullError(s.to_owned())),
        }
    }
}

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
