//! Items the `#[derive(Usage)]` expansion refers to. Not public API: no stability promise.
#![allow(missing_docs)]

use crate::usage::PreparedUsage;
use crate::{TrackError, Usage};

pub use crate::conform;
pub use crate::conform::support::{Checker, FieldConforms, SchemaCell, check_field};
pub use crate::usage::TrackContext;
pub use serde;
pub use serde_json;

/// Checks settled and the record serialised here, on the caller's thread, for owned and
/// borrowed records alike (the owned one is then dropped where it was built).
pub fn prepare_borrowed<T>(usage: &T, ctx: &TrackContext<'_>) -> Result<PreparedUsage, TrackError>
where
    T: Usage + ?Sized,
{
    crate::usage::prepare_typed(usage, ctx)
}
