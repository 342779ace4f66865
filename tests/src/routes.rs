//! HTTP routes: the API under [`API_PATH`] (bearer auth) and the control endpoints at the root
//! (no auth, for tests and tools in any language).
//!
//! The API speaks two contracts, chosen by [`Protocol`]: today's `POST /track`
//! (`shared/API-TRACK.md`, errors `{"detail", "code", "errors"?}`) and the old config-based
//! `GET /configs` + `POST /track-usage` (`shared/API.md`, errors `{"error", "message",
//! "details"?, "timestamp"}`). `GET /triggered-limits` belongs to both. Both track endpoints
//! share one skeleton (auth, stall, faults, delay) and differ only in how a body is
//! processed; they share the stored records and so deduplicate `response_id` across each other.

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
use axum::routing::{any, get, post};
use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::{Map, Value, json};

use crate::config::{ConfigEntry, TriggeredLimit};
use crate::faults::{Action, FaultsUpdate};
use crate::protocol::Protocol;
use crate::record_check::{CheckContext, check_records, check_track_records};
use crate::state::{Shared, Stats, StoredRecord, UpdateError};

/// Where the API routes live: the SDK's default `api_url`.
pub const API_PATH: &str = "/api/v1";

/// The largest request body accepted (large batches in throughput tests).
const BODY_LIMIT: usize = 64 << 20;

/// The most records one `POST /track` body may hold.
pub(crate) const MAX_TRACKED: usize = 1_000;

/// Marks a response that must not be sent: the connection is closed instead.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropConnection;

type App = Arc<Shared>;

/// The complete router, with the API routes of the server's [`Protocol`].
pub(crate) fn router(app: App) -> Router {
    let protocol = app.protocol;
    let mut api = Router::new().route("/triggered-limits", get(get_triggered_limits));
    api = if protocol.serves_configs() {
        api.route("/configs", get(get_configs))
            .route("/track-usage", post(track_usage))
    } else {
        // What today's service answers for the routes it removed.
        api.route("/configs", any(removed_route))
            .route("/track-usage", any(removed_route))
    };
    // Under `configs` only, `/track` is an unknown route like any other.
    if protocol.serves_track() {
        api = api.route("/track", post(track));
    }
    let api = api.fallback(api_not_found);
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

/// Today's error body `{"detail", "code", "errors"?}` (`POST /track`).
fn detail_response(
    status: StatusCode,
    code: &str,
    detail: impl Into<String>,
    errors: Option<Value>,
) -> Response {
    let mut body = json!({
        "detail": detail.into(),
        "code": code,
    });
    if let Some(errors) = errors {
        body["errors"] = errors;
    }
    json_response(status, &body)
}

/// Which error body an endpoint answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `{"error", "message", "details"?, "timestamp"}`: the config-based contract.
    Legacy,
    /// `{"detail", "code", "errors"?}`: today's contract.
    Detail,
}

impl Shape {
    /// An error answer in this shape; `code` is the `error` of the legacy shape, `extra` its
    /// `details` or today's `errors`.
    fn error(
        self,
        status: StatusCode,
        code: &str,
        message: impl Into<String>,
        extra: Option<Value>,
    ) -> Response {
        match self {
            Shape::Legacy => error_response(status, code, message, extra),
            Shape::Detail => detail_response(status, code, message, extra),
        }
    }
}

/// The two track endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// `POST /track-usage`, the config-based contract.
    TrackUsage,
    /// `POST /track`, today's contract.
    Track,
}

impl Endpoint {
    fn shape(self) -> Shape {
        match self {
            Endpoint::TrackUsage => Shape::Legacy,
            Endpoint::Track => Shape::Detail,
        }
    }

    /// The name stored in [`StoredRecord::endpoint`] and logged.
    fn name(self) -> &'static str {
        match self {
            Endpoint::TrackUsage => "track-usage",
            Endpoint::Track => "track",
        }
    }
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
fn admit(
    app: &App,
    headers: &HeaderMap,
    shape: Shape,
    count: impl FnOnce(&mut Stats),
) -> Result<(), Response> {
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
    Err(shape.error(StatusCode::UNAUTHORIZED, "unauthorized", message, None))
}

/// The shape of answers on routes both contracts share: today's when only today's is served.
fn shared_shape(app: &App) -> Shape {
    match app.protocol {
        Protocol::Track => Shape::Detail,
        Protocol::Both | Protocol::Configs => Shape::Legacy,
    }
}

async fn get_configs(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Err(response) = admit(&app, &headers, Shape::Legacy, |s| s.config_requests += 1) {
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
    let shape = shared_shape(&app);
    if let Err(response) = admit(&app, &headers, shape, |s| s.triggered_limits_requests += 1) {
        return response;
    }
    let body = app.read().rendered.limits_body.clone();
    (StatusCode::OK, [(CONTENT_TYPE, "application/json")], body).into_response()
}

async fn api_not_found(State(app): State<App>, headers: HeaderMap) -> Response {
    let shape = shared_shape(&app);
    if let Err(response) = admit(&app, &headers, shape, |_| {}) {
        return response;
    }
    match shape {
        Shape::Legacy => not_found().await,
        Shape::Detail => detail_not_found(),
    }
}

/// `GET /configs` and `POST /track-usage` under [`Protocol::Track`]: 404 `{"detail": "Not
/// Found"}` whatever the key, as today's service answers. Counted in `requests` only.
async fn removed_route(State(app): State<App>, headers: HeaderMap) -> Response {
    let user_agent = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    {
        let mut state = app.lock();
        state.stats.requests += 1;
        state.stats.last_user_agent = user_agent;
    }
    detail_not_found()
}

fn detail_not_found() -> Response {
    json_response(StatusCode::NOT_FOUND, &json!({"detail": "Not Found"}))
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found", "no such endpoint", None)
}

async fn track_usage(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    handle_track(&app, &headers, &body, Endpoint::TrackUsage).await
}

async fn track(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    handle_track(&app, &headers, &body, Endpoint::Track).await
}

/// The skeleton of both track endpoints: auth, stall, the counted faults, processing, delay.
async fn handle_track(app: &App, headers: &HeaderMap, body: &[u8], endpoint: Endpoint) -> Response {
    let shape = endpoint.shape();
    let admitted = admit(app, headers, shape, |s| {
        s.track_requests += 1;
        match endpoint {
            Endpoint::TrackUsage => s.track_usage_requests += 1,
            Endpoint::Track => s.track_endpoint_requests += 1,
        }
    });
    if let Err(response) = admitted {
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
            let mut response = shape.error(
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
            shape.error(
                status,
                "injected_failure",
                format!("injected failure {} (fault injection)", status.as_u16()),
                None,
            )
        }
        Action::Proceed => process_any(app, body, endpoint),
        Action::DropAfterStore => {
            let _ = process_any(app, body, endpoint);
            dropped()
        }
    };
    if delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    if action != Action::Proceed {
        tracing::debug!(?action, endpoint = endpoint.name(), "track fault injected");
    }
    response
}

fn process_any(app: &App, body: &[u8], endpoint: Endpoint) -> Response {
    match endpoint {
        Endpoint::TrackUsage => process(app, body),
        Endpoint::Track => process_track(app, body),
    }
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
        let message = refuse_batch(app, records.len(), bad.len(), "usage records");
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

/// Counts a batch refused for its bad records (nothing of it is stored) and says so.
fn refuse_batch(app: &App, received: usize, bad: usize, what: &str) -> String {
    let mut state = app.lock();
    state.stats.records_received += received as u64;
    state.stats.rejected_records += bad as u64;
    state.stats.rejected_requests += 1;
    format!("{bad} of {received} {what} are invalid; nothing was stored")
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
            endpoint: Endpoint::TrackUsage.name().to_owned(),
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

/// Parses, checks, answers and stores (the `queued` records of) one `/track` body.
fn process_track(app: &App, body: &[u8]) -> Response {
    let parsed: Value = match serde_json::from_slice(body) {
        Ok(parsed) => parsed,
        Err(error) => {
            app.lock().stats.rejected_requests += 1;
            return detail_response(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("request body is not JSON: {error}"),
                None,
            );
        }
    };
    let records = match tracked_top_level(parsed) {
        Ok(records) => records,
        Err((field, message)) => {
            app.lock().stats.rejected_requests += 1;
            return detail_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error",
                format!("{field}: {message}"),
                Some(json!([{"field": field, "message": message}])),
            );
        }
    };
    let bad = check_track_records(&records);
    if !bad.is_empty() {
        let message = refuse_batch(app, records.len(), bad.len(), "tracked records");
        let errors = serde_json::to_value(&bad).unwrap_or(Value::Null);
        return detail_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            message,
            Some(errors),
        );
    }
    let results = store_tracked(app, records);
    let limits = app.read().rendered.limits_item.clone();
    json_response(
        StatusCode::OK,
        &TrackedResponse {
            results: &results,
            triggered_limits: &limits,
        },
    )
}

/// The records of `{"tracked": [...], "skip_limits"?: bool}` (1 to [`MAX_TRACKED`]), or the
/// field and message of what is wrong. `skip_limits` is accepted and has no effect.
fn tracked_top_level(body: Value) -> Result<Vec<Value>, (String, String)> {
    let Value::Object(mut object) = body else {
        return Err((
            "body".to_owned(),
            "expected an object with `tracked`".to_owned(),
        ));
    };
    if let Some(unknown) = object
        .keys()
        .find(|k| *k != "tracked" && *k != "skip_limits")
    {
        return Err((unknown.clone(), "unknown key".to_owned()));
    }
    match object.get("skip_limits") {
        None | Some(Value::Bool(_)) => {}
        Some(_) => {
            return Err(("skip_limits".to_owned(), "expected a bool".to_owned()));
        }
    }
    match object.remove("tracked") {
        Some(Value::Array(records)) if records.is_empty() => Err((
            "tracked".to_owned(),
            "at least 1 record is required".to_owned(),
        )),
        Some(Value::Array(records)) if records.len() > MAX_TRACKED => Err((
            "tracked".to_owned(),
            format!(
                "at most {MAX_TRACKED} records per request, got {}",
                records.len()
            ),
        )),
        Some(Value::Array(records)) => Ok(records),
        Some(_) => Err(("tracked".to_owned(), "expected an array".to_owned())),
        None => Err(("tracked".to_owned(), "required key is missing".to_owned())),
    }
}

/// One entry of a `/track` answer's `results`.
#[derive(Debug, Serialize)]
struct TrackedResult {
    response_id: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<String>,
}

#[derive(Serialize)]
struct TrackedResponse<'a> {
    results: &'a [TrackedResult],
    triggered_limits: &'a Value,
}

/// Answers each checked `/track` record and stores the `queued` ones (a known `response_id`,
/// from either endpoint, is a duplicate: `queued` again, not stored again).
fn store_tracked(app: &App, records: Vec<Value>) -> Vec<TrackedResult> {
    let count_only = app.count_only;
    let mut state = app.lock();
    let known = Arc::clone(&state.service_keys);
    let poison_key = state.faults.poison_key.clone();
    state.stats.records_received += records.len() as u64;
    state.stats.accepted_requests += 1;
    let mut results = Vec::with_capacity(records.len());
    for record in records {
        let Value::Object(mut object) = record else {
            continue; // checked: every record is an object
        };
        let response_id = take_string(&mut object, "response_id").unwrap_or_default();
        let service_key = take_string(&mut object, "service_key").unwrap_or_default();
        let payload = take_object(&mut object, "payload").unwrap_or_default();
        let answer = |status, errors| TrackedResult {
            response_id: response_id.clone(),
            status,
            errors,
        };
        if let Some(key) = poison_key.as_deref()
            && payload.contains_key(key)
        {
            state.stats.records_error += 1;
            results.push(answer(
                "error",
                vec![format!("poisoned key '{key}' (fault injection)")],
            ));
            continue;
        }
        if !known.contains(&service_key) {
            state.stats.records_service_key_unknown += 1;
            results.push(answer(
                "service_key_unknown",
                vec![format!(
                    "Service key '{service_key}' is not recognized. Event queued for review."
                )],
            ));
            continue;
        }
        let queued = answer("queued", Vec::new());
        if count_only {
            state.stats.records_stored += 1;
            results.push(queued);
            continue;
        }
        if state.event_ids.contains_key(&response_id) {
            state.stats.duplicates += 1;
            results.push(queued);
            continue;
        }
        let event_id = uuid::Uuid::new_v4().to_string();
        let timestamp = match object.remove("timestamp") {
            Some(Value::String(text)) => text,
            Some(Value::Number(number)) => number.to_string(),
            _ => String::new(), // checked: a string or a number
        };
        let stored = StoredRecord {
            event_id: event_id.clone(),
            config_id: String::new(),
            service_id: service_key,
            timestamp,
            response_id: response_id.clone(),
            usage: payload,
            client_customer_key: take_string(&mut object, "customer_key"),
            context: take_object(&mut object, "context"),
            base_url: None,
            endpoint: Endpoint::Track.name().to_owned(),
        };
        state.records.push(stored);
        state.event_ids.insert(response_id, event_id);
        state.stats.records_stored += 1;
        results.push(queued);
    }
    results
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
    let (configs, service_keys) = {
        let state = app.read();
        (
            state.configs.configs.clone(),
            state.configs.service_keys.clone(),
        )
    };
    json_response(
        StatusCode::OK,
        &json!({ "configs": configs, "service_keys": service_keys }),
    )
}

/// Body: `{"configs": [...], "api_key"?: "...", "service_keys"?: [...]}`; replaces every
/// config (and the key and the extra service keys, when given).
async fn control_set_configs(State(app): State<App>, body: Bytes) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        configs: Vec<ConfigEntry>,
        #[serde(default)]
        api_key: Option<String>,
        #[serde(default)]
        service_keys: Option<Vec<String>>,
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
        if let Some(service_keys) = update.service_keys {
            file.service_keys = service_keys;
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
