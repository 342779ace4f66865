//! Usage records from LLM responses (feature `llm`), without writing records by hand.
//!
//! A provider's answer already says what it cost: its `usage` object. This module reads it
//! from a response body or an event stream and turns it into one [`LlmRecord`]: the service
//! key `vendor::model` (the model the provider answered with), the provider's usage object as
//! the payload (its own field names, details included, nulls left out) and the provider's
//! response id, so a retried delivery is deduplicated.
//!
//! | API | recognised by | service key | payload | response id |
//! |---|---|---|---|---|
//! | OpenAI Chat Completions | `…/chat/completions` on `api.openai.com` | `openai::<model>` | `usage` (`prompt_tokens`, `completion_tokens`, `total_tokens`, `prompt_tokens_details`, `completion_tokens_details`) | `id` (`chatcmpl-…`) |
//! | OpenAI Responses | `…/responses` | `openai::<model>` | `usage` (`input_tokens`, `input_tokens_details`, `output_tokens`, `output_tokens_details`, `total_tokens`) | `id` (`resp_…`) |
//! | Anthropic Messages | `…/v1/messages` | `anthropic::<model>` | `usage` (`input_tokens`, `output_tokens`, `cache_creation_input_tokens`, `cache_read_input_tokens`, `cache_creation`, `server_tool_use`, `service_tier`) | `id` (`msg_…`) |
//! | Google Gemini | `…:generateContent`, `…:streamGenerateContent` | `google::<modelVersion>` | `usageMetadata` (`promptTokenCount`, `candidatesTokenCount`, `totalTokenCount`, `cachedContentTokenCount`, `thoughtsTokenCount`, `toolUsePromptTokenCount`, `promptTokensDetails`, …) | `responseId` |
//! | OpenAI-compatible Chat Completions | `…/chat/completions` on any other host | `<vendor>::<model>`, the vendor from the host (`api.groq.com` → `groq`) or given | as OpenAI Chat Completions | `id` |
//!
//! Streams (server-sent events) give the same record once, at their end: OpenAI's final usage
//! chunk (`stream_options.include_usage`), the Responses API's `response.completed`,
//! Anthropic's `message_start` usage merged with the cumulative `message_delta` usage, and
//! Gemini's last `usageMetadata`. A stream dropped before its end gives what it had seen,
//! with `{"stream": "incomplete"}` in the record's context.
//!
//! An answer without usage (an error answer, a stream without `include_usage`) is not a
//! record and not an error: [`extract`] returns `Ok(None)`. A body that is not the provider's
//! shape is an [`LlmError`] naming what was wrong.
//!
//! ```
//! use aicm::llm::{Provider, extract};
//!
//! let body = br#"{"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-5-mini",
//!   "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 40,
//!   "total_tokens": 52, "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": null}}}"#;
//! let record = extract(&Provider::OpenAiChat, body)?.expect("the answer has usage");
//! assert_eq!(record.service_key, "openai::gpt-5-mini");
//! assert_eq!(record.response_id.as_deref(), Some("chatcmpl-1"));
//! assert_eq!(
//!     serde_json::Value::Object(record.payload),
//!     serde_json::json!({"prompt_tokens": 12, "completion_tokens": 40, "total_tokens": 52,
//!                        "prompt_tokens_details": {"cached_tokens": 0}})
//! );
//! # Ok::<(), aicm::llm::LlmError>(())
//! ```
//!
//! [`Tracker::track_llm`](crate::Tracker::track_llm) tracks such a record. The HTTP
//! integrations track every recognised answer of a client without call-site changes.

mod extract;
#[cfg(feature = "llm-http")]
mod layer;
#[cfg(feature = "llm-async-openai")]
mod openai;
mod provider;
#[cfg(feature = "llm-reqwest")]
mod reqwest_mw;
mod sse;
mod stream;
#[cfg(feature = "llm-http")]
mod tap;
mod track;

pub use extract::{extract, extract_value};
#[cfg(feature = "llm-http")]
pub use layer::{LlmFuture, LlmLayer, LlmService};
pub use provider::Provider;
#[cfg(feature = "llm-reqwest")]
pub use reqwest_mw::LlmMiddleware;
pub use sse::{SseEvent, SseParser};
pub use stream::StreamAccumulator;
#[cfg(feature = "llm-http")]
pub use tap::{LlmStats, LlmTracking, TapBody, with_track_options};

use serde_json::{Map, Value};

/// One usage record read from an LLM response: what [`Tracker::track_llm`](crate::Tracker::track_llm)
/// sends.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LlmRecord {
    /// `vendor::model`, the model as the provider answered it (e.g. `openai::gpt-5-mini-2025-08-07`).
    pub service_key: String,
    /// The provider's id of the answer (`chatcmpl-…`, `resp_…`, `msg_…`, Gemini's
    /// `responseId`), when it gave one.
    pub response_id: Option<String>,
    /// The provider's usage object with its own field names; nulls and empty objects left out.
    pub payload: Map<String, Value>,
    /// True when the record was read from a stream that ended or was dropped before the
    /// provider's final event: the usage is what had been seen.
    pub incomplete: bool,
}

impl LlmRecord {
    /// A record of your own making (for a provider this module does not read): `payload` is
    /// cleaned of nulls and empty objects like the extracted ones.
    ///
    /// ```
    /// let record = aicm::llm::LlmRecord::new(
    ///     "mistral::mistral-large-2411",
    ///     Some("cmpl-1".to_owned()),
    ///     serde_json::json!({"prompt_tokens": 3, "details": null}).as_object().cloned().unwrap_or_default(),
    /// );
    /// assert_eq!(serde_json::Value::Object(record.payload), serde_json::json!({"prompt_tokens": 3}));
    /// ```
    pub fn new(
        service_key: impl Into<String>,
        response_id: Option<String>,
        mut payload: Map<String, Value>,
    ) -> Self {
        clean_object(&mut payload);
        LlmRecord {
            service_key: service_key.into(),
            response_id,
            payload,
            incomplete: false,
        }
    }

    /// The same record under another vendor (`groq::llama-3.3-70b-versatile` from
    /// `openai::llama-3.3-70b-versatile`): for typed responses of OpenAI-compatible
    /// providers read through an OpenAI client.
    ///
    /// ```
    /// use aicm::llm::{Provider, extract};
    /// let body = br#"{"id": "c1", "model": "llama-3.3-70b-versatile", "usage": {"total_tokens": 3}}"#;
    /// let record = extract(&Provider::OpenAiChat, body).unwrap().unwrap().with_vendor("groq");
    /// assert_eq!(record.service_key, "groq::llama-3.3-70b-versatile");
    /// ```
    pub fn with_vendor(mut self, vendor: &str) -> Self {
        let model = self
            .service_key
            .split_once("::")
            .map_or(self.service_key.as_str(), |(_, model)| model);
        self.service_key = format!("{vendor}::{model}");
        self
    }
}

/// Why a response could not be read as a usage record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// The body is not JSON.
    #[error("{provider} response is not JSON: {source}")]
    InvalidJson {
        /// The provider whose response it was meant to be.
        provider: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The body is JSON but not the provider's response shape.
    #[error("{provider} response has an unexpected shape: {reason}")]
    UnexpectedShape {
        /// The provider whose response it was meant to be.
        provider: &'static str,
        /// What was wrong, naming the field.
        reason: String,
    },
    /// A typed response converted with `TryFrom` carried no usage.
    #[error("the response carries no usage")]
    NoUsage,
}

impl LlmError {
    fn shape(provider: &Provider, reason: impl Into<String>) -> Self {
        LlmError::UnexpectedShape {
            provider: provider.api_name(),
            reason: reason.into(),
        }
    }
}

/// The payload rule: nulls removed at every depth, objects left empty by that (or empty to
/// begin with) removed too, so the service never sees `null` or `{}`.
pub(crate) fn clean_object(map: &mut Map<String, Value>) {
    map.retain(|_, value| clean_value(value));
}

/// Cleans `value` in place; false when it should be dropped.
fn clean_value(value: &mut Value) -> bool {
    match value {
        Value::Null => false,
        Value::Object(map) => {
            clean_object(map);
            !map.is_empty()
        }
        Value::Array(items) => {
            items.retain_mut(clean_value);
            true
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nulls_and_empty_objects_go_at_every_depth() {
        let Value::Object(mut map) = json!({
            "a": 1, "b": null, "c": {"d": null}, "e": {"f": {"g": null}, "h": 0},
            "i": [{"j": null, "k": 1}, null], "l": {}
        }) else {
            unreachable!()
        };
        clean_object(&mut map);
        assert_eq!(
            Value::Object(map),
            json!({"a": 1, "e": {"h": 0}, "i": [{"k": 1}]})
        );
    }
}
