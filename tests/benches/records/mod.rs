//! The usage record the benches track: one definition, so every bench measures the same record.

/// How the benches build a record: fresh (its `String` too) as a handler would, with
/// `input_tokens` varying per call.
pub trait Sample: aicm::IntoUsage {
    fn sample(input_tokens: i64) -> Self;
}

/// Defines the benchmark record under `$name` and its [`Sample`] impl.
macro_rules! chat_usage {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[allow(dead_code)]
        #[derive(serde::Serialize, aicm::Usage)]
        #[usage(
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
