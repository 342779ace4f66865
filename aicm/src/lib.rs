//! aicm: record usage and deliver it to AICostManager.
#![deny(missing_docs)]

mod error;
#[doc(hidden)]
pub mod __private;
mod tracker;
mod usage;
pub mod validate;

pub use aicm_schema as schema;
pub use error::{Error, FlushError, SchemaMismatch, TrackError};
pub use tracker::TrackContext;
pub use usage::{IntoUsage, PreparedUsage, Usage};
pub use validate::{Mismatch, TypeValidator, UsageValidationError, ValidationIssue};
