//! Fault injection: which misbehaviour the next track requests (`POST /track-usage` and
//! `POST /track` alike) get.

use serde::{Deserialize, Deserializer, Serialize};

use crate::signing::TokenFault;

/// The faults in force. Counted faults (`*_next`) apply to the track endpoints only
/// (`POST /track-usage` and `POST /track`, sharing the counters), one per request, checked in
/// the order drop, rate limit, fail, drop-after-store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Answer this many requests with `status` (nothing stored).
    pub fail_next: u32,
    /// The status of `fail_next` answers (default 500).
    pub status: u16,
    /// Answer this many requests with 429 and `Retry-After: retry_after` (nothing stored).
    pub rate_limit_next: u32,
    /// Seconds for the `Retry-After` header of rate-limited answers (default 1).
    pub retry_after: u64,
    /// Close this many connections without any answer (nothing stored).
    pub drop_next: u32,
    /// Process (and store) this many requests, then close without answering.
    pub drop_after_store_next: u32,
    /// Delay every track answer (either endpoint) by this many milliseconds, after storing.
    pub delay_ms: u64,
    /// Hold every track request (either endpoint; before it is looked at) until this is
    /// cleared.
    pub stall: bool,
    /// Poison records whose usage (`/track-usage`) or payload (`/track`) has this key:
    /// `/track-usage` rejects (422) any request holding one; `/track` answers each such record
    /// `error` (not stored) and takes the others.
    pub poison_key: Option<String>,
    /// Serve config tokens that a correct client must refuse.
    pub token_fault: Option<TokenFault>,
    /// Serve triggered-limits tokens that a correct client must refuse.
    pub limits_token_fault: Option<TokenFault>,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            fail_next: 0,
            status: 500,
            rate_limit_next: 0,
            retry_after: 1,
            drop_next: 0,
            drop_after_store_next: 0,
            delay_ms: 0,
            stall: false,
            poison_key: None,
            token_fault: None,
            limits_token_fault: None,
        }
    }
}

/// A partial change to the faults: the body of `POST /__faults`.
///
/// Absent keys leave a fault as it is; `"reset": true` clears every fault first. `fail_next`
/// without `status` means status 500. `poison_key`, `token_fault` and `limits_token_fault`
/// take `null` to clear them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultsUpdate {
    /// Clear every fault before applying the rest.
    pub reset: bool,
    /// See [`Faults::fail_next`].
    pub fail_next: Option<u32>,
    /// See [`Faults::status`]: 400–599.
    pub status: Option<u16>,
    /// See [`Faults::rate_limit_next`].
    pub rate_limit_next: Option<u32>,
    /// See [`Faults::retry_after`].
    pub retry_after: Option<u64>,
    /// See [`Faults::drop_next`].
    pub drop_next: Option<u32>,
    /// See [`Faults::drop_after_store_next`].
    pub drop_after_store_next: Option<u32>,
    /// See [`Faults::delay_ms`].
    pub delay_ms: Option<u64>,
    /// See [`Faults::stall`].
    pub stall: Option<bool>,
    /// See [`Faults::poison_key`]; `Some(None)` (JSON `null`) clears it.
    #[serde(deserialize_with = "present")]
    pub poison_key: Option<Option<String>>,
    /// See [`Faults::token_fault`]; `Some(None)` (JSON `null`) clears it.
    #[serde(deserialize_with = "present")]
    pub token_fault: Option<Option<TokenFault>>,
    /// See [`Faults::limits_token_fault`]; `Some(None)` (JSON `null`) clears it.
    #[serde(deserialize_with = "present")]
    pub limits_token_fault: Option<Option<TokenFault>>,
}

/// Tells a present `null` (`Some(None)`) from an absent key (`None`, via `#[serde(default)]`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl Faults {
    /// Applies a partial change; rejects a `status` outside 400–599.
    pub fn apply(&mut self, update: FaultsUpdate) -> Result<(), String> {
        if let Some(status) = update.status
            && !(400..=599).contains(&status)
        {
            return Err(format!("status must be 400-599, got {status}"));
        }
        if update.reset {
            *self = Faults::default();
        }
        if let Some(n) = update.fail_next {
            self.fail_next = n;
            self.status = update.status.unwrap_or(500);
        } else if let Some(status) = update.status {
            self.status = status;
        }
        if let Some(n) = update.rate_limit_next {
            self.rate_limit_next = n;
        }
        if let Some(secs) = update.retry_after {
            self.retry_after = secs;
        }
        if let Some(n) = update.drop_next {
            self.drop_next = n;
        }
        if let Some(n) = update.drop_after_store_next {
            self.drop_after_store_next = n;
        }
        if let Some(ms) = update.delay_ms {
            self.delay_ms = ms;
        }
        if let Some(stall) = update.stall {
            self.stall = stall;
        }
        if let Some(key) = update.poison_key {
            self.poison_key = key;
        }
        if let Some(fault) = update.token_fault {
            self.token_fault = fault;
        }
        if let Some(fault) = update.limits_token_fault {
            self.limits_token_fault = fault;
        }
        Ok(())
    }

    /// Consumes the counted fault that applies to the next track request, if any.
    pub(crate) fn take_action(&mut self) -> Action {
        if take(&mut self.drop_next) {
            Action::Drop
        } else if take(&mut self.rate_limit_next) {
            Action::RateLimit {
                retry_after: self.retry_after,
            }
        } else if take(&mut self.fail_next) {
            Action::Fail {
                status: self.status,
            }
        } else if take(&mut self.drop_after_store_next) {
            Action::DropAfterStore
        } else {
            Action::Proceed
        }
    }
}

fn take(counter: &mut u32) -> bool {
    if *counter > 0 {
        *counter -= 1;
        true
    } else {
        false
    }
}

/// What one track request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Proceed,
    Drop,
    RateLimit { retry_after: u64 },
    Fail { status: u16 },
    DropAfterStore,
}
