//! A batch job: track every row of a JSON-lines or CSV usage export as a typed record.
//!
//! Each record's response id is derived from the file and line, so running the job again on
//! the same file does not count anything twice (the server deduplicates on the id). Rows that
//! cannot be read or are invalid are reported with their line and skipped; the exit status is
//! non-zero if any record could not be delivered.
//!
//! ```sh
//! # the sample file (it holds a few bad rows on purpose), tracked twice: the second run
//! # stores nothing new
//! cargo run -p aicm-examples --example batch_job -- --runs 2
//! # a big file, then track it
//! cargo run --release -p aicm-examples --example batch_job -- --generate 1000000 /tmp/usage.jsonl
//! cargo run --release -p aicm-examples --example batch_job -- /tmp/usage.jsonl
//! ```
//! Runs on the local API in-process; set `AICM_API_KEY` (and optionally `AICM_API_BASE`) to use
//! the real service.
#![allow(clippy::print_stdout)]

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aicm_examples::batch::{self, Format, Input, Job, RowOutcome, Summary};
use aicm_examples::{Backend, init_logging};
use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressState, ProgressStyle};

/// Track speech-to-text usage rows from a file.
#[derive(Parser)]
struct Args {
    /// The usage file (.jsonl or .csv) [default: the sample examples/data/speech_usage.jsonl].
    path: Option<PathBuf>,
    /// Write N generated rows to PATH (format from its extension) and exit.
    #[arg(long, value_name = "N", requires = "path")]
    generate: Option<u64>,
    /// The seed of --generate.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The file's format, when its extension does not say.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Names the file in the derived response ids [default: its canonical path]. Give the
    /// same key if the file moves between runs.
    #[arg(long)]
    source_key: Option<String>,
    /// The service the usage is for.
    #[arg(long, default_value = batch::SERVICE_ID)]
    service_id: String,
    /// Track the file this many times (to watch re-runs being deduplicated).
    #[arg(long, default_value_t = 1)]
    runs: u32,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Jsonl,
    Csv,
}

impl From<FormatArg> for Format {
    fn from(arg: FormatArg) -> Format {
        match arg {
            FormatArg::Jsonl => Format::JsonLines,
            FormatArg::Csv => Format::Csv,
        }
    }
}

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    init_logging();
    let args = Args::parse();

    if let (Some(rows), Some(path)) = (args.generate, &args.path) {
        batch::generate_file(path, rows, args.seed)?;
        println!("wrote {rows} rows to {}", path.display());
        println!(
            "track them: cargo run --release -p aicm-examples --example batch_job -- {}",
            path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }

    let path = args.path.clone().unwrap_or_else(|| {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/speech_usage.jsonl"
        ))
    });
    let input = Input::new(path, args.format.map(Format::from), args.source_key.clone())?;
    let backend = Backend::from_env()?;
    println!("sending usage to {}", backend.describe());

    let mut all_delivered = true;
    for run in 1..=args.runs {
        println!("run {run}: tracking {}", input.path.display());
        let summary = run_once(&backend, &input, &args.service_id)?;
        print_summary(&summary);
        if let Some(stats) = backend.local_stats() {
            println!(
                "  the local API holds {} record(s); {} duplicate(s) ignored so far",
                stats.records_stored, stats.duplicates
            );
        }
        all_delivered &= summary.all_delivered();
    }
    Ok(if all_delivered {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn run_once(
    backend: &Backend,
    input: &Input,
    service_id: &str,
) -> Result<Summary, Box<dyn std::error::Error>> {
    let job = Job::start(backend.tracker(batch::CONFIG_ID, service_id))?;
    let rows = batch::count_rows(&input.path, input.format)?;
    let bar = ProgressBar::new(rows).with_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} rows \
             {rate} (eta {eta})",
        )?
        .with_key("rate", |state: &ProgressState, out: &mut dyn fmt::Write| {
            let _ = write!(out, "{:.0} records/s", state.per_sec());
        })
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let counts = job.track_file(input, |outcome| {
        bar.inc(1);
        if let RowOutcome::Invalid(row) = outcome {
            // A hidden bar (output not a terminal) drops its println; the report must not.
            if bar.is_hidden() {
                println!("  skipped {row}");
            } else {
                bar.println(format!("  skipped {row}"));
            }
        }
    })?;
    bar.finish();
    let read_time = started.elapsed();

    // `close` delivers everything still queued; show that it is working.
    let closing = ProgressBar::new_spinner().with_message("delivering the queued records");
    closing.enable_steady_tick(Duration::from_millis(100));
    let summary = job.finish(&counts);
    closing.finish_and_clear();
    println!(
        "  read {} rows in {:.2?} ({:.0} rows/s); closed after {:.2?}",
        counts.rows,
        read_time,
        counts.rows as f64 / read_time.as_secs_f64().max(1e-9),
        started.elapsed()
    );
    Ok(summary)
}

fn print_summary(summary: &Summary) {
    let c = &summary.counts;
    println!(
        "  {} tracked, {} skipped, {} delivered, {} failed",
        c.tracked,
        c.invalid,
        summary.delivered(),
        summary.failed
    );
    for failure in &summary.first_failures {
        let line = failure
            .line
            .map_or_else(|| "?".to_owned(), |l| l.to_string());
        println!("  delivery failed for line {line}: {}", failure.error);
    }
    if let Some(error) = &summary.close_error {
        println!(
            "  close: {error} ({} record(s) not delivered)",
            summary.pending
        );
    }
}
