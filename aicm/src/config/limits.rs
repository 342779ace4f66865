//! Triggered limits: what the service says is over budget (API.md "Triggered-limits claims",
//! API-TRACK.md "Triggered limits"), and which of them apply to a call ([`applies`]).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// A usage limit the AICostManager service has triggered, as verified from a signed
/// triggered-limits item.
///
/// The service decides what a limit means; the SDK only reports it, so an application can stop
/// or slow the calls a limit covers. Ask before spending with `Tracker::blocking_limit` or
/// `Tracker::limits_in_force`; `Tracker::triggered_limits` lists the active ones. Tracking never
/// refuses a record because of a limit: the usage already happened.
///
/// Both generations of claims parse into this type: today's (`service_key`, `customer_key`,
/// `limit_context`, `limit_message`) and the config-based one (`service_id`,
/// `client_customer_key`, `vendor`). [`TriggeredLimit::service`] and
/// [`TriggeredLimit::customer`] read whichever the service sent.
/// Timestamps are kept as the service wrote them (RFC 3339);
/// [`TriggeredLimit::expires_at_time`] parses the one that decides whether a limit is active.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct TriggeredLimit {
    /// The triggering event.
    pub event_id: String,
    /// The limit that was crossed.
    pub limit_id: String,
    /// `limit` (calls it covers should stop: [`TriggeredLimit::is_blocking`]) or `alert`
    /// (informs only), as the service names it.
    pub threshold_type: String,
    /// The threshold amount. The service may send it as a decimal string; it is parsed.
    #[serde(deserialize_with = "number_or_string")]
    pub amount: f64,
    /// The period the limit covers, as the service names it (e.g. `day`, `month`).
    pub period: String,
    /// What the limit applies to (config-based claims only).
    #[serde(default, deserialize_with = "null_as_default")]
    pub vendor: LimitVendor,
    /// The service key (`vendor::service`) the limit covers; `None`: every service (today's
    /// claims).
    #[serde(default)]
    pub service_key: Option<String>,
    /// The customer the limit covers; `None`: every customer (today's claims).
    #[serde(default)]
    pub customer_key: Option<String>,
    /// What the limit is about, as the service describes it (today's claims).
    #[serde(default)]
    pub limit_context: Option<String>,
    /// A message for people, as the service words it (today's claims).
    #[serde(default)]
    pub limit_message: Option<String>,
    /// The service the limit covers, if it covers one (config-based claims; today's
    /// `service_key`).
    #[serde(default)]
    pub service_id: Option<String>,
    /// The customer the limit covers, if it covers one (config-based claims; today's
    /// `customer_key`).
    #[serde(default)]
    pub client_customer_key: Option<String>,
    /// The id (not the key) of the API key the limit belongs to.
    #[serde(default)]
    pub api_key_id: Option<String>,
    /// When the limit was triggered (RFC 3339).
    #[serde(default)]
    pub triggered_at: String,
    /// When the limit stops applying (RFC 3339); `None` means until the service lifts it.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// The `vendor` of a [`TriggeredLimit`]: which configs and host it applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct LimitVendor {
    /// The vendor's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The config ids the limit applies to.
    #[serde(default)]
    pub config_ids: Option<Vec<String>>,
    /// The host the limit applies to.
    #[serde(default)]
    pub hostname: Option<String>,
}

impl TriggeredLimit {
    /// The service key the limit covers, from either generation of claims (`service_key`, else
    /// `service_id`); `None` (or blank): every service.
    pub fn service(&self) -> Option<&str> {
        non_blank(self.service_key.as_deref()).or_else(|| non_blank(self.service_id.as_deref()))
    }

    /// The customer the limit covers, from either generation of claims (`customer_key`, else
    /// `client_customer_key`); `None` (or blank): every customer.
    pub fn customer(&self) -> Option<&str> {
        non_blank(self.customer_key.as_deref())
            .or_else(|| non_blank(self.client_customer_key.as_deref()))
    }

    /// The API key id the limit belongs to; `None` (or blank): not tied to one key.
    pub fn api_key(&self) -> Option<&str> {
        non_blank(self.api_key_id.as_deref())
    }

    /// Whether this is a `limit` (calls it covers should stop) rather than an `alert` (which
    /// only informs). Compared without regard to case or surrounding spaces.
    pub fn is_blocking(&self) -> bool {
        self.threshold_type.trim().eq_ignore_ascii_case("limit")
    }

    /// `expires_at` parsed. RFC 3339 with an offset, or Python's `isoformat()` without one
    /// (read as UTC). `None` when absent or unreadable.
    pub fn expires_at_time(&self) -> Option<OffsetDateTime> {
        self.expires_at.as_deref().and_then(parse_timestamp)
    }

    /// Whether the limit still applies at `now`. A limit with no expiry, or one whose expiry
    /// cannot be read, is active: dropping a limit we do not understand would hide it.
    pub fn is_active_at(&self, now: OffsetDateTime) -> bool {
        match self.expires_at.as_deref() {
            None => true,
            Some(text) if text.trim().is_empty() => true,
            Some(text) => match parse_timestamp(text) {
                Some(expiry) => expiry > now,
                None => true,
            },
        }
    }

    /// Whether the limit still applies now.
    pub fn is_active(&self) -> bool {
        self.is_active_at(OffsetDateTime::now_utc())
    }
}

fn non_blank(text: Option<&str>) -> Option<&str> {
    text.filter(|t| !t.trim().is_empty())
}

/// The id of an API key: the text after its last `.` (keys have the form
/// `<secret>.<api_key_id>`). `None` when the key has no `.` or nothing after it: such a key
/// names no id, so only limits tied to no key apply to it. Never logged (it is part of a secret).
pub(crate) fn api_key_id(api_key: &str) -> Option<&str> {
    api_key
        .rsplit_once('.')
        .map(|(_, id)| id.trim())
        .filter(|id| !id.is_empty())
}

/// Whether `limit` applies to a call for `service_key` and `customer_key` made with the API key
/// whose id is `our_key_id` (see [`api_key_id`]), at `now`. Alerts apply too: whether a limit
/// blocks is [`TriggeredLimit::is_blocking`]'s question.
///
/// - API key: a limit naming an `api_key_id` applies only to that key; one naming none (absent
///   or blank) applies to every key of the account (the service sent it to us, and hiding a
///   limit costs money where honouring it costs a call).
/// - Service: a limit naming none applies to every service, else only to an equal service key
///   (exact text: service keys are identifiers).
/// - Customer: a limit naming none applies to every customer, including calls without one; a
///   customer-specific limit applies only to a call for that customer, never to one without a
///   customer (0.3.2 lets it match every call).
/// - Time: only while active ([`TriggeredLimit::is_active_at`]).
pub(crate) fn applies(
    limit: &TriggeredLimit,
    our_key_id: Option<&str>,
    service_key: &str,
    customer_key: Option<&str>,
    now: OffsetDateTime,
) -> bool {
    let key_ok = limit.api_key().is_none_or(|id| our_key_id == Some(id));
    let service_ok = limit.service().is_none_or(|s| s == service_key);
    let customer_ok = limit
        .customer()
        .is_none_or(|c| non_blank(customer_key) == Some(c));
    key_ok && service_ok && customer_ok && limit.is_active_at(now)
}

/// The limits (and alerts) of `limits` that apply to the call, in the order held.
pub(crate) fn in_force(
    limits: &[TriggeredLimit],
    our_key_id: Option<&str>,
    service_key: &str,
    customer_key: Option<&str>,
    now: OffsetDateTime,
) -> Vec<TriggeredLimit> {
    limits
        .iter()
        .filter(|l| applies(l, our_key_id, service_key, customer_key, now))
        .cloned()
        .collect()
}

fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t);
    }
    let naive = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    time::PrimitiveDateTime::parse(text, &naive)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| serde::de::Error::custom("amount out of range")),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .ok_or_else(|| serde::de::Error::custom(format!("amount `{s}` is not a number"))),
        other => Err(serde::de::Error::custom(format!(
            "amount must be a number, got {}",
            crate::api::json_kind(&other)
        ))),
    }
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The claims of a signed triggered-limits item; entries stay raw so one malformed entry is
/// skipped alone.
#[derive(Debug, Deserialize)]
pub(crate) struct LimitClaims {
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) triggered_limits: Vec<Value>,
}

/// Parses the entries, skipping (and logging) the ones that do not fit.
pub(crate) fn parse_limits(claims: LimitClaims) -> Vec<TriggeredLimit> {
    claims
        .triggered_limits
        .into_iter()
        .enumerate()
        .filter_map(
            |(i, entry)| match serde_json::from_value::<TriggeredLimit>(entry) {
                Ok(limit) => Some(limit),
                Err(error) => {
                    tracing::warn!(index = i, %error, "skipping a malformed triggered limit");
                    None
                }
            },
        )
        .collect()
}

/// Active limits, optionally only those of one customer.
///
/// Like the Python SDK, a customer filter keeps only limits naming that customer (in either
/// generation of claims); account-wide limits (no customer) are returned by the unfiltered
/// call. For "does anything stop this call" use [`in_force`].
pub(crate) fn select(
    limits: &[TriggeredLimit],
    customer_key: Option<&str>,
    now: OffsetDateTime,
) -> Vec<TriggeredLimit> {
    limits
        .iter()
        .filter(|l| l.is_active_at(now))
        .filter(|l| customer_key.is_none_or(|key| l.customer() == Some(key)))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn limit(customer: Option<&str>, expires: Option<&str>) -> Value {
        json!({"event_id": "e1", "limit_id": "l1", "threshold_type": "limit", "amount": "10.50",
               "period": "day", "vendor": {"name": "openai", "config_ids": ["cfg"], "hostname": null},
               "service_id": "svc", "client_customer_key": customer, "api_key_id": "ak",
               "triggered_at": "2025-08-07T00:00:00Z", "expires_at": expires})
    }

    #[test]
    fn parses_every_field_and_skips_malformed_entries() {
        let claims = LimitClaims {
            triggered_limits: vec![
                limit(Some("c1"), Some("2025-08-08T00:00:00+00:00")),
                json!({"event_id": 3}),
            ],
        };
        let limits = parse_limits(claims);
        assert_eq!(limits.len(), 1);
        let l = &limits[0];
        assert_eq!(l.amount, 10.5);
        assert_eq!(l.vendor.name.as_deref(), Some("openai"));
        assert_eq!(
            l.vendor.config_ids.as_deref(),
            Some(&["cfg".to_owned()][..])
        );
        assert_eq!(l.client_customer_key.as_deref(), Some("c1"));
        assert_eq!(l.expires_at_time(), Some(datetime!(2025-08-08 0:00 UTC)));
    }

    #[test]
    fn expiry_and_customer_filter() {
        let limits = parse_limits(LimitClaims {
            triggered_limits: vec![
                limit(Some("c1"), Some("2025-08-08T00:00:00Z")),
                limit(Some("c2"), Some("2025-08-06T00:00:00.5")),
                limit(None, None),
                limit(Some("c1"), Some("garbage")),
            ],
        });
        let now = datetime!(2025-08-07 12:00 UTC);
        assert_eq!(select(&limits, None, now).len(), 3);
        let c1 = select(&limits, Some("c1"), now);
        assert_eq!(c1.len(), 2);
        assert!(
            select(&limits, Some("c2"), now).is_empty(),
            "c2's limit expired"
        );
        let later = datetime!(2025-08-09 0:00 UTC);
        assert_eq!(select(&limits, None, later).len(), 2);
    }

    #[test]
    fn null_vendor_and_list_are_defaults() {
        let mut v = limit(None, None);
        v["vendor"] = Value::Null;
        let l: TriggeredLimit = serde_json::from_value(v).unwrap();
        assert_eq!(l.vendor, LimitVendor::default());
        let claims: LimitClaims =
            serde_json::from_value(json!({"triggered_limits": null})).unwrap();
        assert!(claims.triggered_limits.is_empty());
    }

    /// A limit of today's claims.
    fn today(
        threshold: &str,
        service: Option<&str>,
        customer: Option<&str>,
        key_id: Option<&str>,
        expires: Option<&str>,
    ) -> TriggeredLimit {
        serde_json::from_value(json!({
            "event_id": "e", "limit_id": "l", "threshold_type": threshold, "amount": 5,
            "period": "month", "limit_context": "spend", "limit_message": "over budget",
            "service_key": service, "customer_key": customer, "api_key_id": key_id,
            "triggered_at": "2025-08-07T00:00:00Z", "expires_at": expires}))
        .unwrap()
    }

    const NOW: OffsetDateTime = datetime!(2026-01-01 12:00 UTC);

    #[test]
    fn todays_claims_parse_and_accessors_read_either_generation() {
        let l = today(
            "limit",
            Some("openai::gpt-5-mini"),
            Some("acme"),
            Some("key-1"),
            None,
        );
        assert_eq!(l.service(), Some("openai::gpt-5-mini"));
        assert_eq!(l.customer(), Some("acme"));
        assert_eq!(l.api_key(), Some("key-1"));
        assert_eq!(l.limit_context.as_deref(), Some("spend"));
        assert_eq!(l.limit_message.as_deref(), Some("over budget"));
        assert_eq!(l.amount, 5.0);
        assert!(l.is_blocking());
        assert!(!today("alert", None, None, None, None).is_blocking());
        assert!(today(" LIMIT ", None, None, None, None).is_blocking());

        let old: TriggeredLimit = serde_json::from_value(limit(Some("c1"), None)).unwrap();
        assert_eq!(old.service(), Some("svc"));
        assert_eq!(old.customer(), Some("c1"));
        assert_eq!(
            (old.service_key.as_deref(), old.customer_key.as_deref()),
            (None, None)
        );
        let blank = today("limit", Some(" "), Some(""), Some(""), None);
        assert_eq!(
            (blank.service(), blank.customer(), blank.api_key()),
            (None, None, None)
        );
    }

    #[test]
    fn the_api_key_id_is_the_text_after_the_last_dot() {
        assert_eq!(api_key_id("secret.part.key-1"), Some("key-1"));
        assert_eq!(api_key_id("secret.key-1"), Some("key-1"));
        assert_eq!(api_key_id("sk-local-test"), None);
        assert_eq!(api_key_id("secret."), None);
    }

    #[test]
    fn a_limit_applies_to_our_key_only_and_one_without_a_key_to_every_key() {
        let ours = today("limit", None, None, Some("key-1"), None);
        let theirs = today("limit", None, None, Some("key-2"), None);
        let any = today("limit", None, None, None, None);
        let svc = "openai::gpt-5-mini";
        assert!(applies(&ours, Some("key-1"), svc, None, NOW));
        assert!(!applies(&theirs, Some("key-1"), svc, None, NOW));
        assert!(applies(&any, Some("key-1"), svc, None, NOW));
        // A key without an id gets only the limits tied to no key.
        assert!(!applies(&ours, None, svc, None, NOW));
        assert!(applies(&any, None, svc, None, NOW));
    }

    #[test]
    fn null_service_or_customer_means_all() {
        let everything = today("limit", None, None, None, None);
        let one_service = today("limit", Some("openai::gpt-5-mini"), None, None, None);
        for customer in [None, Some("acme"), Some("globex")] {
            assert!(applies(
                &everything,
                None,
                "anthropic::claude",
                customer,
                NOW
            ));
            assert!(applies(
                &one_service,
                None,
                "openai::gpt-5-mini",
                customer,
                NOW
            ));
            assert!(!applies(
                &one_service,
                None,
                "anthropic::claude",
                customer,
                NOW
            ));
        }
        // Old claims name the service as service_id.
        let old: TriggeredLimit = serde_json::from_value(limit(None, None)).unwrap();
        assert!(applies(&old, Some("ak"), "svc", None, NOW));
        assert!(!applies(&old, Some("ak"), "other", None, NOW));
    }

    #[test]
    fn a_customer_specific_limit_never_applies_to_a_call_without_that_customer() {
        let acme = today("limit", None, Some("acme"), None, None);
        let svc = "openai::gpt-5-mini";
        assert!(applies(&acme, None, svc, Some("acme"), NOW));
        assert!(!applies(&acme, None, svc, Some("globex"), NOW));
        assert!(
            !applies(&acme, None, svc, None, NOW),
            "no customer: not acme's limit"
        );
        assert!(
            !applies(&acme, None, svc, Some(""), NOW),
            "a blank customer is none"
        );
        assert!(
            !applies(&acme, None, svc, Some("ACME"), NOW),
            "keys are exact"
        );
    }

    #[test]
    fn an_expired_limit_no_longer_applies() {
        let svc = "s";
        let past = today("limit", None, None, None, Some("2025-12-31T23:59:59Z"));
        let future = today("limit", None, None, None, Some("2026-01-01T12:00:01+00:00"));
        let naive_future = today("limit", None, None, None, Some("2026-01-02T00:00:00"));
        let unreadable = today("limit", None, None, None, Some("soon"));
        assert!(!applies(&past, None, svc, None, NOW));
        assert!(applies(&future, None, svc, None, NOW));
        assert!(applies(&naive_future, None, svc, None, NOW));
        assert!(
            applies(&unreadable, None, svc, None, NOW),
            "kept rather than hidden"
        );
        assert!(!applies(
            &future,
            None,
            svc,
            None,
            datetime!(2026-01-01 12:00:01 UTC)
        ));
    }

    #[test]
    fn in_force_keeps_alerts_and_limits_that_apply_in_order() {
        let limits = vec![
            today("alert", None, None, Some("key-1"), None),
            today(
                "limit",
                Some("openai::gpt-5-mini"),
                Some("acme"),
                Some("key-1"),
                None,
            ),
            today("limit", None, None, Some("key-2"), None),
            today("limit", None, Some("globex"), None, None),
        ];
        let found = in_force(
            &limits,
            Some("key-1"),
            "openai::gpt-5-mini",
            Some("acme"),
            NOW,
        );
        assert_eq!(found, limits[..2].to_vec());
        assert_eq!(
            found.iter().filter(|l| l.is_blocking()).count(),
            1,
            "the alert informs, the limit blocks"
        );
        let found = in_force(&limits, Some("key-1"), "openai::gpt-5-mini", None, NOW);
        assert_eq!(found, limits[..1].to_vec());
    }

    #[test]
    fn select_filters_by_customer_in_either_generation() {
        let limits = vec![
            today("limit", None, Some("acme"), None, None),
            serde_json::from_value(limit(Some("acme"), None)).unwrap(),
            today("limit", None, None, None, None),
        ];
        assert_eq!(select(&limits, Some("acme"), NOW).len(), 2);
        assert_eq!(select(&limits, None, NOW).len(), 3);
    }
}
