//! Tracking an [`LlmRecord`] through a [`Tracker`].

use serde_json::{Map, Value};

use super::LlmRecord;
use crate::{ResponseId, TrackError, TrackOptions, Tracker};

impl Tracker {
    /// Tracks a usage record read from an LLM response (feature `llm`): its service key, its
    /// payload, and the provider's response id as the record's response id, so that
    /// delivering it twice counts it once. `options` adds the customer key and context; a
    /// service key or response id set there wins over the record's. A record from a stream
    /// that stopped early carries `"stream": "incomplete"` in its context.
    ///
    /// ```
    /// # #[cfg(feature = "testing")] {
    /// use aicm::TrackOptions;
    /// use aicm::llm::{Provider, extract};
    /// let (tracker, recording) =
    ///     aicm::testing::recording_tracker("chat", "openai::gpt-5-mini", "{}").unwrap();
    /// let body = br#"{"id": "msg_1", "type": "message", "model": "claude-sonnet-4-5",
    ///                 "usage": {"input_tokens": 9, "output_tokens": 3}}"#;
    /// let record = extract(&Provider::Anthropic, body).unwrap().unwrap();
    /// tracker.track_llm(record, TrackOptions::new().customer_key("acme")).unwrap();
    /// let sent = &recording.records()[0];
    /// assert_eq!(sent.response_id, "msg_1");
    /// assert_eq!(sent.usage, serde_json::json!({"input_tokens": 9, "output_tokens": 3}));
    /// # }
    /// ```
    pub fn track_llm(
        &self,
        record: LlmRecord,
        options: TrackOptions,
    ) -> Result<ResponseId, TrackError> {
        let (payload, options) = prepare(record, options);
        self.track_with(payload, options)
    }

    /// [`Tracker::track_llm`] for async code (see [`Tracker::track_async`]).
    pub async fn track_llm_async(
        &self,
        record: LlmRecord,
        options: TrackOptions,
    ) -> Result<ResponseId, TrackError> {
        let (payload, options) = prepare(record, options);
        self.track_async(payload, options).await
    }
}

fn prepare(record: LlmRecord, mut options: TrackOptions) -> (Map<String, Value>, TrackOptions) {
    if options.service_key.is_none() {
        options.service_key = Some(record.service_key);
    }
    if options.response_id.is_none() {
        // An id the service would refuse (over 128 characters, not printable ASCII) is left
        // out rather than costing the record: the Tracker draws one instead.
        options.response_id = record
            .response_id
            .filter(|id| {
                let ok = (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic());
                if !ok {
                    tracing::debug!(response_id = %id, "provider id not usable as a response id");
                }
                ok
            })
            .map(String::into_boxed_str);
    }
    if record.incomplete {
        let mut context = match options.context.take() {
            Some(Value::Object(map)) => map,
            Some(other) => {
                // Not an object: left for `track` to refuse as it would without us.
                options.context = Some(other);
                return (record.payload, options);
            }
            None => Map::new(),
        };
        context.insert("stream".to_owned(), Value::String("incomplete".to_owned()));
        options.context = Some(Value::Object(context));
    }
    (record.payload, options)
}
