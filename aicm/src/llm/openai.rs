//! async-openai: its tower `middleware` service and records from its typed responses
//! (feature `llm-async-openai`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_openai::middleware::HttpRequestFactory;
use async_openai::types::chat::{CreateChatCompletionResponse, CreateChatCompletionStreamResponse};
use async_openai::types::responses::Response as ResponsesResponse;
use serde_json::{Map, Value};

use super::extract::build_owned;
use super::tap::task_options;
use super::{LlmError, LlmRecord, LlmService, LlmTracking, Provider, clean_object};
use crate::TrackOptions;

impl<S> tower_service::Service<HttpRequestFactory> for LlmService<S>
where
    S: tower_service::Service<HttpRequestFactory, Response = reqwest013::Response>,
    S::Future: Send + 'static,
{
    type Response = reqwest013::Response;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<reqwest013::Response, S::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        // Read here, in the caller's task: async-openai reads streams on a task of its own.
        let options = task_options();
        let tracking = self.tracking.clone();
        let answer = self.inner.call(factory);
        Box::pin(async move {
            let response = answer.await?;
            Ok(tap_response(&tracking, response, options))
        })
    }
}

/// The same response (status, headers, extensions, URL) with its body tapped, when its URL is
/// one of a covered API.
fn tap_response(
    tracking: &LlmTracking,
    response: reqwest013::Response,
    options: Option<TrackOptions>,
) -> reqwest013::Response {
    use reqwest013::ResponseBuilderExt as _;
    let url = response.url();
    let provider = match url.host_str() {
        Some(host) => tracking.provider_for(host, url.path()),
        None => None,
    };
    if provider.is_none() || !response.status().is_success() {
        return response;
    }
    let url = url.clone();
    let response: http::Response<reqwest013::Body> = response.into();
    let (mut parts, body) = tracking.tap(provider, response, options).into_parts();
    match http::Response::builder().url(url).body(()) {
        Ok(with_url) => parts.extensions.extend(with_url.into_parts().0.extensions),
        Err(error) => tracing::debug!(%error, "response URL not restored"),
    }
    reqwest013::Response::from(http::Response::from_parts(
        parts,
        reqwest013::Body::wrap(body),
    ))
}

fn typed(
    model: &str,
    id: &str,
    usage: Option<Result<Value, serde_json::Error>>,
) -> Result<Option<LlmRecord>, LlmError> {
    let provider = Provider::OpenAiChat;
    let payload: Map<String, Value> = match usage {
        None => return Ok(None),
        Some(Ok(Value::Object(mut map))) => {
            clean_object(&mut map);
            map
        }
        Some(Ok(_)) => return Err(LlmError::shape(&provider, "`usage` is not an object")),
        Some(Err(source)) => {
            return Err(LlmError::InvalidJson {
                provider: provider.api_name(),
                source,
            });
        }
    };
    build_owned(&provider, Some(model), Some(id), payload, false)
}

impl LlmRecord {
    /// The record of an async-openai chat completion: `Ok(None)` when it carries no usage.
    /// The vendor is `openai`; see [`LlmRecord::with_vendor`] for compatible providers.
    pub fn from_chat_completion(
        response: &CreateChatCompletionResponse,
    ) -> Result<Option<LlmRecord>, LlmError> {
        let usage = response.usage.as_ref().map(serde_json::to_value);
        typed(&response.model, &response.id, usage)
    }

    /// The record of a streamed chat completion's usage chunk (the last one, when the
    /// request set `stream_options.include_usage`); `Ok(None)` for the other chunks.
    pub fn from_chat_completion_chunk(
        chunk: &CreateChatCompletionStreamResponse,
    ) -> Result<Option<LlmRecord>, LlmError> {
        let usage = chunk.usage.as_ref().map(serde_json::to_value);
        typed(&chunk.model, &chunk.id, usage)
    }

    /// The record of an async-openai Responses API response (also the `response` of the
    /// `response.completed` stream event).
    pub fn from_response(response: &ResponsesResponse) -> Result<Option<LlmRecord>, LlmError> {
        let usage = response.usage.as_ref().map(serde_json::to_value);
        typed(&response.model, &response.id, usage)
    }
}

impl TryFrom<&CreateChatCompletionResponse> for LlmRecord {
    type Error = LlmError;

    /// [`LlmRecord::from_chat_completion`], with a completion without usage an error
    /// ([`LlmError::NoUsage`]).
    fn try_from(response: &CreateChatCompletionResponse) -> Result<Self, LlmError> {
        LlmRecord::from_chat_completion(response)?.ok_or(LlmError::NoUsage)
    }
}

impl TryFrom<&ResponsesResponse> for LlmRecord {
    type Error = LlmError;

    /// [`LlmRecord::from_response`], with a response without usage an error
    /// ([`LlmError::NoUsage`]).
    fn try_from(response: &ResponsesResponse) -> Result<Self, LlmError> {
        LlmRecord::from_response(response)?.ok_or(LlmError::NoUsage)
    }
}
