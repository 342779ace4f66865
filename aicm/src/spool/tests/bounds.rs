//! Row and byte limits under each `OnFull` policy.

use std::time::Duration;

use super::*;
use crate::OnFull;
use crate::spool::SpoolError;

const LEASE: Duration = Duration::from_secs(30);

#[test]
fn raise_refuses_at_the_row_limit_until_room_is_made() {
    let (_dir, path) = temp();
    let spool = open(&path, |o| {
        o.max_rows = Some(3);
        o.on_full = OnFull::Raise;
    });
    append_rows(&spool, 0..3);
    match spool.append(body(3), "r3", "cfg") {
        Err(SpoolError::Full {
            rows: 3,
            max_rows: Some(3),
            ..
        }) => {}
        other => panic!("expected Full, got {other:?}"),
    }
    // A re-append of a stored record needs no room.
    assert!(spool.append(body(0), "r0", "cfg").unwrap().duplicate);
    // Failed rows do not count against the bound.
    let rows = spool.claim("w", 1, LEASE).unwrap();
    spool.fail("w", &[rows[0].id], Some(422), "bad").unwrap();
    spool.append(body(3), "r3", "cfg").unwrap();
    let s = spool.stats().unwrap();
    assert_eq!((s.depth(), s.failed), (3, 1));
}

#[test]
fn the_byte_limit_counts_bodies_and_refuses_what_can_never_fit() {
    let (_dir, path) = temp();
    for policy in [OnFull::Raise, OnFull::Block, OnFull::Backpressure] {
        let spool = open(&path, |o| {
            o.max_rows = None;
            o.max_bytes = Some(100);
            o.on_full = policy;
        });
        match spool.append(vec![b'x'; 101], &format!("big-{policy}"), "cfg") {
            Err(SpoolError::TooLarge {
                size: 101,
                max_bytes: 100,
                ..
            }) => {}
            other => panic!("{policy}: expected TooLarge, got {other:?}"),
        }
    }
    let spool = open(&path, |o| {
        o.max_rows = None;
        o.max_bytes = Some(100);
        o.on_full = OnFull::Raise;
    });
    spool.append(vec![b'a'; 40], "a", "cfg").unwrap();
    spool.append(vec![b'b'; 60], "b", "cfg").unwrap();
    assert!(matches!(
        spool.append(vec![b'c'; 1], "c", "cfg"),
        Err(SpoolError::Full { bytes: 100, .. })
    ));
}

#[test]
fn backpressure_displaces_the_oldest_queued_rows_and_hands_them_back() {
    let (_dir, path) = temp();
    let spool = open(&path, |o| {
        o.max_rows = Some(3);
        o.on_full = OnFull::Backpressure;
    });
    let ids = append_rows(&spool, 0..3);
    // Row 0 is in flight: it is not displaced, the oldest *queued* one (row 1) is.
    spool.claim("w", 1, LEASE).unwrap();
    let a = spool.append(body(3), "r3", "cfg").unwrap();
    assert_eq!(a.displaced.len(), 1);
    assert_eq!(
        (
            a.displaced[0].id,
            a.displaced[0].response_id.as_str(),
            &a.displaced[0].body
        ),
        (ids[1], "r1", &body(1))
    );
    let b = spool.append(body(4), "r4", "cfg").unwrap();
    assert_eq!(b.displaced[0].id, ids[2]);
    assert_eq!(spool.stats().unwrap().depth(), 3);
    // Everything claimed: nothing can be displaced, so the record is refused.
    spool.claim("w", 10, LEASE).unwrap();
    assert!(matches!(
        spool.append(body(5), "r5", "cfg"),
        Err(SpoolError::Full { rows: 3, .. })
    ));
    assert_eq!(
        spool.stats().unwrap().claimed,
        3,
        "a refusal displaces nothing"
    );
    assert_meta_matches_rows(&path);
}

#[test]
fn backpressure_displaces_as_many_rows_as_the_bytes_need() {
    let (_dir, path) = temp();
    let spool = open(&path, |o| {
        o.max_rows = None;
        o.max_bytes = Some(100);
        o.on_full = OnFull::Backpressure;
    });
    for i in 0..5 {
        spool.append(vec![b'x'; 20], &rid(i), "cfg").unwrap();
    }
    let a = spool.append(vec![b'y'; 50], "big", "cfg").unwrap();
    let gone: Vec<&str> = a.displaced.iter().map(|d| d.response_id.as_str()).collect();
    assert_eq!(gone, ["r0", "r1", "r2"]);
    let s = spool.stats().unwrap();
    assert_eq!((s.depth(), s.live_bytes), (3, 90));
}

#[test]
fn block_waits_for_room_in_arrival_order() {
    let (_dir, path) = temp();
    let spool = Arc::new(open(&path, |o| {
        o.max_rows = Some(2);
        o.on_full = OnFull::Block;
    }));
    spool.append(body(0), "r0", "cfg").unwrap();
    spool.append(body(1), "r1", "cfg").unwrap();
    let first = {
        let spool = spool.clone();
        std::thread::spawn(move || spool.append(body(2), "r2", "cfg"))
    };
    wait_until("the first append to block", || {
        spool.writer().blocked() == 1
    });
    let second = {
        let spool = spool.clone();
        std::thread::spawn(move || spool.append(body(3), "r3", "cfg"))
    };
    wait_until("the second append to block", || {
        spool.writer().blocked() == 2
    });

    // One row delivered: exactly the first waiter gets its place.
    let rows = spool.claim("w", 1, LEASE).unwrap();
    assert_eq!(spool.ack("w", &[rows[0].id]).unwrap(), 1);
    let stored = first.join().unwrap().unwrap();
    assert_eq!(spool.writer().blocked(), 1);
    assert!(!second.is_finished());
    let rows = spool.claim("w", 1, LEASE).unwrap();
    spool.ack("w", &[rows[0].id]).unwrap();
    let later = second.join().unwrap().unwrap();
    assert!(stored.id < later.id, "arrival order kept");
    assert_eq!(spool.stats().unwrap().depth(), 2);
}

#[test]
fn block_sees_room_made_by_another_process() {
    let (_dir, path) = temp();
    let spool = Arc::new(open(&path, |o| {
        o.max_rows = Some(1);
        o.on_full = OnFull::Block;
    }));
    // The other handle has its own connection and writer, like another process.
    let other = open(&path, |_| {});
    spool.append(body(0), "r0", "cfg").unwrap();
    let waiter = {
        let spool = spool.clone();
        std::thread::spawn(move || spool.append(body(1), "r1", "cfg"))
    };
    wait_until("the append to block", || spool.writer().blocked() == 1);
    let rows = other.claim("o", 1, LEASE).unwrap();
    other.ack("o", &[rows[0].id]).unwrap();
    waiter.join().unwrap().unwrap();
}

#[test]
fn block_gives_up_after_its_timeout() {
    let (_dir, path) = temp();
    let spool = open(&path, |o| {
        o.max_rows = Some(1);
        o.on_full = OnFull::Block;
        o.block_timeout = Some(Duration::from_millis(50));
    });
    spool.append(body(0), "r0", "cfg").unwrap();
    let started = std::time::Instant::now();
    match spool.append(body(1), "r1", "cfg") {
        Err(e @ SpoolError::BlockTimedOut { .. }) => assert!(e.is_transient()),
        other => panic!("expected BlockTimedOut, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(spool.writer().blocked(), 0);
    assert_eq!(spool.stats().unwrap().depth(), 1);
}
