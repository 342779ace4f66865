//! The server's shared state: configs and their signed bodies, faults, stored records, stats.
//!
//! One mutex guards it all; every critical section is short (no I/O, no signing of tokens on
//! the request path). Changes wake both async waiters (a watch channel) and blocking waiters
//! (a condvar), so tests wait on notifications instead of sleeping.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aicm::schema::Schema;
use parking_lot::{Condvar, Mutex, MutexGuard};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::LocalApiError;
use crate::config::{ConfigsFile, TriggeredLimit};
use crate::faults::{Faults, FaultsUpdate};
use crate::keys::Keys;
use crate::protocol::Protocol;
use crate::signing::{Rendered, render};

/// Counters of what the server saw. Record counters count records; the others count requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// Requests to the API routes (`/api/v1/…`), whatever their outcome.
    pub requests: u64,
    /// `GET /configs` requests.
    pub config_requests: u64,
    /// `/configs` requests answered 304.
    pub not_modified: u64,
    /// `GET /triggered-limits` requests.
    pub triggered_limits_requests: u64,
    /// Track requests: `POST /track-usage` and `POST /track` (when served), together.
    pub track_requests: u64,
    /// `POST /track-usage` requests (when served).
    pub track_usage_requests: u64,
    /// `POST /track` requests (when served).
    pub track_endpoint_requests: u64,
    /// Track requests (either endpoint) answered 2xx.
    pub accepted_requests: u64,
    /// Records in track bodies (either endpoint) that parsed, including rejected ones.
    pub records_received: u64,
    /// Records stored (first sight of their `response_id`, on either endpoint).
    pub records_stored: u64,
    /// Records whose `response_id` was already stored (by either endpoint): answered with the
    /// original event id on `/track-usage`, `queued` again on `/track`; not stored again.
    pub duplicates: u64,
    /// `POST /track` records answered `service_key_unknown` (not stored).
    pub records_service_key_unknown: u64,
    /// `POST /track` records answered `error` (a poisoned payload; not stored).
    pub records_error: u64,
    /// Requests answered 400, 401 or 422.
    pub rejected_requests: u64,
    /// Records named as bad in 422 answers (either endpoint).
    pub rejected_records: u64,
    /// Requests with a missing or wrong API key.
    pub unauthorized: u64,
    /// Track requests (either endpoint) that got an injected fault (drop, 429, fail, drop
    /// after store).
    pub faults_injected: u64,
    /// Connections closed without an answer (drop and drop after store).
    pub dropped_connections: u64,
    /// The `User-Agent` of the last API request.
    pub last_user_agent: Option<String>,
    /// Whether the last API request carried the right key.
    pub last_authorized: Option<bool>,
}

/// A stored usage record, as received, with the event id the server gave it.
///
/// Records of both endpoints share this shape. A `POST /track` record maps as: `service_key`
/// to `service_id`, `payload` to `usage`, `customer_key` to `client_customer_key`, `context`
/// to `context`, `timestamp` as sent (a JSON number as its text), and `config_id` empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRecord {
    /// The event uuid answered for this record (and for its duplicates). `POST /track` does
    /// not answer it, but gives one all the same.
    pub event_id: String,
    /// The config the record was sent for (empty for `POST /track` records).
    pub config_id: String,
    /// The service id sent (the `service_key` of a `POST /track` record).
    pub service_id: String,
    /// The timestamp as sent (a JSON number as its text).
    pub timestamp: String,
    /// The dedup key.
    pub response_id: String,
    /// The usage object (the `payload` of a `POST /track` record; keys sorted: serde_json's
    /// map).
    pub usage: Map<String, Value>,
    /// The customer key, when sent (`customer_key` on `POST /track`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_customer_key: Option<String>,
    /// The context object, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Map<String, Value>>,
    /// The base URL, when sent (`POST /track-usage` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The endpoint that stored it: `"track"` or `"track-usage"` (empty in JSON written
    /// before the field existed).
    #[serde(default)]
    pub endpoint: String,
}

pub(crate) struct Inner {
    pub(crate) configs: ConfigsFile,
    pub(crate) schemas: Arc<HashMap<String, Arc<Schema>>>,
    /// What `POST /track` knows: every config's `service_id` and `configs.service_keys`.
    pub(crate) service_keys: Arc<HashSet<String>>,
    pub(crate) limits: Vec<TriggeredLimit>,
    pub(crate) keys: Keys,
    pub(crate) rendered: Arc<Rendered>,
    pub(crate) faults: Faults,
    pub(crate) stats: Stats,
    pub(crate) records: Vec<StoredRecord>,
    pub(crate) event_ids: HashMap<String, String>,
}

/// Everything the handlers and the control API share.
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    changed: Condvar,
    version: watch::Sender<u64>,
    stall: watch::Sender<bool>,
    pub(crate) count_only: bool,
    pub(crate) protocol: Protocol,
}

/// What [`Shared::lock`] hands out: the state, and a note to wake waiters when it is dropped.
pub(crate) struct Guard<'a> {
    guard: MutexGuard<'a, Inner>,
    shared: &'a Shared,
}

impl std::ops::Deref for Guard<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.guard
    }
}

impl std::ops::DerefMut for Guard<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        &mut self.guard
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.shared.changed.notify_all();
        self.shared.version.send_modify(|v| *v = v.wrapping_add(1));
    }
}

impl Shared {
    pub(crate) fn new(
        configs: ConfigsFile,
        keys: Keys,
        faults: Faults,
        count_only: bool,
        protocol: Protocol,
    ) -> Result<Shared, LocalApiError> {
        configs.check()?;
        let limits = configs.triggered_limits.clone();
        let rendered = render(
            &configs,
            &limits,
            &keys,
            faults.token_fault,
            faults.limits_token_fault,
        )?;
        let schemas = parse_schemas(&configs)?;
        let stall = faults.stall;
        let service_keys = Arc::new(configs.known_service_keys());
        Ok(Shared {
            inner: Mutex::new(Inner {
                configs,
                schemas: Arc::new(schemas),
                service_keys,
                limits,
                keys,
                rendered: Arc::new(rendered),
                faults,
                stats: Stats::default(),
                records: Vec::new(),
                event_ids: HashMap::new(),
            }),
            changed: Condvar::new(),
            version: watch::channel(0).0,
            stall: watch::channel(stall).0,
            count_only,
            protocol,
        })
    }

    /// Locks the state; waiters are woken when the guard drops.
    pub(crate) fn lock(&self) -> Guard<'_> {
        Guard {
            guard: self.inner.lock(),
            shared: self,
        }
    }

    /// Locks the state for reading only (no wake-up).
    pub(crate) fn read(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock()
    }

    pub(crate) fn stall_receiver(&self) -> watch::Receiver<bool> {
        self.stall.subscribe()
    }

    /// Replaces configs, re-signing everything.
    pub(crate) fn set_configs(&self, configs: ConfigsFile) -> Result<(), LocalApiError> {
        configs.check()?;
        let schemas = parse_schemas(&configs)?;
        let mut state = self.lock();
        let rendered = render(
            &configs,
            &state.limits,
            &state.keys,
            state.faults.token_fault,
            state.faults.limits_token_fault,
        )?;
        state.service_keys = Arc::new(configs.known_service_keys());
        state.configs = configs;
        state.schemas = Arc::new(schemas);
        state.rendered = Arc::new(rendered);
        Ok(())
    }

    /// Edits a copy of the configs and installs it.
    pub(crate) fn edit_configs<T>(
        &self,
        edit: impl FnOnce(&mut ConfigsFile) -> T,
    ) -> Result<T, LocalApiError> {
        let mut configs = self.read().configs.clone();
        let out = edit(&mut configs);
        self.set_configs(configs)?;
        Ok(out)
    }

    pub(crate) fn set_limits(&self, limits: Vec<TriggeredLimit>) -> Result<(), LocalApiError> {
        let mut state = self.lock();
        let rendered = render(
            &state.configs,
            &limits,
            &state.keys,
            state.faults.token_fault,
            state.faults.limits_token_fault,
        )?;
        state.limits = limits;
        state.rendered = Arc::new(rendered);
        Ok(())
    }

    /// Installs new faults, re-signing when a token fault changed.
    pub(crate) fn set_faults(&self, faults: Faults) -> Result<(), LocalApiError> {
        self.modify_faults(|current| {
            *current = faults;
            Ok(())
        })
        .map_err(|error| match error {
            UpdateError::Render(error) => error,
            UpdateError::Invalid(message) => LocalApiError::InvalidFault(message),
        })
    }

    /// Applies a partial fault change (the `POST /__faults` body).
    pub(crate) fn update_faults(&self, update: FaultsUpdate) -> Result<Faults, UpdateError> {
        self.modify_faults(|faults| {
            faults.apply(update)?;
            Ok(faults.clone())
        })
    }

    /// Edits the faults atomically (a request taking a counted fault meanwhile is not undone),
    /// re-signing when a token fault changed.
    pub(crate) fn modify_faults<T>(
        &self,
        edit: impl FnOnce(&mut Faults) -> Result<T, String>,
    ) -> Result<T, UpdateError> {
        let mut state = self.lock();
        let mut faults = state.faults.clone();
        let out = edit(&mut faults).map_err(UpdateError::Invalid)?;
        if (faults.token_fault, faults.limits_token_fault)
            != (state.faults.token_fault, state.faults.limits_token_fault)
        {
            let rendered = render(
                &state.configs,
                &state.limits,
                &state.keys,
                faults.token_fault,
                faults.limits_token_fault,
            )
            .map_err(UpdateError::Render)?;
            state.rendered = Arc::new(rendered);
        }
        self.stall.send_replace(faults.stall);
        state.faults = faults;
        Ok(out)
    }

    /// Forgets records, dedup ids, stats and faults; keeps configs, limits and keys.
    pub(crate) fn reset(&self) -> Result<(), LocalApiError> {
        self.set_faults(Faults::default())?;
        let mut state = self.lock();
        state.stats = Stats::default();
        state.records = Vec::new();
        state.event_ids = HashMap::new();
        Ok(())
    }

    /// Waits (async) until `done` holds for the stats, or the timeout passes.
    pub(crate) async fn wait_for(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&Stats) -> bool,
    ) -> Result<Stats, WaitTimedOut> {
        let mut changes = self.version.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            changes.borrow_and_update();
            let stats = self.read().stats.clone();
            if done(&stats) {
                return Ok(stats);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                // The sender lives as long as `self`, so only the timeout ends the wait.
                Ok(Err(_)) | Err(_) => {
                    let stats = self.read().stats.clone();
                    return if done(&stats) {
                        Ok(stats)
                    } else {
                        Err(WaitTimedOut::new(timeout, stats))
                    };
                }
            }
        }
    }

    /// Waits (blocking the thread) until `done` holds for the stats, or the timeout passes.
    pub(crate) fn wait_for_blocking(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&Stats) -> bool,
    ) -> Result<Stats, WaitTimedOut> {
        let deadline = Instant::now() + timeout;
        let mut state = self.inner.lock();
        loop {
            if done(&state.stats) {
                return Ok(state.stats.clone());
            }
            if self.changed.wait_until(&mut state, deadline).timed_out() {
                return if done(&state.stats) {
                    Ok(state.stats.clone())
                } else {
                    Err(WaitTimedOut::new(timeout, state.stats.clone()))
                };
            }
        }
    }
}

/// A wait on the stats that ran out of time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the condition did not hold within {timeout:?}; last stats: {last:?}")]
pub struct WaitTimedOut {
    /// How long was waited.
    pub timeout: Duration,
    /// The stats when the wait gave up.
    pub last: Box<Stats>,
}

impl WaitTimedOut {
    fn new(timeout: Duration, last: Stats) -> WaitTimedOut {
        WaitTimedOut {
            timeout,
            last: Box::new(last),
        }
    }
}

/// Why `POST /__faults` was refused.
#[derive(Debug)]
pub(crate) enum UpdateError {
    Invalid(String),
    Render(LocalApiError),
}

fn parse_schemas(configs: &ConfigsFile) -> Result<HashMap<String, Arc<Schema>>, LocalApiError> {
    configs
        .configs
        .iter()
        .map(|entry| Ok((entry.config_id.clone(), Arc::new(entry.parsed_schema()?))))
        .collect()
}
