//! Triggered limits: what the service says is over budget (API.md "Triggered-limits claims").

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// A usage limit the AICostManager service has triggered, as verified from a signed
/// triggered-limits item.
///
/// The service decides what a limit means; the SDK only reports it, so an application can stop
/// or slow the calls a limit covers. Get the active ones from `Tracker::triggered_limits`.
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
    /// How the threshold is expressed, as the service names it (e.g. `limit`, `alert`).
    pub threshold_type: String,
    /// The threshold amount. The service may send it as a decimal string; it is parsed.
    #[serde(deserialize_with = "number_or_string")]
    pub amount: f64,
    /// The period the limit covers, as the service names it (e.g. `day`, `month`).
    pub period: String,
    /// What the limit applies to.
    #[serde(default, deserialize_with = "null_as_default")]
    pub vendor: LimitVendor,
    /// The service the limit covers, if it covers one.
    #[serde(default)]
    pub service_id: Option<String>,
    /// The customer the limit covers, if it covers one.
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
/// Like the Python SDK, a customer filter keeps only limits naming that customer; account-wide
/// limits (no customer) are returned by the unfiltered call.
pub(crate) fn select(
    limits: &[TriggeredLimit],
    customer_key: Option<&str>,
    now: OffsetDateTime,
) -> Vec<TriggeredLimit> {
    limits
        .iter()
        .filter(|l| l.is_active_at(now))
        .filter(|l| customer_key.is_none_or(|key| l.client_customer_key.as_deref() == Some(key)))
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
}
