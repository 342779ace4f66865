//! The usage record the benches track: one definition, so every bench measures the same record.

/// How the benches build a record: fresh (its `String` too) as a handler would, with
/// `input_tokens` varying per call.
pub trait Sample: aicm::IntoUsage {
    fn sample(input_tokens: i64) -> Self;
}

/// Defines the benchmark record under `$name`, with extra `#[usage(..)]` flags, and its
/// [`Sample`] impl.
macro_rules! chat_usage {
    ($(#[$doc:meta])* $name:ident $(, $flag:ident)?) => {
        $(#[$doc])*
        #[allow(dead_code)]
        #[derive(serde::Serialize, aicm::Usage)]
        #[usage(
            $($flag,)?
            schema = r#"{"input_tokens": "int", "output_tokens": "int", "model": "str",
            "cached": "bool", "latency_ms": "Optional[float]"}"#
        )]
        pub struct $name {
            pub input_tokens: i64,
            pub output_tokens: i64,
            pub model: String,
            pub cached: bool,
            pub latency_ms: Option<f64>,
        }

        impl Sample for $name {
            #[inline]
            fn sample(input_tokens: i64) -> $name {
                $name {
                    input_tokens,
                    output_tokens: 42,
                    model: String::from("gpt-4o-mini"),
                    cached: false,
                    latency_ms: Some(12.5),
                }
            }
        }
    };
}

chat_usage!(
    /// The 5-field record of the chat-completions config (DESIGN's benchmark record), owned.
    /// Serialised by `track` on the caller, like every record: measured cheaper than moving it
    /// to the worker (see the README's benchmark section).
    ChatUsage
);

chat_usage!(
    /// [`ChatUsage`] written by the derive's own code (`#[usage(write_fields)]`) instead of its
    /// `Serialize`. Only the `track` bench uses it.
    ChatUsageFields,
    write_fields
);

/// [`ChatUsage`] serialised with `serde_json::to_writer` instead of aicm's own compact JSON
/// writer: the `track` bench's comparison that decides whether that writer earns its place.
/// Implemented by hand (the derive would bring the writer back), with the derived record's
/// schema and checks.
#[allow(dead_code)]
#[derive(serde::Serialize)]
#[serde(transparent)]
pub struct ChatUsageSerdeJson(pub ChatUsage);

impl aicm::Usage for ChatUsageSerdeJson {
    const TYPE_NAME: &'static str = "ChatUsageSerdeJson";
    const SCHEMA: &'static str = <ChatUsage as aicm::Usage>::SCHEMA;
    const FINGERPRINT: u64 = <ChatUsage as aicm::Usage>::FINGERPRINT;
    const CONFIG_ID: Option<&'static str> = None;

    fn check(&self) -> Result<(), aicm::UsageValidationError> {
        aicm::Usage::check(&self.0)
    }

    fn write_json(&self, out: &mut aicm::__private::BytesMut) -> Result<(), serde_json::Error> {
        serde_json::to_writer(bytes::BufMut::writer(out), self)
    }
}

impl aicm::IntoUsage for ChatUsageSerdeJson {
    fn into_prepared(
        self,
        ctx: &aicm::TrackContext<'_>,
    ) -> Result<aicm::PreparedUsage, aicm::TrackError> {
        aicm::IntoUsage::into_prepared(&self, ctx)
    }
}

impl Sample for ChatUsageSerdeJson {
    #[inline]
    fn sample(input_tokens: i64) -> ChatUsageSerdeJson {
        ChatUsageSerdeJson(ChatUsage::sample(input_tokens))
    }
}
