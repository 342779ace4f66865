//! Reporting the records that will not be delivered, for both backends: the text each is
//! reported with, one warning per cause (then debug lines, so a refused batch of thousands
//! does not flood the log), and the hand-over to the `on_failed` / `on_discard` of the Tracker
//! the record belongs to. Counting them stays with the backend's own books (the queue, the
//! spool's ledger), which settle after the callbacks have run, so that `flush` and `close`
//! return only once every callback has.

use std::collections::HashSet;

use parking_lot::Mutex;

use super::record::{DiscardedRecord, FailedRecord, Origin, UsageRecord};

/// The causes one backend has already warned about.
#[derive(Default)]
pub(crate) struct Reports {
    warned: Mutex<HashSet<String>>,
}

impl Reports {
    /// True the first time `cause` is seen: the caller warns then, and only then.
    pub fn first(&self, cause: &str) -> bool {
        let mut warned = self.warned.lock();
        !warned.contains(cause) && warned.insert(cause.to_owned())
    }

    /// Records that failed for good (refused, or out of retries): the error they are reported
    /// with, which names the status and the server's message, and 401/403/404 as the
    /// configuration errors they are. Warned about once per cause (a status, or the network
    /// error).
    pub fn failed(&self, status: Option<u16>, message: &str, records: usize) -> String {
        let error = match status {
            Some(s @ (401 | 403 | 404)) => format!("configuration error (HTTP {s}): {message}"),
            Some(s) => format!("HTTP {s}: {message}"),
            None => message.to_owned(),
        };
        let first = match status {
            Some(s) => self.first(&format!("status {s}")),
            None => self.first(&error),
        };
        if first {
            tracing::warn!(
                records,
                error = %error,
                "usage records failed and will not be delivered (further failures with this cause are logged at debug level)"
            );
        } else {
            tracing::debug!(records, error = %error, "usage records failed");
        }
        error
    }

    /// A record the service refused in a 2xx answer (today's contract: `error`,
    /// `service_key_unknown`): the error it is reported with
    /// (`service_key_unknown: Service key 'x' is not recognized.`), warned about once per
    /// status word.
    pub fn refused(&self, status: &str, messages: &[String]) -> String {
        let error = if messages.is_empty() {
            format!("refused by the service ({status})")
        } else {
            format!("{status}: {}", messages.join("; "))
        };
        if self.first(&format!("record {status}")) {
            tracing::warn!(
                status,
                error = %error,
                "the service refused a usage record; it is counted as failed and handed to on_failed, \
                 not retried (further refusals with this status are logged at debug level)"
            );
        } else {
            tracing::debug!(status, error = %error, "the service refused a usage record");
        }
        error
    }

    /// Records the memory queue dropped to make room under `OnFull::Backpressure`: warned
    /// about once; returns the reason they are handed to `on_discard` with.
    pub fn displaced_from_queue(&self, capacity: usize) -> String {
        if self.first("full") {
            tracing::warn!(
                capacity,
                "delivery queue full: dropping the oldest records to make room (counted in \
                 total_discarded; this warning is shown once)"
            );
        }
        format!("queue full ({capacity} records) under OnFull::Backpressure")
    }

    /// Rows the spool deleted to make room under `OnFull::Backpressure`: warned about once;
    /// returns the reason they are handed to `on_discard` with.
    #[cfg(feature = "spool")]
    pub fn displaced_from_spool(
        &self,
        path: &std::path::Path,
        max_rows: Option<u64>,
        max_bytes: Option<u64>,
    ) -> String {
        if self.first("full") {
            tracing::warn!(
                path = %path.display(),
                ?max_rows,
                ?max_bytes,
                "spool full: deleting the oldest queued records to make room (counted in \
                 total_discarded; this warning is shown once)"
            );
        }
        format!(
            "spool {} full (max_rows {max_rows:?}, max_bytes {max_bytes:?}) under \
             OnFull::Backpressure",
            path.display()
        )
    }
}

impl Origin {
    /// Hands a failed record to this Tracker's `on_failed`, if it has one (the record is read
    /// back only then). `refusal` is the service's status word and messages for the record.
    pub(crate) fn hand_failed(
        &self,
        record: impl FnOnce() -> UsageRecord,
        status: Option<u16>,
        error: &str,
        refusal: Option<(&str, Vec<String>)>,
    ) {
        if let Some(callback) = &self.on_failed {
            let (record_status, messages) = match refusal {
                Some((word, messages)) => (Some(word.to_owned()), messages),
                None => (None, Vec::new()),
            };
            callback(&FailedRecord {
                record: record(),
                status,
                error: error.to_owned(),
                record_status,
                messages,
            });
        }
    }

    /// Hands a record deleted to make room to this Tracker's `on_discard`, if it has one.
    pub(crate) fn hand_discarded(&self, record: impl FnOnce() -> UsageRecord, reason: &str) {
        if let Some(callback) = &self.on_discard {
            callback(&DiscardedRecord {
                record: record(),
                reason: reason.to_owned(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_first_once_and_texts_name_status_and_message() {
        let reports = Reports::default();
        assert_eq!(
            reports.failed(Some(401), "bad key", 3),
            "configuration error (HTTP 401): bad key"
        );
        assert!(!reports.first("status 401"), "warned already");
        assert_eq!(reports.failed(Some(422), "bad", 1), "HTTP 422: bad");
        assert_eq!(
            reports.failed(None, "connection failed", 1),
            "connection failed"
        );
        assert!(!reports.first("connection failed"));
        assert_eq!(
            reports.refused("service_key_unknown", &["Service key 'x'".to_owned()]),
            "service_key_unknown: Service key 'x'"
        );
        assert_eq!(
            reports.refused("error", &[]),
            "refused by the service (error)"
        );
        assert!(!reports.first("record error"));
        let reason = reports.displaced_from_queue(10);
        assert_eq!(reason, "queue full (10 records) under OnFull::Backpressure");
        assert!(!reports.first("full"), "a full store is warned about once");
    }
}
