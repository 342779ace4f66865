//! A record between `track` and the server, and its JSON form on the wire.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use serde_json::Value;

use super::wire::{Contract, Frame};
use crate::usage::{PreparedUsage, write_json};

/// The id the server deduplicates a record on: fixed when `track` is called, never changed by a
/// retry. Displays as 32 lowercase hex digits (a v4 UUID without dashes), or as the id given to
/// [`TrackOptions::response_id`](crate::TrackOptions::response_id).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResponseId(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    Generated(uuid::Uuid),
    Given(Arc<str>),
}

impl ResponseId {
    /// A fresh random id.
    pub(crate) fn generate() -> ResponseId {
        ResponseId(Repr::Generated(uuid::Uuid::new_v4()))
    }

    /// A fresh time-ordered id (UUIDv7: milliseconds, then a counter and random bits), still 32
    /// lowercase hex digits. Spooled records use it: the counter makes it unique within the
    /// process by construction, and 73 random bits across processes, so the spool stores it
    /// without a lookup ([`IdSource::Generated`](crate::spool::IdSource::Generated)).
    #[cfg(feature = "spool")]
    pub(crate) fn generate_ordered() -> ResponseId {
        ResponseId(Repr::Generated(uuid::Uuid::now_v7()))
    }

    /// The id as it travels on the wire (a spooled row's `response_id`): 32 lowercase hex
    /// digits read back as a generated id, so it compares equal to what `track` returned;
    /// anything else as given.
    #[cfg(feature = "spool")]
    pub(crate) fn from_wire(id: &str) -> ResponseId {
        if id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && let Ok(uuid) = uuid::Uuid::try_parse(id)
        {
            return ResponseId(Repr::Generated(uuid));
        }
        ResponseId::given(id)
    }

    /// Where the spool's uniqueness of this id comes from: construction for a generated
    /// UUID, a lookup for an id the caller chose.
    #[cfg(feature = "spool")]
    pub(crate) fn source(&self) -> crate::spool::IdSource {
        match self.0 {
            Repr::Generated(_) => crate::spool::IdSource::Generated,
            Repr::Given(_) => crate::spool::IdSource::Given,
        }
    }

    /// An id chosen by the caller (for backfills that must not double count on re-runs).
    pub(crate) fn given(id: impl Into<Arc<str>>) -> ResponseId {
        ResponseId(Repr::Given(id.into()))
    }

    /// Writes the id as a JSON string.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        match &self.0 {
            Repr::Generated(uuid) => {
                let mut buf = [0u8; uuid::fmt::Simple::LENGTH];
                out.push(b'"');
                out.extend_from_slice(uuid.simple().encode_lower(&mut buf).as_bytes());
                out.push(b'"');
            }
            Repr::Given(id) => write_json_str(out, id),
        }
    }
}

impl fmt::Display for ResponseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Generated(uuid) => fmt::Display::fmt(&uuid.simple(), f),
            Repr::Given(id) => f.write_str(id),
        }
    }
}

impl fmt::Debug for ResponseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResponseId({self})")
    }
}

/// Serialises as its display form, a JSON string.
impl serde::Serialize for ResponseId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(feature = "schemars")]
impl schemars::JsonSchema for ResponseId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ResponseId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": 128,
            "description": "The id the server deduplicates a usage record on: 32 lowercase hex \
                            digits when generated, or the id given to `TrackOptions::response_id`.",
        })
    }
}

impl PartialEq<str> for ResponseId {
    fn eq(&self, other: &str) -> bool {
        match &self.0 {
            Repr::Generated(uuid) => {
                let mut buf = [0u8; uuid::fmt::Simple::LENGTH];
                uuid.simple().encode_lower(&mut buf) == other
            }
            Repr::Given(id) => &**id == other,
        }
    }
}

impl PartialEq<&str> for ResponseId {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

/// A callback of a Tracker's (`on_discard`, `on_failed`).
pub(crate) type Callback<T> = Box<dyn Fn(&T) + Send + Sync + 'static>;

/// Whose a record is: the ids it is framed with and where its failures and discards are
/// reported. One per Tracker, shared by its clones and by every record it accepted.
pub(crate) struct Origin {
    pub config_id: String,
    /// The service id (config-based contract) or service key (today's) records are sent with
    /// when they name none of their own.
    pub service_id: String,
    pub on_discard: Option<Callback<DiscardedRecord>>,
    pub on_failed: Option<Callback<FailedRecord>>,
}

#[cfg(test)]
impl Origin {
    pub(crate) fn for_tests(config_id: &str) -> Arc<Origin> {
        Arc::new(Origin {
            config_id: config_id.to_owned(),
            service_id: "svc".to_owned(),
            on_discard: None,
            on_failed: None,
        })
    }
}

/// A record in the queue or in flight.
pub(crate) struct QueuedRecord {
    /// Position in the worker's acceptance order, for `flush`.
    pub seq: u64,
    /// The Tracker that accepted it: config and service ids, callbacks.
    pub origin: Arc<Origin>,
    pub response_id: ResponseId,
    pub timestamp: SystemTime,
    /// The service key given for this record (`TrackOptions::service_key`), else the
    /// Tracker's service id applies.
    pub service_key: Option<Arc<str>>,
    /// The usage object's JSON, then the customer key and `,"context":…` when given (the
    /// customer key under the contract's name, [`Contract::customer_key_member`]): serialised
    /// by `track` (see [`PreparedUsage`] for why), and packed with the bodies before and after
    /// it (`usage::body_arena`).
    pub body: Bytes,
}

impl QueuedRecord {
    /// The service key the record is sent with.
    pub fn service_key(&self) -> &str {
        self.service_key
            .as_deref()
            .unwrap_or(&self.origin.service_id)
    }

    /// What the contract frames the record from.
    pub fn frame(&self) -> Frame<'_> {
        Frame {
            config_id: &self.origin.config_id,
            service_key: self.service_key(),
            timestamp: self.timestamp,
            response_id: &self.response_id,
            body: &self.body,
        }
    }

    /// The body of a record: `usage` serialised, then the customer key (named as `contract`
    /// names it) and context.
    pub fn body(
        usage: PreparedUsage,
        contract: Contract,
        customer_key: Option<&str>,
        context: Option<&Value>,
    ) -> Result<Bytes, serde_json::Error> {
        let PreparedUsage(mut chunk) = usage;
        let out = chunk.bytes();
        if let Some(key) = customer_key {
            out.extend_from_slice(contract.customer_key_member());
            if let Err(e) = write_json(out, key) {
                chunk.abandon();
                return Err(e);
            }
        }
        if let Some(context) = context {
            out.extend_from_slice(b",\"context\":");
            if let Err(e) = write_json(out, context) {
                chunk.abandon();
                return Err(e);
            }
        }
        Ok(chunk.finish())
    }

    /// An owned copy for callbacks.
    pub fn to_usage_record(&self) -> UsageRecord {
        let parts = self.parts();
        UsageRecord {
            config_id: self.origin.config_id.clone(),
            service_id: self.service_key().to_owned(),
            response_id: self.response_id.clone(),
            timestamp: self.timestamp,
            usage: parts.usage,
            client_customer_key: parts.client_customer_key,
            context: parts.context,
        }
    }

    /// The body read back (for callbacks and the testing tracker, never on the hot path).
    fn parts(&self) -> BodyParts {
        let mut json = Vec::with_capacity(self.body.len() + 10);
        json.extend_from_slice(b"{\"usage\":");
        json.extend_from_slice(&self.body);
        json.push(b'}');
        serde_json::from_slice(&json).unwrap_or(BodyParts {
            usage: Value::Null,
            client_customer_key: None,
            context: None,
        })
    }
}

/// What [`QueuedRecord::body`] holds.
#[derive(serde::Deserialize)]
struct BodyParts {
    usage: Value,
    #[serde(default, alias = "customer_key")]
    client_customer_key: Option<String>,
    #[serde(default)]
    context: Option<Value>,
}

/// A tracked record as the callbacks (and the testing tracker) see it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UsageRecord {
    /// The Tracker's config id (empty for a Tracker of today's API built without one).
    pub config_id: String,
    /// The service id (config-based contract) or service key (today's contract): the
    /// record's own `TrackOptions::service_key`, else the Tracker's.
    pub service_id: String,
    /// The id the server deduplicates on.
    pub response_id: ResponseId,
    /// When `track` was called (or the backfill timestamp given).
    pub timestamp: SystemTime,
    /// The usage object.
    pub usage: Value,
    /// The customer the usage is for, if given (sent as `client_customer_key` under the
    /// config-based contract, `customer_key` under today's).
    pub client_customer_key: Option<String>,
    /// Free-form context, if given.
    pub context: Option<Value>,
}

impl UsageRecord {
    /// The timestamp as API.md writes it: RFC 3339 UTC, microseconds, `+00:00`.
    pub fn timestamp_rfc3339(&self) -> String {
        format_timestamp(self.timestamp)
    }
}

/// A record the queue dropped to make room (`OnFull::Backpressure`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DiscardedRecord {
    /// The dropped record.
    pub record: UsageRecord,
    /// Why it was dropped.
    pub reason: String,
}

/// A record the server refused or that ran out of retries, as handed to
/// [`TrackerBuilder::on_failed`](crate::TrackerBuilder::on_failed).
///
/// ```no_run
/// let tracker = aicm::Tracker::track_api()
///     .on_failed(|failed: &aicm::FailedRecord| {
///         // e.g. "service_key_unknown: [\"Service key 'x::y' is not recognized.\"]"
///         tracing::warn!(
///             response_id = %failed.record.response_id,
///             status = ?failed.status,
///             record_status = ?failed.record_status,
///             messages = ?failed.messages,
///             "usage record not delivered: {}", failed.error
///         );
///     })
///     .build()?;
/// # Ok::<(), aicm::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FailedRecord {
    /// The record that will not be delivered.
    pub record: UsageRecord,
    /// The HTTP status of the last answer, if there was one.
    pub status: Option<u16>,
    /// The server's message, or the network error.
    pub error: String,
    /// Today's contract: the service's status word when it refused this record in a 2xx
    /// answer (`error`, `service_key_unknown`); `None` when the whole request failed.
    pub record_status: Option<String>,
    /// Today's contract: the service's messages about this record.
    pub messages: Vec<String>,
}

pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // A string always serialises, and writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// RFC 3339 in UTC with microseconds and an explicit `+00:00`, as the Python SDK sends.
pub(crate) fn write_timestamp(out: &mut Vec<u8>, at: SystemTime) {
    let t = time::OffsetDateTime::from(at);
    let (year, month, day) = t.to_calendar_date();
    let (hour, minute, second, micro) = t.to_hms_micro();
    let mut buf = itoa_buf();
    push_num(out, &mut buf, year.max(0) as u32, 4);
    out.push(b'-');
    push_num(out, &mut buf, month as u8 as u32, 2);
    out.push(b'-');
    push_num(out, &mut buf, day as u32, 2);
    out.push(b'T');
    push_num(out, &mut buf, hour as u32, 2);
    out.push(b':');
    push_num(out, &mut buf, minute as u32, 2);
    out.push(b':');
    push_num(out, &mut buf, second as u32, 2);
    out.push(b'.');
    push_num(out, &mut buf, micro, 6);
    out.extend_from_slice(b"+00:00");
}

pub(crate) fn format_timestamp(at: SystemTime) -> String {
    let mut out = Vec::with_capacity(32);
    write_timestamp(&mut out, at);
    String::from_utf8(out).unwrap_or_default()
}

fn itoa_buf() -> [u8; 10] {
    [0; 10]
}

/// Writes `n` zero-padded to `width` digits.
fn push_num(out: &mut Vec<u8>, buf: &mut [u8; 10], mut n: u32, width: usize) {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    let digits = buf.len() - i;
    for _ in digits..width {
        out.push(b'0');
    }
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_utc_with_micros_and_offset() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_micros(1_754_599_319_566_193);
        assert_eq!(format_timestamp(at), "2025-08-07T20:41:59.566193+00:00");
        assert_eq!(
            format_timestamp(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00.000000+00:00"
        );
    }

    #[test]
    fn generated_response_ids_are_32_lowercase_hex() {
        let id = ResponseId::generate().to_string();
        assert_eq!(id.len(), 32);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let mut json = Vec::new();
        ResponseId::generate().write_json(&mut json);
        assert_eq!(json.len(), 34);
    }

    #[cfg(feature = "spool")]
    #[test]
    fn ordered_ids_are_32_hex_increasing_and_read_back_equal() {
        let a = ResponseId::generate_ordered();
        let b = ResponseId::generate_ordered();
        let (ta, tb) = (a.to_string(), b.to_string());
        assert_eq!(ta.len(), 32);
        assert!(tb > ta, "{ta} then {tb}");
        assert_eq!(ResponseId::from_wire(&ta), a);
        let given = ResponseId::from_wire("order-17");
        assert_eq!(given, ResponseId::given("order-17"));
        assert_eq!(
            ResponseId::from_wire("ABCDEF0123456789ABCDEF0123456789").to_string(),
            "ABCDEF0123456789ABCDEF0123456789"
        );
    }

    #[test]
    fn json_strings_are_escaped_when_needed() {
        let mut out = Vec::new();
        write_json_str(&mut out, "plain");
        write_json_str(&mut out, "quote\"and\\slash\n");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#""plain""quote\"and\\slash\n""#
        );
    }
}
