//! A `reqwest-middleware` middleware that tracks the LLM answers of any reqwest-based client
//! (feature `llm-reqwest`).

use std::borrow::Cow;

use http::Extensions;
use reqwest_middleware::{Middleware, Next};

use super::{LlmStats, LlmTracking};
use crate::{TrackOptions, Tracker};

/// Tracks every answer of the covered LLM APIs that passes through a
/// [`reqwest_middleware::ClientWithMiddleware`], with no change at the call sites.
///
/// Requests are recognised by URL ([`Provider::detect`](crate::llm::Provider::detect)); other
/// requests and non-success answers pass through untouched. A recognised answer's bytes reach
/// the caller unchanged and as they arrive (an event stream is read event by event as it
/// flows, never buffered whole); its record is tracked when the body ends or is dropped.
/// Nothing here fails or holds up a request: problems are counted in
/// [`LlmMiddleware::stats`] and logged with `tracing`.
///
/// Customer key and context per request: put a [`TrackOptions`] in the request's extensions
/// (or run the call inside [`with_track_options`](crate::llm::with_track_options)).
///
/// ```no_run
/// use aicm::{TrackOptions, Tracker};
/// use aicm::llm::LlmMiddleware;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let tracker = Tracker::track_api().build_async().await?;
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(LlmMiddleware::new(tracker.clone()))
///     .build();
/// let answer = client
///     .post("https://api.anthropic.com/v1/messages")
///     .header("x-api-key", "…")
///     .header("anthropic-version", "2023-06-01")
///     .body(r#"{"model": "claude-sonnet-4-5", "max_tokens": 64,
///              "messages": [{"role": "user", "content": "Hi"}]}"#)
///     .with_extension(TrackOptions::new().customer_key("acme"))
///     .send()
///     .await?
///     .text()
///     .await?; // tracked as anthropic::<model> once the body is read
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct LlmMiddleware {
    tracking: LlmTracking,
}

impl LlmMiddleware {
    /// Tracks through `tracker`.
    pub fn new(tracker: Tracker) -> Self {
        LlmMiddleware {
            tracking: LlmTracking::new(tracker),
        }
    }

    /// The vendor of OpenAI-compatible answers (see [`LlmTracking::vendor`]).
    pub fn vendor(self, vendor: impl Into<Cow<'static, str>>) -> Self {
        LlmMiddleware {
            tracking: self.tracking.vendor(vendor),
        }
    }

    /// What was tracked, skipped and failed so far.
    pub fn stats(&self) -> LlmStats {
        self.tracking.stats()
    }
}

#[async_trait::async_trait]
impl Middleware for LlmMiddleware {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let url = req.url();
        let provider = url
            .host_str()
            .and_then(|host| self.tracking.provider_for(host, url.path()));
        let options = extensions.get::<TrackOptions>().cloned();
        let response = next.run(req, extensions).await?;
        Ok(match provider {
            Some(provider) if response.status().is_success() => {
                tap_reqwest(&self.tracking, provider, response, options)
            }
            _ => response,
        })
    }
}

/// The same response (status, headers, extensions, URL) with its body tapped.
fn tap_reqwest(
    tracking: &LlmTracking,
    provider: super::Provider,
    response: reqwest::Response,
    options: Option<TrackOptions>,
) -> reqwest::Response {
    use reqwest::ResponseBuilderExt as _;
    let url = response.url().clone();
    let response: http::Response<reqwest::Body> = response.into();
    let (mut parts, body) = tracking.tap(Some(provider), response, options).into_parts();
    // `http::Response` does not carry reqwest's URL: put it back the way reqwest reads it.
    match http::Response::builder().url(url).body(()) {
        Ok(with_url) => parts.extensions.extend(with_url.into_parts().0.extensions),
        Err(error) => tracing::debug!(%error, "response URL not restored"),
    }
    reqwest::Response::from(http::Response::from_parts(parts, reqwest::Body::wrap(body)))
}
