//! Usage from an event stream: one record per stream, from its events as they flow.

use serde_json::{Map, Value};

use super::extract::{Body, build_owned, usage_field};
use super::{LlmError, LlmRecord, Provider, SseEvent, SseParser, clean_object};

/// Gathers a stream's usage as its bytes (or events) flow, and gives its one record at the
/// end.
///
/// * OpenAI Chat Completions (and compatible): the chunk with `usage` (sent last when the
///   request set `stream_options.include_usage`); the stream is complete at `data: [DONE]`.
/// * OpenAI Responses: the `response` of `response.completed` (or `response.incomplete`,
///   `response.failed`), which carries `usage`.
/// * Anthropic: `message_start`'s `message.usage`, overlaid by every `message_delta`'s
///   `usage` (cumulative counts); complete at `message_stop`.
/// * Gemini (`alt=sse`): the last chunk's `usageMetadata`.
///
/// ```
/// use aicm::llm::{Provider, StreamAccumulator};
/// let mut stream = StreamAccumulator::new(Provider::Anthropic);
/// stream.feed(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\
///     \"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n");
/// stream.feed(b"event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\n\n");
/// stream.feed(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
/// let record = stream.finish()?.expect("usage was seen");
/// assert_eq!(record.service_key, "anthropic::claude-sonnet-4-5");
/// assert_eq!(serde_json::Value::Object(record.payload),
///            serde_json::json!({"input_tokens": 25, "output_tokens": 15}));
/// assert!(!record.incomplete);
/// # Ok::<(), aicm::llm::LlmError>(())
/// ```
#[derive(Debug)]
pub struct StreamAccumulator {
    provider: Provider,
    parser: SseParser,
    model: Option<String>,
    id: Option<String>,
    usage: Option<Map<String, Value>>,
    /// Gemini's latest chunk with `usageMetadata`, kept unparsed: every chunk carries the
    /// running counts, so only the last one is read (at the end).
    pending: Option<String>,
    /// The provider's last event was seen.
    ended: bool,
    events: u64,
    first_error: Option<LlmError>,
}

impl StreamAccumulator {
    /// An accumulator for a stream of `provider`'s API.
    pub fn new(provider: Provider) -> Self {
        StreamAccumulator {
            provider,
            parser: SseParser::new(),
            model: None,
            id: None,
            usage: None,
            pending: None,
            ended: false,
            events: 0,
            first_error: None,
        }
    }

    /// The provider this stream is read for.
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// Reads the next bytes of the stream, split anywhere. An event that cannot be read is
    /// kept as the stream's first error (see [`StreamAccumulator::finish`]) and the others
    /// are still read.
    pub fn feed(&mut self, chunk: &[u8]) {
        let mut parser = std::mem::take(&mut self.parser);
        parser.feed(chunk, |event| self.note(event));
        self.parser = parser;
    }

    /// Reads one event already framed by someone else's SSE reader.
    pub fn push_event(&mut self, event: SseEvent<'_>) -> Result<(), LlmError> {
        self.events += 1;
        let data = event.data.trim();
        if data == "[DONE]" {
            self.ended = true;
            return Ok(());
        }
        if !self.may_matter(event.event, data) {
            return Ok(());
        }
        if matches!(self.provider, Provider::Gemini) && self.model.is_some() {
            let pending = self.pending.get_or_insert_with(String::new);
            pending.clear();
            pending.push_str(data);
            return Ok(());
        }
        let body: Body<'_> =
            serde_json::from_str(data).map_err(|source| LlmError::InvalidJson {
                provider: self.provider.api_name(),
                source,
            })?;
        self.take(body)
    }

    /// How many events were read.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Whether the provider's last event (`[DONE]`, `response.completed`, `message_stop`) was
    /// seen.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The stream reached its end: its record, `Ok(None)` when it carried no usage, or its
    /// first unreadable event's error when it carried no usage either. A stream whose
    /// provider never sent its last event gives a record marked
    /// [`incomplete`](LlmRecord::incomplete).
    pub fn finish(mut self) -> Result<Option<LlmRecord>, LlmError> {
        let mut parser = std::mem::take(&mut self.parser);
        parser.finish(|event| self.note(event));
        let incomplete = !self.ended && !matches!(self.provider, Provider::Gemini);
        self.record(incomplete)
    }

    /// The stream stopped early (dropped by its reader, broken by the network): a record of
    /// what was seen, marked [`incomplete`](LlmRecord::incomplete), or `Ok(None)` when no
    /// usage had arrived.
    pub fn finish_incomplete(mut self) -> Result<Option<LlmRecord>, LlmError> {
        let ended = self.ended;
        self.record(!ended)
    }

    fn record(&mut self, incomplete: bool) -> Result<Option<LlmRecord>, LlmError> {
        if let Some(pending) = self.pending.take() {
            match serde_json::from_str::<Body<'_>>(&pending) {
                Ok(body) => {
                    if let Err(error) = self.take(body) {
                        self.first_error.get_or_insert(error);
                    }
                }
                Err(source) => {
                    self.first_error.get_or_insert(LlmError::InvalidJson {
                        provider: self.provider.api_name(),
                        source,
                    });
                }
            }
        }
        let Some(mut payload) = self.usage.take() else {
            return match self.first_error.take() {
                Some(error) => Err(error),
                None => Ok(None),
            };
        };
        clean_object(&mut payload);
        build_owned(
            &self.provider,
            self.model.as_deref(),
            self.id.as_deref(),
            payload,
            incomplete,
        )
    }

    fn note(&mut self, event: SseEvent<'_>) {
        if let Err(error) = self.push_event(event) {
            tracing::debug!(provider = %self.provider, %error, "unreadable stream event");
            self.first_error.get_or_insert(error);
        }
    }

    /// Whether an event can hold a model, id, usage or the end, judged without parsing it:
    /// most of a stream is text deltas, and they are skipped for the price of a name compare
    /// or a substring search.
    fn may_matter(&self, event: &str, data: &str) -> bool {
        let have_names = self.model.is_some();
        match self.provider {
            Provider::Anthropic => {
                let kind = if event.is_empty() {
                    data_type(data)
                } else {
                    event
                };
                kind.is_empty()
                    || matches!(kind, "message_start" | "message_delta" | "message_stop")
            }
            Provider::OpenAiResponses => {
                let kind = if event.is_empty() {
                    data_type(data)
                } else {
                    event
                };
                kind.is_empty()
                    || matches!(
                        kind,
                        "response.created"
                            | "response.queued"
                            | "response.in_progress"
                            | "response.completed"
                            | "response.incomplete"
                            | "response.failed"
                    )
            }
            Provider::Gemini => !have_names || data.contains("usageMetadata"),
            Provider::OpenAiChat | Provider::OpenAiCompatible { .. } => {
                // With `include_usage` every chunk says `"usage":null` but the last.
                !have_names || (data.contains("\"usage\"") && !data.contains("\"usage\":null"))
            }
        }
    }

    fn take(&mut self, body: Body<'_>) -> Result<(), LlmError> {
        match self.provider {
            Provider::Anthropic => match body.kind.as_deref() {
                Some("message_start") => {
                    if let Some(message) = body.message {
                        self.names(message.model.as_deref(), message.id.as_deref());
                        if let Some(usage) = message.usage {
                            self.usage = Some(self.object(usage)?);
                        }
                    }
                }
                Some("message_delta") => {
                    if let Some(usage) = body.usage {
                        let delta = self.object(usage)?;
                        let usage = self.usage.get_or_insert_with(Map::new);
                        for (key, value) in delta {
                            if !value.is_null() {
                                usage.insert(key, value);
                            }
                        }
                    }
                }
                Some("message_stop") => self.ended = true,
                _ => {}
            },
            Provider::OpenAiResponses => {
                if let Some(response) = body.response {
                    self.names(response.model.as_deref(), response.id.as_deref());
                    if let Some(usage) = response.usage {
                        self.usage = Some(self.object(usage)?);
                    }
                    if matches!(
                        body.kind.as_deref(),
                        Some("response.completed" | "response.incomplete" | "response.failed")
                    ) {
                        self.ended = true;
                    }
                }
            }
            Provider::Gemini => {
                self.names(body.model_version.as_deref(), body.response_id.as_deref());
                if let Some(usage) = body.usage_metadata {
                    self.usage = Some(self.object(usage)?);
                }
            }
            Provider::OpenAiChat | Provider::OpenAiCompatible { .. } => {
                self.names(body.model.as_deref(), body.id.as_deref());
                if let Some(usage) = body.usage {
                    self.usage = Some(self.object(usage)?);
                }
            }
        }
        Ok(())
    }

    fn names(&mut self, model: Option<&str>, id: Option<&str>) {
        if let (None, Some(model)) = (&self.model, model) {
            self.model = Some(model.to_owned());
        }
        if let (None, Some(id)) = (&self.id, id) {
            self.id = Some(id.to_owned());
        }
    }

    fn object(&self, usage: Value) -> Result<Map<String, Value>, LlmError> {
        match usage {
            Value::Object(map) => Ok(map),
            other => Err(LlmError::shape(
                &self.provider,
                format!(
                    "`{}` is {}, not an object",
                    usage_field(&self.provider),
                    crate::api::json_kind(&other)
                ),
            )),
        }
    }
}

/// The `"type"` of an event's JSON, found without parsing it (providers put it first); empty
/// when not found, and the event is then parsed.
fn data_type(data: &str) -> &str {
    let Some(at) = data.find("\"type\"") else {
        return "";
    };
    let rest = data[at + 6..].trim_start();
    let Some(rest) = rest.strip_prefix(':') else {
        return "";
    };
    let rest = rest.trim_start();
    let Some(rest) = rest.strip_prefix('"') else {
        return "";
    };
    rest.split('"').next().unwrap_or("")
}
