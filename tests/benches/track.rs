//! The caller's cost of `track`: what a request handler pays per record. The queue is larger
//! than the calls per sample, so this measures accepting a record, not waiting for delivery.
//! While a sample is timed the local API holds every request the worker may have open
//! (stall), so the worker and server use no CPU; between samples the queue is drained
//! (untimed). The `paced` case times the owned record while the worker delivers.
//!
//! `cargo bench -p aicm-tests --bench track`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use aicm::{OnFull, Protocol, TrackOptions, Tracker};
use aicm_tests::{LocalApi, LocalApiThread};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use serde_json::json;

mod records;
use records::{ChatUsage, Sample};

/// The benchmark record's schema, given to the today's-contract Tracker (the service keeps
/// none) so that its dynamic case validates as the config-based one does.
const CHAT_SCHEMA: &str = r#"{"input_tokens": "int", "output_tokens": "int", "model": "str",
    "cached": "bool", "latency_ms": "Optional[float]"}"#;

fn setup() -> (LocalApiThread, Tracker) {
    setup_for(Protocol::Configs)
}

/// A Tracker speaking `protocol`'s contract against a count-only local API serving both.
fn setup_for(protocol: Protocol) -> (LocalApiThread, Tracker) {
    let api = LocalApi::builder()
        .count_only(true)
        .start_in_thread()
        .unwrap();
    let tracker = Tracker::builder("chat-completions", "openai::gpt-4o-mini")
        .protocol(protocol)
        .usage_schema(CHAT_SCHEMA)
        .api_key(api.api_key())
        .api_base(api.api_base())
        .ini_path(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("aicm-bench.ini"))
        .queue_size(4_000_000)
        .on_full(OnFull::Backpressure)
        .max_batch_size(MAX_BATCH)
        .max_concurrent_requests(REQUEST_SLOTS)
        .build()
        .unwrap();
    (api, tracker)
}

/// The worker's batch size and the requests it keeps open at once (the defaults, set here
/// because [`hold_the_worker`] depends on them).
const MAX_BATCH: usize = 1_000;
const REQUEST_SLOTS: usize = 4;

/// Stalls the local API and fills every request slot of the worker with a stalled batch (of
/// untimed records), waiting until the server holds them all. Only then is the worker idle.
/// With a free slot it takes, encodes and sends a batch each time the queue reaches
/// `MAX_BATCH`, on the other core and partly under the queue's lock, while the sample is
/// timed: that added 0.10–0.15 µs per call to every stalled case here (most in the short
/// samples, where those batches are a large share of the calls).
fn hold_the_worker(api: &LocalApiThread, tracker: &Tracker) {
    api.set_stall(true);
    let held = api.stats().track_requests + REQUEST_SLOTS as u64;
    let context = json!({"request": "r-1"});
    for i in 0..(MAX_BATCH * REQUEST_SLOTS) as u64 {
        track_sample::<ChatUsage>(tracker, i, &context);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while api.stats().track_requests < held {
        assert!(
            Instant::now() < deadline,
            "the worker did not open {REQUEST_SLOTS} requests"
        );
        std::thread::yield_now();
    }
}

/// Times `iters` calls of `one` with the delivery side idle (the same for all three records), then drains the queue untimed.
fn timed(
    api: &LocalApiThread,
    tracker: &Tracker,
    iters: u64,
    mut one: impl FnMut(u64),
) -> Duration {
    hold_the_worker(api, tracker);
    let start = Instant::now();
    for i in 0..iters {
        one(i);
    }
    let elapsed = start.elapsed();
    api.set_stall(false);
    tracker.flush(Duration::from_secs(600)).unwrap();
    elapsed
}

fn dynamic(c: &mut Criterion) {
    dynamic_for(c, Protocol::Configs, "track");
    dynamic_for(c, Protocol::Track, "track_today");
}

/// The dynamic case under one contract (`track`: config-based, `track_today`: `POST /track`).
fn dynamic_for(c: &mut Criterion, protocol: Protocol, group_name: &str) {
    let (api, tracker) = setup_for(protocol);
    assert_eq!(tracker.protocol(), protocol);
    let mut group = c.benchmark_group(group_name);
    group.measurement_time(Duration::from_secs(3));
    group.bench_function(
        "dynamic_json_validated_5_fields_with_customer_and_context",
        |b| {
            b.iter_custom(|iters| {
                timed(&api, &tracker, iters, |i| {
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
                        .unwrap();
                })
            })
        },
    );
    group.finish();
    let h = tracker.health();
    assert!(h.is_balanced());
    tracker.close().unwrap();
}

/// [`ChatUsage`] borrowing its text (serialised on the caller too).
#[derive(serde::Serialize, aicm::Usage)]
#[usage(
    schema = r#"{"input_tokens": "int", "output_tokens": "int", "model": "str",
    "cached": "bool", "latency_ms": "Optional[float]"}"#
)]
struct ChatUsageRef<'a> {
    input_tokens: i64,
    output_tokens: i64,
    model: &'a str,
    cached: bool,
    latency_ms: Option<f64>,
}

/// Times owned typed `track_with` calls of the benchmark record `U`, with a customer key and
/// the context.
fn owned<U: Sample>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    api: &LocalApiThread,
    tracker: &Tracker,
    context: &serde_json::Value,
) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            timed(api, tracker, iters, |i| {
                track_sample::<U>(tracker, i, context)
            })
        })
    });
}

/// One owned `track_with` of the benchmark record `U`, with a customer key and the context.
fn track_sample<U: Sample>(tracker: &Tracker, i: u64, context: &serde_json::Value) {
    tracker
        .track_with(
            U::sample(i as i64),
            TrackOptions::new()
                .client_customer_key("acme")
                .context(context.clone()),
        )
        .unwrap();
}

/// The owned case in the regime a service runs in: the worker delivers while the caller tracks
/// one record every few microseconds (the rest spent as a handler would, away from the SDK),
/// so the allocator recycles memory between the caller's and the worker's threads. Only the
/// `track_with` calls are timed, each between two clock reads (so one clock read is part of
/// every figure). This is the case that decides where records are serialised: moving owned
/// records to the worker looks cheaper in the stalled cases above in some heap states, but it
/// was slower here (see the README's benchmark section).
fn paced(c: &mut Criterion) {
    const HANDLER_WORK: Duration = Duration::from_micros(3);
    let (api, tracker) = setup();
    let mut group = c.benchmark_group("track");
    group.measurement_time(Duration::from_secs(5));
    let context = json!({"request": "r-1"});
    group.bench_function(
        "typed_owned_paced_while_delivering_5_fields_with_customer_and_context",
        |b| {
            b.iter_custom(|iters| {
                let mut in_track = Duration::ZERO;
                for i in 0..iters {
                    let start = Instant::now();
                    track_sample::<ChatUsage>(&tracker, i, &context);
                    let tracked = Instant::now();
                    in_track += tracked - start;
                    while tracked.elapsed() < HANDLER_WORK {
                        std::hint::spin_loop();
                    }
                }
                tracker.flush(Duration::from_secs(600)).unwrap();
                in_track
            })
        },
    );
    group.finish();
    assert!(tracker.health().is_balanced());
    tracker.close().unwrap();
    drop(api);
}

fn typed(c: &mut Criterion) {
    let (api, tracker) = setup();
    let mut group = c.benchmark_group("track");
    group.measurement_time(Duration::from_secs(3));
    let context = json!({"request": "r-1"});
    owned::<ChatUsage>(
        &mut group,
        "typed_owned_5_fields_with_customer_and_context",
        &api,
        &tracker,
        &context,
    );

    let model = String::from("gpt-4o-mini");
    group.bench_function("typed_borrowed_5_fields_with_customer_and_context", |b| {
        b.iter_custom(|iters| {
            timed(&api, &tracker, iters, |i| {
                let usage = ChatUsageRef {
                    input_tokens: i as i64,
                    output_tokens: 42,
                    model: &model,
                    cached: false,
                    latency_ms: Some(12.5),
                };
                tracker
                    .track_with(
                        &usage,
                        TrackOptions::new()
                            .client_customer_key("acme")
                            .context(context.clone()),
                    )
                    .unwrap();
            })
        })
    });
    // Not a `track` figure: what the owned case's caller spends building the record, the
    // customer key and the context (and dropping them), so the SDK's share can be told apart.
    group.bench_function(
        "reference_owned_record_and_options_built_and_dropped",
        |b| {
            b.iter(|| {
                let usage = ChatUsage::sample(7);
                let options = TrackOptions::new()
                    .client_customer_key("acme")
                    .context(context.clone());
                std::hint::black_box((usage, options))
            })
        },
    );
    group.finish();
    assert!(tracker.health().is_balanced());
    tracker.close().unwrap();
}

/// The typed owned case under today's contract (`POST /track`), to compare with `track/…`.
fn typed_today(c: &mut Criterion) {
    let (api, tracker) = setup_for(Protocol::Track);
    assert_eq!(tracker.protocol(), Protocol::Track);
    let mut group = c.benchmark_group("track_today");
    group.measurement_time(Duration::from_secs(3));
    let context = json!({"request": "r-1"});
    owned::<ChatUsage>(
        &mut group,
        "typed_owned_5_fields_with_customer_and_context",
        &api,
        &tracker,
        &context,
    );
    group.finish();
    assert!(tracker.health().is_balanced());
    tracker.close().unwrap();
}

criterion_group!(benches, typed, typed_today, dynamic, paced);
criterion_main!(benches);
