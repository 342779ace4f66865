//! aicm: record usage and deliver it to AICostManager.
#![deny(missing_docs)]

mod error;
#[doc(hidden)]
pub mod __private;
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

pub use aicm_schema as schema;
pub use error::{Error, FlushError, SchemaMismatch, TrackError};
pub use tracker::TrackContext;
pub use usage::{IntoUsage, PreparedUsage, Usage};
pub use validate::{Mismatch, TypeValidator, UsageValidationError, ValidationIssue};
