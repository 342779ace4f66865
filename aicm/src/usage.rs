//! What `track` accepts: typed `#[derive(Usage)]` records and dynamic JSON objects.

use bytes::BytesMut;
use serde_json::{Map, Value};

pub(crate) mod anonymize;
pub(crate) mod compact_json;
mod short_decimal;

use crate::TrackError;
use crate::delivery::body_arena::{self, Chunk};
use crate::tracker::TrackContext;

/// A usage record type whose fields the compiler has checked against a schema.
///
/// Implement it with `#[derive(Usage)]` (beside `serde::Serialize`), never by hand: the derive
/// checks every field against the schema at compile time and fills in these constants.
pub trait Usage: serde::Serialize {
    /// The Rust type's name, for error messages.
    const TYPE_NAME: &'static str;
    /// The schema of the fields the type sends (in schema order: optional schema fields the
    /// struct leaves out are not in it), as canonical JSON
    /// (`{"tokens":"int","note":"Optional[str]"}`).
    const SCHEMA: &'static str;
    /// [`aicm_schema::Schema::fingerprint`] of [`Usage::SCHEMA`]: the key under which a tracker
    /// remembers that it already compared this type with its live schema.
    const FINGERPRINT: u64;
    /// The config the type is for, if it declared one with `#[usage(config_id = "…")]`.
    const CONFIG_ID: Option<&'static str>;

    /// The checks the compiler cannot make, run by `track`: floats must be finite and
    /// `serde_json::Value` fields must match their schema types.
    fn check(&self) -> Result<(), crate::UsageValidationError> {
        Ok(())
    }

    /// Appends the record's JSON object to `out`: what `track` sends as `usage`.
    ///
    /// The default goes through `Serialize` (serde_derive's literal keys fold into constant
    /// stores once the writer's per-field step is inlined). `#[usage(write_fields)]` makes the
    /// derive write its own, byte for byte what serde_derive's `Serialize` writes: each key a
    /// constant with its quotes, escapes and colon, and none of serde's per-field calls.
    #[doc(hidden)]
    #[inline]
    fn write_json(&self, out: &mut BytesMut) -> Result<(), serde_json::Error> {
        compact_json::write(out, self)
    }
}

/// Anything `track` accepts: every `#[derive(Usage)]` type (owned or borrowed),
/// `serde_json::Value` (which must be an object) and `serde_json::Map<String, Value>`.
///
/// Dynamic JSON is validated against the config's schema by the
/// [`TypeValidator`](crate::TypeValidator); typed records were checked by the compiler.
pub trait IntoUsage {
    /// Settles every error of the record and turns it into what the queue carries.
    #[doc(hidden)]
    fn into_prepared(self, ctx: &TrackContext<'_>) -> Result<PreparedUsage, TrackError>;
}

/// A usage whose every error is settled: its JSON object, serialised by `track` on the
/// caller's thread, straight into the chunk the queue keeps it in.
///
/// Serialising here rather than on the delivery worker is a performance choice: the caller's
/// temporaries (the record's `String`s, a `json!` map) are then freed on the thread that
/// allocated them, where the allocator's per-thread cache makes them cheap, and the queue
/// carries one packed slice per record instead of one allocation per field.
#[doc(hidden)]
pub struct PreparedUsage(pub(crate) Chunk);

impl PreparedUsage {
    /// Serialises `usage` into this thread's record chunk.
    pub(crate) fn serialize<T: serde::Serialize + ?Sized>(
        usage: &T,
    ) -> Result<PreparedUsage, TrackError> {
        Self::write_with(|buffer| compact_json::write(buffer, usage))
    }

    /// Writes a typed record into this thread's record chunk with [`Usage::write_json`].
    pub(crate) fn serialize_typed<T: Usage + ?Sized>(
        usage: &T,
    ) -> Result<PreparedUsage, TrackError> {
        Self::write_with(|buffer| usage.write_json(buffer))
    }

    /// Redacts the named fields: the record is read back, redacted and written again (only
    /// for Trackers and records that name fields to anonymise).
    pub(crate) fn redact(&mut self, fields: &anonymize::Fields<'_>) -> Result<(), TrackError> {
        let out = self.0.bytes();
        let mut value: Value =
            serde_json::from_slice(out).map_err(|e| TrackError::Serialize(e.to_string()))?;
        anonymize::redact(&mut value, fields);
        out.clear();
        compact_json::write(out, &value).map_err(|e| TrackError::Serialize(e.to_string()))
    }

    fn write_with(
        write: impl FnOnce(&mut BytesMut) -> Result<(), serde_json::Error>,
    ) -> Result<PreparedUsage, TrackError> {
        let mut chunk = body_arena::take();
        match write(chunk.bytes()) {
            Ok(()) => Ok(PreparedUsage(chunk)),
            Err(e) => {
                chunk.abandon();
                Err(TrackError::Serialize(e.to_string()))
            }
        }
    }
}

impl IntoUsage for Map<String, Value> {
    fn into_prepared(self, ctx: &TrackContext<'_>) -> Result<PreparedUsage, TrackError> {
        (&self).into_prepared(ctx)
    }
}

impl IntoUsage for Value {
    fn into_prepared(self, ctx: &TrackContext<'_>) -> Result<PreparedUsage, TrackError> {
        match self {
            Value::Object(map) => (&map).into_prepared(ctx),
            other => Err(TrackError::NotAnObject {
                found: crate::validate::json_kind(&other),
            }),
        }
    }
}

impl IntoUsage for &Value {
    fn into_prepared(self, ctx: &TrackContext<'_>) -> Result<PreparedUsage, TrackError> {
        match self {
            Value::Object(map) => map.into_prepared(ctx),
            other => Err(TrackError::NotAnObject {
                found: crate::validate::json_kind(other),
            }),
        }
    }
}

impl IntoUsage for &Map<String, Value> {
    fn into_prepared(self, ctx: &TrackContext<'_>) -> Result<PreparedUsage, TrackError> {
        ctx.validate_dynamic(self)?;
        PreparedUsage::serialize(self)
    }
}

/// Typed records are serialised on the caller, owned or borrowed.
impl<T: Usage + ?Sized> IntoUsage for &T {
    fn into_prepared(self, ctx: &TrackContext<'_>) -> Result<PreparedUsage, TrackError> {
        crate::__private::prepare_borrowed(self, ctx)
    }
}
