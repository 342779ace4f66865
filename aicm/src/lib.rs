//! aicm: record usage and deliver it to AICostManager.
#![deny(missing_docs)]

#[doc(hidden)]
pub mod __private;
mod delivery;
mod error;
#[cfg(feature = "spool")]
pub mod spool;
#[cfg(feature = "testing")]
pub mod testing;
mod tracker;
mod usage;
pub mod validate;

pub use aicm_schema as schema;
pub use delivery::health::{DeliveryHealth, global_delivery_health};
pub use delivery::options::{OnFull, ParseOnFullError, defaults};
pub use delivery::record::{DiscardedRecord, FailedRecord, ResponseId, UsageRecord};
pub use delivery::send::Receipt;
pub use error::{Error, FlushError, SchemaMismatch, TrackError};
pub use tracker::{TrackContext, TrackOptions, Tracker, TrackerBuilder};
pub use usage::{IntoUsage, PreparedUsage, Usage};
pub use validate::{Mismatch, TypeValidator, UsageValidationError, ValidationIssue};
