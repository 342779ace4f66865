//! Usage from LLM answers with no call-site changes: an async-openai client with
//! [`aicm::llm::LlmLayer`] installed, calling a fake OpenAI-compatible endpoint that answers
//! with the committed fixtures (so no account is needed), and the records arriving at the local
//! API.

use std::error::Error;
use std::io::Write;

use aicm::TrackOptions;
use aicm::llm::{LlmLayer, LlmStats, with_track_options};
use aicm_tests::{FakeLlm, LocalApi, LocalApiThread, StoredRecord};
use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::middleware::ReqwestService;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessage, ChatCompletionStreamOptions, CreateChatCompletionRequest,
};
use futures_util::StreamExt as _;
use serde_json::json;

/// What the example did.
#[derive(Debug)]
pub struct Summary {
    /// The records the local API stored.
    pub records: Vec<StoredRecord>,
    /// The layer's counts.
    pub stats: LlmStats,
    /// The streamed answer's text, as the caller read it.
    pub streamed_text: String,
}

/// The service keys the fake endpoint answers with.
pub const SERVICE_KEYS: [&str; 2] = ["openai::gpt-5-mini-2025-08-07", "openai::gpt-5-2025-08-07"];

/// Starts the local API (today's contract) and the fake endpoint, makes a chat completion, a
/// streamed one and a Responses call through async-openai, and returns what arrived.
pub async fn run(out: &mut impl Write) -> Result<Summary, Box<dyn Error>> {
    let api: LocalApiThread = LocalApi::builder()
        .protocol(aicm_tests::Protocol::Track)
        .service_keys(SERVICE_KEYS)
        .start_in_thread()?;
    let ini = tempfile::tempdir()?;
    let fake = FakeLlm::start().await?;
    writeln!(
        out,
        "fake OpenAI-compatible endpoint at {}",
        fake.base_url()
    )?;

    let tracker = aicm::Tracker::track_api()
        .api_key(api.api_key())
        .api_base(api.api_base())
        .ini_path(ini.path().join("AICM.INI"))
        .build_async()
        .await?;

    // The one change: async-openai's HTTP service, with the layer on it. The endpoint is on
    // 127.0.0.1, so its vendor is named (a real api.openai.com is recognised by itself).
    let layer = LlmLayer::new(tracker.clone()).vendor("openai");
    let service = tower::ServiceBuilder::new()
        .layer(layer.clone())
        .service(ReqwestService::new(reqwest013::Client::new()));
    let client = Client::with_config(
        OpenAIConfig::new()
            .with_api_base(format!("{}/v1", fake.base_url()))
            .with_api_key("sk-not-needed"),
    )
    .with_http_service(service);

    // Call sites as they were; the customer key of these calls set around them.
    let request = CreateChatCompletionRequest {
        model: "gpt-5-mini".into(),
        messages: vec![ChatCompletionRequestUserMessage::from("What is a usage record?").into()],
        ..Default::default()
    };
    let answer = with_track_options(
        TrackOptions::new()
            .customer_key("acme")
            .context(json!({"feature": "faq"})),
        client.chat().create(request.clone()),
    )
    .await?;
    writeln!(
        out,
        "chat completion {} ({} tokens)",
        answer.id,
        answer.usage.as_ref().map_or(0, |u| u.total_tokens)
    )?;

    let streaming = CreateChatCompletionRequest {
        stream: Some(true),
        stream_options: Some(ChatCompletionStreamOptions {
            include_usage: Some(true),
            include_obfuscation: None,
        }),
        ..request
    };
    let mut streamed_text = String::new();
    with_track_options(TrackOptions::new().customer_key("globex"), async {
        let mut stream = client.chat().create_stream(streaming).await?;
        while let Some(chunk) = stream.next().await {
            for choice in chunk?.choices {
                streamed_text.push_str(choice.delta.content.as_deref().unwrap_or(""));
            }
        }
        Ok::<_, async_openai::error::OpenAIError>(())
    })
    .await?;
    writeln!(out, "streamed answer: {streamed_text:?}")?;

    let response = client
        .responses()
        .create_byot::<_, serde_json::Value>(json!({"model": "gpt-5", "input": "Hello"}))
        .await?;
    writeln!(out, "responses API answer {}", response["id"])?;

    tracker.close_async().await?;
    let records = api.records();
    for record in &records {
        writeln!(
            out,
            "record {} {} customer={} payload={}",
            record.service_id,
            record.response_id,
            record.client_customer_key.as_deref().unwrap_or("-"),
            serde_json::Value::Object(record.usage.clone())
        )?;
    }
    let stats = layer.stats();
    writeln!(out, "layer: {stats:?}")?;
    Ok(Summary {
        records,
        stats,
        streamed_text,
    })
}
