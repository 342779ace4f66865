//! Redaction of named usage fields before a record leaves the process (the Python SDK's
//! `anonymize_fields`): wherever a field of one of the names appears, at any depth, its strings
//! become `"[REDACTED]"` (every string inside a list or object value); numbers, booleans and
//! null are kept, so usage still adds up.

use serde_json::Value;

/// What a redacted string is sent as.
pub(crate) const REDACTED: &str = "[REDACTED]";

/// The field names to redact in one record: the Tracker's and the record's.
pub(crate) struct Fields<'a> {
    tracker: &'a [String],
    record: &'a [String],
}

impl<'a> Fields<'a> {
    pub(crate) fn new(tracker: &'a [String], record: &'a [String]) -> Fields<'a> {
        Fields { tracker, record }
    }

    fn contains(&self, name: &str) -> bool {
        self.tracker.iter().chain(self.record).any(|f| f == name)
    }
}

/// Redacts the named fields of `value` in place.
pub(crate) fn redact(value: &mut Value, fields: &Fields<'_>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                if fields.contains(key) {
                    redact_all(inner);
                } else {
                    redact(inner, fields);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| redact(item, fields)),
        _ => {}
    }
}

/// Every string in `value` redacted.
fn redact_all(value: &mut Value) {
    match value {
        Value::String(s) => REDACTED.clone_into(s),
        Value::Object(map) => map.values_mut().for_each(redact_all),
        Value::Array(items) => items.iter_mut().for_each(redact_all),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_fields_are_redacted_at_any_depth_and_numbers_kept() {
        let tracker = ["prompt".to_owned()];
        let record = ["user".to_owned()];
        let fields = Fields::new(&tracker, &record);
        let mut usage = json!({
            "tokens": 12,
            "prompt": "secret",
            "user": {"name": "Ada", "age": 36, "emails": ["a@x", "b@x"]},
            "calls": [{"prompt": "again", "tokens": 3}, {"other": "kept"}],
            "model": "gpt",
        });
        redact(&mut usage, &fields);
        assert_eq!(
            usage,
            json!({
                "tokens": 12,
                "prompt": "[REDACTED]",
                "user": {"name": "[REDACTED]", "age": 36, "emails": ["[REDACTED]", "[REDACTED]"]},
                "calls": [{"prompt": "[REDACTED]", "tokens": 3}, {"other": "kept"}],
                "model": "gpt",
            })
        );
        let mut untouched = json!({"a": "b"});
        redact(&mut untouched, &Fields::new(&[], &[]));
        assert_eq!(untouched, json!({"a": "b"}));
    }
}
