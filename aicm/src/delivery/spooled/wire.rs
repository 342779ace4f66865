//! A spooled row back as the record the callbacks see. The spool keeps only the wire JSON, so
//! `on_failed` and `on_discard` get the record parsed from it (rarely: only for rows that fail
//! or are displaced). Rows of either contract read back: today's names (`service_key`,
//! `payload`, `customer_key`) are read as the config-based ones, and today's rows carry no
//! config id.

use std::time::SystemTime;

use serde::Deserialize;
use serde_json::Value;

use crate::delivery::record::{ResponseId, UsageRecord};

#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    config_id: String,
    #[serde(alias = "service_key")]
    service_id: String,
    timestamp: String,
    response_id: String,
    #[serde(alias = "payload")]
    usage: Value,
    #[serde(default, alias = "customer_key")]
    client_customer_key: Option<String>,
    #[serde(default)]
    context: Option<Value>,
}

/// The config and service a row's body names (for routing its callbacks), if it parses.
pub(crate) fn owner_ids(body: &[u8]) -> Option<(String, String)> {
    #[derive(Deserialize)]
    struct Ids {
        #[serde(default)]
        config_id: String,
        #[serde(alias = "service_key")]
        service_id: String,
    }
    serde_json::from_slice::<Ids>(body)
        .ok()
        .map(|ids| (ids.config_id, ids.service_id))
}

/// The record a body holds. A body that does not parse (it was written by this SDK, so only a
/// damaged file does that) still yields a record with what the row itself knows.
pub(crate) fn usage_record(
    body: &[u8],
    response_id: &str,
    config_id: &str,
    created_at: SystemTime,
) -> UsageRecord {
    match serde_json::from_slice::<Wire>(body) {
        Ok(w) => UsageRecord {
            timestamp: parse_timestamp(&w.timestamp).unwrap_or(created_at),
            config_id: w.config_id,
            service_id: w.service_id,
            response_id: ResponseId::from_wire(&w.response_id),
            usage: w.usage,
            client_customer_key: w.client_customer_key,
            context: w.context,
        },
        Err(_) => UsageRecord {
            config_id: config_id.to_owned(),
            service_id: String::new(),
            response_id: ResponseId::from_wire(response_id),
            timestamp: created_at,
            usage: Value::Null,
            client_customer_key: None,
            context: None,
        },
    }
}

fn parse_timestamp(text: &str) -> Option<SystemTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(SystemTime::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_wire_body_reads_back_as_the_record() {
        let body = br#"{"config_id":"cfg","service_id":"svc","timestamp":"2025-08-07T20:41:59.566193+00:00","response_id":"c49869882f37469c9f4c4faa8caa020b","usage":{"tokens":3},"client_customer_key":"c1"}"#;
        let r = usage_record(body, "x", "y", SystemTime::UNIX_EPOCH);
        assert_eq!(
            (r.config_id.as_str(), r.service_id.as_str()),
            ("cfg", "svc")
        );
        assert_eq!(
            r.response_id.to_string(),
            "c49869882f37469c9f4c4faa8caa020b"
        );
        assert_eq!(r.usage, serde_json::json!({"tokens": 3}));
        assert_eq!(r.client_customer_key.as_deref(), Some("c1"));
        assert_eq!(r.context, None);
        assert_eq!(
            r.timestamp,
            SystemTime::UNIX_EPOCH + Duration::from_micros(1_754_599_319_566_193)
        );
        assert_eq!(owner_ids(body), Some(("cfg".into(), "svc".into())));
        let damaged = usage_record(b"{", "rid", "cfg", SystemTime::UNIX_EPOCH);
        assert_eq!(
            (damaged.config_id.as_str(), damaged.usage.clone()),
            ("cfg", Value::Null)
        );
        assert_eq!(damaged.response_id.to_string(), "rid");
        let today = br#"{"service_key":"openai::gpt-5-mini","response_id":"r1","timestamp":"2025-08-07T20:41:59.566193+00:00","payload":{"tokens":3},"customer_key":"c1"}"#;
        let r = usage_record(today, "x", "", SystemTime::UNIX_EPOCH);
        assert_eq!(
            (r.config_id.as_str(), r.service_id.as_str()),
            ("", "openai::gpt-5-mini")
        );
        assert_eq!(r.usage, serde_json::json!({"tokens": 3}));
        assert_eq!(r.client_customer_key.as_deref(), Some("c1"));
        assert_eq!(
            owner_ids(today),
            Some((String::new(), "openai::gpt-5-mini".into()))
        );
    }
}
