//! Today's contract (API-TRACK.md): `POST /track` with `{"tracked": [...]}`, each record
//! `{service_key, response_id, timestamp, payload, customer_key?, context?}` and nothing else;
//! a 2xx answers each record in `results` (matched by `response_id`): `queued` and
//! `completed` are taken, `error` and `service_key_unknown` are final refusals of that record.

use std::collections::HashMap;

use serde_json::Value;

use super::{Frame, Outcomes, ReceiptDetails, RecordAnswer};
use crate::delivery::record::{write_json_str, write_timestamp};

pub(crate) const PATH: &str = "/track";
pub(crate) const PREFIX: &[u8] = b"{\"tracked\":[";
pub(crate) const CUSTOMER_KEY: &[u8] = b",\"customer_key\":";
/// Records per request the service accepts.
pub(crate) const MAX_BATCH: usize = 1_000;

/// `{"service_key":…,"response_id":…,"timestamp":…,"payload":<body>}`.
pub(crate) fn write_record(frame: &Frame<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"service_key\":");
    write_json_str(out, frame.service_key);
    out.extend_from_slice(b",\"response_id\":");
    frame.response_id.write_json(out);
    out.extend_from_slice(b",\"timestamp\":\"");
    write_timestamp(out, frame.timestamp);
    out.extend_from_slice(b"\",\"payload\":");
    out.extend_from_slice(frame.body);
    out.push(b'}');
}

/// The `results` of a 2xx body, keyed by response id (the first result of an id wins).
fn results(body: Option<&Value>) -> Option<HashMap<&str, &Value>> {
    let results = body?.get("results")?.as_array()?;
    let mut by_id = HashMap::with_capacity(results.len());
    for result in results {
        if let Some(id) = result.get("response_id").and_then(Value::as_str) {
            by_id.entry(id).or_insert(result);
        }
    }
    Some(by_id)
}

fn messages(result: &Value) -> Vec<String> {
    match result.get("errors") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|m| match m {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// `error` and `service_key_unknown` refuse the record; every other status (`queued`,
/// `completed`, or one the service adds later) counts as taken, as a 2xx does.
fn answer(result: &Value) -> RecordAnswer {
    match result.get("status").and_then(Value::as_str) {
        Some(status @ ("error" | "service_key_unknown")) => RecordAnswer::Refused {
            status: status.to_owned(),
            messages: messages(result),
        },
        _ => RecordAnswer::Sent,
    }
}

pub(crate) fn read_outcomes<S: AsRef<str>>(
    body: Option<&Value>,
    response_ids: impl ExactSizeIterator<Item = S>,
) -> Outcomes {
    let Some(by_id) = results(body) else {
        return Outcomes {
            answers: vec![RecordAnswer::Sent; response_ids.len()],
            unmentioned: 0,
            unreadable: true,
        };
    };
    let mut unmentioned = 0;
    let answers = response_ids
        .map(|id| match by_id.get(id.as_ref()) {
            Some(result) => answer(result),
            None => {
                unmentioned += 1;
                RecordAnswer::Sent
            }
        })
        .collect();
    Outcomes {
        answers,
        unmentioned,
        unreadable: false,
    }
}

pub(crate) fn receipt_details(body: Option<&Value>, response_id: &str) -> ReceiptDetails {
    let Some(result) = results(body).and_then(|r| r.get(response_id).copied()) else {
        return ReceiptDetails::default();
    };
    ReceiptDetails {
        event_id: result
            .get("event_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        status: result
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_owned),
        messages: messages(result),
        cost_events: match result.get("cost_events") {
            Some(Value::Array(events)) => events.clone(),
            _ => Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::record::ResponseId;
    use serde_json::json;
    use std::time::{Duration, SystemTime};

    #[test]
    fn a_record_has_exactly_todays_fields() {
        let id = ResponseId::given("r-1");
        let mut out = Vec::new();
        write_record(
            &Frame {
                config_id: "ignored",
                service_key: "openai::gpt-5-mini",
                timestamp: SystemTime::UNIX_EPOCH + Duration::from_micros(1_754_599_319_566_193),
                response_id: &id,
                body: br#"{"input_tokens":10},"customer_key":"acme","context":{"env":"prod"}"#,
            },
            &mut out,
        );
        let record: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            record,
            json!({"service_key": "openai::gpt-5-mini", "response_id": "r-1",
                   "timestamp": "2025-08-07T20:41:59.566193+00:00",
                   "payload": {"input_tokens": 10}, "customer_key": "acme",
                   "context": {"env": "prod"}})
        );
    }

    #[test]
    fn results_are_matched_by_response_id() {
        let body = json!({"results": [
            {"response_id": "b", "status": "service_key_unknown",
             "errors": ["Service key 'x::y' is not recognized."]},
            {"response_id": "a", "status": "queued"},
            {"response_id": "c", "status": "error", "errors": ["bad", {"field": "f"}]},
            {"response_id": "d", "status": "completed", "cost_events": [{"amount": 1}]},
        ]});
        let outcomes = read_outcomes(Some(&body), ["a", "b", "c", "d", "e"].into_iter());
        assert!(!outcomes.unreadable);
        assert_eq!(outcomes.unmentioned, 1);
        assert_eq!(
            outcomes.answers,
            vec![
                RecordAnswer::Sent,
                RecordAnswer::Refused {
                    status: "service_key_unknown".into(),
                    messages: vec!["Service key 'x::y' is not recognized.".into()],
                },
                RecordAnswer::Refused {
                    status: "error".into(),
                    messages: vec!["bad".into(), r#"{"field":"f"}"#.into()],
                },
                RecordAnswer::Sent,
                RecordAnswer::Sent,
            ]
        );
        let receipt = receipt_details(Some(&body), "d");
        assert_eq!(receipt.status.as_deref(), Some("completed"));
        assert_eq!(receipt.cost_events, vec![json!({"amount": 1})]);
        assert_eq!(
            receipt_details(Some(&body), "zz"),
            ReceiptDetails::default()
        );
    }

    #[test]
    fn a_body_without_results_takes_every_record() {
        for body in [None, Some(json!({"ok": true})), Some(json!([1]))] {
            let outcomes = read_outcomes(body.as_ref(), std::iter::once("a"));
            assert!(outcomes.unreadable);
            assert_eq!(outcomes.answers, vec![RecordAnswer::Sent]);
        }
    }
}
