//! Concurrent appends share commits.

use std::sync::Barrier;

use super::*;
use crate::spool::Appended;

/// `n` callers append while the writer is held, so that their appends wait together; returns
/// the callers, still waiting, and the writer still held.
fn waiting_appends(spool: &Arc<Spool>, n: usize) -> Vec<std::thread::JoinHandle<Appended>> {
    spool.writer().hold(true);
    let callers: Vec<_> = (0..n)
        .map(|i| {
            let spool = spool.clone();
            std::thread::spawn(move || spool.append(body(i), &rid(i), "cfg").unwrap())
        })
        .collect();
    wait_until("the appends to wait", || spool.writer().pending() == n);
    callers
}

#[test]
fn appends_waiting_together_are_committed_together() {
    let (_dir, path) = temp();
    let spool = Arc::new(open(&path, |_| {}));
    let before = spool.writer_stats();
    let callers = waiting_appends(&spool, 8);
    // None has returned: a record is reported stored only after its commit.
    assert!(callers.iter().all(|c| !c.is_finished()));
    spool.writer().hold(false);
    let mut ids: Vec<i64> = callers.into_iter().map(|c| c.join().unwrap().id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 8);
    let after = spool.writer_stats();
    assert_eq!(after.commits - before.commits, 1, "one transaction");
    assert_eq!(after.appends - before.appends, 8);
}

#[test]
fn an_append_arriving_while_a_group_is_open_joins_its_commit() {
    let (_dir, path) = temp();
    let spool = Arc::new(open(&path, |_| {}));
    // A group of two appends: the writer expects both callers back in the next group.
    let first = waiting_appends(&spool, 2);
    spool.writer().hold(false);
    for caller in first {
        caller.join().unwrap();
    }
    let before = spool.writer_stats();
    // An operation opens the next group; while it runs inside that transaction, an append
    // arrives.
    let late = spool.clone();
    let appender = spool
        .run(crate::spool::op("test", move |_| {
            let spool = late.clone();
            let appender = std::thread::spawn(move || spool.append(body(2), &rid(2), "cfg"));
            wait_until("the late append to arrive", || late.writer().pending() == 1);
            Ok(appender)
        }))
        .unwrap();
    let appended = appender.join().unwrap().unwrap();
    assert!(!appended.duplicate);
    let after = spool.writer_stats();
    assert_eq!(
        after.commits - before.commits,
        1,
        "one transaction for both"
    );
    assert_eq!(after.appends - before.appends, 1);
    assert_eq!(spool.stats().unwrap().queued, 3);
}

#[test]
fn eight_threads_share_commits() {
    let (_dir, path) = temp();
    let spool = Arc::new(open(&path, |o| o.max_rows = None));
    const THREADS: usize = 8;
    const EACH: usize = 300;
    let start = Arc::new(Barrier::new(THREADS));
    let callers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (spool, start) = (spool.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                (0..EACH)
                    .map(|i| {
                        let n = t * EACH + i;
                        spool.append(body(n), &rid(n), "cfg").unwrap().id
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: Vec<i64> = callers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), THREADS * EACH);
    let w = spool.writer_stats();
    assert_eq!(w.appends, (THREADS * EACH) as u64);
    println!(
        "{} appends in {} commits ({:.1} per commit)",
        w.appends,
        w.commits,
        w.appends as f64 / w.commits as f64
    );
    assert!(
        w.commits * 2 <= w.appends,
        "8 concurrent callers should share commits: {w:?}"
    );
    assert_eq!(spool.stats().unwrap().queued, (THREADS * EACH) as u64);
}

#[test]
fn the_log_is_checkpointed_and_starts_over() {
    use crate::spool::checkpoint::{COMMITS_PER_CHECKPOINT, INLINE_ABOVE_FRAMES};
    let (_dir, path) = temp();
    let spool = open(&path, |o| o.max_rows = None);
    let mut n = 0;
    let mut append = || {
        spool.append(body(n), &rid(n), "cfg").unwrap();
        n += 1;
    };
    // One append per commit, a few log pages each.
    for _ in 0..COMMITS_PER_CHECKPOINT {
        append();
    }
    wait_until("a background checkpoint", || {
        spool.writer().checkpoints().0 > 0
    });
    // When the background loses every race (a commit begins before its checkpoint ends, so
    // the log never starts over; or it is slow), past the threshold the writer finishes a
    // checkpoint itself, between two commits... (Left running, the background can also win
    // every race when commits are slow, on a busy disk, and keep the log short: then the
    // writer never needs to.)
    spool.writer().pause_background_checkpoints();
    let mut more = 0;
    while spool.writer().checkpoints().1 == 0 {
        append();
        more += 1;
        assert!(
            more < 4 * INLINE_ABOVE_FRAMES as usize,
            "the writer never checkpointed"
        );
    }
    // ...and the transaction after that starts the log over.
    append();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let log: i64 = conn
        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
        .unwrap();
    assert!(log < 64, "the log did not start over: {log} frames");
    drop(conn);
    assert_eq!(spool.stats().unwrap().queued, n as u64);
}
