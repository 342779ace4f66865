//! Which contract the local API speaks: today's (`POST /track`), the old config-based one
//! (`GET /configs`, `POST /track-usage`), or both.

use std::fmt;
use std::str::FromStr;

/// The contract(s) a local API serves. `GET /triggered-limits` is served under all three.
///
/// - [`Protocol::Both`] (the default): every route.
/// - [`Protocol::Track`]: today's service (`shared/API-TRACK.md`). `GET /configs` and
///   `POST /track-usage` answer 404 `{"detail": "Not Found"}`, as the real service does.
/// - [`Protocol::Configs`]: the old service (`shared/API.md`). `POST /track` answers 404.
///
/// Parsed from and shown as `both`, `track` or `configs` (the binary's `--protocol`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Protocol {
    /// Both contracts.
    #[default]
    Both,
    /// Only today's contract: `POST /track` (and `GET /triggered-limits`).
    Track,
    /// Only the config-based contract: `GET /configs`, `POST /track-usage` (and
    /// `GET /triggered-limits`).
    Configs,
}

impl Protocol {
    /// Its name: `both`, `track` or `configs`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Both => "both",
            Protocol::Track => "track",
            Protocol::Configs => "configs",
        }
    }

    /// Whether `POST /track` is served.
    pub fn serves_track(self) -> bool {
        self != Protocol::Configs
    }

    /// Whether `GET /configs` and `POST /track-usage` are served.
    pub fn serves_configs(self) -> bool {
        self != Protocol::Track
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol name other than `both`, `track` or `configs`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown protocol `{0}`: expected `both`, `track` or `configs`")]
pub struct UnknownProtocol(pub String);

impl FromStr for Protocol {
    type Err = UnknownProtocol;

    fn from_str(text: &str) -> Result<Protocol, UnknownProtocol> {
        match text.trim().to_ascii_lowercase().as_str() {
            "both" => Ok(Protocol::Both),
            "track" => Ok(Protocol::Track),
            "configs" => Ok(Protocol::Configs),
            _ => Err(UnknownProtocol(text.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for protocol in [Protocol::Both, Protocol::Track, Protocol::Configs] {
            assert_eq!(protocol.to_string().parse::<Protocol>(), Ok(protocol));
        }
        assert_eq!("TRACK".parse::<Protocol>(), Ok(Protocol::Track));
        assert!("track-usage".parse::<Protocol>().is_err());
        assert_eq!(Protocol::default(), Protocol::Both);
    }
}
