//! A tower layer that tracks the LLM answers of a client built on tower services (feature
//! `llm-http`; with `llm-async-openai` also async-openai's `with_http_service`).

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::Body;

use super::{LlmStats, LlmTracking, Provider, TapBody};
use crate::{TrackOptions, Tracker};

/// A [`tower_layer::Layer`] that tracks every answer of the covered LLM APIs passing through
/// the service it wraps, through a [`Tracker`], with no change at the call sites: the
/// [`LlmTracking`] of a tower stack.
///
/// Its service ([`LlmService`]) serves `http::Request`s answered by `http::Response`s (hyper,
/// tower-http and other `http`-typed clients) and, with feature `llm-async-openai`,
/// async-openai's `HttpRequestFactory` answered by its `reqwest::Response`
/// (`async_openai::Client::with_http_service`):
///
/// ```no_run
/// # #[cfg(feature = "llm-async-openai")] {
/// use aicm::llm::LlmLayer;
/// use async_openai::{Client, config::OpenAIConfig, middleware::ReqwestService};
/// use tower_layer::Layer as _;
///
/// # fn run(tracker: aicm::Tracker, http: reqwest013::Client) {
/// // Or `tower::ServiceBuilder::new().layer(LlmLayer::new(tracker)).service(…)`, beside
/// // async-openai's retry layer (put the LLM layer outside it to see only final answers).
/// let service = LlmLayer::new(tracker).layer(ReqwestService::new(http)); // reqwest 0.13
/// let client = Client::with_config(OpenAIConfig::default()).with_http_service(service);
/// // client.chat().create(…), .create_stream(…), client.responses()…: all tracked.
/// # }
/// # }
/// ```
///
/// The bytes of an answer reach the caller unchanged and as they arrive; its record is
/// tracked when its body ends or is dropped; nothing fails or holds up a request (see
/// [`LlmTracking`]). Customer key and context per request: a [`TrackOptions`] in the
/// `http::Request`'s extensions, or [`with_track_options`](crate::llm::with_track_options)
/// around the call (the only way with async-openai, whose requests carry no extensions).
#[derive(Debug, Clone)]
pub struct LlmLayer {
    tracking: LlmTracking,
}

impl LlmLayer {
    /// Tracks through `tracker`.
    pub fn new(tracker: Tracker) -> Self {
        LlmLayer {
            tracking: LlmTracking::new(tracker),
        }
    }

    /// Tracks through an existing [`LlmTracking`] (sharing its counts and vendor).
    pub fn with_tracking(tracking: LlmTracking) -> Self {
        LlmLayer { tracking }
    }

    /// The vendor of OpenAI-compatible answers (see [`LlmTracking::vendor`]).
    pub fn vendor(self, vendor: impl Into<Cow<'static, str>>) -> Self {
        LlmLayer {
            tracking: self.tracking.vendor(vendor),
        }
    }

    /// What was tracked, skipped and failed so far, by every service of this layer.
    pub fn stats(&self) -> LlmStats {
        self.tracking.stats()
    }
}

impl<S> tower_layer::Layer<S> for LlmLayer {
    type Service = LlmService<S>;

    fn layer(&self, inner: S) -> LlmService<S> {
        LlmService {
            inner,
            tracking: self.tracking.clone(),
        }
    }
}

/// The service of an [`LlmLayer`]: the wrapped service, its answers tracked.
#[derive(Debug, Clone)]
pub struct LlmService<S> {
    pub(crate) inner: S,
    pub(crate) tracking: LlmTracking,
}

impl<S> LlmService<S> {
    /// What was tracked, skipped and failed so far.
    pub fn stats(&self) -> LlmStats {
        self.tracking.stats()
    }
}

impl<S, ReqB, ResB> tower_service::Service<http::Request<ReqB>> for LlmService<S>
where
    S: tower_service::Service<http::Request<ReqB>, Response = http::Response<ResB>>,
    ResB: Body,
{
    type Response = http::Response<TapBody<ResB>>;
    type Error = S::Error;
    type Future = LlmFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqB>) -> Self::Future {
        let uri = request.uri();
        let host = uri.host().or_else(|| {
            request
                .headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
        });
        let provider = host.and_then(|host| self.tracking.provider_for(host, uri.path()));
        let options = match provider {
            Some(_) => request.extensions().get::<TrackOptions>().cloned(),
            None => None,
        };
        LlmFuture {
            inner: Box::pin(self.inner.call(request)),
            tap: Some((self.tracking.clone(), provider, options)),
        }
    }
}

/// The future of [`LlmService`] for `http::Request`s.
pub struct LlmFuture<F> {
    inner: Pin<Box<F>>,
    tap: Option<(LlmTracking, Option<Provider>, Option<TrackOptions>)>,
}

impl<F> std::fmt::Debug for LlmFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmFuture").finish_non_exhaustive()
    }
}

impl<F, ResB, E> Future for LlmFuture<F>
where
    F: Future<Output = Result<http::Response<ResB>, E>>,
    ResB: Body,
{
    type Output = Result<http::Response<TapBody<ResB>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = match self.inner.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            Poll::Ready(Ok(response)) => response,
        };
        Poll::Ready(Ok(match self.tap.take() {
            Some((tracking, provider, options)) => tracking.tap(provider, response, options),
            None => response.map(TapBody::untracked),
        }))
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower_layer::Layer as _;
    use tower_service::Service as _;

    /// Answers every request with `body` as `content_type`.
    #[derive(Clone)]
    struct Fixed {
        body: &'static str,
        content_type: &'static str,
    }

    impl tower_service::Service<http::Request<()>> for Fixed {
        type Response = http::Response<String>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<http::Response<String>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            let mut response = http::Response::new(self.body.to_owned());
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(self.content_type),
            );
            std::future::ready(Ok(response))
        }
    }

    async fn read_all<B: Body + Unpin>(mut body: B) -> Vec<u8>
    where
        B::Data: bytes::Buf,
    {
        use bytes::Buf as _;
        let mut out = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            if let Ok(mut data) = frame.ok().map(|f| f.into_data()).transpose_data() {
                while data.has_remaining() {
                    out.extend_from_slice(data.chunk());
                    let n = data.chunk().len();
                    data.advance(n);
                }
            }
        }
        out
    }

    trait TransposeData<D> {
        fn transpose_data(self) -> Result<D, ()>;
    }
    impl<D, F> TransposeData<D> for Option<Result<D, F>> {
        fn transpose_data(self) -> Result<D, ()> {
            match self {
                Some(Ok(d)) => Ok(d),
                _ => Err(()),
            }
        }
    }

    #[tokio::test]
    async fn http_services_answers_are_passed_through_and_tracked_once() {
        let (tracker, recording) =
            crate::testing::recording_tracker("chat", "openai::gpt-5-mini", "{}").unwrap();
        let body = r#"{"id": "msg_9", "type": "message", "model": "claude-haiku-4-5",
                       "usage": {"input_tokens": 5, "output_tokens": 7, "cache_read_input_tokens": null}}"#;
        let mut service = LlmLayer::new(tracker).layer(Fixed {
            body,
            content_type: "application/json",
        });
        let request = http::Request::builder()
            .uri("https://api.anthropic.com/v1/messages")
            .extension(TrackOptions::new().customer_key("acme"))
            .body(())
            .unwrap();
        let response = service.call(request).await.unwrap();
        assert_eq!(read_all(response.into_body()).await, body.as_bytes());
        // Not a covered API: untouched, untracked.
        let other = http::Request::builder()
            .uri("https://api.anthropic.com/v1/models")
            .body(())
            .unwrap();
        let response = service.call(other).await.unwrap();
        assert_eq!(read_all(response.into_body()).await, body.as_bytes());

        let records = recording.records_async().await;
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].response_id, "msg_9");
        assert_eq!(records[0].service_id, "anthropic::claude-haiku-4-5");
        assert_eq!(
            records[0].usage,
            serde_json::json!({"input_tokens": 5, "output_tokens": 7})
        );
        assert_eq!(records[0].client_customer_key.as_deref(), Some("acme"));
        assert_eq!(
            service.stats(),
            LlmStats {
                tracked: 1,
                ..LlmStats::default()
            }
        );
    }
}
