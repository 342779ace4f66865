//! `list-failed`, `requeue`, `purge`.

use std::io::Write;

use aicm::spool::{FailedRow, Selection, Spool};

use crate::Failure;
use crate::fmt;

pub fn list(
    spool: &Spool,
    after: i64,
    limit: usize,
    with_body: bool,
    json: bool,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let rows = spool.list_failed_after(after, limit)?;
    if json {
        let items: Vec<serde_json::Value> = rows.iter().map(to_json).collect();
        writeln!(out, "{}", serde_json::Value::Array(items))?;
        return Ok(());
    }
    if rows.is_empty() {
        writeln!(out, "no failed rows")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:>8}  {:<20}  {:>8}  {:>6}  {:<32}  ERROR",
        "ID", "FAILED", "ATTEMPTS", "STATUS", "RESPONSE_ID"
    )?;
    for r in &rows {
        writeln!(
            out,
            "{:>8}  {:<20}  {:>8}  {:>6}  {:<32}  {}",
            r.id,
            r.failed_at.map_or_else(|| "-".to_owned(), fmt::time),
            r.attempts,
            r.last_status
                .map_or_else(|| "-".to_owned(), |s| s.to_string()),
            fmt::short(&r.response_id, 32),
            fmt::short(r.last_error.as_deref().unwrap_or("-"), 100),
        )?;
        if with_body {
            writeln!(out, "{:>8}  {}", "", String::from_utf8_lossy(&r.body))?;
        }
    }
    if let (Some(last), true) = (rows.last(), rows.len() == limit) {
        writeln!(out, "(first {limit} shown; more with --after {})", last.id)?;
    }
    Ok(())
}

fn to_json(r: &FailedRow) -> serde_json::Value {
    // The body is the record's wire JSON: embedded as JSON when it parses, else as text.
    let body = serde_json::from_slice::<serde_json::Value>(&r.body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&r.body).into()));
    serde_json::json!({
        "id": r.id,
        "response_id": r.response_id,
        "config_id": r.config_id,
        "attempts": r.attempts,
        "last_status": r.last_status,
        "last_error": r.last_error,
        "created_at": fmt::time(r.created_at),
        "failed_at": r.failed_at.map(fmt::time),
        "body": body,
    })
}

pub fn requeue(spool: &Spool, selection: &Selection, out: &mut impl Write) -> Result<(), Failure> {
    let n = spool.requeue(selection.clone())?;
    writeln!(
        out,
        "requeued {n} failed row{}{}",
        plural(n),
        skipped(selection, n)
    )?;
    Ok(())
}

pub fn purge(spool: &Spool, selection: &Selection, out: &mut impl Write) -> Result<(), Failure> {
    let n = spool.purge(selection.clone())?;
    writeln!(
        out,
        "purged {n} failed row{}{}",
        plural(n),
        skipped(selection, n)
    )?;
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Given ids that were not failed rows (already delivered, still queued, or unknown).
fn skipped(selection: &Selection, done: usize) -> String {
    match selection {
        Selection::Ids(ids) if ids.len() > done => {
            format!(
                " ({} of the given ids are not failed rows)",
                ids.len() - done
            )
        }
        _ => String::new(),
    }
}
