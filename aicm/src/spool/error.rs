//! What can go wrong with a spool. Every variant names the spool's path, so an operator reading
//! a log line knows which file to look at.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// An error from opening or using a [`Spool`](super::Spool).
///
/// Clone, because one failed group commit is reported to every caller that shared it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolError {
    /// The file cannot be used as a spool: not an SQLite database, corrupt, a directory,
    /// unreadable, read-only, another application's database, or written by a newer aicm.
    /// The spool never starts empty in its place.
    #[error("spool {}: {message}", .path.display())]
    Open {
        /// The spool's path.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// No spool exists at the path and [`SpoolOptions::create`](super::SpoolOptions::create)
    /// is off (the CLI never creates one by accident).
    #[error("no spool at {}", .path.display())]
    NotFound {
        /// The path that was asked for.
        path: PathBuf,
    },
    /// The spool is at its row or byte limit and the policy refuses the record
    /// (`OnFull::Raise`, or `OnFull::Backpressure` when no queued row can be displaced).
    #[error(
        "spool {} is full: {rows} rows, {bytes} bytes (limits: {} rows, {} bytes)",
        .path.display(),
        fmt_limit(*.max_rows),
        fmt_limit(*.max_bytes)
    )]
    Full {
        /// The spool's path.
        path: PathBuf,
        /// Queued and claimed rows when the record was refused.
        rows: u64,
        /// Their bytes.
        bytes: u64,
        /// The row limit.
        max_rows: Option<u64>,
        /// The byte limit.
        max_bytes: Option<u64>,
    },
    /// `OnFull::Block` waited its whole `block_timeout` without room appearing.
    #[error("spool {} stayed full for {timeout:?}", .path.display())]
    BlockTimedOut {
        /// The spool's path.
        path: PathBuf,
        /// How long the append waited.
        timeout: Duration,
    },
    /// One record is larger than the byte limit, so no amount of waiting or displacing helps.
    #[error(
        "record of {size} bytes cannot fit in spool {} (max_bytes {max_bytes})",
        .path.display()
    )]
    TooLarge {
        /// The spool's path.
        path: PathBuf,
        /// The record's size.
        size: u64,
        /// The byte limit.
        max_bytes: u64,
    },
    /// SQLite failed: an I/O error, a full disk, another process holding the write lock past
    /// `busy_timeout`, corruption found while reading. Nothing of the failed operation was
    /// committed.
    #[error("spool {}: {operation} failed: {message}", .path.display())]
    Storage {
        /// The spool's path.
        path: PathBuf,
        /// What was being done (`append`, `claim`, ...).
        operation: &'static str,
        /// SQLite's message.
        message: String,
        /// The lock was held by another connection past `busy_timeout`: trying again may work.
        busy: bool,
    },
    /// The spool's writer has stopped (the `Spool` is being dropped).
    #[error("spool {} is closed", .path.display())]
    Closed {
        /// The spool's path.
        path: PathBuf,
    },
}

fn fmt_limit(limit: Option<u64>) -> String {
    limit.map_or_else(|| "no".to_owned(), |n| n.to_string())
}

impl SpoolError {
    /// Whether the same call may succeed later without anyone changing the file.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SpoolError::Full { .. }
                | SpoolError::BlockTimedOut { .. }
                | SpoolError::Storage { busy: true, .. }
        )
    }

    pub(crate) fn storage(path: &Path, operation: &'static str, e: &rusqlite::Error) -> SpoolError {
        let busy = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        SpoolError::Storage {
            path: path.to_owned(),
            operation,
            message: e.to_string(),
            busy,
        }
    }

    pub(crate) fn open(path: &Path, message: impl Into<String>) -> SpoolError {
        SpoolError::Open {
            path: path.to_owned(),
            message: message.into(),
        }
    }
}
