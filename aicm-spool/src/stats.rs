//! `stats` and `tail`.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use aicm::spool::{Spool, SpoolStats};
use indicatif::{ProgressBar, ProgressStyle};

use crate::Failure;
use crate::fmt;

pub fn print(spool: &Spool, json: bool, out: &mut impl Write) -> Result<(), Failure> {
    let s = spool.stats()?;
    let accounts = spool.accounts()?;
    if json {
        let accounts: Vec<serde_json::Value> = accounts
            .iter()
            .map(|a| {
                serde_json::json!({
                    "account": a.account,
                    "queued": a.queued,
                    "claimed": a.claimed,
                    "failed": a.failed,
                })
            })
            .collect();
        let value = serde_json::json!({
            "path": spool.path().display().to_string(),
            "queued": s.queued,
            "claimed": s.claimed,
            "depth": s.depth(),
            "failed": s.failed,
            "live_bytes": s.live_bytes,
            "failed_bytes": s.failed_bytes,
            "file_bytes": s.file_bytes,
            "appended_total": s.appended_total,
            "oldest_created_at": s.oldest_created_at.map(fmt::time),
            "oldest_age_ms": s.oldest_age.map(|d| d.as_millis() as u64),
            "accounts": accounts,
        });
        writeln!(out, "{value}")?;
        return Ok(());
    }
    writeln!(
        out,
        "spool     {} ({} on disk)",
        spool.path().display(),
        fmt::bytes(s.file_bytes)
    )?;
    writeln!(
        out,
        "depth     {} ({} queued, {} claimed), {}",
        s.depth(),
        s.queued,
        s.claimed,
        fmt::bytes(s.live_bytes)
    )?;
    writeln!(
        out,
        "failed    {} ({})",
        s.failed,
        fmt::bytes(s.failed_bytes)
    )?;
    match (s.oldest_age, s.oldest_created_at) {
        (Some(age), Some(at)) => {
            writeln!(out, "oldest    {} ago ({})", fmt::age(age), fmt::time(at))?
        }
        _ => writeln!(out, "oldest    -")?,
    }
    writeln!(
        out,
        "appended  {} since the spool was created",
        s.appended_total
    )?;
    // Rows are delivered only by a process with the API root and key that stored them: more
    // than one account means some rows wait for another key.
    if accounts.len() > 1 {
        writeln!(
            out,
            "accounts  {} (rows are delivered only with the API root and key that stored them)",
            accounts.len()
        )?;
        for a in &accounts {
            let name = if a.account.is_empty() {
                "(none)"
            } else {
                a.account.as_str()
            };
            writeln!(
                out,
                "          {name}: {} queued, {} claimed, {} failed",
                a.queued, a.claimed, a.failed
            )?;
        }
    }
    Ok(())
}

/// Rates between two snapshots: records appended per second, and records leaving the queue
/// (delivered, or displaced) per second.
fn rates(before: &SpoolStats, after: &SpoolStats, dt: Duration) -> (f64, f64) {
    let secs = dt.as_secs_f64().max(1e-3);
    let appended = after.appended_total.saturating_sub(before.appended_total) as f64;
    let depth_change = after.depth() as f64 - before.depth() as f64;
    let newly_failed = after.failed.saturating_sub(before.failed) as f64;
    let settled = (appended - depth_change - newly_failed).max(0.0);
    (appended / secs, settled / secs)
}

fn line(s: &SpoolStats, rates: Option<(f64, f64)>) -> String {
    let oldest = s.oldest_age.map_or_else(|| "-".to_owned(), fmt::age);
    let rates = rates.map_or_else(
        || "in - /s, out - /s".to_owned(),
        |(i, o)| format!("in {i:.0}/s, out {o:.0}/s"),
    );
    format!(
        "depth {} (queued {}, claimed {}), failed {}, {}, oldest {}, {}",
        s.depth(),
        s.queued,
        s.claimed,
        s.failed,
        fmt::bytes(s.live_bytes),
        oldest,
        rates
    )
}

/// Refreshes every `interval`: a spinner line on a terminal, one plain line per refresh
/// otherwise (logs, pipes, tests).
pub fn tail(spool: &Spool, interval: Duration, count: Option<u64>) -> Result<(), Failure> {
    let live = std::io::stderr().is_terminal();
    let bar = live.then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    });
    let mut out = std::io::stdout();
    let mut previous: Option<(SpoolStats, Instant)> = None;
    let mut shown = 0u64;
    loop {
        let s = spool.stats()?;
        let now = Instant::now();
        let r = previous
            .as_ref()
            .map(|(p, at)| rates(p, &s, now.duration_since(*at)));
        let text = line(&s, r);
        match &bar {
            Some(bar) => {
                bar.set_message(text);
                bar.tick();
            }
            None => {
                writeln!(out, "{text}")?;
                out.flush()?;
            }
        }
        previous = Some((s, now));
        shown += 1;
        if count.is_some_and(|c| shown >= c) {
            break;
        }
        std::thread::sleep(interval);
    }
    if let Some(bar) = bar {
        bar.finish();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(queued: u64, failed: u64, appended_total: u64) -> SpoolStats {
        let spool_dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(spool_dir.path().join("s"), Default::default()).unwrap();
        let mut s = spool.stats().unwrap();
        s.queued = queued;
        s.failed = failed;
        s.appended_total = appended_total;
        s
    }

    #[test]
    fn rates_count_appends_in_and_settled_records_out() {
        let before = snap(100, 0, 1000);
        // 50 appended, depth down 20, 5 newly failed: 65 left the queue.
        let after = snap(80, 5, 1050);
        let (i, o) = rates(&before, &after, Duration::from_secs(1));
        assert_eq!((i, o), (50.0, 65.0));
    }
}
