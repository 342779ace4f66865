//! The batch job against the local API: a re-run of the same file is deduplicated by its
//! derived response ids, bad rows are skipped with their lines, and records the server
//! refuses are counted as failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use aicm::Tracker;
use aicm_examples::batch::{self, Format, Input, InvalidKind, Job, RowOutcome, Summary};
// The job is sync, so the local API runs on its own thread.
use aicm_tests::LocalApiThread;

/// Valid rows written to the file.
const ROWS: u64 = 1_500;

fn job(api: &LocalApiThread, dir: &Path) -> Job {
    Job::start(
        Tracker::builder(batch::CONFIG_ID, batch::SERVICE_ID)
            .api_key(api.api_key())
            .api_base(api.api_base())
            .ini_path(dir.join("AICM.INI"))
            // Smaller than the file, so `track` really waits for delivery on a full queue.
            .queue_size(200)
            .max_batch_size(100),
    )
    .unwrap()
}

/// Tracks `input` once with a fresh tracker; returns the summary and the skipped rows.
fn run(api: &LocalApiThread, dir: &Path, input: &Input) -> (Summary, Vec<batch::InvalidRow>) {
    let job = job(api, dir);
    let mut skipped = Vec::new();
    let counts = job
        .track_file(input, |outcome| {
            if let RowOutcome::Invalid(row) = outcome {
                skipped.push(row.clone());
            }
        })
        .unwrap();
    (job.finish(&counts), skipped)
}

/// `ROWS` generated rows with two bad ones spliced in after them.
fn write_file(dir: &Path) -> Input {
    let path = dir.join("usage.jsonl");
    let mut text = Vec::new();
    batch::generate(&mut text, ROWS, Format::JsonLines, 11).unwrap();
    text.extend_from_slice(b"{\"duration_seconds\": 1, \"channels\": -1}\n");
    text.extend_from_slice(b"{\"duration_seconds\": 1, \"channels\": 1, \"speaker\": \"x\"}\n");
    std::fs::write(&path, text).unwrap();
    Input::new(path, None, None).unwrap()
}

#[test]
fn a_rerun_of_the_same_file_is_deduplicated_and_bad_rows_are_reported() {
    let api = aicm_tests::LocalApi::builder().start_in_thread().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = write_file(dir.path());

    let (first, skipped) = run(&api, dir.path(), &input);
    assert!(first.all_delivered(), "{first:?}");
    assert_eq!(first.counts.rows, ROWS + 2);
    assert_eq!(first.counts.tracked, ROWS);
    assert_eq!(first.delivered(), ROWS);
    let lines: Vec<(u64, InvalidKind)> = skipped.iter().map(|r| (r.line, r.kind)).collect();
    assert_eq!(
        lines,
        [
            (ROWS + 1, InvalidKind::Parse),
            (ROWS + 2, InvalidKind::Parse)
        ]
    );
    assert!(
        skipped[0].reason.contains("invalid value: integer `-1`"),
        "{}",
        skipped[0]
    );
    assert!(
        skipped[1].reason.contains("unknown field `speaker`"),
        "{}",
        skipped[1]
    );
    let stats = api.stats();
    assert_eq!(stats.records_stored, ROWS);
    assert_eq!(stats.duplicates, 0);

    // Same file through another path spelling: same source key, same ids.
    let again = Input::new(dir.path().join(".").join("usage.jsonl"), None, None).unwrap();
    let (second, _) = run(&api, dir.path(), &again);
    assert!(second.all_delivered(), "{second:?}");
    assert_eq!(second.counts.tracked, ROWS);
    let stats = api.stats();
    assert_eq!(stats.records_stored, ROWS, "a re-run stores nothing new");
    assert_eq!(
        stats.duplicates, ROWS,
        "every record of the re-run was a duplicate"
    );

    // The records carry the derived ids, their customers and their original times.
    let records = api.records();
    let first_row = records
        .iter()
        .find(|r| r.response_id == batch::response_id(&input.source_key, 1))
        .unwrap();
    assert!(first_row.client_customer_key.is_some());
    assert!(
        first_row.timestamp.starts_with("2025-01-01T00:00:00"),
        "{}",
        first_row.timestamp
    );
    assert_eq!(first_row.context.as_ref().unwrap()["line"], 1);
}

#[test]
fn records_the_server_refuses_are_failures_with_their_lines() {
    let api = aicm_tests::LocalApi::builder().start_in_thread().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.csv");
    // Only rows with a language carry the key the server is told to refuse.
    std::fs::write(
        &path,
        "customer,duration_seconds,channels,language\n\
         acme,1,1,\n\
         acme,2,1,en\n\
         acme,3,1,\n\
         acme,4,1,de\n",
    )
    .unwrap();
    api.set_poison_key(Some("language"));
    let input = Input::new(path, None, Some("poisoned".to_owned())).unwrap();

    let (summary, skipped) = run(&api, dir.path(), &input);
    assert!(skipped.is_empty());
    assert_eq!(summary.counts.tracked, 4);
    assert_eq!(summary.failed, 2);
    assert_eq!(summary.delivered(), 2);
    assert!(!summary.all_delivered(), "the job must exit non-zero");
    let mut failed_lines: Vec<Option<u64>> =
        summary.first_failures.iter().map(|f| f.line).collect();
    failed_lines.sort_unstable();
    assert_eq!(failed_lines, [Some(3), Some(5)]);
    assert!(summary.first_failures.iter().all(|f| f.status == Some(422)));
    assert_eq!(api.stats().records_stored, 2);
}
