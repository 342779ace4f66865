//! What `track` accepts: typed `#[derive(Usage)]` records and dynamic JSON objects.

use bytes::BytesMut;
use serde_json::{Map, Value};

pub(crate) mod anonymize;
pub(crate) mod body_arena;
mod context;

use crate::TrackError;
use body_arena::Chunk;
pub(crate) use context::LiveSchema;
pub use context::TrackContext;

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
}

/// Appends `value` as compact JSON to `out`, with serde_json's serializer: the record's usage,
/// its context and customer key are written exactly as `serde_json::to_vec` would.
pub(crate) fn write_json<T: serde::Serialize + ?Sized>(
    out: &mut BytesMut,
    value: &T,
) -> Result<(), serde_json::Error> {
    serde_json::to_writer(ChunkWriter(out), value)
}

/// `io::Write` into a `BytesMut` whose `write_all` is one append: serde_json writes a record in
/// dozens of small pieces, and `bytes`' own writer goes through the default `write_all` loop
/// for each.
struct ChunkWriter<'a>(&'a mut BytesMut);

impl std::io::Write for ChunkWriter<'_> {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    #[inline]
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0.extend_from_slice(buf);
        Ok(())
    }

    #[inline]
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A typed record's checks (its config id, its schema against the live one once per type, the
/// checks the compiler cannot make), then its serialisation: what the derive's `IntoUsage`
/// runs for owned and borrowed records alike.
pub(crate) fn prepare_typed<T: Usage + ?Sized>(
    usage: &T,
    ctx: &TrackContext<'_>,
) -> Result<PreparedUsage, TrackError> {
    ctx.check_typed::<T>()?;
    usage.check()?;
    PreparedUsage::serialize(usage)
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
        Self::write_with(|buffer| write_json(buffer, usage))
    }

    /// Redacts the named fields: the record is read back, redacted and written again (only
    /// for Trackers and records that name fields to anonymise).
    pub(crate) fn redact(&mut self, fields: &anonymize::Fields<'_>) -> Result<(), TrackError> {
        let out = self.0.bytes();
        let mut value: Value =
            serde_json::from_slice(out).map_err(|e| TrackError::Serialize(e.to_string()))?;
        anonymize::redact(&mut value, fields);
        out.clear();
        write_json(out, &value).map_err(|e| TrackError::Serialize(e.to_string()))
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
        prepare_typed(self, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    /// The bytes `track` stores for a record.
    fn stored<T: serde::Serialize>(record: &T) -> String {
        let PreparedUsage(chunk) = PreparedUsage::serialize(record).unwrap();
        String::from_utf8(chunk.finish().to_vec()).unwrap()
    }

    /// Pins how a record is written, so that a serde_json upgrade cannot change it unseen:
    /// compact, in field order, floats shortest, strings escaped, and a `RawValue` field copied
    /// verbatim (its own spacing kept), as `serde_json::to_vec` writes it.
    #[test]
    fn records_are_written_as_serde_json_writes_them_raw_values_verbatim() {
        #[derive(serde::Serialize)]
        struct Record<'a> {
            tokens: i64,
            ratio: f64,
            note: &'a str,
            raw: &'a RawValue,
            missing: Option<u8>,
        }
        let raw = RawValue::from_string(r#"{ "a" : [1,  2.50], "b": "x" }"#.to_owned()).unwrap();
        let record = Record {
            tokens: -3,
            ratio: 12.5,
            note: "quote \" slash \\ é \u{1}",
            raw: &raw,
            missing: None,
        };
        let text = stored(&record);
        assert_eq!(
            text,
            r#"{"tokens":-3,"ratio":12.5,"note":"quote \" slash \\ é \u0001","raw":{ "a" : [1,  2.50], "b": "x" },"missing":null}"#
        );
        assert_eq!(text.as_bytes(), serde_json::to_vec(&record).unwrap());
        assert_eq!(stored(&0.1f64), "0.1");
        assert_eq!(stored(&1e21f64), "1e+21");
    }
}
