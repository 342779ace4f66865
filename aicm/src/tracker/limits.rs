//! The pre-flight check: which triggered limits are in force for a call, asked before the
//! money is spent (API-TRACK.md "Triggered limits").
//!
//! The limits come from every delivery answer that carries them and, under today's contract,
//! from `GET /triggered-limits` at start-up and on [`Tracker::refresh`]; until the API has
//! answered, from the `AICM.INI` cache the Python SDK shares. Reading them never does I/O.

use super::Tracker;
use crate::TriggeredLimit;

impl Tracker {
    /// The triggered limits and alerts in force now for a call to `service_key` (today's
    /// `vendor::service`, the config-based contract's service id) for `customer_key`, with
    /// this Tracker's API key. Empty when nothing applies.
    ///
    /// A limit is in force when all of these hold:
    /// - its `api_key_id` is this Tracker's (the text after the last `.` of the API key), or it
    ///   names no key;
    /// - its service is `service_key`, or it names none (every service);
    /// - its customer is `customer_key`, or it names none (every customer). A limit of one
    ///   customer is never in force for a call without a customer;
    /// - it has not expired.
    ///
    /// Alerts are included (see [`TriggeredLimit::is_blocking`]); for "must this call stop?"
    /// use [`Tracker::blocking_limit`]. Tracking itself never refuses a record because of a
    /// limit: the usage already happened.
    ///
    /// ```no_run
    /// use aicm::Tracker;
    ///
    /// let tracker = Tracker::track_api().build()?; // AICM_API_KEY from the environment
    /// for limit in tracker.limits_in_force("openai::gpt-5-mini", Some("acme")) {
    ///     let kind = if limit.is_blocking() { "limit" } else { "alert" };
    ///     println!("{kind} {}: {} per {}", limit.limit_id, limit.amount, limit.period);
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn limits_in_force(
        &self,
        service_key: &str,
        customer_key: Option<&str>,
    ) -> Vec<TriggeredLimit> {
        match &self.inner.core.store {
            Some(store) => store.limits_in_force(service_key, customer_key),
            None => Vec::new(),
        }
    }

    /// The first `limit` (not `alert`) in force for a call to `service_key` for
    /// `customer_key` (the rules of [`Tracker::limits_in_force`]); `None`: the call may go
    /// ahead. Ask before calling the paid service, then track what the call used.
    ///
    /// ```no_run
    /// use aicm::{TrackOptions, Tracker};
    /// use serde_json::json;
    ///
    /// let tracker = Tracker::track_api().build()?;
    /// let service = "openai::gpt-5-mini";
    /// if let Some(limit) = tracker.blocking_limit(service, Some("acme")) {
    ///     let why = limit.limit_message.as_deref().unwrap_or("usage limit reached");
    ///     return Err(format!("acme may not call {service} now: {why}").into());
    /// }
    /// // ... call the model, then record what it used:
    /// tracker.track_with(
    ///     json!({"input_tokens": 10, "output_tokens": 20}),
    ///     TrackOptions::for_service(service).customer_key("acme"),
    /// )?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn blocking_limit(
        &self,
        service_key: &str,
        customer_key: Option<&str>,
    ) -> Option<TriggeredLimit> {
        self.limits_in_force(service_key, customer_key)
            .into_iter()
            .find(TriggeredLimit::is_blocking)
    }
}
