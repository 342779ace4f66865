//! The seam between delivery and the service's contracts of the wire. Everything that differs
//! between the config-based contract (`POST /track-usage`, [`configs`]) and today's contract
//! (`POST /track`, [`track`]) lives behind [`Contract`]: where a batch goes, how a record and a
//! batch are framed, and how a 2xx answer is read into per-record outcomes. Queue, spool,
//! retries, splitting, accounting and callbacks are written once and know no contract.

pub(crate) mod configs;
pub(crate) mod track;

#[cfg(feature = "spool")]
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use serde_json::Value;

use super::record::ResponseId;

/// Which contract of the AICostManager API a Tracker speaks (`AICM_PROTOCOL`).
///
/// The service has had two: the config-based one (`GET /configs` with a signed usage schema,
/// `POST /track-usage`) and today's (`POST /track`, since August 2025). A Tracker speaks one of
/// them and never mixes them. `Auto`, the default, asks the service once per API root and key at
/// start-up: a service without `/configs` (it answers 404) speaks today's contract.
///
/// ```
/// use aicm::Protocol;
/// assert_eq!("track".parse::<Protocol>().unwrap(), Protocol::Track);
/// assert_eq!(Protocol::default(), Protocol::Auto);
/// assert!("v2".parse::<Protocol>().unwrap_err().to_string().contains("auto, track, configs"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Decide at start-up from the service's answer to `GET /configs` (404: today's API).
    #[default]
    Auto,
    /// Today's contract: `POST /track` with `service_key`, `payload` and `customer_key`.
    Track,
    /// The config-based contract: `GET /configs`, `POST /track-usage`.
    Configs,
}

impl Protocol {
    /// The accepted spellings, for error messages.
    pub const VARIANTS: [&'static str; 3] = ["auto", "track", "configs"];

    fn as_str(self) -> &'static str {
        match self {
            Protocol::Auto => "auto",
            Protocol::Track => "track",
            Protocol::Configs => "configs",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol spelling that is not one of `auto`, `track`, `configs`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid protocol `{0}`: expected one of auto, track, configs")]
pub struct ParseProtocolError(pub String);

impl FromStr for Protocol {
    type Err = ParseProtocolError;

    /// Case-insensitive, surrounding whitespace ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Protocol::Auto),
            "track" => Ok(Protocol::Track),
            "configs" => Ok(Protocol::Configs),
            _ => Err(ParseProtocolError(s.to_owned())),
        }
    }
}

/// The contract a worker speaks once decided: never `Auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Contract {
    /// API.md: `POST /track-usage`, `{"usage_records": [...]}`.
    Configs,
    /// API-TRACK.md: `POST /track`, `{"tracked": [...]}`.
    Track,
}

/// What a record's wire form is built from.
pub(crate) struct Frame<'a> {
    pub config_id: &'a str,
    /// The service id (config-based) or service key (today's): the same thing.
    pub service_key: &'a str,
    pub timestamp: SystemTime,
    pub response_id: &'a ResponseId,
    /// The usage object's JSON, then the customer key and context members written with
    /// [`Contract::customer_key_member`].
    pub body: &'a [u8],
}

/// The service's answer about one record of a 2xx batch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RecordAnswer {
    /// Taken (stored, queued or costed).
    Sent,
    /// A final answer about this record: not taken, never to be retried.
    Refused {
        /// The service's status word (`error`, `service_key_unknown`).
        status: String,
        /// The service's messages about it.
        messages: Vec<String>,
    },
}

/// A 2xx answer read record by record, in the batch's order.
pub(crate) struct Outcomes {
    pub answers: Vec<RecordAnswer>,
    /// Records the answer did not mention (counted as sent: the service took the batch).
    pub unmentioned: usize,
    /// The body was not the JSON the contract describes (every record counted as sent).
    pub unreadable: bool,
}

impl Contract {
    /// The path under the API root that batches are posted to.
    pub fn path(self) -> &'static str {
        match self {
            Contract::Configs => configs::PATH,
            Contract::Track => track::PATH,
        }
    }

    /// The batch body before the first record.
    pub fn batch_prefix(self) -> &'static [u8] {
        match self {
            Contract::Configs => configs::PREFIX,
            Contract::Track => track::PREFIX,
        }
    }

    /// The batch body after the last record.
    pub fn batch_suffix(self) -> &'static [u8] {
        b"]}"
    }

    /// The member that introduces the customer key in a record (with its leading comma).
    pub fn customer_key_member(self) -> &'static [u8] {
        match self {
            Contract::Configs => configs::CUSTOMER_KEY,
            Contract::Track => track::CUSTOMER_KEY,
        }
    }

    /// Appends one record's JSON object.
    pub fn write_record(self, frame: &Frame<'_>, out: &mut Vec<u8>) {
        match self {
            Contract::Configs => configs::write_record(frame, out),
            Contract::Track => track::write_record(frame, out),
        }
    }

    /// A batch body from records already framed by [`Contract::write_record`].
    pub fn batch_body<'a>(self, records: impl ExactSizeIterator<Item = &'a [u8]>) -> Vec<u8> {
        let prefix = self.batch_prefix();
        let suffix = self.batch_suffix();
        let mut body = Vec::with_capacity(prefix.len() + records.len() * 320 + suffix.len());
        body.extend_from_slice(prefix);
        for (i, record) in records.enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(record);
        }
        body.extend_from_slice(suffix);
        body
    }

    /// Reads a 2xx answer's JSON (`None`: not JSON) into one outcome per record, matched by
    /// response id. The config-based contract answers for the batch as a whole and does not
    /// read the ids.
    pub fn read_outcomes<S: AsRef<str>>(
        self,
        body: Option<&Value>,
        response_ids: impl ExactSizeIterator<Item = S>,
    ) -> Outcomes {
        match self {
            Contract::Configs => Outcomes {
                answers: vec![RecordAnswer::Sent; response_ids.len()],
                unmentioned: 0,
                unreadable: false,
            },
            Contract::Track => track::read_outcomes(body, response_ids),
        }
    }

    /// What the service says about one record of a 2xx answer, for `deliver_now`'s receipt.
    pub fn receipt_details(self, body: Option<&Value>, response_id: &str) -> ReceiptDetails {
        match self {
            Contract::Configs => ReceiptDetails {
                event_id: body.and_then(|b| configs::event_id_for(b, response_id)),
                ..ReceiptDetails::default()
            },
            Contract::Track => track::receipt_details(body, response_id),
        }
    }

    /// Whether a 2xx answer of this contract carries triggered limits to take: under today's
    /// contract an absent `triggered_limits` means "unchanged", under the config-based one
    /// "none active".
    pub fn carries_limits(self, body: &Value) -> bool {
        match self {
            Contract::Configs => true,
            Contract::Track => body.get("triggered_limits").is_some(),
        }
    }

    #[cfg(feature = "spool")]
    /// A stored record's JSON (one record, as [`Contract::write_record`] of either contract
    /// wrote it) in this contract's shape, for a spool file written under the other contract.
    /// A record already in this shape is borrowed as it is (the common case, found from its
    /// first member without parsing). `config_id` is the row's config id: today's records
    /// carry none, and the config-based contract needs one.
    ///
    /// Config-based to today's: `service_id` becomes `service_key`, `usage` `payload`,
    /// `client_customer_key` `customer_key`; `config_id` and `base_url` are dropped. Today's
    /// to config-based: the reverse, with `config_id` first. `Err` says why the record cannot
    /// be sent under this contract (not a JSON object, neither contract's shape, no config
    /// id): a final answer about that record, never a retry.
    pub fn reframe<'a>(self, record: &'a [u8], config_id: &str) -> Result<Cow<'a, [u8]>, String> {
        let own_first: &[u8] = match self {
            Contract::Configs => b"{\"config_id\":",
            Contract::Track => b"{\"service_key\":",
        };
        if record.starts_with(own_first) {
            return Ok(Cow::Borrowed(record));
        }
        let members: serde_json::Map<String, Value> = serde_json::from_slice(record)
            .map_err(|e| format!("the stored record is not a JSON object ({e})"))?;
        let shape = if members.contains_key("service_key") || members.contains_key("payload") {
            Contract::Track
        } else if ["service_id", "usage", "config_id"]
            .iter()
            .any(|k| members.contains_key(*k))
        {
            Contract::Configs
        } else {
            return Err(
                "the stored record is in neither contract's shape (it has no \
                        service_key nor service_id)"
                    .to_owned(),
            );
        };
        if shape == self {
            return Ok(Cow::Borrowed(record));
        }
        let mut out = Vec::with_capacity(record.len() + config_id.len() + 16);
        out.push(b'{');
        match self {
            Contract::Track => {
                let renamed = members.into_iter().filter_map(|(k, v)| {
                    let k = match k.as_str() {
                        "config_id" | "base_url" => return None,
                        "service_id" => "service_key".to_owned(),
                        "usage" => "payload".to_owned(),
                        "client_customer_key" => "customer_key".to_owned(),
                        _ => k,
                    };
                    Some((k, v))
                });
                write_members(&mut out, first_member("service_key", renamed))?;
            }
            Contract::Configs => {
                if config_id.is_empty() {
                    return Err(
                        "the stored record is in the shape of today's contract (POST \
                                /track) and its row has no config id, so it cannot be sent to \
                                the config-based API (POST /track-usage); a Tracker speaking \
                                today's contract (protocol `track`) can deliver it once \
                                requeued"
                            .to_owned(),
                    );
                }
                let renamed = members.into_iter().map(|(k, v)| {
                    let k = match k.as_str() {
                        "service_key" => "service_id".to_owned(),
                        "payload" => "usage".to_owned(),
                        "customer_key" => "client_customer_key".to_owned(),
                        _ => k,
                    };
                    (k, v)
                });
                let members = std::iter::once(("config_id".to_owned(), Value::from(config_id)))
                    .chain(renamed.filter(|(k, _)| k != "config_id"));
                write_members(&mut out, members)?;
            }
        }
        out.push(b'}');
        Ok(Cow::Owned(out))
    }

    /// The public name of the contract.
    pub fn protocol(self) -> Protocol {
        match self {
            Contract::Configs => Protocol::Configs,
            Contract::Track => Protocol::Track,
        }
    }
}

#[cfg(feature = "spool")]
/// `members` with the one named `first` moved to the front (the member a record of the
/// contract starts with), the others in their order.
fn first_member(
    first: &str,
    members: impl Iterator<Item = (String, Value)>,
) -> impl Iterator<Item = (String, Value)> {
    let (head, rest): (Vec<_>, Vec<_>) = members.partition(|(k, _)| k == first);
    head.into_iter().chain(rest)
}

#[cfg(feature = "spool")]
/// Writes `"key":value` members, comma-separated.
fn write_members(
    out: &mut Vec<u8>,
    members: impl Iterator<Item = (String, Value)>,
) -> Result<(), String> {
    for (i, (k, v)) in members.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, &k).map_err(|e| e.to_string())?;
        out.push(b':');
        serde_json::to_writer(&mut *out, &v).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// What a 2xx answer says about one record, beyond "taken".
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ReceiptDetails {
    pub event_id: Option<String>,
    pub status: Option<String>,
    pub messages: Vec<String>,
    pub cost_events: Vec<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_parses_case_insensitively_and_round_trips() {
        for p in [Protocol::Auto, Protocol::Track, Protocol::Configs] {
            assert_eq!(p.to_string().parse::<Protocol>().unwrap(), p);
        }
        assert_eq!(" TRACK ".parse::<Protocol>().unwrap(), Protocol::Track);
        assert_eq!(
            "legacy".parse::<Protocol>().unwrap_err().to_string(),
            "invalid protocol `legacy`: expected one of auto, track, configs"
        );
    }

    #[cfg(feature = "spool")]
    fn json(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[cfg(feature = "spool")]
    const CONFIGS_RECORD: &str = r#"{"config_id":"cfg","service_id":"openai::gpt-4o-mini","timestamp":"2025-08-07T20:41:59.566193+00:00","response_id":"r-1","usage":{"input_tokens":10},"client_customer_key":"acme","context":{"env":"prod"}}"#;
    #[cfg(feature = "spool")]
    const TRACK_RECORD: &str = r#"{"service_key":"openai::gpt-4o-mini","response_id":"r-1","timestamp":"2025-08-07T20:41:59.566193+00:00","payload":{"input_tokens":10},"customer_key":"acme","context":{"env":"prod"}}"#;

    #[cfg(feature = "spool")]
    #[test]
    fn a_record_in_the_contracts_own_shape_is_borrowed_as_it_is() {
        for (contract, record) in [
            (Contract::Configs, CONFIGS_RECORD),
            (Contract::Track, TRACK_RECORD),
        ] {
            let out = contract.reframe(record.as_bytes(), "").unwrap();
            assert!(matches!(out, Cow::Borrowed(_)));
            assert_eq!(&*out, record.as_bytes());
        }
        // Own shape, another first member: detected by its members, still borrowed.
        let spaced = br#" {"usage":{},"service_id":"s","config_id":"c"}"#;
        assert!(matches!(
            Contract::Configs.reframe(spaced, "").unwrap(),
            Cow::Borrowed(_)
        ));
    }

    #[cfg(feature = "spool")]
    #[test]
    fn a_config_based_record_is_reframed_for_today() {
        let with_base_url = CONFIGS_RECORD.replacen('{', r#"{"base_url":"https://x","#, 1);
        for record in [CONFIGS_RECORD, with_base_url.as_str()] {
            let out = Contract::Track.reframe(record.as_bytes(), "cfg").unwrap();
            assert!(out.starts_with(br#"{"service_key":"#), "{out:?}");
            assert_eq!(json(&out), json(TRACK_RECORD.as_bytes()));
        }
        // Without the optional members.
        let bare = br#"{"config_id":"c","service_id":"v::s","timestamp":"t","response_id":"r","usage":{"n":1}}"#;
        assert_eq!(
            json(&Contract::Track.reframe(bare, "c").unwrap()),
            serde_json::json!({"service_key": "v::s", "timestamp": "t", "response_id": "r",
                               "payload": {"n": 1}})
        );
    }

    #[cfg(feature = "spool")]
    #[test]
    fn todays_record_is_reframed_with_the_rows_config_id_or_refused() {
        let out = Contract::Configs
            .reframe(TRACK_RECORD.as_bytes(), "cfg")
            .unwrap();
        assert!(out.starts_with(br#"{"config_id":"cfg","#), "{out:?}");
        assert_eq!(json(&out), json(CONFIGS_RECORD.as_bytes()));
        let err = Contract::Configs
            .reframe(TRACK_RECORD.as_bytes(), "")
            .unwrap_err();
        assert!(err.contains("no config id"), "{err}");
        assert!(err.contains("/track-usage"), "{err}");
    }

    #[cfg(feature = "spool")]
    #[test]
    fn a_record_of_no_known_shape_is_refused_with_the_reason() {
        for contract in [Contract::Configs, Contract::Track] {
            let err = contract.reframe(b"{\"payl", "cfg").unwrap_err();
            assert!(err.contains("not a JSON object"), "{err}");
            let err = contract.reframe(b"[1]", "cfg").unwrap_err();
            assert!(err.contains("not a JSON object"), "{err}");
            let err = contract.reframe(br#"{"a":1}"#, "cfg").unwrap_err();
            assert!(err.contains("neither contract"), "{err}");
        }
    }

    #[test]
    fn batch_bodies_join_framed_records() {
        let records: [&[u8]; 2] = [br#"{"a":1}"#, br#"{"b":2}"#];
        assert_eq!(
            String::from_utf8(Contract::Configs.batch_body(records.iter().copied())).unwrap(),
            r#"{"usage_records":[{"a":1},{"b":2}]}"#
        );
        assert_eq!(
            String::from_utf8(Contract::Track.batch_body(records.iter().copied())).unwrap(),
            r#"{"tracked":[{"a":1},{"b":2}]}"#
        );
        assert_eq!(
            String::from_utf8(Contract::Track.batch_body(std::iter::empty())).unwrap(),
            r#"{"tracked":[]}"#
        );
    }
}
