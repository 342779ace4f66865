//! Rows never claimed are found by id from `fresh_from`, not through the due index: appends
//! write no entry there, and claims still take every row in the order it has been due.

use std::time::Duration;

use super::*;

const LEASE: Duration = Duration::from_secs(30);

/// Entries in `spool_due` and the `fresh_from` of `spool_meta`.
fn due_entries_and_fresh_from(path: &Path) -> (i64, i64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let entries = conn
        .query_row(
            "SELECT count(*) FROM spool INDEXED BY spool_due WHERE due_at > 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let fresh_from = conn
        .query_row("SELECT fresh_from FROM spool_meta WHERE k = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    (entries, fresh_from)
}

fn ids(rows: &[crate::spool::ClaimedRow]) -> Vec<i64> {
    rows.iter().map(|r| r.id).collect()
}

#[test]
fn appends_add_no_due_entry_until_their_first_claim() {
    let (_dir, path) = temp();
    let spool = open(&path, |_| {});
    let appended = append_rows(&spool, 0..5);
    assert_eq!(due_entries_and_fresh_from(&path), (0, 1));

    let claimed = spool.claim("w", 2, LEASE).unwrap();
    assert_eq!(ids(&claimed), appended[..2]);
    // The claimed rows are in the index (their lease end); the rest are found from id 3.
    assert_eq!(due_entries_and_fresh_from(&path), (2, appended[2]));
    assert_eq!(ids(&spool.claim("w", 10, LEASE).unwrap()), appended[2..]);
    assert_eq!(
        due_entries_and_fresh_from(&path),
        (5, appended[4] + 1),
        "past every row once none is left unclaimed"
    );
    assert_meta_matches_rows(&path);
}

#[test]
fn rows_appended_after_the_newest_were_delivered_are_claimed() {
    let (_dir, path) = temp();
    let spool = open(&path, |_| {});
    append_rows(&spool, 0..3);
    let first = spool.claim("w", 10, LEASE).unwrap();
    assert_eq!(spool.ack("w", &ids(&first)).unwrap(), 3);
    assert_eq!(spool.stats().unwrap().depth(), 0);

    // The table is empty: the next id must still not fall below where claims look.
    let next = spool.append(body(3), &rid(3), "cfg").unwrap();
    assert!(next.id > first[2].id, "{} after {}", next.id, first[2].id);
    let again = spool.claim("w", 10, LEASE).unwrap();
    assert_eq!(ids(&again), [next.id]);
    assert_eq!(again[0].response_id, rid(3));
}

#[test]
fn a_claim_takes_retried_and_fresh_rows_in_the_order_they_became_due() {
    let (_dir, path) = temp();
    let clock = ManualClock::new();
    let spool = open_at(&path, &clock, |_| {});
    let retried = spool.append(body(0), &rid(0), "cfg").unwrap().id;
    assert_eq!(spool.claim("w", 10, LEASE).unwrap().len(), 1);
    let retry_at = clock.now() + Duration::from_secs(1);
    spool
        .release("w", &[retried], retry_at, Some(503), "down")
        .unwrap();

    clock.advance(Duration::from_secs(2));
    let fresh = spool.append(body(1), &rid(1), "cfg").unwrap().id;
    clock.advance(Duration::from_secs(1));
    // Due since retry_at, before the fresh row was appended.
    assert_eq!(ids(&spool.claim("w", 1, LEASE).unwrap()), [retried]);
    assert_eq!(ids(&spool.claim("w", 1, LEASE).unwrap()), [fresh]);

    // A row retried later than a fresh row was appended waits behind it.
    let (a, b) = (
        spool.append(body(2), &rid(2), "cfg").unwrap().id,
        spool.append(body(3), &rid(3), "cfg").unwrap().id,
    );
    assert_eq!(ids(&spool.claim("w", 1, LEASE).unwrap()), [a]);
    clock.advance(Duration::from_secs(1));
    spool
        .release("w", &[a], clock.now(), Some(503), "down")
        .unwrap();
    assert_eq!(ids(&spool.claim("w", 1, LEASE).unwrap()), [b]);
    assert_eq!(ids(&spool.claim("w", 1, LEASE).unwrap()), [a]);
    assert_meta_matches_rows(&path);
}

#[test]
fn a_claim_reads_the_due_index_and_a_range_of_ids_never_the_whole_table() {
    let (_dir, path) = temp();
    drop(open(&path, |_| {}));
    let conn = rusqlite::Connection::open(&path).unwrap();
    let plan: Vec<String> = conn
        .prepare(&format!(
            "EXPLAIN QUERY PLAN {}",
            crate::spool::store::CLAIM
        ))
        .unwrap()
        .query_map(rusqlite::params!["w", 1, 1, 10, b"a".as_slice()], |r| {
            r.get(3)
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let steps = plan.join("\n");
    assert!(steps.contains("USING INDEX spool_due"), "due arm:\n{steps}");
    assert!(
        steps.contains("USING INTEGER PRIMARY KEY (rowid>?)"),
        "fresh arm:\n{steps}"
    );
    assert!(
        !steps.lines().any(|s| s.starts_with("SCAN spool")),
        "no full scan:\n{steps}"
    );
}
