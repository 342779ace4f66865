//! HTTP routes: the API under [`API_PATH`] (bearer auth) and the control endpoints at the root
//! (no auth, for tests and tools in any language).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::{
    AUTHORIZATION, CONTENT_TYPE, ETAG, IF_NONE_MATCH, RETRY_AFTER, USER_AGENT,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::{Map, Value, json};

use crate::config::{ConfigEntry, TriggeredLimit};
use crate::faults::{Action, FaultsUpdate};
use crate::record_check::{CheckContext, check_records};
use crate::state::{Shared, Stats, StoredRecord, UpdateError};

/// Where the API routes live: the SDK's default `api_url`.
pub const API_PATH: &str = "/api/v1";

/// The largest request body accepted (large batches in throughput tests).
const BODY_LIMIT: usize = 64 << 20;

/// Marks a response that must not be sent: the connection is closed instead.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropConnection;

type App = Arc<Shared>;

/// The complete router.
pub(crate) fn router(app: App) -> Router {
    let api = Router::new()
        .route("/configs", get(get_configs))
        .route("/triggered-limits", get(get_triggered_limits))
        .route("/track-usage", post(track_usage))
        .fallback(api_not_found);
    Router::new()
        .nest(API_PATH, api)
        .route("/__stats", get(control_stats))
        .route("/__records", get(control_records))
        .route("/__reset", post(control_reset))
        .route("/__faults", get(control_faults).post(control_set_faults))
        .route(
            "/__triggered_limits",
            get(control_limits).post(control_set_limits),
        )
        .route("/__configs", get(control_configs).post(control_set_configs))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app)
}

/// The `{"error", "message", "details"?, "timestamp"}` body of every error answer.
fn error_response(
    status: StatusCode,
    error: &str,
    message: impl Into<String>,
    details: Option<Value>,
) -> Response {
    let mut body = json!({
        "error": error,
        "message": message.into(),
        "timestamp": now_rfc3339(),
    });
    if let Some(details) = details {
        body["details"] = details;
    }
    json_response(status, &body)
}

fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot serialize a response");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Counts an API request, remembers its user agent, and checks its key.
// The error is the answer itself, built at most once per request.
#[allow(clippy::result_large_err)]
fn admit(app: &App, headers: &HeaderMap, count: impl FnOnce(&mut Stats)) -> Result<(), Response> {
    let user_agent = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let presented = headers.get(AUTHORIZATION).map(|v| {
        v.to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default()
            .to_owned()
    });
    let mut state = app.lock();
    let authorized = presented.as_deref() == Some(state.configs.api_key.as_str());
    let stats = &mut state.stats;
    stats.requests += 1;
    count(stats);
    stats.last_user_agent = user_agent;
    stats.last_authorized = Some(authorized);
    if authorized {
        return Ok(());
    }
    stats.unauthorized += 1;
    stats.rejected_requests += 1;
    drop(state);
    // Never echo the presented key.
    let message = match presented {
        None => "missing Authorization header: send `Authorization: Bearer <api key>`",
        Some(_) => "invalid API key",
    };
    Err(error_response(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        message,
        None,
    ))
}

async fn get_configs(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Err(response) = admit(&app, &headers, |s| s.config_requests += 1) {
        return response;
    }
    let rendered = Arc::clone(&app.read().rendered);
    let etag = HeaderValue::from_str(&rendered.etag);
    let Ok(etag) = etag else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let cached = headers.get(IF_NONE_MATCH).map(HeaderValue::as_bytes);
    if cached == Some(rendered.etag.as_bytes()) {
        app.lock().stats.not_modified += 1;
        return (StatusCode::NOT_MODIFIED, [(ETAG, etag)]).into_response();
    }
    (
        StatusCode::OK,
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (ETAG, etag),
        ],
        rendered.configs_body.clone(),
    )
        .into_response()
}

async fn get_triggered_limits(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Err(response) = admit(&app, &headers, |s| s.triggered_limits_requests += 1) {
        return response;
    }
    let body = app.read().rendered.limits_body.clone();
    (StatusCode::OK, [(CONTENT_TYPE, "application/json")], body).into_response()
}

async fn api_not_found(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Err(response) = admit(&app, &headers, |_| {}) {
        return response;
    }
    not_found().await
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found", "no such endpoint", None)
}

async fn track_usage(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(response) = admit(&app, &headers, |s| s.track_requests += 1) {
        return response;
    }
    let mut stall = app.stall_receiver();
    // The sender lives in `app`, so this only returns once the stall is lifted.
    let _ = stall.wait_for(|stalled| !*stalled).await;

    let (action, delay_ms) = {
        let mut state = app.lock();
        let action = state.faults.take_action();
        if action != Action::Proceed {
            state.stats.faults_injected += 1;
        }
        if matches!(action, Action::Drop | Action::DropAfterStore) {
            state.stats.dropped_connections += 1;
        }
        (action, state.faults.delay_ms)
    };
    let response = match action {
        Action::Drop => dropped(),
        Action::RateLimit { retry_after } => {
            let mut response = error_response(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests; retry after {retry_after} s (fault injection)"),
                None,
            );
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry_after));
            response
        }
        Action::Fail { status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error_response(
                status,
                "injected_failure",
                format!("injected failure {} (fault injection)", status.as_u16()),
                None,
            )
        }
        Action::Proceed => process(&app, &body),
        Action::DropAfterStore => {
            let _ = process(&app, &body);
            dropped()
        }
    };
    if delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    if action != Action::Proceed {
        tracing::debug!(?action, "track-usage fault injected");
    }
    response
}

fn dropped() -> Response {
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response.extensions_mut().insert(DropConnection);
    response
}

/// Parses, checks and stores one track-usage body.
fn process(app: &App, body: &[u8]) -> Response {
    let parsed: Value = match serde_json::from_slice(body) {
        Ok(parsed) => parsed,
        Err(error) => {
            app.lock().stats.rejected_requests += 1;
            return error_response(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("request body is not JSON: {error}"),
                None,
            );
        }
    };
    let records = match top_level(parsed) {
        Ok(records) => records,
        Err((field, message)) => {
            app.lock().stats.rejected_requests += 1;
            return error_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error",
                format!("{field}: {message}"),
                Some(json!([{"field": field, "message": message}])),
            );
        }
    };
    let (schemas, poison_key) = {
        let state = app.read();
        (Arc::clone(&state.schemas), state.faults.poison_key.clone())
    };
    let bad = check_records(
        &records,
        &CheckContext {
            schemas: &schemas,
            poison_key: poison_key.as_deref(),
        },
    );
    if !bad.is_empty() {
        {
            let mut state = app.lock();
            state.stats.records_received += records.len() as u64;
            state.stats.rejected_records += bad.len() as u64;
            state.stats.rejected_requests += 1;
        }
        let message = format!(
            "{} of {} usage records are invalid; nothing was stored",
            bad.len(),
            records.len()
        );
        let details = serde_json::to_value(&bad).unwrap_or(Value::Null);
        return error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            message,
            Some(details),
        );
    }
    let event_ids = store(app, records);
    let limits = app.read().rendered.limits_item.clone();
    json_response(
        StatusCode::OK,
        &TrackResponse {
            event_ids: EventIds(&event_ids),
            triggered_limits: &limits,
        },
    )
}

/// The records of `{"usage_records": [...]}`, or the field and message of what is wrong.
fn top_level(body: Value) -> Result<Vec<Value>, (String, String)> {
    let Value::Object(mut object) = body else {
        return Err((
            "body".to_owned(),
            "expected an object with `usage_records`".to_owned(),
        ));
    };
    if let Some(unknown) = object.keys().find(|k| *k != "usage_records") {
        return Err((unknown.clone(), "unknown key".to_owned()));
    }
    match object.remove("usage_records") {
        Some(Value::Array(records)) => Ok(records),
        Some(_) => Err(("usage_records".to_owned(), "expected an array".to_owned())),
        None => Err((
            "usage_records".to_owned(),
            "required key is missing".to_owned(),
        )),
    }
}

/// Stores checked records; a known `response_id` is a duplicate answered with its event id.
fn store(app: &App, records: Vec<Value>) -> Vec<(String, String)> {
    let count_only = app.count_only;
    let mut state = app.lock();
    state.stats.records_received += records.len() as u64;
    state.stats.accepted_requests += 1;
    let mut event_ids = Vec::with_capacity(records.len());
    for record in records {
        let Value::Object(mut object) = record else {
            continue; // checked: every record is an object
        };
        let response_id = take_string(&mut object, "response_id").unwrap_or_default();
        if count_only {
            state.stats.records_stored += 1;
            event_ids.push((response_id, uuid::Uuid::new_v4().to_string()));
            continue;
        }
        if let Some(event_id) = state.event_ids.get(&response_id) {
            let event_id = event_id.clone();
            state.stats.duplicates += 1;
            event_ids.push((response_id, event_id));
            continue;
        }
        let event_id = uuid::Uuid::new_v4().to_string();
        let stored = StoredRecord {
            event_id: event_id.clone(),
            config_id: take_string(&mut object, "config_id").unwrap_or_default(),
            service_id: take_string(&mut object, "service_id").unwrap_or_default(),
            timestamp: take_string(&mut object, "timestamp").unwrap_or_default(),
            response_id: response_id.clone(),
            usage: take_object(&mut object, "usage").unwrap_or_default(),
            client_customer_key: take_string(&mut object, "client_customer_key"),
            context: take_object(&mut object, "context"),
            base_url: take_string(&mut object, "base_url"),
        };
        state.records.push(stored);
        state
            .event_ids
            .insert(response_id.clone(), event_id.clone());
        state.stats.records_stored += 1;
        event_ids.push((response_id, event_id));
    }
    event_ids
}

fn take_string(object: &mut Map<String, Value>, key: &str) -> Option<String> {
    match object.remove(key) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

fn take_object(object: &mut Map<String, Value>, key: &str) -> Option<Map<String, Value>> {
    match object.remove(key) {
        Some(Value::Object(map)) => Some(map),
        _ => None,
    }
}

#[derive(Serialize)]
struct TrackResponse<'a> {
    event_ids: EventIds<'a>,
    triggered_limits: &'a Value,
}

/// `[{"<response_id>": "<event id>"}, ...]`
struct EventIds<'a>(&'a [(String, String)]);

impl Serialize for EventIds<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|(rid, eid)| OneEntry(rid, eid)))
    }
}

struct OneEntry<'a>(&'a str, &'a str);

impl Serialize for OneEntry<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.0, self.1)?;
        map.end()
    }
}

// ---- control endpoints ----

async fn control_stats(State(app): State<App>) -> Response {
    let stats = app.read().stats.clone();
    json_response(StatusCode::OK, &stats)
}

async fn control_records(State(app): State<App>) -> Response {
    let records = app.read().records.clone();
    json_response(
        StatusCode::OK,
        &json!({"count": records.len(), "records": records}),
    )
}

async fn control_reset(State(app): State<App>) -> Response {
    match app.reset() {
        Ok(()) => json_response(StatusCode::OK, &json!({"ok": true})),
        Err(error) => internal(&error),
    }
}

async fn control_faults(State(app): State<App>) -> Response {
    let faults = app.read().faults.clone();
    json_response(StatusCode::OK, &faults)
}

async fn control_set_faults(State(app): State<App>, body: Bytes) -> Response {
    let update: FaultsUpdate = match parse_control_body(&body) {
        Ok(update) => update,
        Err(response) => return response,
    };
    match app.update_faults(update) {
        Ok(faults) => json_response(StatusCode::OK, &faults),
        Err(UpdateError::Invalid(message)) => {
            error_response(StatusCode::BAD_REQUEST, "invalid_fault", message, None)
        }
        Err(UpdateError::Render(error)) => internal(&error),
    }
}

async fn control_limits(State(app): State<App>) -> Response {
    let limits = app.read().limits.clone();
    json_response(StatusCode::OK, &json!({ "triggered_limits": limits }))
}

/// Body: a list of limits, or `{"triggered_limits": [...]}`.
async fn control_set_limits(State(app): State<App>, body: Bytes) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Body {
        Bare(Vec<TriggeredLimit>),
        Wrapped {
            triggered_limits: Vec<TriggeredLimit>,
        },
    }
    let limits = match parse_control_body(&body) {
        Ok(
            Body::Bare(limits)
            | Body::Wrapped {
                triggered_limits: limits,
            },
        ) => limits,
        Err(response) => return response,
    };
    match app.set_limits(limits.clone()) {
        Ok(()) => json_response(StatusCode::OK, &json!({ "triggered_limits": limits })),
        Err(error) => internal(&error),
    }
}

async fn control_configs(State(app): State<App>) -> Response {
    let configs = app.read().configs.configs.clone();
    json_response(StatusCode::OK, &json!({ "configs": configs }))
}

/// Body: `{"configs": [...], "api_key"?: "..."}`; replaces every config (and the key if given).
async fn control_set_configs(State(app): State<App>, body: Bytes) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        configs: Vec<ConfigEntry>,
        #[serde(default)]
        api_key: Option<String>,
    }
    let update: Body = match parse_control_body(&body) {
        Ok(update) => update,
        Err(response) => return response,
    };
    let result = app.edit_configs(|file| {
        file.configs = update.configs;
        if let Some(key) = update.api_key {
            file.api_key = key;
        }
    });
    match result {
        Ok(()) => {
            let etag = app.read().rendered.etag.clone();
            json_response(StatusCode::OK, &json!({ "ok": true, "etag": etag }))
        }
        Err(error) => error_response(
            StatusCode::BAD_REQUEST,
            "invalid_configs",
            error.to_string(),
            None,
        ),
    }
}

#[allow(clippy::result_large_err)]
fn parse_control_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|error| {
        error_response(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            error.to_string(),
            None,
        )
    })
}

fn internal(error: &crate::LocalApiError) -> Response {
    tracing::error!(%error, "control endpoint failed");
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        error.to_string(),
        None,
    )
}
