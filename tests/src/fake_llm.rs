//! A tiny fake LLM provider on loopback that answers with the committed fixtures of
//! `fixtures/llm/`: for the `aicm::llm` middleware tests and the runnable example, so that
//! nothing needs an account or the internet.
//!
//! The answer is chosen by the request: header `x-fixture: <file name>` when given, else by
//! path and `"stream": true` in the JSON body (`…/chat/completions` → `openai_chat.json` or
//! `openai_chat_stream.sse`, `…/responses`, `…/v1/messages`, `…:generateContent`,
//! `…:streamGenerateContent`). `.sse` files are sent as `text/event-stream`, `.json` as
//! `application/json`, both in small chunks. Header `x-fixture-break-at: N` breaks the
//! connection after N bytes; `x-fixture-hold: 1` sends the first half (with a break: all
//! bytes before it) and waits for [`FakeLlm::release`] before the rest (or the break).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use tokio::sync::watch;

/// Every fixture, by file name.
pub const LLM_FIXTURES: &[(&str, &[u8])] = &[
    (
        "openai_chat.json",
        include_bytes!("../fixtures/llm/openai_chat.json"),
    ),
    (
        "openai_chat_audio.json",
        include_bytes!("../fixtures/llm/openai_chat_audio.json"),
    ),
    (
        "openai_chat_stream.sse",
        include_bytes!("../fixtures/llm/openai_chat_stream.sse"),
    ),
    (
        "openai_chat_stream_no_usage.sse",
        include_bytes!("../fixtures/llm/openai_chat_stream_no_usage.sse"),
    ),
    (
        "openai_error.json",
        include_bytes!("../fixtures/llm/openai_error.json"),
    ),
    (
        "openai_responses.json",
        include_bytes!("../fixtures/llm/openai_responses.json"),
    ),
    (
        "openai_responses_stream.sse",
        include_bytes!("../fixtures/llm/openai_responses_stream.sse"),
    ),
    (
        "anthropic_messages.json",
        include_bytes!("../fixtures/llm/anthropic_messages.json"),
    ),
    (
        "anthropic_messages_stream.sse",
        include_bytes!("../fixtures/llm/anthropic_messages_stream.sse"),
    ),
    (
        "anthropic_error.json",
        include_bytes!("../fixtures/llm/anthropic_error.json"),
    ),
    (
        "gemini_generate_content.json",
        include_bytes!("../fixtures/llm/gemini_generate_content.json"),
    ),
    (
        "gemini_stream.sse",
        include_bytes!("../fixtures/llm/gemini_stream.sse"),
    ),
    (
        "gemini_error.json",
        include_bytes!("../fixtures/llm/gemini_error.json"),
    ),
    (
        "groq_chat.json",
        include_bytes!("../fixtures/llm/groq_chat.json"),
    ),
];

/// The fixture named `name` (a file of `fixtures/llm/`).
pub fn llm_fixture(name: &str) -> Option<&'static [u8]> {
    LLM_FIXTURES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
}

/// The fake provider, served on the current tokio runtime until dropped.
#[derive(Debug)]
pub struct FakeLlm {
    addr: SocketAddr,
    /// How many times `release` was called: a held answer waits until it has grown past
    /// what it was when the request came in.
    releases: Arc<watch::Sender<u64>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeLlm {
    /// Binds a loopback port and serves on the current tokio runtime.
    pub async fn start() -> std::io::Result<FakeLlm> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let releases = Arc::new(watch::Sender::new(0u64));
        let held = releases.clone();
        let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            // Subscribed when the request arrives: a release from then on frees it, even one
            // that comes before the answer starts waiting.
            let released = held.subscribe();
            async move { answer(&uri, &headers, &body, released) }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeLlm {
            addr,
            releases,
            task,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Lets every answer held so far (`x-fixture-hold: 1`) send its second half. Counting
    /// releases rather than waking one waiter means a release is never lost (the answer may
    /// not wait yet) and never spent on an answer whose reader has gone.
    pub fn release(&self) {
        self.releases.send_modify(|n| *n += 1);
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn answer(
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    mut released: watch::Receiver<u64>,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let streaming = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("stream").and_then(serde_json::Value::as_bool))
        .unwrap_or(false);
    let path = uri.path();
    let name = match header("x-fixture") {
        Some(name) => name.to_owned(),
        None if path.ends_with("/chat/completions") && streaming => "openai_chat_stream.sse".into(),
        None if path.ends_with("/chat/completions") => "openai_chat.json".into(),
        None if path.ends_with("/responses") && streaming => "openai_responses_stream.sse".into(),
        None if path.ends_with("/responses") => "openai_responses.json".into(),
        None if path.ends_with("/v1/messages") && streaming => {
            "anthropic_messages_stream.sse".into()
        }
        None if path.ends_with("/v1/messages") => "anthropic_messages.json".into(),
        None if path.ends_with(":streamGenerateContent") => "gemini_stream.sse".into(),
        None if path.ends_with(":generateContent") => "gemini_generate_content.json".into(),
        None => return (StatusCode::NOT_FOUND, "no such fixture route").into_response(),
    };
    let Some(bytes) = llm_fixture(&name) else {
        return (StatusCode::NOT_FOUND, format!("no fixture {name}")).into_response();
    };
    let status = if name.ends_with("_error.json") {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        StatusCode::OK
    };
    let content_type = if name.ends_with(".sse") {
        "text/event-stream"
    } else {
        "application/json"
    };
    let break_at = header("x-fixture-break-at").and_then(|v| v.parse::<usize>().ok());
    let held = header("x-fixture-hold") == Some("1");
    let sent = break_at.map_or(bytes, |at| &bytes[..at.min(bytes.len())]);
    // Held with a break: everything before the break is sent (and can be read) first, so
    // the break cannot overtake bytes still in the server's buffers.
    let half = match (held, break_at) {
        (true, None) => sent.len() / 2,
        _ => sent.len(),
    };

    // Chunks of 61 bytes (a prime, so chunk edges fall everywhere in the lines), the held
    // half released by `release`, and an I/O error at the break.
    let chunks: Vec<Bytes> = sent[..half].chunks(61).map(Bytes::from_static).collect();
    let rest: Vec<Bytes> = sent[half..].chunks(61).map(Bytes::from_static).collect();
    let first = stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
    let second = stream::once(async move {
        if held {
            // The count at the request's arrival is the one seen: a release since then
            // returns at once. A fake that stopped (the sender gone) frees it too.
            let _ = released.changed().await;
        }
        rest
    });
    use futures_util::StreamExt as _;
    let second = second.flat_map(|rest| stream::iter(rest.into_iter().map(Ok)));
    let broken = stream::iter(break_at.map(|_| Err(std::io::Error::other("connection broken"))));
    let body = Body::from_stream(first.chain(second).chain(broken));
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
