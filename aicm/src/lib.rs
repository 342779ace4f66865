//! aicm: record usage and deliver it to AICostManager.
#![deny(missing_docs)]

#[doc(hidden)]
pub mod __private;
pub mod conform;
mod error;
mod tracker;
mod usage;
pub mod validate;

#[cfg(feature = "derive")]
pub use aicm_derive::Usage;
pub use aicm_schema as schema;
pub use error::{Error, FlushError, SchemaMismatch, TrackError};
pub use tracker::TrackContext;
pub use usage::{IntoUsage, PreparedUsage, Usage};
pub use validate::{Mismatch, TypeValidator, UsageValidationError, ValidationIssue};
