//! aicm: record usage and deliver it to AICostManager.
#![deny(missing_docs)]

#[doc(hidden)]
pub mod __private;
pub mod conform;
mod delivery;
mod error;
#[cfg(feature = "testing")]
pub mod testing;
mod tracker;
mod usage;
pub mod validate;

mod api;
mod config;
mod settings;
#[cfg(feature = "testing")]
#[doc(hidden)]
pub use config::probe::ConfigProbe as __ConfigProbe;

#[cfg(feature = "derive")]
pub use aicm_derive::Usage;
pub use aicm_schema as schema;
pub use config::{LimitVendor, LoadedConfig, TriggeredLimit};
pub use delivery::health::{DeliveryHealth, global_delivery_health};
pub use delivery::options::{OnFull, ParseOnFullError, defaults};
pub use delivery::record::{DiscardedRecord, FailedRecord, ResponseId, UsageRecord};
pub use delivery::send::Receipt;
pub use error::{Error, FlushError, SchemaMismatch, TrackError};
pub use tracker::{TrackContext, TrackOptions, Tracker, TrackerBuilder};
pub use usage::{IntoUsage, PreparedUsage, Usage};
pub use validate::{Mismatch, TypeValidator, UsageValidationError, ValidationIssue};
