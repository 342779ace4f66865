//! Durable appends per second into the spool with 8 concurrent callers (the target:
//! ≥ 50,000/s on the 2-core machine with the default durability).
//!
//! `cargo bench -p aicm --features spool,testing --bench spool`
//!
//! Each measurement opens a fresh spool in a temporary directory (outside the timed part),
//! then 8 threads append (each append returns only once the row is committed) ~330-byte
//! wire-JSON bodies through `aicm::testing::SpoolRows`; criterion reports the time per append
//! and appends per second.
//!
//! `generated_ids` is what a spooled Tracker does: time-ordered ids (UUIDv7) generated for
//! the record (`SpoolRows::append_generated`), which the spool neither looks up nor indexes.
//! The other cases append given ids (as `TrackOptions::response_id` does), which go through
//! the unique index: random v4 UUIDs, or ids in time order, to show what that index costs.

#![allow(clippy::expect_used)] // a benchmark stops at the first failure

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use aicm::spool::{Durability, Spool, SpoolOptions};
use aicm::testing::SpoolRows;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const CALLERS: u64 = 8;

#[derive(Clone, Copy)]
enum Ids {
    Random,
    TimeOrdered,
    Generated,
}

/// A random 32-hex-digit id.
fn random_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A 32-hex-digit id in time order: a nanosecond clock followed by random digits.
fn time_ordered_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!("{nanos:016x}{}", &random_id()[..16])
}

fn body(caller: u64, i: u64, response_id: &str) -> Vec<u8> {
    let body = format!(
        "{{\"config_id\":\"openai-chat\",\"service_id\":\"gpt-4o\",\
         \"timestamp\":\"2025-08-07T20:41:59.566193+00:00\",\"response_id\":\"{response_id}\",\
         \"usage\":{{\"input_tokens\":1234,\"output_tokens\":567,\"cached_tokens\":0,\
         \"model\":\"gpt-4o-2024-08-06\",\"reasoning_tokens\":12}},\
         \"client_customer_key\":\"customer-{caller}\",\"context\":{{\"session\":\"s-{i}\"}}}}"
    );
    body.into_bytes()
}

/// Runs `total` appends spread over `CALLERS` threads on a fresh spool; returns the time from
/// the common start to the last commit.
fn appends(total: u64, durability: Durability, ids: Ids) -> Duration {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = SpoolOptions::default();
    options.durability = durability;
    options.max_rows = None;
    options.max_bytes = None;
    let spool = Arc::new(Spool::open(dir.path().join("bench.spool"), options).expect("open"));
    let each = total.div_ceil(CALLERS);
    // Bodies are made before the clock starts: the caller's serialisation is not the spool's.
    // Time-ordered ids are drawn at append time, as `track` would.
    let work: Vec<Vec<(Vec<u8>, String)>> = (0..CALLERS)
        .map(|c| {
            (0..each)
                .map(|i| {
                    let id = random_id();
                    (body(c, i, &id), id)
                })
                .collect()
        })
        .collect();
    let start = Arc::new(Barrier::new(CALLERS as usize + 1));
    let threads: Vec<_> = work
        .into_iter()
        .map(|records| {
            let (spool, start) = (spool.clone(), start.clone());
            std::thread::spawn(move || {
                let rows = SpoolRows::new(&spool);
                start.wait();
                for (body, id) in records {
                    match ids {
                        Ids::Random => rows.append(body, &id, "openai-chat"),
                        Ids::TimeOrdered => rows.append(body, &time_ordered_id(), "openai-chat"),
                        Ids::Generated => rows.append_generated(body, "openai-chat"),
                    }
                    .expect("append");
                }
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    for t in threads {
        t.join().expect("caller thread");
    }
    let elapsed = began.elapsed();
    let stats = SpoolRows::new(&spool).commit_stats();
    eprintln!(
        "  {} appends, {} commits ({:.1} per commit), {:.0} appends/s, writer busy {:.0} us/commit",
        stats.appends,
        stats.commits,
        stats.appends as f64 / stats.commits.max(1) as f64,
        stats.appends as f64 / elapsed.as_secs_f64(),
        stats.busy.as_micros() as f64 / stats.commits.max(1) as f64
    );
    elapsed
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("spool_append_8_callers");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("durability_process", |b| {
        b.iter_custom(|iters| appends(iters.max(CALLERS), Durability::Process, Ids::Random))
    });
    group.bench_function("durability_process_time_ordered_ids", |b| {
        b.iter_custom(|iters| appends(iters.max(CALLERS), Durability::Process, Ids::TimeOrdered))
    });
    group.bench_function("durability_process_generated_ids", |b| {
        b.iter_custom(|iters| appends(iters.max(CALLERS), Durability::Process, Ids::Generated))
    });
    group.bench_function("durability_fsync_generated_ids", |b| {
        b.iter_custom(|iters| appends(iters.max(CALLERS), Durability::Fsync, Ids::Generated))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
