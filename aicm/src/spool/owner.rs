//! Who holds a claim, and whether it is still there.
//!
//! A delivery loop registers its owner name in `spool_owners` before its first claim, with
//! where it runs (`host`: hostname, boot id and pid namespace), its process id and the
//! process's start time, and refreshes `heartbeat_at` every `heartbeat_interval` while it runs
//! (renewing the lease of every row it holds at the same time). Another process judges a
//! registered owner gone when:
//!
//! * **same host** (equal `host` and a start time on record): `/proc/<pid>` no longer exists,
//!   or belongs to a process with another start time (the id was reused). Immediate, and
//!   never wrong about a live process: a process that runs keeps its id and start time.
//! * **anywhere else** (another host, another pid namespace, a system without `/proc`): its
//!   heartbeat is older than `heartbeat_timeout`.
//!
//! A gone owner's claimed rows go back to the queue due at once (no attempt counted: its
//! request never finished), and so do the rows it released for a later retry (its backoff
//! died with it). A live owner's rows are never touched. Owners that are not registered (a
//! loop that lost its row to a wrong judgement re-registers at its next heartbeat) keep the
//! plain lease rule.

use std::sync::OnceLock;

/// Where this process runs and who it is, as written in `spool_owners`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcessIdentity {
    pub host: String,
    pub pid: u32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22); `None` without
    /// `/proc`.
    pub started: Option<i64>,
}

/// This process's identity, read once.
pub(crate) fn this_process() -> &'static ProcessIdentity {
    static ME: OnceLock<ProcessIdentity> = OnceLock::new();
    ME.get_or_init(|| {
        let pid = std::process::id();
        ProcessIdentity {
            host: host_id(),
            pid,
            started: start_time(pid).ok().flatten(),
        }
    })
}

/// Hostname, boot id and pid namespace: two processes with the same value see the same
/// process table. Empty parts where the system does not say (then the start time is `None`
/// too, and only heartbeats count).
fn host_id() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    let hostname = match read("/proc/sys/kernel/hostname") {
        h if !h.is_empty() => h,
        _ => std::env::var("HOSTNAME").unwrap_or_default(),
    };
    let boot = read("/proc/sys/kernel/random/boot_id");
    let pidns = std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    format!("{hostname}/{boot}/{pidns}")
}

/// The start time of process `pid`: `Ok(None)` when no such process runs (or only its zombie
/// is left), `Err` when it cannot be told (no `/proc`, unreadable).
pub(crate) fn start_time(pid: u32) -> std::io::Result<Option<i64>> {
    let text = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // No such process, if /proc is there at all.
            return if std::path::Path::new("/proc/self/stat").exists() {
                Ok(None)
            } else {
                Err(e)
            };
        }
        Err(e) => return Err(e),
    };
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses; the fields after the
    // last `)` start with field 3, so field 22 is the 20th.
    let after = text
        .rfind(')')
        .map(|i| &text[i + 1..])
        .ok_or_else(|| std::io::Error::other("unexpected /proc stat format"))?;
    let mut fields = after.split_whitespace();
    // A zombie (exited, not yet reaped) or dead task runs nothing any more.
    if matches!(fields.next(), Some("Z" | "X" | "x")) {
        return Ok(None);
    }
    fields
        .nth(18)
        .and_then(|f| f.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| std::io::Error::other("unexpected /proc stat format"))
}

/// A registered owner as read from the file.
#[derive(Debug, Clone)]
pub(crate) struct OwnerRow {
    pub owner: String,
    pub host: String,
    pub pid: u32,
    pub started: Option<i64>,
    pub heartbeat_at: i64,
}

/// Whether `row`'s process is gone, seen from `me` at `now` (ms) with heartbeats older than
/// `timeout_ms` taken as stopped.
pub(crate) fn is_gone(row: &OwnerRow, me: &ProcessIdentity, now: i64, timeout_ms: i64) -> bool {
    if row.host == me.host
        && me.started.is_some()
        && let Some(started) = row.started
    {
        match start_time(row.pid) {
            Ok(None) => return true,
            Ok(Some(t)) => return t != started,
            // Cannot tell from here: the heartbeat decides.
            Err(_) => {}
        }
    }
    now.saturating_sub(row.heartbeat_at) > timeout_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_finished_one_is_gone() {
        let me = this_process();
        let row = |pid: u32, started: Option<i64>, heartbeat_at: i64| OwnerRow {
            owner: "x".into(),
            host: me.host.clone(),
            pid,
            started,
            heartbeat_at,
        };
        if me.started.is_none() {
            return; // no /proc here: only heartbeats count, tested below
        }
        assert!(!is_gone(&row(me.pid, me.started, 0), me, 1_000_000, 10));
        // Same pid, another start time: the id was reused.
        assert!(is_gone(
            &row(me.pid, me.started.map(|t| t + 1), 1_000_000),
            me,
            1_000_000,
            10_000
        ));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let started = start_time(pid).ok().flatten();
        child.wait().unwrap();
        assert!(is_gone(
            &row(pid, started.or(Some(1)), 1_000_000),
            me,
            1_000_000,
            10_000
        ));
    }

    #[test]
    fn elsewhere_only_the_heartbeat_counts() {
        let me = this_process();
        let row = OwnerRow {
            owner: "x".into(),
            host: "another-host/boot/ns".into(),
            pid: 1,
            started: Some(1),
            heartbeat_at: 10_000,
        };
        assert!(!is_gone(&row, me, 15_000, 10_000));
        assert!(is_gone(&row, me, 20_001, 10_000));
    }
}
