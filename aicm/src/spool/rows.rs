//! What the spool hands back: appended, displaced, claimed and failed rows, and its stats.
//! Bodies are the bytes the caller appended; the spool never parses them.
//!
//! Public: what an operator reads and selects (`FailedRow`, `SpoolStats`, `AccountRows`,
//! `Selection`). Crate-internal: what only the delivery loop and the spooled Tracker handle
//! (`IdSource`, `Appended`, `DisplacedRow`, `ClaimedRow`, `WriterStats`); tests and benchmarks
//! outside the crate reach those rows through `aicm::testing::SpoolRows`.

use std::time::{Duration, SystemTime};

/// Where an appended record's `response_id` comes from, which decides how the spool keeps it
/// unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdSource {
    /// Chosen by the caller (`TrackOptions::response_id`, a backfill's own key): it may repeat,
    /// so the spool looks it up in a unique index and stores a re-append once
    /// ([`Appended::duplicate`]).
    Given,
    /// Generated for this record as a UUID (time-ordered, with at least 73 random bits across
    /// processes and a monotonic counter within one): new by construction, so the spool
    /// neither looks it up nor indexes it. That saves an index page and a lookup in every
    /// commit. Should a caller later give the same id again, the spool stores it a second
    /// time and the server deduplicates it, as it does for a row re-appended after delivery.
    Generated,
}

/// A stored append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Appended {
    /// The row's id. Not reused while the row exists (an id may come back once the row and
    /// every newer one are gone).
    pub id: i64,
    /// A row with the same given `response_id` ([`IdSource::Given`]) was already in the
    /// spool (queued, claimed or failed): nothing new was stored and `id` is that row's. Rows
    /// already delivered (acknowledged) are gone, so re-appending one stores it again; the
    /// server deduplicates it.
    pub duplicate: bool,
    /// Rows deleted to make room under `OnFull::Backpressure`, oldest first. The caller
    /// counts and reports them as discarded.
    pub displaced: Vec<DisplacedRow>,
}

/// A queued row deleted to make room for a newer one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DisplacedRow {
    /// Its row id.
    pub id: i64,
    /// Its response id.
    pub response_id: String,
    /// Its body, as appended.
    pub body: Vec<u8>,
}

/// A row claimed for delivery: it belongs to the claiming owner until its lease ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClaimedRow {
    /// The row id to `ack`, `release`, `fail` or `renew` with.
    pub id: i64,
    /// The response id the server deduplicates on.
    pub response_id: String,
    /// The body as appended: one `usage_records` item.
    pub body: Vec<u8>,
    /// The config id given to `append`.
    pub config_id: String,
    /// Earlier delivery attempts that ended in `release` (0 for a fresh row).
    pub attempts: u32,
    /// When it was appended.
    pub created_at: SystemTime,
}

/// A row that will not be delivered unless an operator requeues it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailedRow {
    /// Its row id, for `requeue` and `purge`.
    pub id: i64,
    /// Its response id.
    pub response_id: String,
    /// Its config id.
    pub config_id: String,
    /// Its body, as appended.
    pub body: Vec<u8>,
    /// Delivery attempts made.
    pub attempts: u32,
    /// The HTTP status of the last answer, if there was one.
    pub last_status: Option<u16>,
    /// The server's reason, or the network error.
    pub last_error: Option<String>,
    /// When it was appended.
    pub created_at: SystemTime,
    /// When it was failed.
    pub failed_at: Option<SystemTime>,
}

/// One snapshot of a spool, consistent across its fields (one read transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpoolStats {
    /// Rows waiting for delivery (including those backing off before a retry).
    pub queued: u64,
    /// Rows claimed by a delivery worker (in flight, or held by a dead process until its
    /// lease ends).
    pub claimed: u64,
    /// Rows that failed and wait for an operator.
    pub failed: u64,
    /// Body bytes of queued and claimed rows (what `max_bytes` bounds).
    pub live_bytes: u64,
    /// Body bytes of failed rows.
    pub failed_bytes: u64,
    /// When the oldest queued or claimed row was appended.
    pub oldest_created_at: Option<SystemTime>,
    /// How long ago that was (zero if the clock went backwards).
    pub oldest_age: Option<Duration>,
    /// Rows ever appended to this file: its change over time is the append rate.
    pub appended_total: u64,
    /// Size on disk of the database and its write-ahead log.
    pub file_bytes: u64,
    /// The row limit this handle enforces.
    pub max_rows: Option<u64>,
    /// The byte limit this handle enforces.
    pub max_bytes: Option<u64>,
}

impl SpoolStats {
    /// Rows not yet delivered nor failed: `queued + claimed`.
    pub fn depth(&self) -> u64 {
        self.queued + self.claimed
    }
}

/// The rows of one account in a spool file. A row records which account (API root and key)
/// stored it, as a fingerprint (never the key): a delivery worker claims only its own
/// account's rows, so a file reused with another key keeps the rows of the first until a
/// process with that key delivers them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccountRows {
    /// The account's fingerprint in hex (the first 16 bytes of SHA-256 over the API root and
    /// key); empty for rows stored through the spool alone, with no account.
    pub account: String,
    /// Its rows waiting for delivery.
    pub queued: u64,
    /// Its rows claimed by a delivery worker.
    pub claimed: u64,
    /// Its failed rows.
    pub failed: u64,
}

/// Which failed rows an operator command applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every failed row.
    All,
    /// These row ids (ids of rows that are not failed are ignored).
    Ids(Vec<i64>),
}

/// Counters of the group-commit writer since the spool was opened.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct WriterStats {
    /// Transactions committed.
    pub commits: u64,
    /// Appends stored (duplicates included) by those commits.
    pub appends: u64,
    /// Time the writer spent running groups (the rest it waited for work).
    pub busy: std::time::Duration,
}
