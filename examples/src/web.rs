//! The axum web app of the `axum_app` example: one [`Tracker`] created at startup and shared
//! through the router state, a typed handler, a dynamic JSON handler, a health endpoint, and a
//! graceful shutdown that closes the tracker so nothing queued is lost.
//!
//! Kept here rather than in the example so the integration test can start the same app on a
//! loopback port and shut it down on cue.

use std::future::Future;
use std::time::Instant;

use aicm::{TrackError, TrackOptions, Tracker, Usage};
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Json, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The header the typed handler reads the customer key from.
pub const CUSTOMER_HEADER: &str = "x-customer-key";

/// The config and service the app's tracker is for.
pub const CONFIG_ID: &str = "chat-completions";
/// The service of [`CONFIG_ID`] the app records usage for.
pub const SERVICE_ID: &str = "openai::gpt-4o-mini";

/// One chat completion, checked against the `chat-completions` schema at compile time.
#[derive(Debug, Clone, Serialize, Usage)]
#[usage(
    config_id = "chat-completions",
    schema = r#"{"input_tokens": "int", "output_tokens": "int", "model": "str",
                 "cached": "bool", "latency_ms": "Optional[float]"}"#
)]
pub struct ChatUsage {
    /// Tokens in the prompt.
    pub input_tokens: u32,
    /// Tokens in the reply.
    pub output_tokens: u32,
    /// The model that answered.
    pub model: String,
    /// Whether the answer came from a prompt cache.
    pub cached: bool,
    /// How long the call took.
    pub latency_ms: Option<f64>,
}

/// What the handlers share: cloning it clones a handle to the one tracker.
#[derive(Clone, Debug)]
pub struct AppState {
    tracker: Tracker,
}

/// The body of `POST /chat`.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    /// What the user asked.
    pub prompt: String,
    /// The model to ask (default `gpt-4o-mini`).
    #[serde(default)]
    pub model: Option<String>,
}

/// The answer of `POST /chat`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The (simulated) completion.
    pub reply: String,
    /// The id the usage was tracked under; `null` if tracking failed (the reply is still
    /// served: metering must not take the product down).
    pub response_id: Option<String>,
}

/// The body of `POST /track`: usage for any shape the config allows, checked at run time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackRequest {
    /// The usage object.
    pub usage: Value,
    /// Your customer the usage is for.
    #[serde(default)]
    pub client_customer_key: Option<String>,
    /// Free-form context stored with the record (a JSON object).
    #[serde(default)]
    pub context: Option<Value>,
}

/// The answer of `POST /track` (status 202: queued, delivered in the background).
#[derive(Debug, Serialize, Deserialize)]
pub struct TrackResponse {
    /// The id the server deduplicates the record on.
    pub response_id: String,
}

/// The routes, with the tracker in their state.
pub fn router(tracker: Tracker) -> Router {
    Router::new()
        .route("/chat", post(chat))
        .route("/track", post(track))
        .route("/health", get(health))
        .with_state(AppState { tracker })
}

/// Why [`serve`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The HTTP server failed.
    #[error("serving HTTP: {0}")]
    Serve(#[source] std::io::Error),
    /// Closing the tracker could not deliver everything in time.
    #[error("closing the tracker: {0}")]
    Close(#[source] aicm::Error),
}

/// Serves the app on `listener` until `shutdown` completes, then lets in-flight requests
/// finish and closes the tracker, which delivers every record still queued.
///
/// The order matters: the tracker is closed only once no handler can track any more, so a
/// request answered 202 is never lost.
pub async fn serve<F>(
    listener: tokio::net::TcpListener,
    tracker: Tracker,
    shutdown: F,
) -> Result<(), ServeError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let served = axum::serve(listener, router(tracker.clone()))
        .with_graceful_shutdown(shutdown)
        .await;
    tracing::info!("HTTP server stopped; closing the tracker (delivers what is queued)");
    // Closed even when serving failed, so what was accepted is still delivered.
    let closed = tracker.close_async().await;
    served.map_err(ServeError::Serve)?;
    closed.map_err(ServeError::Close)
}

/// Completes on ctrl-c, or on SIGTERM on Unix (what `docker stop` and Kubernetes send).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c received: shutting down"),
        () = terminate => tracing::info!("SIGTERM received: shutting down"),
    }
}

/// A typed handler: the usage is a `ChatUsage`, so its shape was checked by the compiler and
/// `track_async` only checks what the compiler cannot see (finite floats, the live schema).
async fn chat(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<ChatRequest>, JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(&rejection),
    };
    let started = Instant::now();
    let model = request.model.unwrap_or_else(|| "gpt-4o-mini".to_owned());
    let completion = simulate_llm(&request.prompt);
    let usage = ChatUsage {
        input_tokens: completion.input_tokens,
        output_tokens: completion.output_tokens,
        model,
        cached: false,
        latency_ms: Some(started.elapsed().as_secs_f64() * 1e3),
    };
    let mut options = TrackOptions::new().context(json!({"route": "/chat"}));
    if let Some(customer) = customer_key(&headers) {
        options = options.client_customer_key(customer);
    }
    let response_id = match state.tracker.track_async(usage, options).await {
        Ok(id) => Some(id.to_string()),
        Err(error) => {
            tracing::warn!(%error, "chat usage not tracked");
            None
        }
    };
    Json(ChatResponse {
        reply: completion.reply,
        response_id,
    })
    .into_response()
}

/// A dynamic handler: the usage is whatever JSON the client sent, validated against the live
/// schema by `track_async`; every problem comes back at once as a 422.
async fn track(
    State(state): State<AppState>,
    body: Result<Json<TrackRequest>, JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(&rejection),
    };
    let mut options = TrackOptions::new();
    if let Some(customer) = request.client_customer_key {
        options = options.client_customer_key(customer);
    }
    if let Some(context) = request.context {
        options = options.context(context);
    }
    match state.tracker.track_async(request.usage, options).await {
        Ok(id) => (
            StatusCode::ACCEPTED,
            Json(TrackResponse {
                response_id: id.to_string(),
            }),
        )
            .into_response(),
        Err(error) => track_error(&error),
    }
}

/// The tracker's delivery health: queue depth, totals, last error.
async fn health(State(state): State<AppState>) -> Json<aicm::DeliveryHealth> {
    Json(state.tracker.health())
}

fn customer_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CUSTOMER_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// A `track` error as an HTTP answer: the client's mistakes are 4xx, a full or closed tracker
/// is 503 (retry later), anything else 500.
fn track_error(error: &TrackError) -> Response {
    if let Some(invalid) = error.validation() {
        // `{"errors": {...}, "missing_fields": [...], "extra_fields": [...]}`
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(invalid)).into_response();
    }
    let status = match error {
        TrackError::NotAnObject { .. } | TrackError::InvalidOption { .. } => {
            StatusCode::BAD_REQUEST
        }
        TrackError::QueueFull { .. } | TrackError::Closed => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status.is_server_error() {
        tracing::warn!(%error, "usage not tracked");
    }
    error_body(status, error.to_string())
}

/// A body that is not the expected JSON: 415 without a JSON content type, else 400 (422 is
/// kept for usage that does not match the schema).
fn bad_body(rejection: &JsonRejection) -> Response {
    let status = match rejection {
        JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        _ => StatusCode::BAD_REQUEST,
    };
    error_body(status, rejection.body_text())
}

fn error_body(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// A stand-in for a model call: a reply and token counts derived from the prompt.
struct Completion {
    reply: String,
    input_tokens: u32,
    output_tokens: u32,
}

fn simulate_llm(prompt: &str) -> Completion {
    let words = prompt.split_whitespace().count();
    let reply = format!("You said {words} word(s). Here is a thoughtful answer.");
    Completion {
        input_tokens: approx_tokens(prompt),
        output_tokens: approx_tokens(&reply),
        reply,
    }
}

/// About four characters per token, at least one.
fn approx_tokens(text: &str) -> u32 {
    u32::try_from(text.chars().count().div_ceil(4))
        .unwrap_or(u32::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_estimate_rounds_up_and_is_never_zero() {
        assert_eq!(approx_tokens(""), 1);
        assert_eq!(approx_tokens("abcd"), 1);
        assert_eq!(approx_tokens("abcde"), 2);
    }

    #[test]
    fn customer_key_is_trimmed_and_empty_is_none() {
        let mut headers = HeaderMap::new();
        assert_eq!(customer_key(&headers), None);
        headers.insert(CUSTOMER_HEADER, " acme ".parse().unwrap());
        assert_eq!(customer_key(&headers).as_deref(), Some("acme"));
        headers.insert(CUSTOMER_HEADER, "  ".parse().unwrap());
        assert_eq!(customer_key(&headers), None);
    }

    #[test]
    fn validation_errors_are_422_and_closed_is_503() {
        let invalid = aicm::UsageValidationError {
            missing_fields: vec!["model".to_owned()],
            ..Default::default()
        };
        let response = track_error(&TrackError::from(invalid));
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            track_error(&TrackError::Closed).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            track_error(&TrackError::NotAnObject { found: "number" }).status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn chat_usage_matches_the_fixture_schema() {
        let fixture = aicm_tests::ConfigsFile::fixture();
        let entry = fixture
            .configs
            .iter()
            .find(|c| c.config_id == CONFIG_ID)
            .unwrap();
        let pairs = entry.manual_usage_schema.clone().unwrap();
        let live = aicm::schema::Schema::from_pairs(pairs).unwrap();
        assert_eq!(live.fingerprint(), <ChatUsage as Usage>::FINGERPRINT);
    }
}
