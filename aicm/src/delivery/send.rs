//! Delivering one flight: encode its records once, POST them, retry what may succeed later,
//! bisect a refused batch until the bad records are isolated, and settle every record as
//! delivered or failed (counted, logged once per cause, handed to `on_failed`).

use std::ops::Range;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use parking_lot::Mutex;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER, USER_AGENT};

use super::bisect::Bisect;
use super::queue::Queue;
use super::record::QueuedRecord;
use super::report::Reports;
use super::retry::{Backoff, Verdict, classify, parse_retry_after};
use super::wire::{Contract, RecordAnswer};

/// Called with the JSON body of every 2xx answer (its `triggered_limits`; absent means none).
pub(crate) type LimitsHook = Arc<dyn Fn(&serde_json::Value) + Send + Sync>;

/// Where a worker's batches go.
pub(crate) enum Transport {
    /// `POST {root}{contract's path}`.
    Http {
        http: reqwest::Client,
        /// The API root, `https://aicostmanager.com/api/v1`.
        root: String,
        auth: HeaderValue,
    },
    /// Kept in memory (the `testing` feature's recording tracker).
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    Memory(Arc<Mutex<Vec<super::record::UsageRecord>>>),
}

/// Everything needed to deliver batches for one worker.
pub(crate) struct Sender {
    pub transport: Transport,
    /// The contract this worker speaks: set at start, or once `Auto` has asked the service.
    contract: OnceLock<Contract>,
    contract_decided: tokio::sync::Notify,
    pub backoff: Backoff,
    pub max_retries: u32,
    pub timeout: Duration,
    pub queue: Arc<Queue>,
    pub limits_hook: Option<LimitsHook>,
    /// Causes of failure, refusal and displacement already warned about (the memory backend's).
    pub reports: Reports,
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
    contract: Contract,
    /// Shared by every attempt at the whole flight (a retry sends the same bytes).
    body: Bytes,
    /// Each record's bytes in `body`, in flight order.
    spans: Vec<Range<usize>>,
}

impl Sender {
    /// `contract` is `None` while `Auto` has not decided yet ([`Sender::decide`]).
    pub fn new(
        transport: Transport,
        contract: Option<Contract>,
        backoff: Backoff,
        max_retries: u32,
        timeout: Duration,
        queue: Arc<Queue>,
        limits_hook: Option<LimitsHook>,
    ) -> Sender {
        let decided = OnceLock::new();
        if let Some(contract) = contract {
            let _ = decided.set(contract);
        }
        Sender {
            transport,
            contract: decided,
            contract_decided: tokio::sync::Notify::new(),
            backoff,
            max_retries,
            timeout,
            queue,
            limits_hook,
            reports: Reports::default(),
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
        let encoded = self.encode(&records);
        // Ranges are over the flight's records; the whole flight first, halves after a refusal.
        let mut bisect = Bisect::new(records.len());
        while let Some(range) = bisect.next() {
            let answer = self.send_with_retries(&encoded, range.clone()).await;
            match answer.verdict {
                Verdict::Delivered => {
                    let outcomes = self.record_answers(
                        encoded.contract,
                        answer.body.as_ref(),
                        records[range.clone()]
                            .iter()
                            .map(|r| r.response_id.to_string()),
                    );
                    let mut sent = 0;
                    for (record, outcome) in records[range.clone()].iter().zip(outcomes) {
                        match outcome {
                            RecordAnswer::Sent => sent += 1,
                            RecordAnswer::Refused { status, messages } => {
                                self.fail_refused(flight, record, answer.status, &status, messages);
                            }
                        }
                    }
                    self.queue.settle(flight, sent, 0, None);
                }
                Verdict::Split if bisect.split(range.clone(), answer.status) => {}
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
                record_status: None,
                messages: Vec::new(),
                cost_events: Vec::new(),
            });
        }
        let encoded = self.encode(std::slice::from_ref(&record));
        let answer = self.send_with_retries(&encoded, 0..1).await;
        if answer.verdict == Verdict::Delivered {
            let id = record.response_id.to_string();
            let details = encoded.contract.receipt_details(answer.body.as_ref(), &id);
            let mut outcomes =
                self.record_answers(encoded.contract, answer.body.as_ref(), std::iter::once(&id));
            if let Some(RecordAnswer::Refused { status, messages }) = outcomes.pop() {
                let message = self.fail_refused(flight, &record, answer.status, &status, messages);
                return Err(DeliveryFailure {
                    status: answer.status,
                    message,
                });
            }
            self.queue.settle(flight, 1, 0, None);
            return Ok(Receipt {
                response_id: record.response_id,
                event_id: details.event_id,
                status: answer.status.unwrap_or(200),
                record_status: details.status,
                messages: details.messages,
                cost_events: details.cost_events,
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

    /// The contract this worker speaks, once decided.
    pub fn contract(&self) -> Option<Contract> {
        self.contract.get().copied()
    }

    /// Settles `Auto`: the first decision stands.
    pub fn decide(&self, contract: Contract) -> Contract {
        let decided = *self.contract.get_or_init(|| contract);
        self.contract_decided.notify_waiters();
        decided
    }

    /// Waits until the contract is decided (the spool loop starts before `Auto` has asked).
    #[cfg_attr(not(feature = "spool"), allow(dead_code))]
    pub async fn decided(&self) -> Contract {
        loop {
            let notified = self.contract_decided.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(contract) = self.contract() {
                return contract;
            }
            notified.await;
        }
    }

    /// The contract for records of the memory queue: they exist only once a Tracker was
    /// built, which decides it first.
    fn queue_contract(&self) -> Contract {
        self.contract().unwrap_or(Contract::Configs)
    }

    /// Encodes every record: their bodies were serialised by `track`, so this only frames them.
    fn encode(&self, records: &[QueuedRecord]) -> Encoded {
        let contract = self.queue_contract();
        let prefix = contract.batch_prefix();
        let suffix = contract.batch_suffix();
        let mut body = Vec::with_capacity(prefix.len() + records.len() * 300 + suffix.len());
        body.extend_from_slice(prefix);
        let mut spans = Vec::with_capacity(records.len());
        for (i, record) in records.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            let start = body.len();
            contract.write_record(&record.frame(), &mut body);
            spans.push(start..body.len());
        }
        body.extend_from_slice(suffix);
        Encoded {
            contract,
            body: Bytes::from(body),
            spans,
        }
    }

    fn body_for(encoded: &Encoded, range: Range<usize>) -> Bytes {
        if range.start == 0 && range.end == encoded.spans.len() {
            return encoded.body.clone();
        }
        let spans = &encoded.spans[range];
        Bytes::from(
            encoded
                .contract
                .batch_body(spans.iter().map(|span| &encoded.body[span.clone()])),
        )
    }

    /// One answer per record of a 2xx, the oddities logged once.
    pub(crate) fn record_answers(
        &self,
        contract: Contract,
        body: Option<&serde_json::Value>,
        response_ids: impl ExactSizeIterator<Item = impl AsRef<str>>,
    ) -> Vec<RecordAnswer> {
        let records = response_ids.len();
        let outcomes = contract.read_outcomes(body, response_ids);
        if outcomes.unreadable && self.reports.first("unreadable 2xx") {
            tracing::warn!(
                records,
                "the service took a batch (2xx) but its answer is not the JSON the contract \
                 describes; counted as delivered and not sent again (shown once)"
            );
        }
        if outcomes.unmentioned > 0 && self.reports.first("unmentioned") {
            tracing::warn!(
                records = outcomes.unmentioned,
                "the service took a batch (2xx) whose answer does not mention every record; \
                 those are counted as delivered (shown once)"
            );
        }
        outcomes.answers
    }

    async fn send_with_retries(&self, encoded: &Encoded, range: Range<usize>) -> Answer {
        let body = Self::body_for(encoded, range);
        let mut attempt = 0u32;
        loop {
            let answer = self.post(encoded.contract, body.clone()).await;
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

    async fn post(&self, contract: Contract, body: Bytes) -> Answer {
        let answer = self.request(contract, body).await;
        if answer.verdict == Verdict::Delivered && matches!(self.transport, Transport::Http { .. })
        {
            self.queue.note_success();
        }
        answer
    }

    /// One POST of `body` to the contract's endpoint and how to treat its answer. Hands a 2xx
    /// answer's JSON to the limits hook; counts nothing (the memory queue and the spool keep
    /// their own counters).
    pub(crate) async fn request(&self, contract: Contract, body: Bytes) -> Answer {
        let Transport::Http { http, root, auth } = &self.transport else {
            return Answer {
                verdict: Verdict::Delivered,
                status: Some(200),
                message: String::new(),
                retry_after: None,
                body: None,
            };
        };
        let request = http
            .post(format!("{root}{}", contract.path()))
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
            if let (Some(hook), Some(body)) = (&self.limits_hook, &json)
                && contract.carries_limits(body)
            {
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
        let error = self.reports.failed(status, message, records.len());
        for record in records {
            record
                .origin
                .hand_failed(|| record.to_usage_record(), status, &error, None);
        }
        // Settle after the callbacks, so `flush`/`close` return only once they have run.
        self.queue.settle(flight, 0, records.len(), Some(error));
    }

    /// Settles one record the service refused in a 2xx answer (today's contract: `error`,
    /// `service_key_unknown`): counted as failed, warned once per status word, handed to
    /// `on_failed`, never retried. Returns the error it was reported with.
    fn fail_refused(
        &self,
        flight: u64,
        record: &QueuedRecord,
        http_status: Option<u16>,
        status: &str,
        messages: Vec<String>,
    ) -> String {
        let error = self.reports.refused(status, &messages);
        record.origin.hand_failed(
            || record.to_usage_record(),
            http_status,
            &error,
            Some((status, messages)),
        );
        self.queue.settle(flight, 0, 1, Some(error.clone()));
        error
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
    /// Today's contract: the service's status for the record (`queued`, `completed`).
    pub record_status: Option<String>,
    /// Today's contract: the service's messages about the record.
    pub messages: Vec<String>,
    /// Today's contract: the costs of a `completed` record, as the service sent them.
    pub cost_events: Vec<serde_json::Value>,
}

/// Why `deliver_now` could not deliver.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryFailure {
    pub status: Option<u16>,
    pub message: String,
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
