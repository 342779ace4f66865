//! `deliver`: drain the file with a spooled Tracker of this process, after an incident.
//!
//! The Tracker takes its settings where an application's would (`AICM_API_KEY`,
//! `AICM_API_BASE` / `AICM_API_URL`, `AICM_INI_PATH`, `AICM_PROTOCOL`, `AICM.INI`), joins the
//! file like any other process (rows held by a running application stay its own; rows of a
//! process that is gone are taken over at once) and flushes: the flush covers every row of
//! its account the file holds when it starts. Rows of other accounts stay for a process with
//! their key.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use aicm::Tracker;
use aicm::spool::Spool;
use indicatif::{ProgressBar, ProgressStyle};

use crate::Failure;

/// What `deliver` was asked.
pub struct Request<'a> {
    pub path: &'a Path,
    pub timeout: Duration,
    pub config_id: Option<String>,
}

pub fn run(spool: &Spool, request: Request<'_>, out: &mut impl Write) -> Result<(), Failure> {
    let before = spool.stats()?;
    let builder = match &request.config_id {
        Some(config) => Tracker::builder(config.clone(), String::new()),
        None => Tracker::track_api(),
    };
    let tracker = builder
        .spool(request.path)
        .close_timeout(Duration::ZERO)
        .drop_timeout(Duration::ZERO)
        .build()
        .map_err(Failure::Tracker)?;
    // Queued and claimed rows of every account, read before the Tracker's loop started (it
    // claims at once, so the file may already be smaller now): rows of another account stay in
    // the file (this run cannot send them), so the bar may end short of its length.
    let total = before.depth();
    let others = spool.accounts().map_or(0, |a| a.len().saturating_sub(1));
    writeln!(
        out,
        "delivering up to {total} record(s) from {}{}; {} failed row(s) stay for list-failed / \
         requeue",
        request.path.display(),
        if others > 0 {
            format!(" (it also holds rows of {others} other account(s), left for their key)")
        } else {
            String::new()
        },
        before.failed
    )?;
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} records  {per_sec}  eta {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let flushed = std::thread::scope(|s| {
        let flush = s.spawn(|| tracker.flush(request.timeout));
        // Refreshes the bar until the flush returns (display only; nothing waits on it).
        while !flush.is_finished() {
            let h = tracker.health();
            bar.set_position(h.total_sent + h.total_failed);
            if let Some(held) = h.spool_held_by_others.filter(|n| *n > 0) {
                bar.set_message(format!("{held} held by another running process"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        flush
            .join()
            .unwrap_or(Err(aicm::FlushError::new(0, request.timeout)))
    });
    let h = tracker.health();
    bar.finish_and_clear();
    let _ = tracker.close();
    writeln!(
        out,
        "delivered {} record(s), {} failed, in {:.1}s",
        h.total_sent,
        h.total_failed,
        started.elapsed().as_secs_f64()
    )?;
    let pending = flushed.as_ref().err().map_or(0, |e| e.pending);
    if let Err(e) = &flushed {
        writeln!(
            out,
            "{} record(s) still pending after {:?}: {} held by this run, {} by other processes",
            e.pending, e.timeout, e.pending_here, e.pending_others
        )?;
    }
    if h.total_failed > 0 {
        writeln!(
            out,
            "{} record(s) failed: the server refused them or they ran out of retries; see \
             `aicm-spool list-failed`",
            h.total_failed
        )?;
    }
    if pending > 0 || h.total_failed > 0 {
        return Err(Failure::Undelivered {
            pending,
            failed: h.total_failed,
        });
    }
    Ok(())
}
