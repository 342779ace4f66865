//! aicm: record usage and deliver it to AICostManager.
#![deny(missing_docs)]

#[doc(hidden)]
pub mod __private;
mod delivery;
mod error;
#[cfg(feature = "testing")]
pub mod testing;
mod tracker;
mod usage;
pub mod validate;

// Settings, the API client and signed configs: crate-internal; the allows go once the Tracker
// uses them.
#[allow(dead_code)]
mod api;
#[allow(dead_code, unused_imports)]
mod config;
#[allow(dead_code)]
mod settings;
#[cfg(feature = "testing")]
#[doc(hidden)]
pub use config::probe::ConfigProbe as __ConfigProbe;

pub use aicm_schema as schema;
pub use delivery::health::{DeliveryHealth, global_delivery_health};
pub use delivery::options::{OnFull, ParseOnFullError, defaults};
pub use delivery::record::{DiscardedRecord, FailedRecord, ResponseId, UsageRecord};
pub use delivery::send::Receipt;
pub use error::{Error, FlushError, SchemaMismatch, TrackError};
pub use tracker::{TrackContext, TrackOptions, Tracker, TrackerBuilder};
pub use usage::{IntoUsage, PreparedUsage, Usage};
pub use validate::{Mismatch, TypeValidator, UsageValidationError, ValidationIssue};
