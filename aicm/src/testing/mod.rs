//! Helpers for your tests and benchmarks (feature `testing`), no server needed.
//!
//! * [`recording_tracker`]: a [`Tracker`] for your own unit tests: the same `track` API, no
//!   server, no API key. Records are validated against the schema you give, exactly as a live
//!   Tracker validates them, and kept in memory for your assertions.
//! * `SpoolRows` (with feature `spool` too): a spool's rows as the delivery loop has them
//!   (append, claim, ack, fail, release, the writer's commit counts), for tests and benchmarks
//!   of tools that read a spool file.
//!
//! A recording tracker:
//!
//! ```
//! use aicm::testing::recording_tracker;
//! use serde_json::json;
//!
//! let (tracker, recording) =
//!     recording_tracker("chat-completions", "openai::gpt-4o-mini", r#"{"tokens": "int"}"#)?;
//! tracker.track(json!({"tokens": 3}))?;
//! assert!(tracker.track(json!({"tokens": "three"})).is_err());
//!
//! let records = recording.records();
//! assert_eq!(records.len(), 1);
//! assert_eq!(records[0].usage, json!({"tokens": 3}));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "spool")]
mod spool_rows;

#[cfg(feature = "spool")]
pub use spool_rows::{AppendedRow, ClaimedRow, CommitStats, SpoolRows};

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::{Error, Tracker, UsageRecord};

/// What a recording tracker has delivered (to memory).
#[derive(Clone)]
pub struct Recording {
    store: Arc<Mutex<Vec<UsageRecord>>>,
    tracker: Tracker,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("records", &self.store.lock().len())
            .finish()
    }
}

impl Recording {
    /// Every record tracked so far, in delivery order. Waits (up to 10 s) for records still on
    /// their way through the queue, so what `track` accepted before the call is included.
    pub fn records(&self) -> Vec<UsageRecord> {
        let _ = self.tracker.flush(Duration::from_secs(10));
        self.store.lock().clone()
    }

    /// [`Recording::records`] for async tests.
    pub async fn records_async(&self) -> Vec<UsageRecord> {
        let _ = self.tracker.flush_async(Duration::from_secs(10)).await;
        self.store.lock().clone()
    }

    /// Forgets every record recorded so far.
    pub fn clear(&self) {
        let _ = self.tracker.flush(Duration::from_secs(10));
        self.store.lock().clear();
    }
}

/// A Tracker for `config_id` / `service_id` that validates against `schema_json` (a
/// `manual_usage_schema` object such as `{"tokens": "int"}`; `{}` accepts anything) and
/// records instead of sending.
pub fn recording_tracker(
    config_id: impl Into<String>,
    service_id: impl Into<String>,
    schema_json: &str,
) -> Result<(Tracker, Recording), Error> {
    let config_id = config_id.into();
    let schema =
        aicm_schema::Schema::from_json_str(schema_json).map_err(|source| Error::InvalidSchema {
            config_id: config_id.clone(),
            source,
        })?;
    let store = Arc::new(Mutex::new(Vec::new()));
    let tracker = Tracker::builder(config_id, service_id)
        .batch_interval(Duration::from_millis(10))
        .in_memory(schema, store.clone())
        .build()?;
    let recording = Recording {
        store,
        tracker: tracker.clone(),
    };
    Ok((tracker, recording))
}
