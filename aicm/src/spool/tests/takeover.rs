//! Owners that are gone lose their rows at once; live ones never do.

use super::*;
use crate::spool::owner::{ProcessIdentity, this_process};
use crate::spool::{op, store};

const LEASE: Duration = Duration::from_secs(600);

/// Registers `owner` as the process `who` (as its own heartbeat would).
fn register(spool: &Spool, owner: &str, who: ProcessIdentity) {
    let owner = owner.to_owned();
    spool
        .run(op("test", move |ctx| {
            store::heartbeat(ctx.conn, &owner, &who, ctx.now + 600_000, ctx.now)
        }))
        .unwrap();
}

/// A process of this host that has finished.
fn finished_process() -> ProcessIdentity {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    let started = crate::spool::owner::start_time(pid).ok().flatten();
    child.wait().unwrap();
    ProcessIdentity {
        host: this_process().host.clone(),
        pid,
        started: started.or(Some(1)),
    }
}

#[test]
fn a_finished_process_loses_its_claims_and_its_retries_at_once() {
    if this_process().started.is_none() {
        return; // no /proc: only heartbeats count (tested below)
    }
    let (_dir, path) = temp();
    let spool = open(&path, |_| {});
    append_rows(&spool, 0..10);
    register(&spool, "dead", finished_process());
    register(&spool, "alive", this_process().clone());
    let dead = spool.claim("dead", 4, LEASE).unwrap();
    let alive = spool.claim("alive", 3, LEASE).unwrap();
    // The dead one had released one row for a retry an hour from now.
    let later = std::time::SystemTime::now() + Duration::from_secs(3600);
    assert_eq!(
        spool
            .release("dead", &[dead[0].id], later, Some(503), "down")
            .unwrap(),
        1
    );
    let t = spool.take_over_gone().unwrap();
    assert_eq!(
        (t.owners, t.claimed, t.retries, t.live_owners),
        (1, 3, 1, 1)
    );
    // Everything but the live owner's claims is due now.
    let again = spool.claim("new", 100, LEASE).unwrap();
    assert_eq!(again.len(), 7);
    assert!(again.iter().all(|r| !alive.iter().any(|a| a.id == r.id)));
    // The released row kept its attempt; the unfinished requests count none.
    let released = again.iter().find(|r| r.id == dead[0].id).unwrap();
    assert_eq!(released.attempts, 1);
    assert!(
        again
            .iter()
            .filter(|r| r.id != dead[0].id)
            .all(|r| r.attempts == 0)
    );
    // Nothing more to take: the live owner keeps its rows.
    assert_eq!(spool.take_over_gone().unwrap().claimed, 0);
    assert_eq!(spool.held_by("alive").unwrap(), 3);
    assert_meta_matches_rows(&path);
}

#[test]
fn elsewhere_an_owner_is_gone_once_its_heartbeat_is_stale() {
    let (_dir, path) = temp();
    let clock = ManualClock::new();
    let spool = open_at(&path, &clock, |o| {
        o.heartbeat_timeout = Duration::from_secs(10)
    });
    append_rows(&spool, 0..5);
    let remote = ProcessIdentity {
        host: "another-host/boot/ns".into(),
        pid: 1,
        started: Some(1),
    };
    register(&spool, "remote", remote.clone());
    assert_eq!(spool.claim("remote", 5, LEASE).unwrap().len(), 5);
    clock.advance(Duration::from_secs(9));
    // It beats again: alive.
    register(&spool, "remote", remote);
    clock.advance(Duration::from_secs(9));
    assert_eq!(spool.take_over_gone().unwrap().claimed, 0);
    assert!(spool.claim("new", 5, LEASE).unwrap().is_empty());
    clock.advance(Duration::from_secs(2));
    assert_eq!(spool.take_over_gone().unwrap().claimed, 5);
    assert_eq!(spool.claim("new", 5, LEASE).unwrap().len(), 5);
}

#[test]
fn a_heartbeat_renews_the_lease_of_every_row_its_owner_holds() {
    let (_dir, path) = temp();
    let clock = ManualClock::new();
    let spool = open_at(&path, &clock, |_| {});
    append_rows(&spool, 0..3);
    register(&spool, "me", this_process().clone());
    assert_eq!(
        spool.claim("me", 3, Duration::from_secs(5)).unwrap().len(),
        3
    );
    clock.advance(Duration::from_secs(4));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let held = rt
        .block_on(spool.heartbeat_async("me", Duration::from_secs(5)))
        .unwrap();
    assert_eq!(held, 3);
    clock.advance(Duration::from_secs(4));
    assert!(
        spool.claim("other", 3, LEASE).unwrap().is_empty(),
        "renewed"
    );
    clock.advance(Duration::from_secs(2));
    assert_eq!(
        spool.claim("other", 3, LEASE).unwrap().len(),
        3,
        "the lease still ends"
    );
}
