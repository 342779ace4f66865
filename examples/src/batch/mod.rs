//! The batch job of the `batch_job` example: track every row of a JSON-lines or CSV file as a
//! typed record, skip (and report) the rows that cannot be tracked, and give each record an id
//! derived from its file and line so that running the job again does not count anything twice.
//!
//! ```no_run
//! use aicm_examples::batch::{self, Input, Job};
//!
//! let job = Job::start(aicm::Tracker::builder(batch::CONFIG_ID, batch::SERVICE_ID))?;
//! let input = Input::new("usage.jsonl", None, None)?;
//! let counts = job.track_file(&input, |_outcome| {})?;
//! let summary = job.finish(&counts);
//! if !summary.all_delivered() {
//!     std::process::exit(1);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod failures;
mod generate;
mod ids;
mod rows;

use std::path::{Path, PathBuf};
use std::time::Duration;

use aicm::{OnFull, TrackError, TrackOptions, Tracker, TrackerBuilder, Usage};
use serde::Serialize;
use serde_json::json;

pub use failures::{DeliveryFailures, FailedRow};
pub use generate::generate;
pub use ids::response_id;
pub use rows::{
    Format, InvalidKind, InvalidRow, RowItem, UsageRow, count_rows, parse_json_row, read_rows,
};

/// The config the job tracks usage for.
pub const CONFIG_ID: &str = "speech-to-text";
/// The default service of [`CONFIG_ID`].
pub const SERVICE_ID: &str = "deepgram::nova-2";

/// One transcription, checked against the `speech-to-text` schema at compile time.
#[derive(Debug, Clone, PartialEq, Serialize, Usage)]
#[usage(
    config_id = "speech-to-text",
    schema = r#"{"duration_seconds": "float", "channels": "int", "language": "Optional[str]",
                 "features": "List[str]"}"#
)]
pub struct SpeechUsage {
    /// Audio length.
    pub duration_seconds: f64,
    /// Audio channels.
    pub channels: u32,
    /// The spoken language, when known (left out of the record when not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Extra features billed with the transcription.
    pub features: Vec<String>,
}

/// The file a job reads, and the key its response ids are derived from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The file.
    pub path: PathBuf,
    /// How to read it.
    pub format: Format,
    /// Names the file in response ids: the same key and line always give the same id.
    pub source_key: String,
}

impl Input {
    /// `path` in `format` (default: from the extension). The source key defaults to the
    /// canonical path, so a re-run from another directory gives the same ids; pass your own
    /// key (such as an export's name) if the file may move between runs.
    pub fn new(
        path: impl Into<PathBuf>,
        format: Option<Format>,
        source_key: Option<String>,
    ) -> Result<Input, BatchError> {
        let path = path.into();
        let format = match format.or_else(|| Format::from_path(&path)) {
            Some(format) => format,
            None => return Err(BatchError::UnknownFormat { path }),
        };
        let source_key = match source_key {
            Some(key) => key,
            None => std::fs::canonicalize(&path)
                .map_err(|source| BatchError::Read {
                    path: path.clone(),
                    source,
                })?
                .to_string_lossy()
                .into_owned(),
        };
        Ok(Input {
            path,
            format,
            source_key,
        })
    }

    /// The file name, stored in each record's context to say where it came from.
    fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// Why a job stopped before the end of its file.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Neither `--format` nor the extension says how to read the file.
    #[error("{}: unknown format: use a .jsonl or .csv file, or give the format", .path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be opened or read.
    #[error("reading {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `track` refused a record for a reason that is not the row's fault (tracker closed, the
    /// config's schema changed): every following row would fail the same way.
    #[error("line {line}: {source}")]
    Track {
        /// The row's line.
        line: u64,
        /// The tracker's error.
        source: TrackError,
    },
}

/// What happened to one row, for progress reporting.
#[derive(Debug, Clone, Copy)]
pub enum RowOutcome<'a> {
    /// The row's record was queued for delivery.
    Tracked {
        /// The row's line.
        line: u64,
    },
    /// The row was skipped.
    Invalid(&'a InvalidRow),
}

/// Rows seen by [`track_file`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Rows read (blank lines and the CSV header not counted).
    pub rows: u64,
    /// Rows queued for delivery.
    pub tracked: u64,
    /// Rows skipped as unreadable or invalid.
    pub invalid: u64,
}

/// A job's tracker, with what the summary needs to count its delivery failures.
#[derive(Debug)]
pub struct Job {
    tracker: Tracker,
    failures: DeliveryFailures,
    failed_before: u64,
}

impl Job {
    /// Builds the job's tracker from `builder`, with the settings a batch job needs: a full
    /// queue makes `track` wait for the network rather than drop the oldest records (the
    /// default, which suits request handlers, would lose rows whenever reading outpaces
    /// delivery), and every delivery failure is counted by an `on_failed` callback.
    pub fn start(builder: TrackerBuilder) -> Result<Job, aicm::Error> {
        let failures = DeliveryFailures::default();
        let tracker = builder
            .on_full(OnFull::Block)
            .on_failed(failures.callback())
            .build()?;
        let failed_before = tracker.health().total_failed;
        Ok(Job {
            tracker,
            failures,
            failed_before,
        })
    }

    /// The job's tracker.
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// [`track_file`] on the job's tracker.
    pub fn track_file(
        &self,
        input: &Input,
        observe: impl FnMut(RowOutcome<'_>),
    ) -> Result<RunCounts, BatchError> {
        track_file(&self.tracker, input, observe)
    }

    /// Closes the tracker (delivering everything queued; blocks until then or the close
    /// timeout) and sums the job up.
    pub fn finish(self, counts: &RunCounts) -> Summary {
        let closed = self.tracker.close();
        let pending = match &closed {
            Err(aicm::Error::Flush(flush)) => flush.pending as u64,
            _ => 0,
        };
        let settled = self
            .tracker
            .health()
            .total_failed
            .saturating_sub(self.failed_before);
        let reported = self.failures.wait_for(settled, Duration::from_secs(5));
        Summary {
            counts: *counts,
            failed: settled.max(reported),
            pending,
            close_error: closed.err().map(|e| e.to_string()),
            first_failures: self.failures.first(),
        }
    }
}

/// Tracks every row of `input`, calling `observe` once per row, in order. Blocks the calling
/// thread while the queue is full (see [`Job::start`]).
pub fn track_file(
    tracker: &Tracker,
    input: &Input,
    mut observe: impl FnMut(RowOutcome<'_>),
) -> Result<RunCounts, BatchError> {
    let read_error = |source| BatchError::Read {
        path: input.path.clone(),
        source,
    };
    let file_name = input.file_name();
    let mut counts = RunCounts::default();
    for item in read_rows(&input.path, input.format).map_err(read_error)? {
        let row = item.map_err(read_error)?;
        counts.rows += 1;
        let row = match row {
            Ok(row) => row,
            Err(invalid) => {
                counts.invalid += 1;
                observe(RowOutcome::Invalid(&invalid));
                continue;
            }
        };
        let line = row.line;
        match track_row(tracker, input, &file_name, row) {
            Ok(()) => {
                counts.tracked += 1;
                observe(RowOutcome::Tracked { line });
            }
            Err(error) if is_row_error(&error) => {
                counts.invalid += 1;
                // The validation error alone: "invalid usage" is already the row's kind.
                let reason = match error.validation() {
                    Some(invalid) => invalid.to_string(),
                    None => error.to_string(),
                };
                observe(RowOutcome::Invalid(&InvalidRow {
                    line,
                    kind: InvalidKind::Validation,
                    reason,
                }));
            }
            Err(source) => return Err(BatchError::Track { line, source }),
        }
    }
    Ok(counts)
}

/// The options a row is tracked with: its derived response id, where it came from, and its
/// customer and time.
pub fn row_options(input: &Input, file_name: &str, row: &UsageRow) -> TrackOptions {
    let mut options = TrackOptions::new()
        .response_id(response_id(&input.source_key, row.line))
        .context(json!({"source": file_name, "line": row.line}));
    if let Some(customer) = &row.customer {
        options = options.client_customer_key(customer.clone());
    }
    if let Some(at) = row.timestamp {
        options = options.timestamp(at);
    }
    options
}

fn track_row(
    tracker: &Tracker,
    input: &Input,
    file_name: &str,
    row: UsageRow,
) -> Result<(), TrackError> {
    let options = row_options(input, file_name, &row);
    tracker.track_with(row.usage, options).map(drop)
}

/// Errors that belong to one row; the next row may well be fine.
fn is_row_error(error: &TrackError) -> bool {
    matches!(
        error,
        TrackError::Validation(_) | TrackError::Serialize(_) | TrackError::InvalidOption { .. }
    )
}

/// The outcome of a whole job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// What [`track_file`] saw.
    pub counts: RunCounts,
    /// Records the server refused or that ran out of retries.
    pub failed: u64,
    /// Records still undelivered when `close` gave up waiting.
    pub pending: u64,
    /// Why `close` failed, if it did.
    pub close_error: Option<String>,
    /// The first failed records, with their lines.
    pub first_failures: Vec<FailedRow>,
}

impl Summary {
    /// Records the server acknowledged (duplicates of an earlier run included).
    pub fn delivered(&self) -> u64 {
        self.counts
            .tracked
            .saturating_sub(self.failed)
            .saturating_sub(self.pending)
    }

    /// Whether every tracked record reached the server: the job's exit status.
    pub fn all_delivered(&self) -> bool {
        self.failed == 0 && self.pending == 0 && self.close_error.is_none()
    }
}

/// Writes `rows` generated rows to `path` in the format its extension implies.
pub fn generate_file(path: &Path, rows: u64, seed: u64) -> Result<Format, BatchError> {
    let Some(format) = Format::from_path(path) else {
        return Err(BatchError::UnknownFormat {
            path: path.to_owned(),
        });
    };
    let write_error = |source| BatchError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::create(path).map_err(write_error)?;
    let mut out = std::io::BufWriter::new(file);
    generate(&mut out, rows, format, seed).map_err(write_error)?;
    Ok(format)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aicm::testing::recording_tracker;

    fn recording() -> (Tracker, aicm::testing::Recording) {
        recording_tracker(CONFIG_ID, SERVICE_ID, SpeechUsage::SCHEMA).unwrap()
    }

    fn input(dir: &Path, name: &str, text: &str) -> Input {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        Input::new(path, None, Some("test-source".to_owned())).unwrap()
    }

    #[test]
    fn rows_are_tracked_with_derived_ids_customer_time_and_context() {
        let dir = tempfile::tempdir().unwrap();
        let input = input(
            dir.path(),
            "u.jsonl",
            "{\"customer\":\"acme\",\"timestamp\":\"2025-01-01T00:00:00Z\",\
              \"duration_seconds\":1.5,\"channels\":1,\"features\":[\"diarize\"]}\n\
             \n\
             {\"duration_seconds\":2,\"channels\":2,\"language\":\"en\"}\n",
        );
        let (tracker, recording) = recording();
        let mut seen = Vec::new();
        let counts = track_file(&tracker, &input, |outcome| {
            if let RowOutcome::Tracked { line } = outcome {
                seen.push(line);
            }
        })
        .unwrap();
        assert_eq!(
            counts,
            RunCounts {
                rows: 2,
                tracked: 2,
                invalid: 0
            }
        );
        assert_eq!(seen, [1, 3]);
        let records = recording.records();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].response_id, *response_id("test-source", 1));
        assert_eq!(records[1].response_id, *response_id("test-source", 3));
        assert_eq!(records[0].client_customer_key.as_deref(), Some("acme"));
        assert_eq!(
            records[0].timestamp_rfc3339(),
            "2025-01-01T00:00:00.000000+00:00"
        );
        assert_eq!(
            records[0].context,
            Some(json!({"source": "u.jsonl", "line": 1}))
        );
        assert_eq!(
            records[0].usage,
            json!({"duration_seconds": 1.5, "channels": 1, "features": ["diarize"]})
        );
        assert_eq!(records[1].usage["language"], "en");
    }

    #[test]
    fn unreadable_and_invalid_rows_are_reported_and_the_job_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        // CSV reads `NaN` as a float: a parse succeeds and `track` refuses the record.
        let input = input(
            dir.path(),
            "u.csv",
            "duration_seconds,channels\n\
             1,1\n\
             NaN,1\n\
             1,many\n\
             2,2\n",
        );
        let (tracker, recording) = recording();
        let mut invalid = Vec::new();
        let counts = track_file(&tracker, &input, |outcome| {
            if let RowOutcome::Invalid(row) = outcome {
                invalid.push(row.clone());
            }
        })
        .unwrap();
        assert_eq!(
            counts,
            RunCounts {
                rows: 4,
                tracked: 2,
                invalid: 2
            }
        );
        assert_eq!(invalid[0].line, 3);
        assert_eq!(invalid[0].kind, InvalidKind::Validation);
        assert_eq!(
            invalid[0].to_string(),
            "line 3: invalid usage: Type errors: duration_seconds: expected a finite float, got NaN"
        );
        assert_eq!(invalid[1].line, 4);
        assert_eq!(invalid[1].kind, InvalidKind::Parse);
        assert_eq!(recording.records().len(), 2);
    }

    #[test]
    fn a_closed_tracker_stops_the_job() {
        let dir = tempfile::tempdir().unwrap();
        let input = input(
            dir.path(),
            "u.jsonl",
            "{\"duration_seconds\":1,\"channels\":1}\n",
        );
        let (tracker, _recording) = recording();
        tracker.close().unwrap();
        let err = track_file(&tracker, &input, |_| {}).unwrap_err();
        assert!(
            matches!(
                err,
                BatchError::Track {
                    line: 1,
                    source: TrackError::Closed
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn the_source_key_defaults_to_the_canonical_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.jsonl");
        std::fs::write(&path, "").unwrap();
        let direct = Input::new(&path, None, None).unwrap();
        let roundabout = Input::new(dir.path().join(".").join("u.jsonl"), None, None).unwrap();
        assert_eq!(direct.source_key, roundabout.source_key);
        assert_eq!(
            Input::new(dir.path().join("u.txt"), None, None)
                .unwrap_err()
                .to_string(),
            format!(
                "{}: unknown format: use a .jsonl or .csv file, or give the format",
                dir.path().join("u.txt").display()
            )
        );
    }

    #[test]
    fn a_job_succeeds_only_when_nothing_failed_or_stayed_pending() {
        let ok = Summary {
            counts: RunCounts {
                rows: 3,
                tracked: 3,
                invalid: 0,
            },
            failed: 0,
            pending: 0,
            close_error: None,
            first_failures: Vec::new(),
        };
        assert!(ok.all_delivered());
        assert_eq!(ok.delivered(), 3);
        let failed = Summary {
            failed: 1,
            ..ok.clone()
        };
        assert!(!failed.all_delivered());
        assert_eq!(failed.delivered(), 2);
        let pending = Summary {
            pending: 2,
            close_error: Some("2 record(s) still pending".to_owned()),
            ..ok
        };
        assert!(!pending.all_delivered());
        assert_eq!(pending.delivered(), 1);
    }
}
