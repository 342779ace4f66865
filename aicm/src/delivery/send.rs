//! Delivering one flight: encode its records once, POST them, retry what may succeed later,
//! bisect a refused batch until the bad records are isolated, and settle every record as
//! delivered or failed (counted, logged once per cause, handed to `on_failed`).

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER, USER_AGENT};

use super::queue::Queue;
use super::record::{FailedRecord, QueuedRecord};
use super::retry::{Backoff, Verdict, classify, parse_retry_after};

/// Called with the JSON body of every 2xx answer (its `triggered_limits`; absent means none).
pub(crate) type LimitsHook = Arc<dyn Fn(&serde_json::Value) + Send + Sync>;

/// Where a worker's batches go.
pub(crate) enum Transport {
    /// `POST {root}/track-usage`.
    Http {
        http: reqwest::Client,
        url: String,
        auth: HeaderValue,
    },
    /// Kept in memory (the `testing` feature's recording tracker).
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    Memory(Arc<Mutex<Vec<super::record::UsageRecord>>>),
}

/// Everything needed to deliver batches for one worker.
pub(crate) struct Sender {
    pub transport: Transport,
    pub backoff: Backoff,
    pub max_retries: u32,
    pub timeout: Duration,
    pub queue: Arc<Queue>,
    pub limits_hook: Option<LimitsHook>,
    warned: Mutex<HashSet<String>>,
}

/// The outcome of one request.
pub(crate) struct Answer {
    pub verdict: Verdict,
    pub status: Option<u16>,
    pub message: String,
    pub retry_after: Option<Duration>,
    /// The JSON body of a 2xx answer, when it is JSON.
    pub body: Option<serde_json::Value>,
}

/// A flight's records encoded once: the body of the whole flight, and each record's bytes in it.
struct Encoded {
    body: Vec<u8>,
    /// Each record's bytes in `body`, in flight order.
    spans: Vec<Range<usize>>,
}

pub(crate) const PREFIX: &[u8] = b"{\"usage_records\":[";
pub(crate) const SUFFIX: &[u8] = b"]}";

impl Sender {
    pub fn new(
        transport: Transport,
        backoff: Backoff,
        max_retries: u32,
        timeout: Duration,
        queue: Arc<Queue>,
        limits_hook: Option<LimitsHook>,
    ) -> Sender {
        Sender {
            transport,
            backoff,
            max_retries,
            timeout,
            queue,
            limits_hook,
            warned: Mutex::new(HashSet::new()),
        }
    }

    /// Delivers a flight taken from the queue and settles every one of its records.
    pub async fn deliver(&self, flight: u64, records: Vec<QueuedRecord>) {
        if let Transport::Memory(store) = &self.transport {
            store
                .lock()
                .extend(records.iter().map(QueuedRecord::to_usage_record));
            self.queue.note_success();
            self.queue.settle(flight, records.len(), 0, None);
            return;
        }
        let encoded = Self::encode(&records);
        // Ranges are over the flight's records; the whole flight first, halves after a refusal.
        let mut work: Vec<Range<usize>> = Vec::with_capacity(8);
        work.push(0..records.len());
        while let Some(range) = work.pop() {
            let answer = self.send_with_retries(&encoded, range.clone()).await;
            match answer.verdict {
                Verdict::Delivered => {
                    self.queue.settle(flight, range.len(), 0, None);
                }
                Verdict::Split if range.len() > 1 => {
                    let mid = range.start + range.len() / 2;
                    tracing::debug!(
                        records = range.len(),
                        status = answer.status,
                        "batch refused; splitting it to isolate the bad records"
                    );
                    work.push(mid..range.end);
                    work.push(range.start..mid);
                }
                _ => {
                    self.fail(flight, &records[range], answer.status, &answer.message);
                }
            }
        }
    }

    /// Sends one record now (with the usual retries) and returns the server's event id for it.
    /// The record is counted as accepted and then as sent or failed.
    pub async fn deliver_one(&self, record: QueuedRecord) -> Result<Receipt, DeliveryFailure> {
        let flight = self.queue.open_direct_flight();
        if let Transport::Memory(store) = &self.transport {
            store.lock().push(record.to_usage_record());
            self.queue.note_success();
            self.queue.settle(flight, 1, 0, None);
            return Ok(Receipt {
                response_id: record.response_id,
                event_id: None,
                status: 200,
            });
        }
        let encoded = Self::encode(std::slice::from_ref(&record));
        let answer = self.send_with_retries(&encoded, 0..1).await;
        if answer.verdict == Verdict::Delivered {
            self.queue.settle(flight, 1, 0, None);
            let id = record.response_id.to_string();
            let event_id = answer.body.as_ref().and_then(|b| event_id_for(b, &id));
            return Ok(Receipt {
                response_id: record.response_id,
                event_id,
                status: answer.status.unwrap_or(200),
            });
        }
        self.fail(
            flight,
            std::slice::from_ref(&record),
            answer.status,
            &answer.message,
        );
        Err(DeliveryFailure {
            status: answer.status,
            message: answer.message,
        })
    }

    /// Encodes every record: their bodies were serialised by `track`, so this only frames them.
    fn encode(records: &[QueuedRecord]) -> Encoded {
        let mut body = Vec::with_capacity(PREFIX.len() + records.len() * 300 + SUFFIX.len());
        body.extend_from_slice(PREFIX);
        let mut spans = Vec::with_capacity(records.len());
        for (i, record) in records.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            let start = body.len();
            record.write_json(&mut body);
            spans.push(start..body.len());
        }
        body.extend_from_slice(SUFFIX);
        Encoded { body, spans }
    }

    fn body_for(encoded: &Encoded, range: Range<usize>) -> Vec<u8> {
        if range.start == 0 && range.end == encoded.spans.len() {
            return encoded.body.clone();
        }
        let spans = &encoded.spans[range];
        let len: usize = spans.iter().map(|s| s.len() + 1).sum();
        let mut body = Vec::with_capacity(PREFIX.len() + len + SUFFIX.len());
        body.extend_from_slice(PREFIX);
        for (i, span) in spans.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&encoded.body[span.clone()]);
        }
        body.extend_from_slice(SUFFIX);
        body
    }

    async fn send_with_retries(&self, encoded: &Encoded, range: Range<usize>) -> Answer {
        let body = Self::body_for(encoded, range);
        let mut attempt = 0u32;
        loop {
            let answer = self.post(body.clone()).await;
            if answer.verdict != Verdict::Retry || attempt >= self.max_retries {
                if answer.verdict == Verdict::Retry {
                    return Answer {
                        message: format!(
                            "gave up after {} attempts: {}",
                            attempt + 1,
                            answer.message
                        ),
                        ..answer
                    };
                }
                return answer;
            }
            self.queue.note_retry(&answer.message);
            let wait = self.backoff.wait(attempt, answer.retry_after);
            tracing::debug!(
                status = answer.status,
                error = %answer.message,
                wait_ms = wait.as_millis() as u64,
                attempt = attempt + 1,
                "track-usage request will be retried"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn post(&self, body: Vec<u8>) -> Answer {
        let answer = self.request(body).await;
        if answer.verdict == Verdict::Delivered && matches!(self.transport, Transport::Http { .. })
        {
            self.queue.note_success();
        }
        answer
    }

    /// One `POST /track-usage` of `body` and how to treat its answer. Hands a 2xx answer's
    /// JSON to the limits hook; counts nothing (the memory queue and the spool keep their own
    /// counters).
    pub(crate) async fn request(&self, body: Vec<u8>) -> Answer {
        let Transport::Http { http, url, auth } = &self.transport else {
            return Answer {
                verdict: Verdict::Delivered,
                status: Some(200),
                message: String::new(),
                retry_after: None,
                body: None,
            };
        };
        let request = http
            .post(url)
            .header(AUTHORIZATION, auth.clone())
            .header(USER_AGENT, super::USER_AGENT_VALUE)
            .header(CONTENT_TYPE, "application/json")
            .timeout(self.timeout)
            .body(body);
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                return Answer {
                    verdict: Verdict::Retry,
                    status: None,
                    message: describe_reqwest_error(&e),
                    retry_after: None,
                    body: None,
                };
            }
        };
        let status = response.status();
        let verdict = classify(status);
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let text = match response.bytes().await {
            Ok(b) => b,
            Err(e) if verdict == Verdict::Delivered => {
                // The server said 2xx; a body that breaks off does not undo that.
                tracing::debug!(error = %e, "2xx answer with an unreadable body");
                Default::default()
            }
            Err(e) => {
                return Answer {
                    verdict: Verdict::Retry,
                    status: Some(status.as_u16()),
                    message: describe_reqwest_error(&e),
                    retry_after,
                    body: None,
                };
            }
        };
        if verdict == Verdict::Delivered {
            let json: Option<serde_json::Value> = serde_json::from_slice(&text).ok();
            if let (Some(hook), Some(body)) = (&self.limits_hook, &json) {
                hook(body);
            }
            return Answer {
                verdict,
                status: Some(status.as_u16()),
                message: String::new(),
                retry_after: None,
                body: json,
            };
        }
        Answer {
            verdict,
            status: Some(status.as_u16()),
            message: server_message(status, &text),
            retry_after,
            body: None,
        }
    }

    /// Settles records as failed: counted, the cause logged once, each handed to `on_failed`.
    fn fail(&self, flight: u64, records: &[QueuedRecord], status: Option<u16>, message: &str) {
        let error = failure_text(status, message);
        warn_failed_once(&self.warned, status, &error, records.len());
        for record in records {
            if let Some(callback) = &record.tracker.on_failed {
                let failed = FailedRecord {
                    record: record.to_usage_record(),
                    status,
                    error: error.clone(),
                };
                callback(&failed);
            }
        }
        // Settle after the callbacks, so `flush`/`close` return only once they have run.
        self.queue.settle(flight, 0, records.len(), Some(error));
    }
}

/// The error a failed record is reported with: the status and the server's message, and
/// 401/403/404 named as the configuration errors they are.
pub(crate) fn failure_text(status: Option<u16>, message: &str) -> String {
    match status {
        Some(s @ (401 | 403 | 404)) => format!("configuration error (HTTP {s}): {message}"),
        Some(s) => format!("HTTP {s}: {message}"),
        None => message.to_owned(),
    }
}

/// Logs failed records at warn level once per cause (a status, or the network error), then at
/// debug level: a refused batch of thousands must not flood the log.
pub(crate) fn warn_failed_once(
    warned: &Mutex<HashSet<String>>,
    status: Option<u16>,
    error: &str,
    records: usize,
) {
    let cause = match status {
        Some(s) => format!("status {s}"),
        None => error.to_owned(),
    };
    if warned.lock().insert(cause) {
        tracing::warn!(
            records,
            error = %error,
            "usage records failed and will not be delivered (further failures with this cause are logged at debug level)"
        );
    } else {
        tracing::debug!(records, error = %error, "usage records failed");
    }
}

/// What the server said to a record sent with `deliver_now`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Receipt {
    /// The record's response id.
    pub response_id: super::record::ResponseId,
    /// The event the server stored it as, when the answer named one.
    pub event_id: Option<String>,
    /// The HTTP status of the answer (2xx).
    pub status: u16,
}

/// Why `deliver_now` could not deliver.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryFailure {
    pub status: Option<u16>,
    pub message: String,
}

/// `{"event_ids": [{"<response_id>": "<event id>"}]}` → the event id for `response_id`.
fn event_id_for(body: &serde_json::Value, response_id: &str) -> Option<String> {
    body.get("event_ids")?
        .as_array()?
        .iter()
        .find_map(|item| item.get(response_id)?.as_str().map(str::to_owned))
}

/// The server's message (see [`crate::api::server_message`]) with the `details` of a refusal,
/// which name the bad records of a 422.
fn server_message(status: reqwest::StatusCode, body: &[u8]) -> String {
    let message = crate::api::server_message(status, body);
    let details = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|json| {
            json.get("details")
                .filter(|d| !d.is_null())
                .map(ToString::to_string)
        });
    match details {
        Some(details) => format!("{message} ({details})"),
        None => message,
    }
}

/// A reqwest error without the URL's query or any header (the key never appears).
pub(crate) fn describe_reqwest_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "response body error"
    } else if e.is_request() {
        "request failed"
    } else {
        "HTTP error"
    };
    let mut message = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}
