//! The config-based contract (API.md): `POST /track-usage` with `{"usage_records": [...]}`,
//! each record `{config_id, service_id, timestamp, response_id, usage, client_customer_key?,
//! context?}`; a 2xx takes the whole batch and names each record's event in `event_ids`.

use serde_json::Value;

use super::Frame;
use crate::delivery::record::{write_json_str, write_timestamp};

pub(crate) const PATH: &str = "/track-usage";
pub(crate) const PREFIX: &[u8] = b"{\"usage_records\":[";
pub(crate) const CUSTOMER_KEY: &[u8] = b",\"client_customer_key\":";

/// `{"config_id":…,"service_id":…,"timestamp":…,"response_id":…,"usage":<body>}`.
pub(crate) fn write_record(frame: &Frame<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"config_id\":");
    write_json_str(out, frame.config_id);
    out.extend_from_slice(b",\"service_id\":");
    write_json_str(out, frame.service_key);
    out.extend_from_slice(b",\"timestamp\":\"");
    write_timestamp(out, frame.timestamp);
    out.extend_from_slice(b"\",\"response_id\":");
    frame.response_id.write_json(out);
    out.extend_from_slice(b",\"usage\":");
    out.extend_from_slice(frame.body);
    out.push(b'}');
}

/// `{"event_ids": [{"<response_id>": "<event id>"}]}` → the event id for `response_id`.
pub(crate) fn event_id_for(body: &Value, response_id: &str) -> Option<String> {
    body.get("event_ids")?
        .as_array()?
        .iter()
        .find_map(|item| item.get(response_id)?.as_str().map(str::to_owned))
}
