//! What `IntoUsage` may ask of the tracker: the live schema for dynamic validation, and the
//! once-per-type comparison of a typed record's compiled schema with the live one.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aicm_schema::Schema;
use parking_lot::{Mutex, RwLock};
use serde_json::{Map, Value};

use crate::{SchemaMismatch, TrackError, TypeValidator, Usage};

/// The live schema and what has been learned about typed records against it.
pub(crate) struct LiveSchema {
    schema: RwLock<Arc<Schema>>,
    /// Fingerprint of the last type found compatible (0: none): the fast path.
    last_compatible: AtomicU64,
    verdicts: Mutex<HashMap<u64, Result<(), SchemaMismatch>>>,
}

impl LiveSchema {
    pub fn new(schema: Schema) -> LiveSchema {
        LiveSchema {
            schema: RwLock::new(Arc::new(schema)),
            last_compatible: AtomicU64::new(0),
            verdicts: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self) -> Arc<Schema> {
        self.schema.read().clone()
    }

    /// A refreshed schema: typed records are compared again.
    pub fn replace(&self, schema: Schema) {
        *self.schema.write() = Arc::new(schema);
        self.verdicts.lock().clear();
        self.last_compatible.store(0, Ordering::Release);
    }
}

/// What `IntoUsage` implementations may ask of the tracker they are tracked on.
#[doc(hidden)]
pub struct TrackContext<'a> {
    pub(crate) config_id: &'a str,
    pub(crate) live: &'a LiveSchema,
}

impl TrackContext<'_> {
    pub(crate) fn validate_dynamic(&self, map: &Map<String, Value>) -> Result<(), TrackError> {
        let schema = self.live.schema.read();
        TypeValidator::new()
            .validate_usage(&schema, map)
            .map_err(TrackError::from)
    }

    /// Checks a typed record's declared config id, and compares its compiled schema with the
    /// live one once per type (keyed by the fingerprint the derive emits).
    pub fn check_typed<T: Usage + ?Sized>(&self) -> Result<(), TrackError> {
        // A Tracker of today's API without a config id has no config for a type to name.
        if let Some(expected) = T::CONFIG_ID
            && !self.config_id.is_empty()
            && expected != self.config_id
        {
            return Err(TrackError::ConfigMismatch {
                type_name: T::TYPE_NAME,
                expected,
                actual: self.config_id.to_owned(),
            });
        }
        let fingerprint = T::FINGERPRINT;
        if fingerprint != 0 && self.live.last_compatible.load(Ordering::Acquire) == fingerprint {
            return Ok(());
        }
        let verdict = {
            let mut verdicts = self.live.verdicts.lock();
            verdicts
                .entry(fingerprint)
                .or_insert_with(|| compare::<T>(self.config_id, &self.live.schema.read()))
                .clone()
        };
        match verdict {
            Ok(()) => {
                self.live
                    .last_compatible
                    .store(fingerprint, Ordering::Release);
                Ok(())
            }
            Err(mismatch) => Err(TrackError::from(mismatch)),
        }
    }
}

/// Incompatible: a required live field the type lacks, a type field the live schema lacks, or a
/// different canonical type. An empty live schema accepts anything.
fn compare<T: Usage + ?Sized>(config_id: &str, live: &Schema) -> Result<(), SchemaMismatch> {
    let mut mismatch = SchemaMismatch {
        type_name: T::TYPE_NAME,
        config_id: config_id.to_owned(),
        missing_in_type: Vec::new(),
        unknown_to_config: Vec::new(),
        type_changes: Vec::new(),
    };
    if live.is_empty() {
        return Ok(());
    }
    let compiled = match Schema::from_json_str(T::SCHEMA) {
        Ok(s) => s,
        Err(e) => {
            mismatch
                .type_changes
                .push(("(schema)".to_owned(), e.to_string(), live.to_string()));
            return Err(mismatch);
        }
    };
    for field in live.fields() {
        match compiled.get(&field.name) {
            None if !field.is_optional() => mismatch.missing_in_type.push(field.name.clone()),
            None => {}
            Some(ours) if ours.ty != field.ty => mismatch.type_changes.push((
                field.name.clone(),
                ours.ty.to_string(),
                field.ty.to_string(),
            )),
            Some(_) => {}
        }
    }
    for field in compiled.fields() {
        if live.get(&field.name).is_none() {
            mismatch.unknown_to_config.push(field.name.clone());
        }
    }
    if mismatch.is_empty() {
        Ok(())
    } else {
        Err(mismatch)
    }
}
