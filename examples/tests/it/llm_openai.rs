//! The async-openai example, as it runs: every call tracked once, through the layer, with
//! the customer key set around it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aicm_examples::llm_openai;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_openai_calls_are_tracked_through_the_layer() {
    let mut out = Vec::new();
    let summary = llm_openai::run(&mut out).await.unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(summary.streamed_text, "Usage is metered.", "{out}");
    assert_eq!(summary.stats.tracked, 3, "{out}");
    assert_eq!(summary.stats.failed, 0, "{out}");
    let find = |id: &str| {
        summary
            .records
            .iter()
            .find(|r| r.response_id == id)
            .unwrap_or_else(|| panic!("no record {id}: {out}"))
    };
    let chat = find("chatcmpl-CKgAeOmDlm3yJ4v0kQ2XbRf8sNpTz");
    assert_eq!(chat.service_id, "openai::gpt-5-mini-2025-08-07");
    assert_eq!(chat.client_customer_key.as_deref(), Some("acme"));
    assert_eq!(
        chat.context.clone().map(serde_json::Value::Object),
        Some(json!({"feature": "faq"}))
    );
    assert_eq!(
        chat.usage["completion_tokens_details"]["reasoning_tokens"],
        192
    );
    let streamed = find("chatcmpl-CKgCs9XyZ1wVu2tS3rQ4pO5nM");
    assert_eq!(streamed.client_customer_key.as_deref(), Some("globex"));
    assert_eq!(
        streamed.usage["prompt_tokens_details"]["cached_tokens"],
        1152
    );
    assert_eq!(streamed.context, None);
    let responses = find("resp_68da1f0c2a7c81a19e1b0e6c5b9a4d3e0f1a2b3c4d5e6f70");
    assert_eq!(responses.service_id, "openai::gpt-5-2025-08-07");
    assert_eq!(responses.client_customer_key, None);
    assert_eq!(summary.records.len(), 3, "{out}");
}

#[test]
fn typed_async_openai_responses_give_the_records_the_bodies_give() {
    use aicm::llm::{LlmRecord, Provider, StreamAccumulator, extract};
    use async_openai::types::chat::{
        CreateChatCompletionResponse, CreateChatCompletionStreamResponse,
    };
    use async_openai::types::responses::Response;

    let body = aicm_tests::llm_fixture("openai_chat.json").unwrap();
    let typed: CreateChatCompletionResponse = serde_json::from_slice(body).unwrap();
    let from_body = extract(&Provider::OpenAiChat, body).unwrap();
    assert_eq!(LlmRecord::from_chat_completion(&typed).unwrap(), from_body);
    assert_eq!(LlmRecord::try_from(&typed).unwrap(), from_body.unwrap());

    let body = aicm_tests::llm_fixture("openai_responses.json").unwrap();
    let typed: Response = serde_json::from_slice(body).unwrap();
    assert_eq!(
        LlmRecord::from_response(&typed).unwrap(),
        extract(&Provider::OpenAiResponses, body).unwrap()
    );

    // The last chunk of a stream with include_usage carries the stream's usage.
    let sse = aicm_tests::llm_fixture("openai_chat_stream.sse").unwrap();
    let mut from_stream = StreamAccumulator::new(Provider::OpenAiChat);
    from_stream.feed(sse);
    let text = std::str::from_utf8(sse).unwrap();
    let chunks: Vec<CreateChatCompletionStreamResponse> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let records: Vec<LlmRecord> = chunks
        .iter()
        .filter_map(|c| LlmRecord::from_chat_completion_chunk(c).unwrap())
        .collect();
    assert_eq!(records, vec![from_stream.finish().unwrap().unwrap()]);

    let mut no_usage = typed_without_usage();
    no_usage.usage = None;
    assert!(matches!(
        LlmRecord::try_from(&no_usage),
        Err(aicm::llm::LlmError::NoUsage)
    ));
}

fn typed_without_usage() -> async_openai::types::chat::CreateChatCompletionResponse {
    serde_json::from_slice(aicm_tests::llm_fixture("openai_chat.json").unwrap()).unwrap()
}
