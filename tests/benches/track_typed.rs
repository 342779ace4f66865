//! The caller's cost of a typed `track` (`#[derive(Usage)]`), owned and borrowed, beside the
//! same record as dynamic JSON: the 5-field record of DESIGN.md with a customer key and
//! context. The queue is larger than the calls per sample, so this measures accepting a
//! record, not waiting for delivery; the worker drains into the local API (count-only) on the
//! other core meanwhile.
//!
//! `cargo bench -p aicm-tests --bench track_typed`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aicm::{OnFull, TrackOptions, Tracker, Usage};
use aicm_tests::{LocalApi, LocalApiThread};
use criterion::{Criterion, criterion_group, criterion_main};
use serde::Serialize;
use serde_json::json;

const SCHEMA: &str = r#"{"input_tokens": "int", "output_tokens": "int", "model": "str",
    "cached": "bool", "latency_ms": "Optional[float]"}"#;

#[derive(Serialize, Usage)]
#[usage(
    schema = r#"{"input_tokens": "int", "output_tokens": "int", "model": "str",
    "cached": "bool", "latency_ms": "Optional[float]"}"#
)]
struct ChatUsage {
    input_tokens: u64,
    output_tokens: u64,
    model: String,
    cached: bool,
    latency_ms: Option<f64>,
}

#[derive(Serialize, Usage)]
#[usage(
    schema = r#"{"input_tokens": "int", "output_tokens": "int", "model": "str",
    "cached": "bool", "latency_ms": "Optional[float]"}"#
)]
struct ChatUsageRef<'a> {
    input_tokens: u64,
    output_tokens: u64,
    model: &'a str,
    cached: bool,
    latency_ms: Option<f64>,
}

fn setup() -> (LocalApiThread, Tracker) {
    let api = LocalApi::builder()
        .count_only(true)
        .start_in_thread()
        .unwrap();
    let tracker = Tracker::builder("chat-completions", "openai::gpt-4o-mini")
        .api_key(api.api_key())
        .api_base(api.api_base())
        .ini_path(std::env::temp_dir().join(format!("aicm-bench-typed-{}.ini", std::process::id())))
        .queue_size(4_000_000)
        .on_full(OnFull::Backpressure)
        .build()
        .unwrap();
    (api, tracker)
}

fn options() -> TrackOptions {
    TrackOptions::new()
        .client_customer_key("acme")
        .context(json!({"request": "r-1"}))
}

/// `Usage::check` alone: the derive's share of a typed `track` (one `Option<f64>` to check).
fn check_only(c: &mut Criterion) {
    assert_eq!(
        ChatUsage::FINGERPRINT,
        aicm::schema::Schema::from_json_str(SCHEMA)
            .unwrap()
            .fingerprint()
    );
    let usage = ChatUsage {
        input_tokens: 1,
        output_tokens: 42,
        model: String::from("gpt-4o-mini"),
        cached: false,
        latency_ms: Some(12.5),
    };
    c.bench_function("track_typed/check_only_5_fields", |b| {
        b.iter(|| std::hint::black_box(&usage).check().unwrap())
    });
}

/// Runs one caller-cost benchmark on a tracker of its own, so that each starts with an empty
/// queue. Closing may time out with records still queued (the worker drains slower than the
/// callers fill it on a busy machine): that is not what is measured here.
fn on_own_tracker(c: &mut Criterion, name: &str, mut track: impl FnMut(&Tracker, u64)) {
    let (_api, tracker) = setup();
    let mut group = c.benchmark_group("track_typed");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function(name, |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            track(&tracker, i)
        })
    });
    group.finish();
    assert!(tracker.health().is_balanced());
    let _ = tracker.close();
}

fn owned(c: &mut Criterion) {
    on_own_tracker(
        c,
        "owned_5_fields_with_customer_and_context",
        |tracker, i| {
            tracker
                .track_with(
                    ChatUsage {
                        input_tokens: i,
                        output_tokens: 42,
                        model: String::from("gpt-4o-mini"),
                        cached: false,
                        latency_ms: Some(12.5),
                    },
                    options(),
                )
                .unwrap();
        },
    );
}

fn borrowed(c: &mut Criterion) {
    let model = String::from("gpt-4o-mini");
    on_own_tracker(
        c,
        "borrowed_5_fields_with_customer_and_context",
        |tracker, i| {
            let usage = ChatUsageRef {
                input_tokens: i,
                output_tokens: 42,
                model: &model,
                cached: false,
                latency_ms: Some(12.5),
            };
            tracker.track_with(&usage, options()).unwrap();
        },
    );
}

fn dynamic(c: &mut Criterion) {
    on_own_tracker(
        c,
        "dynamic_5_fields_with_customer_and_context",
        |tracker, i| {
            tracker
                .track_with(
                    json!({
                        "input_tokens": i,
                        "output_tokens": 42,
                        "model": "gpt-4o-mini",
                        "cached": false,
                        "latency_ms": 12.5,
                    }),
                    options(),
                )
                .unwrap();
        },
    );
}

criterion_group!(benches, check_only, owned, borrowed, dynamic);
criterion_main!(benches);
