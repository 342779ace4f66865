//! The error types of the public API.

use std::path::PathBuf;
use std::time::Duration;

use aicm_schema::SchemaError;

use crate::UsageValidationError;

/// Errors from creating, refreshing, flushing or closing a [`Tracker`](crate::Tracker).
///
/// No variant ever holds the API key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No API key was given to the builder and `AICM_API_KEY` is unset or empty.
    #[error("no AICostManager API key: set AICM_API_KEY or call TrackerBuilder::api_key")]
    MissingApiKey,
    /// A setting (builder value or environment variable) has a value that cannot be used.
    #[error("invalid setting {name}: {message}")]
    InvalidSetting {
        /// The environment variable or builder method, e.g. `AICM_DELIVERY_ON_FULL`.
        name: &'static str,
        /// What is wrong and what would be valid.
        message: String,
    },
    /// No verified config on the service (or in the `AICM.INI` cache) has this id.
    #[error("config `{config_id}` not found; known configs: [{}]", .known.join(", "))]
    ConfigNotFound {
        /// The config id that was asked for.
        config_id: String,
        /// The config ids that were found.
        known: Vec<String>,
    },
    /// The config's `manual_usage_schema` holds a malformed type string.
    #[error("config `{config_id}` has an invalid manual_usage_schema: {source}")]
    InvalidSchema {
        /// The config whose schema is malformed.
        config_id: String,
        /// Every bad field, with its position.
        source: SchemaError,
    },
    /// The API could not be reached (connection refused, DNS, TLS, timeout).
    #[error("AICostManager API unreachable at {url}: {message}")]
    Unreachable {
        /// The URL that was requested.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The API answered with an error status.
    #[error("AICostManager API answered {status} at {url}: {message}")]
    Api {
        /// The HTTP status code.
        status: u16,
        /// The URL that was requested.
        url: String,
        /// The server's `message` (or `error`, or the body text).
        message: String,
    },
    /// The API answered 2xx with a body that could not be understood.
    #[error("invalid response from {url}: {message}")]
    InvalidResponse {
        /// The URL that was requested.
        url: String,
        /// What could not be understood.
        message: String,
    },
    /// `AICM.INI` could not be read, written or locked.
    #[error("AICM.INI at {}: {message}", .path.display())]
    Ini {
        /// The INI path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The background delivery worker could not be started or has stopped.
    #[error("delivery worker: {0}")]
    Worker(String),
    /// `close` could not deliver everything in time.
    #[error(transparent)]
    Flush(#[from] FlushError),
    /// The durable spool cannot be used: the file is corrupt, unreadable, read-only, another
    /// application's database, or already open in this process for another account or with
    /// other bounds. A Tracker never starts with a silently empty queue in its place.
    #[error("{message}")]
    Spool {
        /// The spool file.
        path: PathBuf,
        /// What is wrong with it (names the path).
        message: String,
    },
}

/// Why `track` did not accept a record. A record that got this error was not queued.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TrackError {
    /// The usage does not match the config's schema (or holds a non-finite float).
    #[error("invalid usage: {0}")]
    Validation(Box<UsageValidationError>),
    /// Dynamic usage must be a JSON object.
    #[error("usage must be a JSON object, got {found}")]
    NotAnObject {
        /// The JSON kind given instead.
        found: &'static str,
    },
    /// A `#[derive(Usage)]` type does not match the live config's schema.
    #[error(transparent)]
    SchemaMismatch(Box<SchemaMismatch>),
    /// A `#[derive(Usage)]` type declared `config_id = "…"` for another config.
    #[error(
        "usage type `{type_name}` is for config `{expected}`, but this tracker is for `{actual}`"
    )]
    ConfigMismatch {
        /// The Rust type.
        type_name: &'static str,
        /// The config id the type declares.
        expected: &'static str,
        /// The tracker's config id.
        actual: String,
    },
    /// The usage could not be serialised to JSON.
    #[error("usage could not be serialised: {0}")]
    Serialize(String),
    /// The queue is full and the policy is `OnFull::Raise` (or `Block` timed out). With a
    /// durable spool, the spool is full (its row or byte limit) and `capacity` is its row limit.
    #[error("delivery queue is full ({capacity} records)")]
    QueueFull {
        /// The queue's capacity.
        capacity: usize,
    },
    /// The tracker was closed.
    #[error("tracker is closed")]
    Closed,
    /// `deliver_now` could not deliver the record (refused, or out of retries).
    #[error("delivery failed{}: {message}", .status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Delivery {
        /// The HTTP status of the last answer, if there was one.
        status: Option<u16>,
        /// The server's message, or the network error.
        message: String,
    },
    /// The durable spool could not store the record (a disk or SQLite error, a record larger
    /// than the spool's byte limit, or the spool closing). Nothing was stored. A full spool is
    /// [`TrackError::QueueFull`] instead.
    #[error("could not store the record in the spool: {message}")]
    Spool {
        /// What went wrong (names the spool's path).
        message: String,
    },
    /// A `TrackOptions` value is unusable (e.g. a response id that is not 32 hex digits).
    #[error("invalid track option {option}: {message}")]
    InvalidOption {
        /// The option, e.g. `response_id`.
        option: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// A `#[derive(Usage)]` type compared with the live schema of its config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct SchemaMismatch {
    /// The Rust type.
    pub type_name: &'static str,
    /// The tracker's config id.
    pub config_id: String,
    /// Required live fields the type lacks.
    pub missing_in_type: Vec<String>,
    /// Type fields the live schema lacks.
    pub unknown_to_config: Vec<String>,
    /// `(field, compiled type, live type)` where the canonical types differ.
    pub type_changes: Vec<(String, String, String)>,
}

impl SchemaMismatch {
    /// Whether no difference was recorded.
    pub fn is_empty(&self) -> bool {
        self.missing_in_type.is_empty()
            && self.unknown_to_config.is_empty()
            && self.type_changes.is_empty()
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.missing_in_type.is_empty() {
            parts.push(format!(
                "live fields missing from the type: {}",
                self.missing_in_type.join(", ")
            ));
        }
        if !self.unknown_to_config.is_empty() {
            parts.push(format!(
                "type fields unknown to the config: {}",
                self.unknown_to_config.join(", ")
            ));
        }
        for (field, compiled, live) in &self.type_changes {
            parts.push(format!(
                "`{field}` is {compiled} in the type but {live} in the config"
            ));
        }
        format!(
            "usage type `{}` does not match the live schema of config `{}`: {}",
            self.type_name,
            self.config_id,
            parts.join("; ")
        )
    }
}

/// `flush` or `close` ran out of time with records still undelivered.
///
/// ```no_run
/// use std::time::Duration;
///
/// let tracker = aicm::Tracker::track_api().build()?;
/// if let Err(e) = tracker.flush(Duration::from_secs(5)) {
///     // e.pending == e.pending_here + e.pending_others (the latter only with a spool)
///     eprintln!("{e}; of them {} stored by this process", e.pending_here);
/// }
/// # Ok::<(), aicm::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{pending} record(s) still pending after waiting {timeout:?}{}",
    others_note(*.pending_others)
)]
pub struct FlushError {
    /// Records still queued or in flight that the call waited for: `pending_here +
    /// pending_others`.
    pub pending: usize,
    /// Of those, records this process accepted (or, with a spool, took over and holds).
    pub pending_here: usize,
    /// Of those, records a spooled Tracker found in its spool file when the call began that
    /// other processes stored: left by an earlier or a killed process, or held by another one
    /// still running. Always 0 without a spool.
    pub pending_others: usize,
    /// How long the call waited.
    pub timeout: Duration,
}

impl FlushError {
    /// `pending` records of this process still pending after `timeout`.
    pub fn new(pending: usize, timeout: Duration) -> FlushError {
        FlushError {
            pending,
            pending_here: pending,
            pending_others: 0,
            timeout,
        }
    }
}

fn others_note(others: usize) -> String {
    if others == 0 {
        String::new()
    } else {
        format!(" ({others} of them in the spool file, stored by other processes)")
    }
}

impl From<UsageValidationError> for TrackError {
    fn from(e: UsageValidationError) -> Self {
        TrackError::Validation(Box::new(e))
    }
}

impl From<SchemaMismatch> for TrackError {
    fn from(e: SchemaMismatch) -> Self {
        TrackError::SchemaMismatch(Box::new(e))
    }
}

impl TrackError {
    /// The validation error, if this is one (the three lists of what is wrong).
    pub fn validation(&self) -> Option<&UsageValidationError> {
        match self {
            TrackError::Validation(e) => Some(e),
            _ => None,
        }
    }
}
