//! What `track` accepts: typed `#[derive(Usage)]` records and dynamic JSON objects.

use serde_json::{Map, Value};

pub(crate) mod compact_json;

use crate::TrackError;
use crate::tracker::TrackContext;

/// A usage record type whose fields the compiler has checked against a schema.
///
/// Implement it with `#[derive(Usage)]` (beside `serde::Serialize`), never by hand: the derive
/// checks every field against the schema at compile time and fills in these constants.
///
/// An owned record (a type without lifetime or type parameters) is moved into the delivery
/// queue and serialised by the worker, so `track` costs the caller no serialisation; a borrowed
/// or generic one is serialised by `track`. A hand-written `Serialize` that fails (or panics)
/// on the worker fails that record: it is counted in `total_failed` and handed to `on_failed`
/// with the error, like a record the server refused.
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

/// A usage whose every error is settled, in the form the queue carries.
///
/// Dynamic JSON and borrowed records are serialised by `track` on the caller's thread: a
/// borrowed record cannot outlive the call, and a `json!` map is cheaper to write once than to
/// move. An owned typed record is moved into the queue as it is and serialised by the delivery
/// worker, off the caller's hot path: its checks were made by the compiler and by
/// [`Usage::check`] on the caller, so only writing its JSON is left.
#[doc(hidden)]
pub struct PreparedUsage(pub(crate) Prepared);

/// What [`PreparedUsage`] holds.
pub(crate) enum Prepared {
    /// The usage object's JSON, in this thread's scratch buffer.
    Json(Vec<u8>),
    /// An owned typed record, serialised later.
    Owned(Box<dyn OwnedUsage>),
}

/// An owned typed record with the customer key and context given to `track`, kept in one
/// allocation until the worker writes it.
pub(crate) trait OwnedUsage: Send {
    /// Where `track` moves the record's customer key and context.
    fn extras_mut(&mut self) -> &mut Extras;
    /// Appends the usage object, then `,"client_customer_key":…` and `,"context":…` when given.
    fn write_body(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error>;
}

/// The per-record options that travel inside the usage object's body on the wire.
#[derive(Default)]
pub(crate) struct Extras {
    pub(crate) customer_key: Option<String>,
    pub(crate) context: Option<Value>,
}

impl Extras {
    /// Appends `,"client_customer_key":…` and `,"context":…` for what is set.
    pub(crate) fn write(
        out: &mut Vec<u8>,
        customer_key: Option<&str>,
        context: Option<&Value>,
    ) -> Result<(), serde_json::Error> {
        if let Some(key) = customer_key {
            out.extend_from_slice(b",\"client_customer_key\":");
            compact_json::write_str(out, key);
        }
        if let Some(context) = context {
            out.extend_from_slice(b",\"context\":");
            compact_json::write(out, context)?;
        }
        Ok(())
    }
}

struct Owned<T> {
    usage: T,
    extras: Extras,
}

impl<T: Usage + Send + 'static> OwnedUsage for Owned<T> {
    fn extras_mut(&mut self) -> &mut Extras {
        &mut self.extras
    }

    fn write_body(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        compact_json::write(out, &self.usage)?;
        Extras::write(
            out,
            self.extras.customer_key.as_deref(),
            self.extras.context.as_ref(),
        )
    }
}

impl PreparedUsage {
    /// Serialises `usage` into this thread's scratch buffer.
    pub(crate) fn serialize<T: serde::Serialize + ?Sized>(
        usage: &T,
    ) -> Result<PreparedUsage, TrackError> {
        let mut buffer = scratch::take();
        match compact_json::write(&mut buffer, usage) {
            Ok(()) => Ok(PreparedUsage(Prepared::Json(buffer))),
            Err(e) => {
                scratch::give_back(buffer);
                Err(TrackError::Serialize(e.to_string()))
            }
        }
    }

    /// Keeps an owned record for the worker to serialise.
    pub(crate) fn owned<T: Usage + Send + 'static>(usage: T) -> PreparedUsage {
        PreparedUsage(Prepared::Owned(Box::new(Owned {
            usage,
            extras: Extras::default(),
        })))
    }
}

/// One reusable serialisation buffer per thread, so that preparing a record allocates only
/// the exact-size copy the queue keeps.
pub(crate) mod scratch {
    use std::cell::Cell;

    /// Larger buffers are not kept: one huge record must not pin its memory to a thread.
    const KEEP_AT_MOST: usize = 64 * 1024;

    thread_local! {
        static BUFFER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    }

    /// The thread's buffer, empty. A nested `track` (from a `Serialize` impl) finds none and
    /// gets a fresh one.
    pub(crate) fn take() -> Vec<u8> {
        let mut buffer = BUFFER.take();
        buffer.clear();
        if buffer.capacity() == 0 {
            buffer.reserve(512);
        }
        buffer
    }

    /// Returns a buffer for the next record on this thread.
    pub(crate) fn give_back(buffer: Vec<u8>) {
        if buffer.capacity() <= KEEP_AT_MOST {
            BUFFER.set(buffer);
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

/// A borrowed typed record is serialised on the caller: it cannot outlive the call.
impl<T: Usage + ?Sized> IntoUsage for &T {
    fn into_prepared(self, ctx: &TrackContext<'_>) -> Result<PreparedUsage, TrackError> {
        crate::__private::prepare_borrowed(self, ctx)
    }
}
