//! append / claim / ack / release / fail / renew / requeue / purge, leases, dedup, stats.

use std::time::Duration;

use super::*;
use crate::spool::{IdSource, Selection, SpoolError};

const LEASE: Duration = Duration::from_secs(30);

#[test]
fn claimed_rows_come_back_byte_exact_and_ack_deletes_them() {
    let (_dir, path) = temp();
    let spool = open(&path, |_| {});
    let mut odd = body(0);
    odd.extend_from_slice(&[0xff, 0x00, 0xfe]); // not UTF-8: the spool stores bytes
    let a = spool.append(odd.clone(), "r0", "cfg-a").unwrap();
    let b = spool.append(body(1), "r1", "cfg-b").unwrap();
    assert!(a.id < b.id && !a.duplicate && a.displaced.is_empty());

    let rows = spool.claim("w1", 10, LEASE).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].id, rows[0].response_id.as_str(), &rows[0].body),
        (a.id, "r0", &odd)
    );
    assert_eq!((rows[1].config_id.as_str(), rows[1].attempts), ("cfg-b", 0));
    let s = spool.stats().unwrap();
    assert_eq!((s.queued, s.claimed, s.depth()), (0, 2, 2));

    // Another owner gets nothing while the lease is live; the owner's ack deletes.
    assert!(spool.claim("w2", 10, LEASE).unwrap().is_empty());
    assert_eq!(spool.ack("w2", &[a.id, b.id]).unwrap(), 0, "not w2's rows");
    assert_eq!(spool.ack("w1", &[a.id]).unwrap(), 1);
    assert_eq!(spool.ack("w1", &[a.id]).unwrap(), 0, "already gone");
    let s = spool.stats().unwrap();
    assert_eq!((s.depth(), s.live_bytes), (1, body(1).len() as u64));
    assert_meta_matches_rows(&path);
}

#[test]
fn claim_takes_at_most_max_in_append_order() {
    let (_dir, path) = temp();
    let spool = open(&path, |_| {});
    let ids = append_rows(&spool, 0..10);
    let first = spool.claim("w", 4, LEASE).unwrap();
    let second = spool.claim("w", 100, LEASE).unwrap();
    assert_eq!(first.iter().map(|r| r.id).collect::<Vec<_>>(), ids[..4]);
    assert_eq!(second.iter().map(|r| r.id).collect::<Vec<_>>(), ids[4..]);
    assert!(spool.claim("w", 0, LEASE).unwrap().is_empty());
}

#[test]
fn released_rows_wait_for_their_retry_time_and_count_attempts() {
    let (_dir, path) = temp();
    let clock = ManualClock::new();
    let spool = open_at(&path, &clock, |_| {});
    let id = spool.append(body(1), "r1", "cfg").unwrap().id;
    let rows = spool.claim("w", 10, LEASE).unwrap();
    assert_eq!(rows.len(), 1);
    let retry_at = clock.now() + Duration::from_secs(10);
    assert_eq!(
        spool
            .release("w", &[id], retry_at, Some(503), "HTTP 503: down")
            .unwrap(),
        1
    );
    let s = spool.stats().unwrap();
    assert_eq!((s.queued, s.claimed), (1, 0));
    assert!(
        spool.claim("w", 10, LEASE).unwrap().is_empty(),
        "backing off"
    );
    clock.advance(Duration::from_millis(9_999));
    assert!(spool.claim("w", 10, LEASE).unwrap().is_empty(), "not yet");
    clock.advance(Duration::from_millis(1));
    let rows = spool.claim("w", 10, LEASE).unwrap();
    assert_eq!((rows.len(), rows[0].attempts), (1, 1));
    // A release by someone who does not hold the row changes nothing.
    assert_eq!(
        spool
            .release("other", &[id], clock.now(), None, "x")
            .unwrap(),
        0
    );
    assert_eq!(spool.stats().unwrap().claimed, 1);
}

#[test]
fn expired_leases_are_taken_over_and_the_old_owner_loses_the_rows() {
    let (_dir, path) = temp();
    let clock = ManualClock::new();
    // Two handles on one file, as two processes would have.
    let a = open_at(&path, &clock, |_| {});
    let b = open_at(&path, &clock, |_| {});
    append_rows(&a, 0..5);
    let held = a.claim("a", 10, LEASE).unwrap();
    assert_eq!(held.len(), 5);
    clock.advance(LEASE - Duration::from_millis(1));
    assert!(b.claim("b", 10, LEASE).unwrap().is_empty(), "lease live");
    clock.advance(Duration::from_millis(1));
    let taken = b.claim("b", 10, LEASE).unwrap();
    assert_eq!(
        taken.iter().map(|r| r.id).collect::<Vec<_>>(),
        held.iter().map(|r| r.id).collect::<Vec<_>>()
    );
    let ids: Vec<i64> = held.iter().map(|r| r.id).collect();
    // The stale owner can no longer settle them in any way.
    assert_eq!(a.ack("a", &ids).unwrap(), 0);
    assert_eq!(a.fail("a", &ids, Some(422), "late").unwrap(), 0);
    assert_eq!(a.renew("a", &ids, LEASE).unwrap(), 0);
    assert_eq!(b.ack("b", &ids).unwrap(), 5);
    assert_eq!(a.stats().unwrap().depth(), 0);
    assert_meta_matches_rows(&path);
}

#[test]
fn unclaimed_rows_are_queued_due_at_once_without_an_attempt() {
    let (_dir, path) = temp();
    let spool = open(&path, |_| {});
    let ids = append_rows(&spool, 0..3);
    assert_eq!(spool.claim("w1", 10, LEASE).unwrap().len(), 3);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(
        rt.block_on(spool.unclaim_async("w2", &ids)).unwrap(),
        0,
        "not w2's"
    );
    assert_eq!(
        rt.block_on(spool.unclaim_async("w1", &ids[..2])).unwrap(),
        2
    );
    let s = spool.stats().unwrap();
    assert_eq!((s.queued, s.claimed), (2, 1));
    let again = spool.claim("w2", 10, LEASE).unwrap();
    assert_eq!(again.iter().map(|r| r.id).collect::<Vec<_>>(), ids[..2]);
    assert!(again.iter().all(|r| r.attempts == 0));
    assert_meta_matches_rows(&path);
}

#[test]
fn renew_keeps_a_long_batch_from_being_taken_over() {
    let (_dir, path) = temp();
    let clock = ManualClock::new();
    let spool = open_at(&path, &clock, |_| {});
    let id = spool.append(body(1), "r1", "cfg").unwrap().id;
    spool.claim("a", 1, Duration::from_secs(10)).unwrap();
    clock.advance(Duration::from_secs(9));
    assert_eq!(spool.renew("a", &[id], Duration::from_secs(10)).unwrap(), 1);
    clock.advance(Duration::from_secs(6)); // 15 s after the claim, 6 s after the renewal
    assert!(spool.claim("b", 1, LEASE).unwrap().is_empty());
    clock.advance(Duration::from_secs(4));
    assert_eq!(spool.claim("b", 1, LEASE).unwrap().len(), 1);
}

#[test]
fn failed_rows_keep_the_reason_until_requeued_or_purged() {
    let (_dir, path) = temp();
    let clock = ManualClock::new();
    let spool = open_at(&path, &clock, |_| {});
    let ids = append_rows(&spool, 0..3);
    spool.claim("w", 10, LEASE).unwrap();
    spool
        .release("w", &ids[..1], clock.now(), Some(503), "HTTP 503")
        .unwrap();
    spool.claim("w", 10, LEASE).unwrap();
    clock.advance(Duration::from_secs(1));
    let n = spool
        .fail(
            "w",
            &ids[..2],
            Some(422),
            "HTTP 422: usage.tokens: expected int",
        )
        .unwrap();
    assert_eq!(n, 2);
    let failed = spool.list_failed(10).unwrap();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0].id, ids[0]);
    assert_eq!(failed[0].attempts, 2, "one release, one failure");
    assert_eq!(failed[1].attempts, 1);
    assert_eq!(failed[0].last_status, Some(422));
    assert_eq!(
        failed[0].last_error.as_deref(),
        Some("HTTP 422: usage.tokens: expected int")
    );
    assert_eq!(failed[0].body, body(0));
    assert_eq!(failed[0].failed_at, Some(clock.now()));
    assert_eq!(spool.list_failed_after(ids[0], 10).unwrap().len(), 1);
    let s = spool.stats().unwrap();
    assert_eq!((s.failed, s.claimed, s.depth()), (2, 1, 1));
    assert_eq!(s.failed_bytes, (body(0).len() + body(1).len()) as u64);
    // Failed rows are never claimed.
    spool.ack("w", &ids[2..]).unwrap();
    assert!(spool.claim("w", 10, LEASE).unwrap().is_empty());

    assert_eq!(spool.requeue(Selection::Ids(vec![ids[1], 999])).unwrap(), 1);
    let again = spool.claim("w", 10, LEASE).unwrap();
    assert_eq!(
        (again.len(), again[0].id, again[0].attempts),
        (1, ids[1], 0)
    );
    assert_eq!(
        spool.purge(Selection::Ids(vec![ids[1]])).unwrap(),
        0,
        "not failed"
    );
    assert_eq!(spool.purge(Selection::All).unwrap(), 1);
    assert!(spool.list_failed(10).unwrap().is_empty());
    assert_eq!(spool.requeue(Selection::All).unwrap(), 0);
    assert_meta_matches_rows(&path);
}

#[test]
fn a_list_of_ids_counts_each_held_row_once_and_skips_the_rest() {
    let (_dir, path) = temp();
    let spool = open(&path, |_| {});
    let ids: Vec<i64> = (0..4)
        .map(|i| spool.append(body(i), &rid(i), "cfg").unwrap().id)
        .collect();
    assert_eq!(spool.claim("w", 3, LEASE).unwrap().len(), 3);
    let missing = ids[3] + 100;
    // Repeated, unknown, unclaimed (ids[3]) and empty lists: one statement each, set semantics.
    let list = [ids[0], ids[0], missing, ids[1], ids[3]];
    assert_eq!(spool.renew("w", &list, LEASE).unwrap(), 2);
    assert_eq!(spool.ack("w", &[]).unwrap(), 0);
    assert_eq!(spool.ack("w", &list).unwrap(), 2);
    assert_eq!(spool.fail("w", &[ids[2], ids[2]], None, "f").unwrap(), 1);
    assert_eq!(
        spool
            .requeue(Selection::Ids(vec![ids[2], missing]))
            .unwrap(),
        1
    );
    assert_eq!(spool.requeue(Selection::Ids(Vec::new())).unwrap(), 0);
    let s = spool.stats().unwrap();
    assert_eq!((s.queued, s.claimed, s.failed), (2, 0, 0));
    assert_meta_matches_rows(&path);
}

/// Entries of the unique index on given response ids.
fn given_index_entries(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(
        "SELECT count(*) FROM spool INDEXED BY spool_given WHERE given = 1",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn generated_response_ids_are_stored_without_a_lookup_or_an_index_entry() {
    let (_dir, path) = temp();
    let spool = open(&path, |_| {});
    let g = |i| spool.append_from(body(i), "gen-1", IdSource::Generated, "cfg");
    let (a, b) = (g(1).unwrap(), g(2).unwrap());
    // The caller vouches that a generated id is new: the spool does not look it up.
    assert!(!a.duplicate && !b.duplicate && a.id != b.id);
    assert_eq!(given_index_entries(&path), 0);
    // Given ids are looked up among given ids only, and kept once.
    let given = spool.append(body(3), "gen-1", "cfg").unwrap();
    assert!(!given.duplicate);
    assert!(spool.append(body(4), "gen-1", "cfg").unwrap().duplicate);
    assert_eq!(given_index_entries(&path), 1);
    assert_eq!(spool.stats().unwrap().appended_total, 3);
    // Generated rows are claimed and delivered like any other.
    let rows = spool.claim("w", 10, LEASE).unwrap();
    let claimed: Vec<i64> = rows.iter().map(|r| r.id).collect();
    assert_eq!(claimed, [a.id, b.id, given.id]);
    assert_eq!(spool.ack("w", &[a.id, b.id, given.id]).unwrap(), 3);
    assert_eq!(spool.stats().unwrap().depth(), 0);
    assert_meta_matches_rows(&path);
}

#[test]
fn re_appending_a_response_id_stores_nothing_new() {
    let (_dir, path) = temp();
    let spool = open(&path, |_| {});
    let first = spool.append(body(1), "same", "cfg").unwrap();
    let again = spool.append(body(2), "same", "cfg").unwrap();
    assert!(again.duplicate);
    assert_eq!(again.id, first.id);
    assert_eq!(spool.stats().unwrap().depth(), 1);
    let rows = spool.claim("w", 10, LEASE).unwrap();
    assert_eq!(rows[0].body, body(1), "the first body is kept");
    // Still a duplicate while claimed and while failed...
    assert!(spool.append(body(1), "same", "cfg").unwrap().duplicate);
    spool.fail("w", &[first.id], Some(400), "bad").unwrap();
    assert!(spool.append(body(1), "same", "cfg").unwrap().duplicate);
    // ...but once delivered (deleted) it is a new row; the server deduplicates it.
    spool.purge(Selection::All).unwrap();
    let stored = spool.append(body(1), "same", "cfg").unwrap();
    assert!(!stored.duplicate);
    assert_eq!(
        spool.stats().unwrap().appended_total,
        2,
        "duplicates are not appends"
    );
}

#[test]
fn stats_report_the_oldest_live_record_age() {
    let (_dir, path) = temp();
    let clock = ManualClock::new();
    let spool = open_at(&path, &clock, |_| {});
    assert_eq!(spool.stats().unwrap().oldest_age, None);
    let failed = spool.append(body(0), "r0", "cfg").unwrap().id;
    spool.claim("w", 1, LEASE).unwrap();
    spool.fail("w", &[failed], None, "gave up").unwrap();
    clock.advance(Duration::from_secs(2));
    let t1 = clock.now();
    spool.append(body(1), "r1", "cfg").unwrap();
    clock.advance(Duration::from_secs(5));
    spool.append(body(2), "r2", "cfg").unwrap();
    let s = spool.stats().unwrap();
    assert_eq!(s.oldest_created_at, Some(t1), "failed rows do not count");
    assert_eq!(s.oldest_age, Some(Duration::from_secs(5)));
    assert!(s.file_bytes > 0);
    assert_eq!(s.max_rows, SpoolOptions::default().max_rows);
}

#[test]
fn rows_survive_closing_and_reopening() {
    let (_dir, path) = temp();
    {
        let spool = open(&path, |_| {});
        append_rows(&spool, 0..20);
        spool.claim("old", 5, LEASE).unwrap();
    }
    let spool = open(&path, |_| {});
    let s = spool.stats().unwrap();
    assert_eq!((s.queued, s.claimed), (15, 5));
    let rows = spool.claim("new", 100, LEASE).unwrap();
    assert_eq!(rows.len(), 15, "the old owner's live leases are respected");
    assert_eq!(rows[0].response_id, "r5");
}

#[test]
fn async_operations_never_block_the_runtime() {
    let (_dir, path) = temp();
    let spool = Arc::new(open(&path, |_| {}));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // 200 appends in flight at once from one thread: only possible if none blocks it.
        let pending: Vec<_> = (0..200)
            .map(|i| spool.append_async(body(i), &rid(i), "cfg"))
            .collect();
        let mut ids = Vec::new();
        for f in pending {
            ids.push(f.await.unwrap().id);
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 200);
        let rows = spool.claim_async("w", 500, LEASE).await.unwrap();
        assert_eq!(rows.len(), 200);
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        assert_eq!(spool.renew_async("w", &ids, LEASE).await.unwrap(), 200);
        assert_eq!(
            spool
                .release_async("w", &ids[..10], std::time::SystemTime::now(), None, "x")
                .await
                .unwrap(),
            10
        );
        assert_eq!(
            spool
                .fail_async("w", &ids[10..20], Some(400), "bad")
                .await
                .unwrap(),
            10
        );
        assert_eq!(spool.ack_async("w", &ids[20..]).await.unwrap(), 180);
    });
    let s = spool.stats().unwrap();
    assert_eq!((s.queued, s.claimed, s.failed), (10, 0, 10));
    // The future owns what it needs: it may outlive the borrow and be spawned.
    let f = spool.append_async(body(999), "r999", "cfg");
    assert!(!rt.block_on(f).unwrap().duplicate);
}

#[test]
fn dropping_the_spool_answers_nothing_lost() {
    let (_dir, path) = temp();
    let spool = open(&path, |_| {});
    let pending: Vec<_> = (0..50)
        .map(|i| spool.append_async(body(i), &rid(i), "cfg"))
        .collect();
    drop(spool); // finishes the submitted jobs before the writer stops
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for f in pending {
        rt.block_on(f).unwrap();
    }
    assert_eq!(open(&path, |_| {}).stats().unwrap().queued, 50);
}

#[test]
fn meta_counts_stay_exact_through_a_mixed_workload() {
    let (_dir, path) = temp();
    let clock = ManualClock::new();
    let spool = open_at(&path, &clock, |o| {
        o.max_rows = Some(60);
        o.on_full = crate::OnFull::Backpressure;
    });
    // A fixed pseudo-random walk over every operation.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut i = 0;
    for _ in 0..400 {
        match next(8) {
            0..=2 => {
                let n = next(5) as usize + 1;
                for _ in 0..n {
                    let mut b = body(i);
                    b.extend(std::iter::repeat_n(b'x', next(200) as usize));
                    spool.append(b, &rid(i), "cfg").unwrap();
                    i += 1;
                }
            }
            3 => {
                let rows = spool.claim("w", next(10) as usize, LEASE).unwrap();
                let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                match next(4) {
                    0 => drop(spool.ack("w", &ids).unwrap()),
                    1 => drop(spool.release("w", &ids, clock.now(), None, "e").unwrap()),
                    2 => drop(spool.fail("w", &ids, Some(400), "f").unwrap()),
                    _ => {}
                }
            }
            4 => clock.advance(LEASE),
            5 => drop(spool.requeue(Selection::All).unwrap()),
            6 => drop(
                spool
                    .purge(Selection::Ids(vec![next(i as u64 + 1) as i64]))
                    .unwrap(),
            ),
            _ => drop(spool.append(body(0), "r0", "cfg").unwrap()),
        }
    }
    assert_meta_matches_rows(&path);
    let s = spool.stats().unwrap();
    assert!(s.depth() <= 60);
    match spool.claim("w", 0, LEASE) {
        Ok(rows) => assert!(rows.is_empty()),
        Err(SpoolError::Storage { .. }) => panic!("claim of 0 must not fail"),
        Err(e) => panic!("{e}"),
    }
}
