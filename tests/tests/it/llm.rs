//! Usage from LLM responses (`aicm::llm`): every fixture under `fixtures/llm/` read, tracked
//! through the local API and checked field by field; streams fed whole, byte by byte and in
//! random splits; streams stopped early.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use aicm::TrackOptions;
use aicm::llm::{LlmRecord, Provider, StreamAccumulator, extract};
use aicm_tests::{LocalApi, LocalApiThread, StoredRecord};
use serde_json::{Value, json};

/// The service keys the fixtures answer with.
pub const FIXTURE_SERVICE_KEYS: [&str; 6] = [
    "openai::gpt-5-mini-2025-08-07",
    "openai::gpt-4o-audio-preview-2025-06-03",
    "openai::gpt-5-2025-08-07",
    "anthropic::claude-sonnet-4-5-20250929",
    "google::gemini-2.5-flash",
    "groq::llama-3.3-70b-versatile",
];

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/llm")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn server() -> LocalApiThread {
    LocalApi::builder()
        .protocol(aicm_tests::Protocol::Track)
        .service_keys(FIXTURE_SERVICE_KEYS)
        .start_in_thread()
        .expect("local API starts")
}

fn tracker(api: &LocalApiThread) -> aicm::Tracker {
    aicm::Tracker::track_api()
        .api_key(api.api_key())
        .api_base(api.api_base())
        .ini_path(support::temp_ini())
        .build()
        .unwrap()
}

/// Tracks `record` with a customer key and context, and returns what the service stored.
fn round_trip(record: LlmRecord) -> StoredRecord {
    let api = server();
    let tracker = tracker(&api);
    let id = tracker
        .track_llm(
            record,
            TrackOptions::new()
                .customer_key("acme")
                .context(json!({"feature": "support-bot"})),
        )
        .unwrap();
    tracker.close().unwrap();
    let records = api.records();
    assert_eq!(records.len(), 1, "{records:?}");
    let stored = records.into_iter().next().unwrap();
    assert_eq!(stored.response_id, id.to_string());
    assert_eq!(stored.endpoint, "track");
    assert_eq!(stored.client_customer_key.as_deref(), Some("acme"));
    stored
}

fn check(stored: &StoredRecord, service_key: &str, response_id: &str, payload: Value) {
    assert_eq!(stored.service_id, service_key);
    assert_eq!(stored.response_id, response_id);
    assert_eq!(Value::Object(stored.usage.clone()), payload);
}

fn context(stored: &StoredRecord) -> Value {
    Value::Object(stored.context.clone().unwrap_or_default())
}

// ---- non-streaming bodies ------------------------------------------------------------------

const CHAT_USAGE: fn() -> Value = || {
    json!({
        "prompt_tokens": 1342, "completion_tokens": 268, "total_tokens": 1610,
        "prompt_tokens_details": {"cached_tokens": 1152, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
    })
};

#[test]
fn openai_chat_completion_with_cached_and_reasoning_tokens() {
    let record = extract(&Provider::OpenAiChat, &fixture("openai_chat.json"))
        .unwrap()
        .unwrap();
    assert!(!record.incomplete);
    let stored = round_trip(record);
    check(
        &stored,
        "openai::gpt-5-mini-2025-08-07",
        "chatcmpl-CKgAeOmDlm3yJ4v0kQ2XbRf8sNpTz",
        CHAT_USAGE(),
    );
    assert_eq!(context(&stored), json!({"feature": "support-bot"}));
}

#[test]
fn openai_chat_completion_with_audio_and_image_tokens() {
    let record = extract(&Provider::OpenAiChat, &fixture("openai_chat_audio.json"))
        .unwrap()
        .unwrap();
    check(
        &round_trip(record),
        "openai::gpt-4o-audio-preview-2025-06-03",
        "chatcmpl-CKgB1a2b3c4d5e6f7g8h9i0jKLMNO",
        json!({
            "prompt_tokens": 38, "completion_tokens": 112, "total_tokens": 150,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 24,
                                      "text_tokens": 14, "image_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 96,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0,
                "text_tokens": 16}
        }),
    );
}

#[test]
fn openai_responses_with_cached_and_reasoning_tokens() {
    let record = extract(
        &Provider::OpenAiResponses,
        &fixture("openai_responses.json"),
    )
    .unwrap()
    .unwrap();
    check(
        &round_trip(record),
        "openai::gpt-5-2025-08-07",
        "resp_68da1f0c2a7c81a19e1b0e6c5b9a4d3e0f1a2b3c4d5e6f70",
        json!({
            "input_tokens": 2310, "input_tokens_details": {"cached_tokens": 2048},
            "output_tokens": 421, "output_tokens_details": {"reasoning_tokens": 384},
            "total_tokens": 2731
        }),
    );
}

#[test]
fn anthropic_message_with_cache_writes_reads_and_server_tools() {
    let record = extract(&Provider::Anthropic, &fixture("anthropic_messages.json"))
        .unwrap()
        .unwrap();
    check(
        &round_trip(record),
        "anthropic::claude-sonnet-4-5-20250929",
        "msg_01XFDUDYJgAACzvnptvVoYEL",
        json!({
            "input_tokens": 24, "cache_creation_input_tokens": 512,
            "cache_read_input_tokens": 1860,
            "cache_creation": {"ephemeral_5m_input_tokens": 512, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 87, "server_tool_use": {"web_search_requests": 1},
            "service_tier": "standard"
        }),
    );
}

#[test]
fn gemini_generate_content_with_cached_thought_and_image_tokens() {
    let record = extract(&Provider::Gemini, &fixture("gemini_generate_content.json"))
        .unwrap()
        .unwrap();
    check(
        &round_trip(record),
        "google::gemini-2.5-flash",
        "tVbaaPrTAovp-8YP5vLx0Q0",
        json!({
            "promptTokenCount": 4213, "candidatesTokenCount": 57, "totalTokenCount": 4771,
            "cachedContentTokenCount": 4096, "thoughtsTokenCount": 501,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 3955},
                                    {"modality": "IMAGE", "tokenCount": 258}],
            "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 4096}]
        }),
    );
}

#[test]
fn openai_compatible_provider_named_from_its_host() {
    let provider = Provider::detect_url("https://api.groq.com/openai/v1/chat/completions").unwrap();
    assert_eq!(provider, Provider::openai_compatible("groq"));
    let record = extract(&provider, &fixture("groq_chat.json"))
        .unwrap()
        .unwrap();
    check(
        &round_trip(record),
        "groq::llama-3.3-70b-versatile",
        "chatcmpl-f51b2cd2-bef7-417e-964e-a08f0b513c22",
        json!({
            "queue_time": 0.037493111, "prompt_tokens": 18, "prompt_time": 0.000680659,
            "completion_tokens": 9, "completion_time": 0.008181818, "total_tokens": 27,
            "total_time": 0.008862477
        }),
    );
}

#[test]
fn error_answers_are_no_record_and_no_error() {
    for (provider, name) in [
        (Provider::OpenAiChat, "openai_error.json"),
        (Provider::OpenAiResponses, "openai_error.json"),
        (Provider::Anthropic, "anthropic_error.json"),
        (Provider::Gemini, "gemini_error.json"),
    ] {
        assert_eq!(extract(&provider, &fixture(name)).unwrap(), None, "{name}");
    }
}

#[test]
fn a_body_of_another_api_is_a_clear_error() {
    let err = extract(&Provider::Gemini, &fixture("openai_chat.json")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Gemini generateContent response"),
        "{err}"
    );
    let err = extract(&Provider::Anthropic, &fixture("openai_chat_stream.sse")).unwrap_err();
    assert!(
        matches!(err, aicm::llm::LlmError::InvalidJson { .. }),
        "{err:?}"
    );
}

// ---- streams -------------------------------------------------------------------------------

/// Feeds `bytes` in the given pieces and returns the stream's record.
fn stream_record(provider: &Provider, pieces: &[&[u8]]) -> Option<LlmRecord> {
    let mut stream = StreamAccumulator::new(provider.clone());
    for piece in pieces {
        stream.feed(piece);
    }
    stream.finish().unwrap()
}

/// The same record whole, byte by byte and in 50 pseudo-random splits.
fn stream_record_every_way(provider: &Provider, name: &str) -> Option<LlmRecord> {
    let bytes = fixture(name);
    let whole = stream_record(provider, &[&bytes]);
    let single: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(
        stream_record(provider, &single),
        whole,
        "{name} byte by byte"
    );
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for round in 0..50 {
        let mut pieces = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let len = 1 + (seed >> 33) as usize % 97;
            let (piece, tail) = rest.split_at(len.min(rest.len()));
            pieces.push(piece);
            rest = tail;
        }
        assert_eq!(
            stream_record(provider, &pieces),
            whole,
            "{name} split round {round}"
        );
    }
    whole
}

#[test]
fn openai_chat_stream_final_usage_chunk() {
    let record = stream_record_every_way(&Provider::OpenAiChat, "openai_chat_stream.sse").unwrap();
    assert!(!record.incomplete);
    let stored = round_trip(record);
    check(
        &stored,
        "openai::gpt-5-mini-2025-08-07",
        "chatcmpl-CKgCs9XyZ1wVu2tS3rQ4pO5nM",
        CHAT_USAGE(),
    );
    assert_eq!(context(&stored), json!({"feature": "support-bot"}));
}

#[test]
fn openai_chat_stream_without_include_usage_is_no_record() {
    assert_eq!(
        stream_record_every_way(&Provider::OpenAiChat, "openai_chat_stream_no_usage.sse"),
        None
    );
}

#[test]
fn openai_responses_stream_completed_event() {
    let record =
        stream_record_every_way(&Provider::OpenAiResponses, "openai_responses_stream.sse").unwrap();
    assert!(!record.incomplete);
    check(
        &round_trip(record),
        "openai::gpt-5-2025-08-07",
        "resp_68da20a1b2c381a1a5e7f9b1d3f5a7c9e1b3d5f7a9c1e3f5",
        json!({
            "input_tokens": 2310, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 517, "output_tokens_details": {"reasoning_tokens": 448},
            "total_tokens": 2827
        }),
    );
}

#[test]
fn anthropic_stream_message_start_merged_with_cumulative_message_delta() {
    let record =
        stream_record_every_way(&Provider::Anthropic, "anthropic_messages_stream.sse").unwrap();
    assert!(!record.incomplete);
    check(
        &round_trip(record),
        "anthropic::claude-sonnet-4-5-20250929",
        "msg_01ATpLGw3WBRRiDh5k7vj9jv",
        json!({
            "input_tokens": 472, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 1860,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 89, "service_tier": "standard"
        }),
    );
}

#[test]
fn gemini_stream_last_usage_metadata() {
    let record = stream_record_every_way(&Provider::Gemini, "gemini_stream.sse").unwrap();
    assert!(!record.incomplete);
    check(
        &round_trip(record),
        "google::gemini-2.5-flash",
        "kVjaaL3mGMnU-8YPqdCb6Qw",
        json!({
            "promptTokenCount": 11, "candidatesTokenCount": 7, "totalTokenCount": 345,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 11}],
            "thoughtsTokenCount": 327
        }),
    );
}

#[test]
fn a_stream_stopped_early_gives_what_it_saw_marked_incomplete() {
    let bytes = fixture("anthropic_messages_stream.sse");
    let text = std::str::from_utf8(&bytes).unwrap();
    let cut = text.find("event: content_block_stop").unwrap();
    let mut stream = StreamAccumulator::new(Provider::Anthropic);
    stream.feed(&bytes[..cut]);
    assert!(!stream.is_ended());
    let record = stream.finish_incomplete().unwrap().unwrap();
    assert!(record.incomplete);
    let stored = round_trip(record);
    check(
        &stored,
        "anthropic::claude-sonnet-4-5-20250929",
        "msg_01ATpLGw3WBRRiDh5k7vj9jv",
        json!({
            "input_tokens": 472, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 1860,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 2, "service_tier": "standard"
        }),
    );
    assert_eq!(
        context(&stored),
        json!({"feature": "support-bot", "stream": "incomplete"})
    );

    // Broken before the final usage chunk: nothing to record.
    let bytes = fixture("openai_chat_stream.sse");
    let text = std::str::from_utf8(&bytes).unwrap();
    let cut = text.find("\"choices\":[],\"usage\"").unwrap();
    let mut stream = StreamAccumulator::new(Provider::OpenAiChat);
    stream.feed(&bytes[..cut]);
    assert_eq!(stream.finish_incomplete().unwrap(), None);

    // Ended without the provider's last event: the record says so.
    let bytes = fixture("openai_chat_stream.sse");
    let cut = text.find("data: [DONE]").unwrap();
    let record = stream_record(&Provider::OpenAiChat, &[&bytes[..cut]]).unwrap();
    assert!(record.incomplete);
}

// ---- reqwest-middleware --------------------------------------------------------------------

/// (path, fixture, service key, response id) of every answer the middleware should track.
const THROUGH_THE_MIDDLEWARE: [(&str, &str, &str, &str); 9] = [
    (
        "/v1/chat/completions",
        "openai_chat.json",
        "openai::gpt-5-mini-2025-08-07",
        "chatcmpl-CKgAeOmDlm3yJ4v0kQ2XbRf8sNpTz",
    ),
    (
        "/v1/chat/completions",
        "openai_chat_audio.json",
        "openai::gpt-4o-audio-preview-2025-06-03",
        "chatcmpl-CKgB1a2b3c4d5e6f7g8h9i0jKLMNO",
    ),
    (
        "/v1/chat/completions",
        "openai_chat_stream.sse",
        "openai::gpt-5-mini-2025-08-07",
        "chatcmpl-CKgCs9XyZ1wVu2tS3rQ4pO5nM",
    ),
    (
        "/v1/responses",
        "openai_responses.json",
        "openai::gpt-5-2025-08-07",
        "resp_68da1f0c2a7c81a19e1b0e6c5b9a4d3e0f1a2b3c4d5e6f70",
    ),
    (
        "/v1/responses",
        "openai_responses_stream.sse",
        "openai::gpt-5-2025-08-07",
        "resp_68da20a1b2c381a1a5e7f9b1d3f5a7c9e1b3d5f7a9c1e3f5",
    ),
    (
        "/v1/messages",
        "anthropic_messages.json",
        "anthropic::claude-sonnet-4-5-20250929",
        "msg_01XFDUDYJgAACzvnptvVoYEL",
    ),
    (
        "/v1/messages",
        "anthropic_messages_stream.sse",
        "anthropic::claude-sonnet-4-5-20250929",
        "msg_01ATpLGw3WBRRiDh5k7vj9jv",
    ),
    (
        "/v1beta/models/gemini-2.5-flash:generateContent",
        "gemini_generate_content.json",
        "google::gemini-2.5-flash",
        "tVbaaPrTAovp-8YP5vLx0Q0",
    ),
    (
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        "gemini_stream.sse",
        "google::gemini-2.5-flash",
        "kVjaaL3mGMnU-8YPqdCb6Qw",
    ),
];

async fn async_tracker(api: &LocalApiThread) -> aicm::Tracker {
    aicm::Tracker::track_api()
        .api_key(api.api_key())
        .api_base(api.api_base())
        .ini_path(support::temp_ini())
        .build_async()
        .await
        .unwrap()
}

fn client(middleware: aicm::llm::LlmMiddleware) -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(middleware)
        .build()
}

fn find<'a>(records: &'a [StoredRecord], response_id: &str) -> &'a StoredRecord {
    records
        .iter()
        .find(|r| r.response_id == response_id)
        .unwrap_or_else(|| panic!("no record {response_id} in {records:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn middleware_passes_every_answer_through_unchanged_and_tracks_it() {
    let fake = aicm_tests::FakeLlm::start().await.unwrap();
    let api = server();
    let tracker = async_tracker(&api).await;
    let middleware = aicm::llm::LlmMiddleware::new(tracker.clone()).vendor("openai");
    let client = client(middleware.clone());

    for (i, (path, name, _, _)) in THROUGH_THE_MIDDLEWARE.iter().enumerate() {
        let response = client
            .post(format!("{}{path}", fake.base_url()))
            .header("x-fixture", *name)
            .body("{}")
            .with_extension(
                TrackOptions::new()
                    .customer_key(format!("customer-{i}"))
                    .context(json!({"fixture": name})),
            )
            .send()
            .await
            .unwrap();
        assert!(response.url().path().ends_with(path), "{}", response.url());
        let bytes = response.bytes().await.unwrap();
        assert_eq!(&bytes[..], aicm_tests::llm_fixture(name).unwrap(), "{name}");
    }
    // Not a covered API, and an error answer: passed through, not records.
    let models = client
        .get(format!("{}/v1/models", fake.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 404);
    let error = client
        .post(format!("{}/v1/chat/completions", fake.base_url()))
        .header("x-fixture", "openai_error.json")
        .send()
        .await
        .unwrap();
    assert_eq!(error.status(), 429);
    assert_eq!(
        &error.bytes().await.unwrap()[..],
        aicm_tests::llm_fixture("openai_error.json").unwrap()
    );

    tracker.close_async().await.unwrap();
    let stats = middleware.stats();
    assert_eq!(
        stats.tracked,
        THROUGH_THE_MIDDLEWARE.len() as u64,
        "{stats:?}"
    );
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert_eq!(stats.incomplete, 0, "{stats:?}");
    let records = api.records();
    assert_eq!(records.len(), THROUGH_THE_MIDDLEWARE.len(), "{records:?}");
    for (i, (_, name, service_key, response_id)) in THROUGH_THE_MIDDLEWARE.iter().enumerate() {
        let stored = find(&records, response_id);
        assert_eq!(stored.service_id, *service_key, "{name}");
        assert_eq!(
            stored.client_customer_key.as_deref(),
            Some(format!("customer-{i}").as_str())
        );
        assert_eq!(context(stored), json!({"fixture": name}));
        // The payload is exactly what extraction alone gives.
        let provider = if name.starts_with("anthropic") {
            Provider::Anthropic
        } else if name.starts_with("gemini") {
            Provider::Gemini
        } else if name.starts_with("openai_responses") {
            Provider::OpenAiResponses
        } else {
            Provider::OpenAiChat
        };
        let bytes = aicm_tests::llm_fixture(name).unwrap();
        let expected = if name.ends_with(".sse") {
            stream_record(&provider, &[bytes]).unwrap()
        } else {
            extract(&provider, bytes).unwrap().unwrap()
        };
        assert_eq!(stored.usage, expected.payload, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn middleware_hands_stream_bytes_over_as_they_arrive() {
    let fake = aicm_tests::FakeLlm::start().await.unwrap();
    let api = server();
    let tracker = async_tracker(&api).await;
    let middleware = aicm::llm::LlmMiddleware::new(tracker.clone()).vendor("openai");
    let client = client(middleware.clone());
    let mut response = client
        .post(format!("{}/v1/chat/completions", fake.base_url()))
        .header("x-fixture", "openai_chat_stream.sse")
        .header("x-fixture-hold", "1")
        .send()
        .await
        .unwrap();
    // The server holds back the second half until released: the first bytes must reach us
    // before then, or the middleware is buffering the stream.
    let first = tokio::time::timeout(support::DEADLINE, response.chunk())
        .await
        .expect("first bytes arrive while the rest is held back")
        .unwrap()
        .unwrap();
    let mut bytes = first.to_vec();
    fake.release();
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes.extend_from_slice(&chunk);
    }
    assert_eq!(
        bytes,
        aicm_tests::llm_fixture("openai_chat_stream.sse").unwrap()
    );
    tracker.close_async().await.unwrap();
    assert_eq!(middleware.stats().tracked, 1);
    let records = api.records();
    check(
        find(&records, "chatcmpl-CKgCs9XyZ1wVu2tS3rQ4pO5nM"),
        "openai::gpt-5-mini-2025-08-07",
        "chatcmpl-CKgCs9XyZ1wVu2tS3rQ4pO5nM",
        CHAT_USAGE(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn middleware_survives_broken_and_dropped_streams_and_records_each_once() {
    let fake = aicm_tests::FakeLlm::start().await.unwrap();
    let api = server();
    let tracker = async_tracker(&api).await;
    let middleware = aicm::llm::LlmMiddleware::new(tracker.clone());
    let client = client(middleware.clone());
    let sse = aicm_tests::llm_fixture("anthropic_messages_stream.sse").unwrap();
    let text = std::str::from_utf8(sse).unwrap();
    let break_at = text.find("event: content_block_delta").unwrap();

    // The connection breaks mid-stream: the caller sees the error, bytes before it unchanged.
    let mut response = client
        .post(format!("{}/v1/messages", fake.base_url()))
        .header("x-fixture", "anthropic_messages_stream.sse")
        .header("x-fixture-break-at", break_at.to_string())
        .header("x-fixture-hold", "1")
        .with_extension(TrackOptions::new().customer_key("broken"))
        .send()
        .await
        .unwrap();
    // Everything before the break is read before the server is let break the connection.
    let mut bytes = Vec::new();
    while bytes.len() < break_at {
        bytes.extend_from_slice(&response.chunk().await.unwrap().unwrap());
    }
    fake.release();
    let failure = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => break None,
            Err(error) => break Some(error),
        }
    };
    assert!(
        failure.is_some(),
        "the broken stream is an error to its reader"
    );
    assert_eq!(bytes, &sse[..break_at]);
    drop(response);

    // The caller stops reading early (after Gemini's first chunk) and drops the answer.
    let mut response = client
        .post(format!(
            "{}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            fake.base_url()
        ))
        .header("x-fixture", "gemini_stream.sse")
        .header("x-fixture-hold", "1")
        .with_extension(TrackOptions::new().customer_key("dropped"))
        .send()
        .await
        .unwrap();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("\n\n") {
        seen.extend_from_slice(&response.chunk().await.unwrap().unwrap());
    }
    drop(response);

    // A JSON answer broken before its end: nothing to read, counted, no error to anyone.
    let response = client
        .post(format!("{}/v1/messages", fake.base_url()))
        .header("x-fixture", "anthropic_messages.json")
        .header("x-fixture-break-at", "400")
        .header("x-fixture-hold", "1")
        .send()
        .await
        .unwrap();
    let mut response = response;
    let mut read = 0;
    while read < 400 {
        read += response.chunk().await.unwrap().unwrap().len();
    }
    fake.release();
    assert!(response.chunk().await.is_err());
    drop(response);

    tracker.close_async().await.unwrap();
    let stats = middleware.stats();
    assert_eq!(stats.tracked, 2, "{stats:?}");
    assert_eq!(stats.incomplete, 2, "{stats:?}");
    assert_eq!(stats.abandoned, 1, "{stats:?}");
    assert_eq!(stats.failed, 0, "{stats:?}");
    let records = api.records();
    assert_eq!(records.len(), 2, "one record per stream: {records:?}");
    let broken = find(&records, "msg_01ATpLGw3WBRRiDh5k7vj9jv");
    assert_eq!(broken.client_customer_key.as_deref(), Some("broken"));
    assert_eq!(broken.service_id, "anthropic::claude-sonnet-4-5-20250929");
    assert_eq!(broken.usage["input_tokens"], 472);
    assert_eq!(broken.usage["output_tokens"], 2);
    assert_eq!(context(broken), json!({"stream": "incomplete"}));
    let dropped = find(&records, "kVjaaL3mGMnU-8YPqdCb6Qw");
    assert_eq!(dropped.client_customer_key.as_deref(), Some("dropped"));
    assert_eq!(dropped.service_id, "google::gemini-2.5-flash");
    assert_eq!(
        Value::Object(dropped.usage.clone()),
        json!({"promptTokenCount": 11, "totalTokenCount": 11,
               "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 11}]})
    );
    assert_eq!(context(dropped), json!({"stream": "incomplete"}));
}

#[test]
fn a_provider_id_the_service_would_refuse_is_replaced_not_fatal() {
    let long = "x".repeat(200);
    let payload = json!({"prompt_tokens": 1, "cached": null})
        .as_object()
        .cloned()
        .unwrap();
    let record = LlmRecord::new("openai::gpt-5-mini-2025-08-07", Some(long.clone()), payload);
    let stored = round_trip(record);
    assert_ne!(stored.response_id, long);
    assert_eq!(stored.service_id, "openai::gpt-5-mini-2025-08-07");
    assert_eq!(
        Value::Object(stored.usage.clone()),
        json!({"prompt_tokens": 1})
    );
}

#[test]
fn an_error_event_mid_stream_gives_the_usage_seen_marked_incomplete() {
    let record =
        stream_record_every_way(&Provider::Anthropic, "anthropic_stream_error.sse").unwrap();
    assert!(record.incomplete);
    let stored = round_trip(record);
    check(
        &stored,
        "anthropic::claude-sonnet-4-5-20250929",
        "msg_01Hk4GqXzQ8mVbN2rT5yWc3D",
        json!({
            "input_tokens": 1210, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0, "output_tokens": 1, "service_tier": "standard"
        }),
    );
    assert_eq!(
        context(&stored),
        json!({"feature": "support-bot", "stream": "incomplete"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn middleware_takes_options_from_the_task_when_the_request_has_none() {
    let fake = aicm_tests::FakeLlm::start().await.unwrap();
    let api = server();
    let tracker = async_tracker(&api).await;
    let middleware = aicm::llm::LlmMiddleware::new(tracker.clone());
    let client = client(middleware.clone());
    let url = format!("{}/v1/messages", fake.base_url());
    let scoped = aicm::llm::with_track_options(
        TrackOptions::new()
            .customer_key("from-task")
            .context(json!({"team": "search"})),
        async {
            // One request with its own options (they win), one without.
            client
                .post(&url)
                .header("x-fixture", "anthropic_messages.json")
                .with_extension(TrackOptions::new().customer_key("from-request"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            client
                .post(&url)
                .header("x-fixture", "anthropic_messages_stream.sse")
                .send()
                .await
                .unwrap()
                .bytes()
                .await
        },
    )
    .await;
    scoped.unwrap();
    tracker.close_async().await.unwrap();
    let records = api.records();
    let own = find(&records, "msg_01XFDUDYJgAACzvnptvVoYEL");
    assert_eq!(own.client_customer_key.as_deref(), Some("from-request"));
    assert_eq!(own.context, None);
    let task = find(&records, "msg_01ATpLGw3WBRRiDh5k7vj9jv");
    assert_eq!(task.client_customer_key.as_deref(), Some("from-task"));
    assert_eq!(context(task), json!({"team": "search"}));
}
