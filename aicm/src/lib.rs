//! aicm: record usage and deliver it to AICostManager.
#![deny(missing_docs)]

pub mod validate;

pub use aicm_schema as schema;
pub use validate::{TypeValidator, UsageValidationError, ValidationIssue};
