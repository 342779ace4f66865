//! `schema_file` is relative to CARGO_MANIFEST_DIR (trybuild's project dir, where the test
//! driver installs `ui-schemas/`).
use aicm::Usage;
use serde::Serialize;

#[derive(Serialize, Usage)]
#[usage(schema_file = "ui-schemas/chat_completions.json", config_id = "chat-completions")]
struct ChatUsage {
    input_tokens: u64,
    output_tokens: u64,
    model: String,
    cached: bool,
    latency_ms: Option<f64>,
}

fn main() {
    assert_eq!(ChatUsage::CONFIG_ID, Some("chat-completions"));
}
