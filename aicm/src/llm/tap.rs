//! Tracking the LLM responses an HTTP client receives, as their bodies flow to the caller
//! (feature `llm-http`, the base of the client integrations).

use std::borrow::Cow;
use std::fmt;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};

use super::{LlmRecord, Provider, StreamAccumulator, extract};
use crate::{TrackOptions, Tracker};

/// A JSON body larger than this is passed through without being read for usage.
const MAX_JSON_BODY: usize = 16 * 1024 * 1024;

tokio::task_local! {
    static TASK_OPTIONS: TrackOptions;
}

/// Runs `future` with `options` (customer key, context) for every LLM response tracked while
/// it runs on this task: the way to set them per request when the client offers no request
/// extensions (async-openai). Options set on the request itself win.
///
/// ```no_run
/// # async fn run(client: reqwest::Client) -> Result<(), reqwest::Error> {
/// use aicm::TrackOptions;
/// // With async-openai: `client.chat().create(request)` in place of this call.
/// let answer = aicm::llm::with_track_options(
///     TrackOptions::new().customer_key("acme"),
///     client.post("https://api.openai.com/v1/chat/completions").body("{}").send(),
/// ).await?;
/// # Ok(()) }
/// ```
pub async fn with_track_options<F: Future>(options: TrackOptions, future: F) -> F::Output {
    TASK_OPTIONS.scope(options, future).await
}

/// The options of the current [`with_track_options`] scope, if any.
pub(crate) fn task_options() -> Option<TrackOptions> {
    TASK_OPTIONS.try_with(TrackOptions::clone).ok()
}

/// What an integration did with the responses it saw: counted, never returned to the caller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[derive(serde::Serialize)]
#[non_exhaustive]
pub struct LlmStats {
    /// Records handed to the Tracker.
    pub tracked: u64,
    /// Of `tracked`, records of streams that stopped early (marked `"stream": "incomplete"`).
    pub incomplete: u64,
    /// Recognised answers without usage (error answers, streams without usage).
    pub without_usage: u64,
    /// Answers that could not be read as records, or records the Tracker refused (each
    /// logged with `tracing` at `warn`).
    pub failed: u64,
    /// JSON answers dropped by the caller before their end: nothing to read.
    pub abandoned: u64,
}

#[derive(Default)]
struct Counters {
    tracked: AtomicU64,
    incomplete: AtomicU64,
    without_usage: AtomicU64,
    failed: AtomicU64,
    abandoned: AtomicU64,
}

struct Shared {
    tracker: Tracker,
    vendor: Option<Cow<'static, str>>,
    counters: Counters,
}

/// Tracks the LLM answers an HTTP client receives through a [`Tracker`]: the common part of
/// `LlmMiddleware` (reqwest-middleware, feature `llm-reqwest`), [`LlmLayer`](crate::llm::LlmLayer)
/// (tower, async-openai) and any other client built on `http` types.
///
/// [`LlmTracking::tap`] wraps a response's body so that its bytes reach the caller unchanged
/// and as they arrive, while a copy of the usage-bearing parts is read on the way; the record
/// is tracked when the body ends (or is dropped). Nothing of it can fail the caller's request:
/// problems are counted in [`LlmTracking::stats`] and logged. Tracking is `Tracker::track`,
/// which returns at once with the default `OnFull::Backpressure`; a Tracker set to
/// `OnFull::Block` or writing to a spool may make the body's last read wait for room or for
/// the disk.
#[derive(Clone)]
pub struct LlmTracking {
    shared: Arc<Shared>,
}

impl fmt::Debug for LlmTracking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmTracking")
            .field("vendor", &self.shared.vendor)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl LlmTracking {
    /// Tracks through `tracker` (a [`Tracker::track_api`] one serves every model).
    pub fn new(tracker: Tracker) -> Self {
        LlmTracking {
            shared: Arc::new(Shared {
                tracker,
                vendor: None,
                counters: Counters::default(),
            }),
        }
    }

    /// The vendor of OpenAI-compatible Chat Completions answers from hosts other than
    /// `api.openai.com`, instead of the one guessed from the host name (see
    /// [`Provider::detect`]). Call it before cloning: clones made earlier keep the old one.
    pub fn vendor(self, vendor: impl Into<Cow<'static, str>>) -> Self {
        let shared = Shared {
            tracker: self.shared.tracker.clone(),
            vendor: Some(vendor.into()),
            counters: Counters::default(),
        };
        LlmTracking {
            shared: Arc::new(shared),
        }
    }

    /// The counts so far, over every clone.
    pub fn stats(&self) -> LlmStats {
        let c = &self.shared.counters;
        LlmStats {
            tracked: c.tracked.load(Ordering::Relaxed),
            incomplete: c.incomplete.load(Ordering::Relaxed),
            without_usage: c.without_usage.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            abandoned: c.abandoned.load(Ordering::Relaxed),
        }
    }

    /// The provider of a request to `host` and `path`, with this tracking's vendor applied.
    pub fn provider_for(&self, host: &str, path: &str) -> Option<Provider> {
        let provider = Provider::detect(host, path)?;
        Some(match (&self.shared.vendor, provider) {
            (Some(vendor), provider @ Provider::OpenAiCompatible { .. }) => {
                provider.with_vendor(vendor.clone())
            }
            (_, provider) => provider,
        })
    }

    /// Wraps `response`'s body so that its usage is tracked as `provider`'s when it ends; a
    /// response that is not a success (`2xx`), or `provider` `None`, passes through untouched.
    /// `options` gives the customer key and context; when `None`, the ones of the current
    /// [`with_track_options`] scope are used.
    pub fn tap<B: Body>(
        &self,
        provider: Option<Provider>,
        response: http::Response<B>,
        options: Option<TrackOptions>,
    ) -> http::Response<TapBody<B>> {
        let tap = match provider {
            Some(provider) if response.status().is_success() => {
                let is_stream = response
                    .headers()
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
                let kind = if is_stream {
                    TapKind::Stream(Box::new(StreamAccumulator::new(provider)))
                } else {
                    TapKind::Json {
                        provider,
                        body: Vec::new(),
                    }
                };
                Some(Tap {
                    shared: self.shared.clone(),
                    kind,
                    options: options.or_else(task_options).unwrap_or_default(),
                })
            }
            _ => None,
        };
        response.map(|body| TapBody {
            inner: Box::pin(body),
            tap,
        })
    }
}

enum TapKind {
    Json {
        provider: Provider,
        body: Vec<u8>,
    },
    Stream(Box<StreamAccumulator>),
    /// Given up on (too large): passed through unread.
    Skipped,
}

struct Tap {
    shared: Arc<Shared>,
    kind: TapKind,
    options: TrackOptions,
}

impl Tap {
    fn feed(&mut self, data: &impl Buf) {
        let mut slices = [IoSlice::new(&[]); 16];
        let filled = data.chunks_vectored(&mut slices);
        if filled == 0 {
            return;
        }
        let mut seen = 0;
        for slice in &slices[..filled] {
            self.feed_slice(slice);
            seen += slice.len();
        }
        if seen < data.remaining() {
            // More segments than one look can see (never for `Bytes`, one slice): the rest
            // cannot be read without consuming the caller's data, so this answer is given up.
            tracing::warn!("LLM response body frame in more than 16 segments; not tracked");
            self.shared.counters.failed.fetch_add(1, Ordering::Relaxed);
            self.kind = TapKind::Skipped;
        }
    }

    fn feed_slice(&mut self, bytes: &[u8]) {
        match &mut self.kind {
            TapKind::Stream(stream) => stream.feed(bytes),
            TapKind::Json { body, .. } => {
                if body.len() + bytes.len() > MAX_JSON_BODY {
                    tracing::warn!(
                        limit = MAX_JSON_BODY,
                        "LLM response body too large to read for usage; not tracked"
                    );
                    self.shared.counters.failed.fetch_add(1, Ordering::Relaxed);
                    self.kind = TapKind::Skipped;
                } else {
                    body.extend_from_slice(bytes);
                }
            }
            TapKind::Skipped => {}
        }
    }

    /// The body ended (`complete`) or stopped early: read its record and track it.
    fn finish(self, complete: bool) {
        let Tap {
            shared,
            kind,
            options,
        } = self;
        let counters = &shared.counters;
        let outcome = match kind {
            TapKind::Json { provider, body } => {
                if !complete {
                    counters.abandoned.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                extract(&provider, &body).map_err(|e| (provider, e))
            }
            TapKind::Stream(stream) => {
                let provider = stream.provider().clone();
                let result = if complete {
                    stream.finish()
                } else {
                    stream.finish_incomplete()
                };
                result.map_err(|e| (provider, e))
            }
            TapKind::Skipped => return,
        };
        match outcome {
            Ok(Some(record)) => track(&shared, record, options),
            Ok(None) => {
                counters.without_usage.fetch_add(1, Ordering::Relaxed);
            }
            Err((provider, error)) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%provider, %error, "LLM response not tracked");
            }
        }
    }
}

fn track(shared: &Shared, record: LlmRecord, options: TrackOptions) {
    let incomplete = record.incomplete;
    match shared.tracker.track_llm(record, options) {
        Ok(_) => {
            shared.counters.tracked.fetch_add(1, Ordering::Relaxed);
            if incomplete {
                shared.counters.incomplete.fetch_add(1, Ordering::Relaxed);
            }
        }
        Err(error) => {
            shared.counters.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%error, "LLM usage record refused by the Tracker");
        }
    }
}

/// A response body passed through unchanged, frame by frame, while its usage is read (see
/// [`LlmTracking::tap`]). Its record is tracked once: when the body ends, fails, or is
/// dropped.
pub struct TapBody<B: Body> {
    inner: Pin<Box<B>>,
    tap: Option<Tap>,
}

impl<B: Body> fmt::Debug for TapBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TapBody")
            .field("tracking", &self.tap.is_some())
            .finish_non_exhaustive()
    }
}

impl<B: Body> TapBody<B> {
    /// The body as it was, untracked.
    pub fn untracked(body: B) -> Self {
        TapBody {
            inner: Box::pin(body),
            tap: None,
        }
    }
}

impl<B: Body> Body for TapBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let polled = this.inner.as_mut().poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(tap), Some(data)) = (this.tap.as_mut(), frame.data_ref()) {
                    tap.feed(data);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(tap) = this.tap.take() {
                    tap.finish(false);
                }
            }
            Poll::Ready(None) => {
                if let Some(tap) = this.tap.take() {
                    tap.finish(true);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: Body> Drop for TapBody<B> {
    fn drop(&mut self) {
        if let Some(tap) = self.tap.take() {
            // A caller that stops reading at `is_end_stream` drops a complete body.
            tap.finish(self.inner.is_end_stream());
        }
    }
}
