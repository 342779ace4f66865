//! The quickstart, exactly as the example runs it, on the local API under each contract: with
//! default settings it finds the contract by itself and delivers every record.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aicm_examples::{Backend, quickstart};
use aicm_tests::Protocol as Served;

fn run(served: Served) -> (quickstart::Summary, Backend, String) {
    let backend = Backend::local(served).unwrap();
    let mut out = Vec::new();
    let summary = quickstart::run(&backend, 2_000, &mut out).unwrap();
    (summary, backend, String::from_utf8(out).unwrap())
}

fn check(summary: &quickstart::Summary, backend: &Backend, out: &str) {
    assert_eq!(summary.tracked, 2_000);
    let h = &summary.health;
    assert_eq!(
        (h.total_sent, h.total_failed, h.total_discarded),
        (2_000, 0, 0),
        "{h:?}"
    );
    let rejected = summary
        .rejected
        .as_deref()
        .expect("the bad record is refused");
    assert!(rejected.contains("input_tokens"), "{rejected}");
    assert!(rejected.contains("colour"), "{rejected}");
    assert_eq!(backend.stored_records(), Some(2_000));
    assert!(out.contains("the local API stored 2000 records"), "{out}");
}

#[test]
fn the_quickstart_delivers_everything_on_a_service_with_only_todays_api() {
    let (summary, backend, out) = run(Served::Track);
    assert_eq!(summary.protocol, aicm::Protocol::Track);
    check(&summary, &backend, &out);
    assert!(out.contains("speaking the track contract"), "{out}");
    let stats = backend.local_stats().unwrap();
    assert_eq!(stats.track_usage_requests, 0);
    assert_eq!(stats.rejected_requests, 0);
}

#[test]
fn the_quickstart_keeps_the_config_based_contract_where_it_is_served() {
    let (summary, backend, out) = run(Served::Configs);
    assert_eq!(summary.protocol, aicm::Protocol::Configs);
    check(&summary, &backend, &out);
    assert_eq!(backend.local_stats().unwrap().track_endpoint_requests, 0);
}
