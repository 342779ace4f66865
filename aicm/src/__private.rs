//! Items the `#[derive(Usage)]` expansion refers to. Not public API: no stability promise.
#![allow(missing_docs)]

use crate::usage::PreparedUsage;
use crate::{TrackError, Usage};

pub use crate::conform;
pub use crate::conform::support::{Checker, FieldConforms, SchemaCell, check_field};
pub use crate::tracker::TrackContext;
pub use bytes::BytesMut;
pub use serde;
pub use serde_json;

/// Checks settled and the record serialised here, on the caller's thread, for owned and
/// borrowed records alike (the owned one is then dropped where it was built).
pub fn prepare_borrowed<T>(usage: &T, ctx: &TrackContext<'_>) -> Result<PreparedUsage, TrackError>
where
    T: Usage + ?Sized,
{
    ctx.check_typed::<T>()?;
    usage.check()?;
    PreparedUsage::serialize_typed(usage)
}

/// One field value of a derived [`Usage::write_json`]: compact JSON, as serde_json writes it.
#[inline]
pub fn write_value<T: serde::Serialize + ?Sized>(
    out: &mut BytesMut,
    value: &T,
) -> Result<(), serde_json::Error> {
    crate::usage::compact_json::write(out, value)
}
