//! The shared background delivery queue: bounded, batched, retried, accounted for.

pub(crate) mod bisect;
pub(crate) mod health;
pub(crate) mod options;
pub(crate) mod queue;
pub(crate) mod record;
pub(crate) mod registry;
pub(crate) mod report;
pub(crate) mod retry;
pub(crate) mod send;
pub(crate) mod signal;
#[cfg(feature = "spool")]
pub(crate) mod spooled;
pub(crate) mod wire;
pub(crate) mod worker;

/// Sent as `User-Agent` on every request.
pub(crate) const USER_AGENT_VALUE: &str = concat!("aicm-rust/", env!("CARGO_PKG_VERSION"));
