//! The caller's cost of `track`: what a request handler pays per record. The queue is larger
//! than the calls per sample, so this measures accepting a record, not waiting for delivery;
//! the worker drains into the local API (count-only) on the other core meanwhile.
//!
//! `cargo bench -p aicm-tests --bench track`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aicm::{OnFull, TrackOptions, Tracker};
use aicm_tests::{LocalApi, LocalApiThread};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

fn setup() -> (LocalApiThread, Tracker) {
    let api = LocalApi::builder()
        .count_only(true)
        .start_in_thread()
        .unwrap();
    let tracker = Tracker::builder("chat-completions", "openai::gpt-4o-mini")
        .api_key(api.api_key())
        .api_base(api.api_base())
        .ini_path(std::env::temp_dir().join(format!("aicm-bench-{}.ini", std::process::id())))
        .queue_size(4_000_000)
        .on_full(OnFull::Backpressure)
        .build()
        .unwrap();
    (api, tracker)
}

fn dynamic(c: &mut Criterion) {
    let (_api, tracker) = setup();
    let mut group = c.benchmark_group("track");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function(
        "dynamic_json_validated_5_fields_with_customer_and_context",
        |b| {
            let mut i = 0u64;
            b.iter(|| {
                i += 1;
                tracker
                    .track_with(
                        json!({
                            "input_tokens": i,
                            "output_tokens": 42,
                            "model": "gpt-4o-mini",
                            "cached": false,
                            "latency_ms": 12.5,
                        }),
                        TrackOptions::new()
                            .client_customer_key("acme")
                            .context(json!({"request": "r-1"})),
                    )
                    .unwrap()
            })
        },
    );
    group.finish();
    let h = tracker.health();
    assert!(h.is_balanced());
    tracker.close().unwrap();
}

criterion_group!(benches, dynamic);
criterion_main!(benches);
