//! The HTTP client for the AICostManager API (API.md): addressing, authentication, and turning
//! responses into typed results with the server's `message` surfaced.
//!
//! The delivery worker POSTs `/track-usage` itself; it reuses [`ApiClient::request`] (or the
//! accessors) so every request carries the same headers, and [`server_message`] so its errors
//! read like ours.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, ETAG, HeaderValue, IF_NONE_MATCH, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use crate::Error;
use crate::settings::{ApiKey, Settings};

/// `User-Agent` of every request.
pub(crate) const USER_AGENT_VALUE: &str = concat!("aicm-rust/", env!("CARGO_PKG_VERSION"));

/// Bounds for the client we build ourselves; a client passed to the builder keeps its own.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest slice of a non-JSON error body quoted in an error.
const MAX_BODY_IN_ERROR: usize = 300;

/// A cheap-to-clone handle on one API root with one key.
#[derive(Clone)]
pub(crate) struct ApiClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    root: String,
    key: ApiKey,
    auth: HeaderValue,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("root", &self.inner.root)
            .field("key", &self.inner.key)
            .finish_non_exhaustive()
    }
}

/// Outcome of `GET /configs`.
#[derive(Debug, Clone)]
pub(crate) enum ConfigsFetch {
    /// 304: the cached payload is current.
    NotModified,
    /// 200 with the ETag to cache (verbatim, quotes included; empty when the server sent none).
    Fresh { etag: String, body: ConfigsBody },
}

/// The body of a 200 from `GET /configs`, items kept as raw JSON: each is verified on its own
/// (one malformed item must not sink the others) and cached verbatim in `AICM.INI`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ConfigsBody {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub(crate) service_configs: Vec<Value>,
    /// `None` when the key is absent (then `/triggered-limits` is asked separately);
    /// `Some(Value::Null)` when the server says null (none active).
    #[serde(default, deserialize_with = "present")]
    pub(crate) triggered_limits: Option<Value>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Value>, D::Error> {
    Ok(Option::<Vec<Value>>::deserialize(d)?.unwrap_or_default())
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl ApiClient {
    /// `http` is the builder's client, if it was given one; otherwise we build a client with
    /// connect and request timeouts so a dead network cannot hang start-up forever.
    pub(crate) fn new(
        http: Option<reqwest::Client>,
        settings: &Settings,
    ) -> Result<ApiClient, Error> {
        let http = match http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(REQUEST_TIMEOUT)
                .user_agent(USER_AGENT_VALUE)
                .build()
                .map_err(|e| Error::InvalidSetting {
                    name: "http_client",
                    message: settings.api_key.scrub(&error_chain(&e)),
                })?,
        };
        let root = settings.api_root();
        if reqwest::Url::parse(&root).is_err() {
            return Err(Error::InvalidSetting {
                name: "AICM_API_BASE",
                message: format!("`{root}` is not a valid URL"),
            });
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", settings.api_key.expose()))
            .map_err(|_| Error::InvalidSetting {
                name: "AICM_API_KEY",
                message: "contains characters that cannot be sent in an HTTP header".to_owned(),
            })?;
        // Keeps the value out of reqwest's and hyper's Debug output and HTTP/2 header tables.
        auth.set_sensitive(true);
        Ok(ApiClient {
            inner: Arc::new(Inner {
                http,
                root,
                key: settings.api_key.clone(),
                auth,
            }),
        })
    }

    /// The API root (`https://aicostmanager.com/api/v1`).
    pub(crate) fn root(&self) -> &str {
        &self.inner.root
    }

    /// The key, for keying shared workers and stores; it still never prints.
    pub(crate) fn api_key(&self) -> &ApiKey {
        &self.inner.key
    }

    /// `{root}{path}`; `path` starts with `/`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.inner.root, path)
    }

    /// `Bearer <key>`, marked sensitive.
    pub(crate) fn auth_header(&self) -> &HeaderValue {
        &self.inner.auth
    }

    /// A request to `{root}{path}` with the `Authorization` and `User-Agent` headers set.
    /// POST callers add `Content-Type: application/json` with their body.
    pub(crate) fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.inner
            .http
            .request(method, self.url(path))
            .header(AUTHORIZATION, self.inner.auth.clone())
            .header(USER_AGENT, USER_AGENT_VALUE)
    }

    /// A transport failure as [`Error::Unreachable`], with the cause chain (reqwest's own
    /// message alone says only "error sending request") and the key scrubbed.
    pub(crate) fn unreachable(&self, url: &str, error: &reqwest::Error) -> Error {
        Error::Unreachable {
            url: url.to_owned(),
            message: self.inner.key.scrub(&error_chain(error)),
        }
    }

    /// A non-success status as [`Error::Api`] carrying the server's `message`.
    pub(crate) fn api_error(&self, url: &str, status: StatusCode, body: &[u8]) -> Error {
        Error::Api {
            status: status.as_u16(),
            url: url.to_owned(),
            message: self.inner.key.scrub(&server_message(status, body)),
        }
    }

    /// `GET /configs`, with `If-None-Match` when `etag` is a non-empty cached ETag.
    pub(crate) async fn get_configs(&self, etag: Option<&str>) -> Result<ConfigsFetch, Error> {
        let url = self.url("/configs");
        let mut request = self.request(Method::GET, "/configs");
        if let Some(etag) = etag.filter(|e| !e.is_empty()) {
            // An ETag that cannot be a header value is useless as a validator: fetch in full.
            if let Ok(value) = HeaderValue::from_str(etag) {
                request = request.header(IF_NONE_MATCH, value);
            }
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.unreachable(&url, &e))?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(ConfigsFetch::NotModified);
        }
        let etag = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = self.success_body(&url, response).await?;
        let body: ConfigsBody =
            serde_json::from_slice(&body).map_err(|e| Error::InvalidResponse {
                url: url.clone(),
                message: format!("`service_configs` response is not the expected JSON: {e}"),
            })?;
        Ok(ConfigsFetch::Fresh { etag, body })
    }

    /// `GET /triggered-limits`: the signed item, whether wrapped in `{"triggered_limits": …}`
    /// or bare; `None` when the server has none (`{}`, null).
    pub(crate) async fn get_triggered_limits(&self) -> Result<Option<Value>, Error> {
        let url = self.url("/triggered-limits");
        let response = self
            .request(Method::GET, "/triggered-limits")
            .send()
            .await
            .map_err(|e| self.unreachable(&url, &e))?;
        let body = self.success_body(&url, response).await?;
        let value: Value = serde_json::from_slice(&body).map_err(|e| Error::InvalidResponse {
            url: url.clone(),
            message: format!("body is not JSON: {e}"),
        })?;
        match unwrap_signed_item(&value) {
            Ok(item) => Ok(item.cloned()),
            Err(message) => Err(Error::InvalidResponse { url, message }),
        }
    }

    async fn success_body(&self, url: &str, response: reqwest::Response) -> Result<Vec<u8>, Error> {
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.unreachable(url, &e))?;
        if status.is_success() {
            Ok(body.to_vec())
        } else {
            Err(self.api_error(url, status, &body))
        }
    }
}

/// Finds the signed triggered-limits item in what the server sent: the item itself (it has an
/// `encrypted_payload`), or an object wrapping it under `triggered_limits` (the
/// `/triggered-limits` and `/track-usage` bodies). `Ok(None)`: none active (null, `{}`).
pub(crate) fn unwrap_signed_item(value: &Value) -> Result<Option<&Value>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Object(map) if map.is_empty() => Ok(None),
        Value::Object(map) if map.contains_key("encrypted_payload") => Ok(Some(value)),
        Value::Object(map) => match map.get("triggered_limits") {
            Some(inner) => match inner {
                Value::Object(m) if m.contains_key("triggered_limits") => {
                    Err("`triggered_limits` is nested more than once".to_owned())
                }
                _ => unwrap_signed_item(inner),
            },
            // A `/track-usage` body without the key: none are active.
            None if map.contains_key("event_ids") => Ok(None),
            None => Err(format!(
                "expected a signed triggered-limits item, got an object with keys [{}]",
                map.keys().cloned().collect::<Vec<_>>().join(", ")
            )),
        },
        other => Err(format!(
            "expected a signed triggered-limits item, got {}",
            json_kind(other)
        )),
    }
}

/// The most useful text in an error body: the JSON `message`, else `error`, else the start of
/// the body, else the status's reason.
pub(crate) fn server_message(status: StatusCode, body: &[u8]) -> String {
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
        for key in ["message", "error", "detail"] {
            match map.get(key) {
                Some(Value::String(s)) if !s.is_empty() => return s.clone(),
                Some(v @ (Value::Object(_) | Value::Array(_))) => return v.to_string(),
                _ => {}
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return status.canonical_reason().unwrap_or("no message").to_owned();
    }
    match text.char_indices().nth(MAX_BODY_IN_ERROR) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::SettingsOverrides;
    use serde_json::json;

    fn settings(base: &str) -> Settings {
        Settings::resolve_with(
            SettingsOverrides {
                api_key: Some("sk-unit-test-key-SECRET".into()),
                api_base: Some(base.into()),
                ini_path: Some("/nonexistent/AICM.INI".into()),
                ..Default::default()
            },
            |_| None,
        )
        .unwrap()
    }

    #[test]
    fn urls_and_headers() {
        let api = ApiClient::new(None, &settings("http://127.0.0.1:1/")).unwrap();
        assert_eq!(api.url("/configs"), "http://127.0.0.1:1/api/v1/configs");
        assert!(api.auth_header().is_sensitive());
        assert_eq!(
            api.auth_header().to_str().unwrap(),
            "Bearer sk-unit-test-key-SECRET"
        );
        assert!(USER_AGENT_VALUE.starts_with("aicm-rust/0."));
        assert!(!format!("{api:?}").contains("SECRET"));
    }

    #[test]
    fn server_message_prefers_message_then_error_then_text() {
        let s = StatusCode::BAD_REQUEST;
        assert_eq!(
            server_message(s, br#"{"error":"bad","message":"Config x not allowed"}"#),
            "Config x not allowed"
        );
        assert_eq!(server_message(s, br#"{"error":"bad"}"#), "bad");
        assert_eq!(server_message(s, b"<html>oops</html>"), "<html>oops</html>");
        assert_eq!(server_message(s, b""), "Bad Request");
        let long = "x".repeat(1000);
        assert_eq!(server_message(s, long.as_bytes()).chars().count(), 301);
    }

    #[test]
    fn signed_item_is_found_wrapped_or_bare() {
        let item = json!({"public_key": "p", "key_id": "k", "encrypted_payload": "t"});
        assert_eq!(unwrap_signed_item(&item).unwrap(), Some(&item));
        let wrapped = json!({"triggered_limits": item.clone()});
        assert_eq!(unwrap_signed_item(&wrapped).unwrap(), Some(&item));
        let body = json!({"event_ids": [], "triggered_limits": item.clone()});
        assert_eq!(unwrap_signed_item(&body).unwrap(), Some(&item));
        assert_eq!(unwrap_signed_item(&json!({})).unwrap(), None);
        assert_eq!(unwrap_signed_item(&json!(null)).unwrap(), None);
        assert_eq!(
            unwrap_signed_item(&json!({"triggered_limits": {}})).unwrap(),
            None
        );
        assert_eq!(unwrap_signed_item(&json!({"event_ids": []})).unwrap(), None);
        assert!(unwrap_signed_item(&json!({"something": 1})).is_err());
        assert!(unwrap_signed_item(&json!([1])).is_err());
    }

    #[tokio::test]
    async fn connection_refused_is_unreachable_without_the_key() {
        // Port 1 on loopback: nothing listens there, so the connect fails at once.
        let api = ApiClient::new(None, &settings("http://127.0.0.1:1")).unwrap();
        let err = api.get_configs(Some("\"e\"")).await.unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(matches!(err, Error::Unreachable { .. }), "{text}");
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains("127.0.0.1:1/api/v1/configs"), "{text}");
    }
}
