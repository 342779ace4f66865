//! The Tracker (placeholder while the delivery core lands).

use crate::{TrackError, Usage};
use serde_json::{Map, Value};

/// What `IntoUsage` implementations may ask of the tracker they are tracked on.
#[doc(hidden)]
pub struct TrackContext<'a> {
    pub(crate) schema: &'a aicm_schema::Schema,
}

impl TrackContext<'_> {
    pub(crate) fn validate_dynamic(&self, map: &Map<String, Value>) -> Result<(), TrackError> {
        crate::TypeValidator::new()
            .validate_usage(self.schema, map)
            .map_err(TrackError::Validation)
    }

    /// Compares the type's compiled schema with the live one (once per type) and checks its
    /// declared config id.
    pub fn check_typed<T: Usage + ?Sized>(&self) -> Result<(), TrackError> {
        Ok(())
    }
}
