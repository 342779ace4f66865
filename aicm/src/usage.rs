//! What `track` accepts: typed `#[derive(Usage)]` records and dynamic JSON objects.

use serde_json::{Map, Value};

use crate::TrackError;
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

/// A usage whose every error is settled, ready for the queue.
#[doc(hidden)]
pub struct PreparedUsage(pub(crate) Payload);

/// The usage part of a queued record, in the cheapest form for the caller.
pub(crate) enum Payload {
    /// A JSON object serialised on the caller (borrowed typed records).
    Json(Box<[u8]>),
    /// A dynamic object, serialised on the worker.
    Map(Map<String, Value>),
    /// An owned typed record, serialised on the worker.
    Typed(Box<dyn ErasedUsage>),
}

impl Payload {
    /// Writes the usage object as JSON.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        match self {
            Payload::Json(bytes) => {
                out.extend_from_slice(bytes);
                Ok(())
            }
            Payload::Map(map) => serde_json::to_writer(out, map),
            Payload::Typed(usage) => usage.write_json(out),
        }
    }

    /// The usage as a JSON value, for callbacks and the testing tracker.
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Payload::Map(map) => Value::Object(map.clone()),
            other => {
                let mut buf = Vec::new();
                match other.write_json(&mut buf) {
                    Ok(()) => serde_json::from_slice(&buf).unwrap_or(Value::Null),
                    Err(_) => Value::Null,
                }
            }
        }
    }
}

/// A typed record moved to the worker, serialised there.
pub(crate) trait ErasedUsage: Send + 'static {
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error>;
}

impl<T: serde::Serialize + Send + 'static> ErasedUsage for T {
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        serde_json::to_writer(out, self)
    }
}

impl IntoUsage for Map<String, Value> {
    fn into_prepared(self, ctx: &TrackContext<'_>) -> Result<PreparedUsage, TrackError> {
        ctx.validate_dynamic(&self)?;
        Ok(PreparedUsage(Payload::Map(self)))
    }
}

impl IntoUsage for Value {
    fn into_prepared(self, ctx: &TrackContext<'_>) -> Result<PreparedUsage, TrackError> {
        match self {
            Value::Object(map) => map.into_prepared(ctx),
            other => Err(TrackError::NotAnObject {
                found: crate::validate::json_kind(&other),
            }),
        }
    }
}

impl IntoUsage for &Value {
    fn into_prepared(self, ctx: &TrackContext<'_>) -> Result<PreparedUsage, TrackError> {
        self.clone().into_prepared(ctx)
    }
}

impl IntoUsage for &Map<String, Value> {
    fn into_prepared(self, ctx: &TrackContext<'_>) -> Result<PreparedUsage, TrackError> {
        self.clone().into_prepared(ctx)
    }
}

/// Borrowed typed records are serialised on the caller, so nothing borrowed crosses threads.
impl<T: Usage + ?Sized> IntoUsage for &T {
    fn into_prepared(self, ctx: &TrackContext<'_>) -> Result<PreparedUsage, TrackError> {
        crate::__private::prepare_borrowed(self, ctx)
    }
}
