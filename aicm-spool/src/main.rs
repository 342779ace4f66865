//! `aicm-spool`: look into, repair and drain (`deliver`) an aicm durable spool, also while
//! applications use it.
//!
//! The spool's path comes from `--spool` or `AICM_SPOOL_PATH`. The file must exist: this tool
//! never creates an empty spool in place of a mistyped path.
#![deny(missing_docs)]

mod deliver;
mod failed;
mod fmt;
mod stats;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use aicm::spool::{Selection, Spool, SpoolError, SpoolOptions};
use clap::{Args, Parser, Subcommand};

/// Inspect and repair an aicm durable spool.
#[derive(Debug, Parser)]
#[command(name = "aicm-spool", version, about)]
struct Cli {
    /// The spool file.
    #[arg(long, env = "AICM_SPOOL_PATH", global = true, value_name = "PATH")]
    spool: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Queued, claimed and failed rows, bytes, and the oldest record's age.
    Stats {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Rows the server refused or that ran out of retries, with the reason.
    ListFailed {
        /// At most this many rows.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only rows with a higher id (to page through a long list).
        #[arg(long, default_value_t = 0, value_name = "ID")]
        after: i64,
        /// Also print each record's body.
        #[arg(long)]
        body: bool,
        /// A JSON array instead of a table (bodies included).
        #[arg(long)]
        json: bool,
    },
    /// Put failed rows back in the queue with a fresh retry budget.
    Requeue(Pick),
    /// Delete failed rows for good.
    Purge(Pick),
    /// Send what the file holds, with the settings an application would use
    /// (AICM_API_KEY, AICM_API_BASE / AICM_API_URL, AICM_INI_PATH, AICM_PROTOCOL, AICM.INI).
    /// Exits 2 with the counts when records could not be delivered.
    Deliver {
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600, value_name = "SECS")]
        timeout: u64,
        /// A config id of the account, for `AICM_PROTOCOL=configs` (rows keep their own).
        #[arg(long, env = "AICM_CONFIG_ID", value_name = "ID")]
        config_id: Option<String>,
    },
    /// A live view of depth, failed rows and rates until interrupted (or `--count` refreshes).
    Tail {
        /// Milliseconds between refreshes.
        #[arg(long, default_value_t = 1000, value_name = "MS")]
        interval: u64,
        /// Stop after this many refreshes.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
    },
}

/// Which failed rows: ids, or all of them.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct Pick {
    /// Row ids (from `list-failed`).
    #[arg(value_name = "ID")]
    ids: Vec<i64>,
    /// Every failed row.
    #[arg(long)]
    all: bool,
}

impl Pick {
    fn selection(&self) -> Selection {
        if self.all {
            Selection::All
        } else {
            Selection::Ids(self.ids.clone())
        }
    }
}

/// Why the command failed: a spool error, or output that could not be written.
#[derive(Debug)]
enum Failure {
    Spool(SpoolError),
    Io(std::io::Error),
    Usage(String),
    /// The Tracker `deliver` needs could not be built.
    Tracker(aicm::Error),
    /// `deliver` ended with records not delivered.
    Undelivered {
        pending: usize,
        failed: u64,
    },
}

impl From<SpoolError> for Failure {
    fn from(e: SpoolError) -> Self {
        Failure::Spool(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Io(e)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`aicm-spool list-failed | head`) is not an error.
        Err(Failure::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Failure::Undelivered { pending, failed }) => {
            let _ = writeln!(
                std::io::stderr(),
                "aicm-spool: {} record(s) not delivered: {pending} still pending, {failed} failed",
                pending as u64 + failed
            );
            ExitCode::from(2)
        }
        Err(e) => {
            let message = match e {
                Failure::Spool(e) => e.to_string(),
                Failure::Io(e) => format!("writing the output: {e}"),
                Failure::Usage(m) => m,
                Failure::Tracker(e) => format!("cannot deliver: {e}"),
                Failure::Undelivered { .. } => String::new(),
            };
            let _ = writeln!(std::io::stderr(), "aicm-spool: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let path = cli.spool.ok_or_else(|| {
        Failure::Usage("no spool given: pass --spool PATH or set AICM_SPOOL_PATH".to_owned())
    })?;
    let mut options = SpoolOptions::default();
    options.create = false;
    // The application's limits are its own; this tool never appends.
    options.max_rows = None;
    options.max_bytes = None;
    let spool = Spool::open(&path, options)?;
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Stats { json } => stats::print(&spool, json, &mut out),
        Command::ListFailed {
            limit,
            after,
            body,
            json,
        } => failed::list(&spool, after, limit, body, json, &mut out),
        Command::Requeue(pick) => failed::requeue(&spool, &pick.selection(), &mut out),
        Command::Purge(pick) => failed::purge(&spool, &pick.selection(), &mut out),
        Command::Deliver { timeout, config_id } => deliver::run(
            &spool,
            deliver::Request {
                path: &path,
                timeout: Duration::from_secs(timeout),
                config_id,
            },
            &mut out,
        ),
        Command::Tail { interval, count } => {
            drop(out);
            stats::tail(&spool, Duration::from_millis(interval.max(10)), count)
        }
    }
}
