//! End-to-end delivery throughput into the local API over loopback (count-only, so the
//! server's own storage does not dominate) with default batching, and the process's peak
//! memory. `OnFull::Block` so every record is delivered, never dropped.
//!
//! `cargo bench -p aicm-tests --bench throughput`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use aicm::{OnFull, Protocol, Tracker};
use aicm_tests::LocalApi;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;

const RECORDS: u64 = 200_000;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn end_to_end(c: &mut Criterion) {
    end_to_end_for(c, Protocol::Configs, "delivery");
    end_to_end_for(c, Protocol::Track, "delivery_today");
}

/// Under one contract (`delivery`: config-based `/track-usage`, `delivery_today`: `/track`).
fn end_to_end_for(c: &mut Criterion, protocol: Protocol, group_name: &str) {
    let api = LocalApi::builder()
        .count_only(true)
        .start_in_thread()
        .unwrap();
    let tracker = Tracker::builder("chat-completions", "openai::gpt-4o-mini")
        .protocol(protocol)
        // Today's service keeps no schema; the same validation as the config-based case.
        .usage_schema(
            r#"{"input_tokens": "int", "output_tokens": "int", "model": "str",
                "cached": "bool", "latency_ms": "Optional[float]"}"#,
        )
        .api_key(api.api_key())
        .api_base(api.api_base())
        .ini_path(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("aicm-bench.ini"))
        .on_full(OnFull::Block)
        .build()
        .unwrap();
    assert_eq!(tracker.protocol(), protocol);
    let mut group = c.benchmark_group(group_name);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(RECORDS));
    group.bench_function("end_to_end_default_batching_records", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for i in 0..RECORDS {
                    tracker
                        .track(json!({
                            "input_tokens": i,
                            "output_tokens": 42,
                            "model": "gpt-4o-mini",
                            "cached": false,
                        }))
                        .unwrap();
                }
                tracker.flush(Duration::from_secs(120)).unwrap();
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
    let h = tracker.health();
    assert!(h.is_balanced());
    assert_eq!(h.total_failed + h.total_discarded, 0);
    assert_eq!(api.stats().records_stored, h.total_sent);
    println!(
        "{group_name}: delivered {} records, {} requests; peak RSS {} KiB (queue capacity {})",
        h.total_sent,
        h.batches_sent,
        peak_rss_kib().unwrap_or(0),
        h.queue_capacity
    );
    tracker.close().unwrap();
}

criterion_group!(benches, end_to_end);
criterion_main!(benches);
