//! The seam between delivery and the service's contracts of the wire. Everything that differs
//! between the config-based contract (`POST /track-usage`, [`configs`]) and today's contract
//! (`POST /track`, [`track`]) lives behind [`Contract`]: where a batch goes, how a record and a
//! batch are framed, and how a 2xx answer is read into per-record outcomes. Queue, spool,
//! retries, splitting, accounting and callbacks are written once and know no contract.

pub(crate) mod configs;
pub(crate) mod track;

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
    /// response id.
    pub fn read_outcomes(self, body: Option<&Value>, response_ids: &[String]) -> Outcomes {
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

    /// The public name of the contract.
    pub fn protocol(self) -> Protocol {
        match self {
            Contract::Configs => Protocol::Configs,
            Contract::Track => Protocol::Track,
        }
    }
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
