//! Per-record options of `track_with` / `track_async`.

use std::time::SystemTime;

use serde_json::Value;

/// Options for one tracked record: who it is for, extra context, and overrides for backfills.
///
/// ```
/// use aicm::TrackOptions;
/// // today's API: the service key per record
/// let options = TrackOptions::for_service("openai::gpt-5-mini")
///     .customer_key("acme")
///     .context(serde_json::json!({"request": "r-1"}));
/// // the config-based API: the Tracker's service id applies
/// let options = TrackOptions::new().client_customer_key("acme");
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackOptions {
    pub(crate) client_customer_key: Option<String>,
    pub(crate) context: Option<Value>,
    // Boxed where a record seldom sets it: the options are built and moved by value on every
    // `track`, and at 128 bytes a move is a few register copies instead of a `memcpy` call.
    pub(crate) response_id: Option<Box<str>>,
    pub(crate) timestamp: Option<SystemTime>,
    pub(crate) service_key: Option<String>,
    pub(crate) anonymize_fields: Option<Box<[String]>>,
}

impl TrackOptions {
    /// No options: a fresh response id and the current time.
    pub const fn new() -> Self {
        TrackOptions {
            client_customer_key: None,
            context: None,
            response_id: None,
            timestamp: None,
            service_key: None,
            anonymize_fields: None,
        }
    }

    /// Usage fields to redact in this record, besides the Tracker's own
    /// ([`TrackerBuilder::anonymize_fields`](crate::TrackerBuilder::anonymize_fields)): their
    /// strings are sent as `"[REDACTED]"`, wherever the field appears.
    ///
    /// ```
    /// # #[cfg(feature = "testing")] {
    /// use aicm::TrackOptions;
    /// use serde_json::json;
    /// let (tracker, recording) =
    ///     aicm::testing::recording_tracker("chat", "openai::gpt-5-mini", "{}").unwrap();
    /// tracker.track_with(
    ///     json!({"tokens": 12, "prompt": "my secret", "tags": ["a", "b"]}),
    ///     TrackOptions::new().anonymize_fields(["prompt", "tags"]),
    /// ).unwrap();
    /// assert_eq!(
    ///     recording.records()[0].usage,
    ///     json!({"tokens": 12, "prompt": "[REDACTED]", "tags": ["[REDACTED]", "[REDACTED]"]})
    /// );
    /// # }
    /// ```
    pub fn anonymize_fields<S: Into<String>>(
        mut self,
        fields: impl IntoIterator<Item = S>,
    ) -> Self {
        let mut all = self
            .anonymize_fields
            .take()
            .map_or_else(Vec::new, Vec::from);
        all.extend(fields.into_iter().map(Into::into));
        self.anonymize_fields = Some(all.into_boxed_slice());
        self
    }

    /// Options for a record of this service key (`vendor::service`, e.g.
    /// `openai::gpt-5-mini`): `TrackOptions::new().service_key(key)`.
    pub fn for_service(service_key: impl Into<String>) -> Self {
        TrackOptions::new().service_key(service_key)
    }

    /// The service key this record is for (`vendor::service`, as on the service's lookup
    /// page), instead of the Tracker's own: one Tracker serves every model. Sent as
    /// `service_key` (today's contract) or `service_id` (config-based). Must not be empty.
    pub fn service_key(mut self, service_key: impl Into<String>) -> Self {
        self.service_key = Some(service_key.into());
        self
    }

    /// The customer of yours the usage is for: today's name for
    /// [`TrackOptions::client_customer_key`] (the same setting). Sent as `customer_key`
    /// (today's contract) or `client_customer_key` (config-based).
    pub fn customer_key(self, key: impl Into<String>) -> Self {
        self.client_customer_key(key)
    }

    /// The customer of yours the usage is for (sent as `client_customer_key` under the
    /// config-based contract, `customer_key` under today's).
    pub fn client_customer_key(mut self, key: impl Into<String>) -> Self {
        self.client_customer_key = Some(key.into());
        self
    }

    /// Free-form context stored with the record; must be a JSON object.
    pub fn context(mut self, context: Value) -> Self {
        self.context = Some(context);
        self
    }

    /// Use this id instead of a random one, so that re-running a backfill does not double
    /// count: the server deduplicates on it. Must be 1 to 128 printable ASCII characters.
    pub fn response_id(mut self, id: impl Into<String>) -> Self {
        self.response_id = Some(id.into().into_boxed_str());
        self
    }

    /// Record the usage at this time instead of now (accepts `SystemTime` and
    /// `time::OffsetDateTime`).
    pub fn timestamp(mut self, at: impl Into<SystemTime>) -> Self {
        self.timestamp = Some(at.into());
        self
    }
}
