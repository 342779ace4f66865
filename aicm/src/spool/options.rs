//! How a spool is opened: durability, bounds, what happens when it is full, lock waits.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::OnFull;

/// How far a commit goes before an append (a spooled `track`) reports the record as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Durability {
    /// The record survives the process being killed (SIGKILL, abort, the OOM killer): the commit
    /// is in the write-ahead log in the operating system's cache, not yet necessarily on the
    /// platter. A power loss or kernel crash may lose the last commits, never corrupt the
    /// file. SQLite WAL with `synchronous=NORMAL`. The default: it costs no fsync per commit.
    #[default]
    Process,
    /// The record also survives a power loss or kernel crash: the log is fsynced at every
    /// group commit (`synchronous=FULL`). Costs one fsync per commit (milliseconds on many
    /// disks), shared by all the appends of that commit.
    Fsync,
}

impl Durability {
    /// The accepted spellings, for error messages.
    pub const VARIANTS: [&'static str; 2] = ["process", "fsync"];

    pub(crate) fn synchronous_pragma(self) -> &'static str {
        match self {
            Durability::Process => "NORMAL",
            Durability::Fsync => "FULL",
        }
    }
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Durability::Process => "process",
            Durability::Fsync => "fsync",
        })
    }
}

/// A durability spelling that is not `process` (alias `normal`) or `fsync` (alias `full`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid spool durability `{0}`: expected process or fsync")]
pub struct ParseDurabilityError(pub String);

impl FromStr for Durability {
    type Err = ParseDurabilityError;

    /// Case-insensitive; SQLite's names `normal` and `full` are accepted too.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "process" | "normal" => Ok(Durability::Process),
            "fsync" | "full" => Ok(Durability::Fsync),
            _ => Err(ParseDurabilityError(s.to_owned())),
        }
    }
}

/// Settings of one opened spool. Build with `SpoolOptions::default()` and change fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpoolOptions {
    /// What "stored" means when an append (a spooled `track`) returns. Default
    /// [`Durability::Process`].
    pub durability: Durability,
    /// At most this many queued and claimed rows (failed rows are not counted: they stay for
    /// the operator until requeued or purged). `None`: no row limit. Default 1,000,000.
    pub max_rows: Option<u64>,
    /// At most this many bytes of record bodies in queued and claimed rows (the file is
    /// larger by SQLite's overhead and its indexes, roughly 1.5×). `None`: no byte limit.
    /// Default 1 GiB.
    pub max_bytes: Option<u64>,
    /// What an append does at a limit: `Raise` refuses the record, `Block` waits for room
    /// (rows acknowledged by this or another process), `Backpressure` deletes the oldest
    /// queued rows to make room (a spooled Tracker counts them as discarded and hands them to
    /// `on_discard`). Default `Backpressure`, as for the memory queue.
    pub on_full: OnFull,
    /// The longest `OnFull::Block` waits before failing with
    /// [`SpoolError::BlockTimedOut`](super::SpoolError::BlockTimedOut). `None`: no limit.
    pub block_timeout: Option<Duration>,
    /// The lease a delivery worker should claim rows with: how long another process waits
    /// before it takes over rows whose owner died. Longer than one batch's delivery with its
    /// retries, or renewed meanwhile. Default 5 minutes. A running delivery loop renews the
    /// lease of every row it holds at each heartbeat, so a live holder keeps its rows however
    /// long a request takes; the lease matters only for a holder that stopped beating and
    /// could not be recognised as gone (see `heartbeat_interval`).
    pub lease: Duration,
    /// How often a delivery loop records that it is alive (its row in the file's owner table)
    /// and looks for holders that are gone, whose rows it then takes over at once. Default 2 s.
    pub heartbeat_interval: Duration,
    /// A holder on another host (or one whose process cannot be looked up) is taken as gone
    /// once its heartbeat is this old. A holder on this host is gone as soon as its process
    /// id no longer runs the process that claimed. Default 15 s.
    pub heartbeat_timeout: Duration,
    /// How long to wait for another process's write lock before an operation fails.
    /// Default 5 s.
    pub busy_timeout: Duration,
    /// Create the file when it does not exist. Default `true`; the CLI turns it off so that a
    /// mistyped path is an error, not a new empty spool.
    pub create: bool,
    /// `PRAGMA quick_check` runs at open when the database file is at most this large
    /// (it reads every page). Larger spools are checked as they are read. Default 64 MiB.
    pub integrity_check_max_bytes: u64,
}

/// The documented defaults of [`SpoolOptions`].
pub mod defaults {
    use std::time::Duration;

    /// Queued and claimed rows a spool holds.
    pub const MAX_ROWS: u64 = 1_000_000;
    /// Bytes of record bodies a spool holds.
    pub const MAX_BYTES: u64 = 1 << 30;
    /// Lease of claimed rows.
    pub const LEASE: Duration = Duration::from_secs(300);
    /// Interval of a delivery loop's heartbeat.
    pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);
    /// Age of a heartbeat after which its holder is taken as gone.
    pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(15);
    /// Wait for another process's write lock.
    pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
    /// Largest file checked with `PRAGMA quick_check` at open.
    pub const INTEGRITY_CHECK_MAX_BYTES: u64 = 64 << 20;
}

impl Default for SpoolOptions {
    fn default() -> Self {
        SpoolOptions {
            durability: Durability::Process,
            max_rows: Some(defaults::MAX_ROWS),
            max_bytes: Some(defaults::MAX_BYTES),
            on_full: OnFull::Backpressure,
            block_timeout: None,
            lease: defaults::LEASE,
            heartbeat_interval: defaults::HEARTBEAT_INTERVAL,
            heartbeat_timeout: defaults::HEARTBEAT_TIMEOUT,
            busy_timeout: defaults::BUSY_TIMEOUT,
            create: true,
            integrity_check_max_bytes: defaults::INTEGRITY_CHECK_MAX_BYTES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durability_spellings() {
        assert_eq!("process".parse(), Ok(Durability::Process));
        assert_eq!(" NORMAL ".parse(), Ok(Durability::Process));
        assert_eq!("Fsync".parse(), Ok(Durability::Fsync));
        assert_eq!("full".parse(), Ok(Durability::Fsync));
        assert_eq!(
            "sometimes".parse::<Durability>(),
            Err(ParseDurabilityError("sometimes".into()))
        );
        assert_eq!(Durability::default().synchronous_pragma(), "NORMAL");
        assert_eq!(Durability::Fsync.synchronous_pragma(), "FULL");
    }
}
