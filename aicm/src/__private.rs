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
    let bytes = serialize_exact(usage).map_err(|e| TrackError::Serialize(e.to_string()))?;
    Ok(PreparedUsage(Payload::Json(bytes)))
}

thread_local! {
    /// Reused per thread, so serialising a borrowed record costs one exact-size allocation.
    static BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(512));
}

/// Serialises into the thread's buffer and copies out exactly the bytes written. A nested call
/// (a `Serialize` impl that tracks) gets a fresh buffer instead of panicking.
fn serialize_exact<T: serde::Serialize + ?Sized>(
    value: &T,
) -> Result<Box<[u8]>, serde_json::Error> {
    BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffer) => {
            buffer.clear();
            serde_json::to_writer(&mut *buffer, value)?;
            Ok(Box::from(buffer.as_slice()))
        }
        Err(_) => serde_json::to_vec(value).map(Vec::into_boxed_slice),
    })
}
