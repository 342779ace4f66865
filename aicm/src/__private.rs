//! Items the `#[derive(Usage)]` expansion refers to. Not public API: no stability promise.
#![allow(missing_docs)]

use crate::usage::{Payload, PreparedUsage};
use crate::{TrackError, Usage};

pub use crate::conform;
pub use crate::conform::support::{Checker, FieldConforms, SchemaCell, check_field};
pub use crate::tracker::TrackContext;
pub use serde;
pub use serde_json;

/// The owned path: checks settled here, serialisation left to the worker.
pub fn prepare_owned<T>(usage: T, ctx: &TrackContext<'_>) -> Result<PreparedUsage, TrackError>
where
    T: Usage + Send + 'static,
{
    ctx.check_typed::<T>()?;
    usage.check()?;
    Ok(PreparedUsage(Payload::Typed(Box::new(usage))))
}

/// The borrowed (or generic) path: serialised here, so nothing borrowed crosses threads.
pub fn prepare_borrowed<T>(usage: &T, ctx: &TrackContext<'_>) -> Result<PreparedUsage, TrackError>
where
    T: Usage + ?Sized,
{
    ctx.check_typed::<T>()?;
    usage.check()?;
    let text = serde_json::to_string(usage).map_err(|e| TrackError::Serialize(e.to_string()))?;
    Ok(PreparedUsage(Payload::Json(text.into_boxed_str())))
}
