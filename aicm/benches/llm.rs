//! Usage from LLM responses: extraction per response body and per stream event, and what the
//! HTTP tap adds to a call (reading the answer through `TapBody` and tracking its record,
//! against reading the same answer untouched).
//!
//! `cargo bench -p aicm --features llm-http --bench llm`. Targets (issue #27, on the 2-core
//! machine): the tap adds under 5 µs to a non-streaming call and under 1 µs per stream event.

use std::convert::Infallible;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll};

use aicm::llm::{LlmTracking, Provider, StreamAccumulator, extract};
use aicm::{OnFull, Tracker};
use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use http_body::{Body, Frame};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../tests/fixtures/llm/", $name))
    };
}

const BODIES: [(&str, Provider, &[u8]); 4] = [
    (
        "openai_chat",
        Provider::OpenAiChat,
        fixture!("openai_chat.json"),
    ),
    (
        "openai_responses",
        Provider::OpenAiResponses,
        fixture!("openai_responses.json"),
    ),
    (
        "anthropic",
        Provider::Anthropic,
        fixture!("anthropic_messages.json"),
    ),
    (
        "gemini",
        Provider::Gemini,
        fixture!("gemini_generate_content.json"),
    ),
];

const STREAMS: [(&str, Provider, &[u8]); 4] = [
    (
        "openai_chat",
        Provider::OpenAiChat,
        fixture!("openai_chat_stream.sse"),
    ),
    (
        "openai_responses",
        Provider::OpenAiResponses,
        fixture!("openai_responses_stream.sse"),
    ),
    (
        "anthropic",
        Provider::Anthropic,
        fixture!("anthropic_messages_stream.sse"),
    ),
    ("gemini", Provider::Gemini, fixture!("gemini_stream.sse")),
];

/// The events of a transcript, each one frame, as a provider flushes them.
fn events(sse: &[u8]) -> Vec<Bytes> {
    let text = std::str::from_utf8(sse).unwrap_or("");
    text.split_inclusive("\n\n")
        .map(|e| Bytes::copy_from_slice(e.as_bytes()))
        .collect()
}

/// A long answer: the transcript with its text-delta event (index `delta`) repeated so the
/// stream has `n` events, where the per-event cost dominates the per-stream one.
fn long(sse: &[u8], delta: usize, n: usize) -> Vec<Bytes> {
    let mut frames = events(sse);
    let extra = n.saturating_sub(frames.len());
    let copy = frames[delta].clone();
    frames.splice(delta..delta, std::iter::repeat_n(copy, extra));
    frames
}

/// (name, provider, transcript, index of a text-delta event).
const LONG: [(&str, Provider, &[u8], usize); 4] = [
    (
        "openai_chat",
        Provider::OpenAiChat,
        fixture!("openai_chat_stream.sse"),
        1,
    ),
    (
        "openai_responses",
        Provider::OpenAiResponses,
        fixture!("openai_responses_stream.sse"),
        6,
    ),
    (
        "anthropic",
        Provider::Anthropic,
        fixture!("anthropic_messages_stream.sse"),
        3,
    ),
    ("gemini", Provider::Gemini, fixture!("gemini_stream.sse"), 1),
];

fn extraction(c: &mut Criterion) {
    let mut group = c.benchmark_group("extract");
    for (name, provider, body) in &BODIES {
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("response/{name}"), |b| {
            b.iter(|| extract(black_box(provider), black_box(body)))
        });
    }
    for (name, provider, sse) in &STREAMS {
        let n = events(sse).len() as u64;
        // Elements are events: criterion's per-element time is the cost per event.
        group.throughput(Throughput::Elements(n));
        group.bench_function(format!("stream_per_event/{name}"), |b| {
            b.iter(|| {
                let mut stream = StreamAccumulator::new(provider.clone());
                stream.feed(black_box(sse));
                stream.finish()
            })
        });
    }
    for (name, provider, sse, delta) in &LONG {
        let frames = long(sse, *delta, 500);
        group.throughput(Throughput::Elements(frames.len() as u64));
        group.bench_function(format!("stream_per_event_500/{name}"), |b| {
            b.iter(|| {
                let mut stream = StreamAccumulator::new(provider.clone());
                for frame in &frames {
                    stream.feed(black_box(frame));
                }
                stream.finish()
            })
        });
    }
    group.finish();
}

/// A body giving its frames one by one, as a connection would.
struct Frames(std::vec::IntoIter<Bytes>);

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.next().map(|b| Ok(Frame::data(b))))
    }
}

fn read<B: Body<Data = Bytes> + Unpin>(mut body: B) -> usize {
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    let mut n = 0;
    while let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut body).poll_frame(&mut cx) {
        if let Ok(data) = frame.into_data() {
            n += data.len();
        }
    }
    n
}

fn response(frames: Vec<Bytes>, content_type: &'static str) -> http::Response<Frames> {
    let mut response = http::Response::new(Frames(frames.into_iter()));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response
}

fn tap(c: &mut Criterion) {
    // A live Tracker whose records go nowhere (a closed port, a small queue dropping its
    // oldest): `track` costs what it costs in production, the delivery is not measured.
    let tracker = Tracker::track_api()
        .api_key("bench")
        .api_base("http://127.0.0.1:9")
        .ini_path(std::env::temp_dir().join("aicm-bench-llm").join("AICM.INI"))
        .queue_size(4096)
        .on_full(OnFull::Backpressure)
        .build();
    let Ok(tracker) = tracker else {
        return;
    };
    let tracking = LlmTracking::new(tracker);
    let mut group = c.benchmark_group("tap");
    let body = Bytes::from_static(fixture!("openai_chat.json"));
    let chunks = || -> Vec<Bytes> {
        (0..body.len())
            .step_by(1024)
            .map(|at| body.slice(at..(at + 1024).min(body.len())))
            .collect()
    };
    group.throughput(Throughput::Elements(1));
    group.bench_function("response/untouched", |b| {
        b.iter_batched(
            || response(chunks(), "application/json"),
            |r| read(r.into_body()),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("response/tapped_and_tracked", |b| {
        b.iter_batched(
            || response(chunks(), "application/json"),
            |r| {
                let provider = tracking.provider_for("api.openai.com", "/v1/chat/completions");
                read(tracking.tap(provider, r, None).into_body())
            },
            BatchSize::SmallInput,
        )
    });
    for (name, provider, sse) in &STREAMS {
        let frames = events(sse);
        group.throughput(Throughput::Elements(frames.len() as u64));
        group.bench_function(format!("stream/untouched/{name}"), |b| {
            b.iter_batched(
                || response(frames.clone(), "text/event-stream"),
                |r| read(r.into_body()),
                BatchSize::SmallInput,
            )
        });
        group.bench_function(format!("stream/tapped_and_tracked/{name}"), |b| {
            b.iter_batched(
                || response(frames.clone(), "text/event-stream"),
                |r| read(tracking.tap(Some(provider.clone()), r, None).into_body()),
                BatchSize::SmallInput,
            )
        });
    }
    for (name, provider, sse, delta) in &LONG {
        let frames = long(sse, *delta, 500);
        group.throughput(Throughput::Elements(frames.len() as u64));
        group.bench_function(format!("stream_500/untouched/{name}"), |b| {
            b.iter_batched(
                || response(frames.clone(), "text/event-stream"),
                |r| read(r.into_body()),
                BatchSize::SmallInput,
            )
        });
        group.bench_function(format!("stream_500/tapped_and_tracked/{name}"), |b| {
            b.iter_batched(
                || response(frames.clone(), "text/event-stream"),
                |r| read(tracking.tap(Some(provider.clone()), r, None).into_body()),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
    // Every answer read was tracked (none failed), or the figures above measure a failure path.
    eprintln!("tap stats: {:?}", tracking.stats());
}

criterion_group!(benches, extraction, tap);
criterion_main!(benches);
