//! The usage record the benches track: one definition, so every bench measures the same record.

/// The 5-field record of the chat-completions config (DESIGN's benchmark record), owned.
/// Serialised by `track` on the caller, like every record: measured cheaper than moving it to
/// the worker (see the README's benchmark section).
#[derive(serde::Serialize, aicm::Usage)]
#[usage(
    schema = r#"{"input_tokens": "int", "output_tokens": "int", "model": "str",
    "cached": "bool", "latency_ms": "Optional[float]"}"#
)]
pub struct ChatUsage {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub model: String,
    pub cached: bool,
    pub latency_ms: Option<f64>,
}

impl ChatUsage {
    /// The record every bench tracks, with `input_tokens` varying per call; built fresh (its
    /// `String` too) as a handler would.
    #[inline]
    pub fn sample(input_tokens: i64) -> ChatUsage {
        ChatUsage {
            input_tokens,
            output_tokens: 42,
            model: String::from("gpt-4o-mini"),
            cached: false,
            latency_ms: Some(12.5),
        }
    }
}

/// [`ChatUsage`] written by the derive's own code (`#[usage(write_fields)]`) instead of its
/// `Serialize`. Only the `track` bench uses it.
#[allow(dead_code)]
#[derive(serde::Serialize, aicm::Usage)]
#[usage(
    write_fields,
    schema = r#"{"input_tokens": "int", "output_tokens": "int", "model": "str",
    "cached": "bool", "latency_ms": "Optional[float]"}"#
)]
pub struct ChatUsageFields {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub model: String,
    pub cached: bool,
    pub latency_ms: Option<f64>,
}

#[allow(dead_code)]
impl ChatUsageFields {
    /// The same values as [`ChatUsage::sample`].
    #[inline]
    pub fn sample(input_tokens: i64) -> ChatUsageFields {
        ChatUsageFields {
            input_tokens,
            output_tokens: 42,
            model: String::from("gpt-4o-mini"),
            cached: false,
            latency_ms: Some(12.5),
        }
    }
}
