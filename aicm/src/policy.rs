//! What `track` does when the queue (or the spool) is full: a policy of the Tracker's that the
//! memory queue and the spool store both apply, so it lives here, below both.

use std::fmt;
use std::str::FromStr;

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
