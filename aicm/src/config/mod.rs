//! Signed configs and triggered limits: fetched from the API, verified, cached in `AICM.INI`
//! (API.md "GET /configs", "AICM.INI").
//!
//! - [`verify`]: RS256 verification of one signed item.
//! - [`ini`]: the configparser format, edited in place so foreign sections survive.
//! - [`lock`]: the Python SDK's lock-file protocol and atomic replacement.
//! - [`limits`]: triggered limits and which of them are active.
//! - [`store`]: [`ConfigStore`], which ties these to the API client for the Tracker.

pub(crate) mod ini;
pub(crate) mod limits;
pub(crate) mod lock;
#[cfg(feature = "testing")]
pub mod probe;
pub(crate) mod store;
pub(crate) mod verify;

#[cfg(test)]
pub(crate) mod test_support;

pub use limits::{LimitVendor, TriggeredLimit};
pub(crate) use store::ConfigStore;
pub use store::LoadedConfig;
