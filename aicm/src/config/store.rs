//! [`ConfigStore`]: the verified configs and triggered limits of one account, kept in memory
//! and in `AICM.INI`, and refreshed from the API as API.md prescribes.
//!
//! One store exists per (API root, API key, INI path) in the process ([`ConfigStore::shared`]),
//! so Trackers for different configs of one account share one fetch and one cache.
//!
//! INI writes. Every write happens under the Python SDK's lock, replaces the file atomically,
//! and is skipped when the content would not change. Writes after a `/track-usage` response run
//! as a task spawned on the caller's runtime (the delivery worker's), so the worker never blocks
//! on the lock or the disk; with no runtime they run inline with a bounded wait. A burst of
//! updates coalesces: each write stores the newest state.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Weak};
use std::time::{Duration, Instant};

use aicm_schema::{RawSchema, Schema, SchemaError};
use parking_lot::{Mutex, RwLock};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::ini::IniDocument;
use super::limits::{self, LimitClaims, TriggeredLimit};
use super::lock;
use super::verify::{unix_now, verify_item};
use crate::Error;
use crate::api::{ApiClient, ConfigsFetch, unwrap_signed_item};
use crate::settings::ApiKey;

/// How long a successful fetch answers `load_config` without asking the API again.
const REUSE_FETCH_FOR: Duration = Duration::from_secs(30);
/// How long an INI write waits for another process's lock before giving up (with a warning:
/// the cache is best effort, never a reason to fail).
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// A verified config, ready for tracking: which one it is and its parsed schema.
///
/// Obtained when a Tracker is created; the schema was parsed once, when the config was
/// verified, so a malformed type string fails Tracker creation rather than a `track` call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadedConfig {
    /// The config's id, as the Tracker was asked for it.
    pub config_id: String,
    /// The API the config belongs to (`manual` for manual usage tracking), if the service said.
    pub api_id: Option<String>,
    /// The service's UUID for the config, if it said.
    pub uuid: Option<String>,
    /// When the service last changed the config (RFC 3339 text, as sent), if it said.
    pub last_updated: Option<String>,
    /// The `manual_usage_schema`, in the service's field order; empty accepts any usage.
    pub schema: Schema,
}

/// A cheap handle on a shared store.
#[derive(Clone)]
pub(crate) struct ConfigStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ConfigStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigStore")
            .field("api", &self.inner.api)
            .field("ini_path", &self.inner.ini_path)
            .finish_non_exhaustive()
    }
}

struct Inner {
    api: ApiClient,
    ini_path: PathBuf,
    /// Held across a whole fetch sequence, so concurrent loads share its result.
    fetch: tokio::sync::Mutex<FetchState>,
    configs: RwLock<Vec<VerifiedConfig>>,
    limits: RwLock<LimitsState>,
    /// The in-memory limits differ from what was last written to the INI.
    limits_dirty: AtomicBool,
    /// Orders our own INI writes (the file lock orders them with other processes).
    ini_writer: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct FetchState {
    ini_read: bool,
    /// The `service_configs` payload we hold (from the INI or the API); `None`: nothing usable.
    items: Option<Vec<Value>>,
    /// Its ETag, verbatim; empty when none.
    etag: String,
    last_fetch: Option<Instant>,
}

/// A config found in a verified item. The schema's parse result is kept so a bad schema is
/// reported for that config only, when it is asked for.
#[derive(Debug, Clone)]
struct VerifiedConfig {
    config_id: String,
    api_id: Option<String>,
    uuid: Option<String>,
    last_updated: Option<String>,
    schema: Result<Schema, SchemaError>,
}

impl VerifiedConfig {
    fn to_loaded(&self) -> Result<LoadedConfig, Error> {
        match &self.schema {
            Ok(schema) => Ok(LoadedConfig {
                config_id: self.config_id.clone(),
                api_id: self.api_id.clone(),
                uuid: self.uuid.clone(),
                last_updated: self.last_updated.clone(),
                schema: schema.clone(),
            }),
            Err(source) => Err(Error::InvalidSchema {
                config_id: self.config_id.clone(),
                source: source.clone(),
            }),
        }
    }
}

#[derive(Default)]
struct LimitsState {
    /// The verified signed item the limits came from; `None`: none active.
    item: Option<Value>,
    limits: Vec<TriggeredLimit>,
    /// Set once the API has spoken (a fetch or a `/track-usage` response); from then on the
    /// INI cache, which may be older, never overrides memory.
    live: bool,
}

/// Where triggered limits came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// The API: authoritative, written to the INI when it changes what we hold.
    Live,
    /// The INI cache: used only until the API speaks, never written back.
    Cache,
}

/// The claims of a signed config item.
#[derive(Deserialize)]
struct ConfigClaims {
    #[serde(default)]
    configs: Option<Vec<ClaimConfig>>,
}

#[derive(Deserialize)]
struct ClaimConfig {
    config_id: Option<String>,
    uuid: Option<String>,
    api_id: Option<String>,
    last_updated: Option<String>,
    #[serde(default)]
    manual_usage_schema: SchemaSlot,
}

/// The schema as sent: an object (order kept by [`RawSchema`]) or null, else whatever it was,
/// which becomes that config's [`Error::InvalidSchema`] instead of rejecting the whole token.
#[derive(Deserialize)]
#[serde(untagged)]
enum SchemaSlot {
    Raw(RawSchema),
    Other(Value),
}

impl Default for SchemaSlot {
    fn default() -> Self {
        SchemaSlot::Raw(RawSchema::default())
    }
}

type RegistryKey = (String, ApiKey, PathBuf);

static REGISTRY: LazyLock<Mutex<HashMap<RegistryKey, Weak<Inner>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

impl ConfigStore {
    /// The store for this API root, key and INI path, created on first use. A later caller's
    /// `api` (and its HTTP client) is ignored when the store already exists.
    pub(crate) fn shared(api: ApiClient, ini_path: PathBuf) -> ConfigStore {
        let key = (
            api.root().to_owned(),
            api.api_key().clone(),
            ini_path.clone(),
        );
        let mut registry = REGISTRY.lock();
        if let Some(inner) = registry.get(&key).and_then(Weak::upgrade) {
            return ConfigStore { inner };
        }
        registry.retain(|_, weak| weak.strong_count() > 0);
        let store = ConfigStore::new(api, ini_path);
        registry.insert(key, Arc::downgrade(&store.inner));
        store
    }

    /// A store of its own, not shared with anyone.
    pub(crate) fn new(api: ApiClient, ini_path: PathBuf) -> ConfigStore {
        ConfigStore {
            inner: Arc::new(Inner {
                api,
                ini_path,
                fetch: tokio::sync::Mutex::new(FetchState::default()),
                configs: RwLock::new(Vec::new()),
                limits: RwLock::new(LimitsState::default()),
                limits_dirty: AtomicBool::new(false),
                ini_writer: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The API root and key this store belongs to.
    pub(crate) fn account(&self) -> (String, ApiKey) {
        (
            self.inner.api.root().to_owned(),
            self.inner.api.api_key().clone(),
        )
    }

    /// Finds `config_id`, asking the API as API.md says:
    /// - `GET /configs` with the cached ETag; 304 keeps the cached payload; 200 replaces it,
    ///   each item verified (bad ones skipped with a warning);
    /// - not found after a request that sent `If-None-Match`: once more without it (a stale
    ///   ETag must not hide a new config), then [`Error::ConfigNotFound`];
    /// - API unreachable (or 5xx, or a garbled 2xx) but the config cached: the cache, with a
    ///   warning; nothing cached: the error, saying so.
    ///
    /// A config found by a fetch less than 30 s old is returned without a new request.
    pub(crate) async fn load_config(&self, config_id: &str) -> Result<LoadedConfig, Error> {
        let mut state = self.inner.fetch.lock().await;
        if state
            .last_fetch
            .is_some_and(|at| at.elapsed() < REUSE_FETCH_FOR)
            && let Some(found) = self.lookup(config_id)
        {
            return found;
        }
        self.read_ini_once(&mut state).await;

        let sent_etag = match self.fetch_configs(&mut state, true).await {
            Ok(sent_etag) => sent_etag,
            Err(error) if is_unavailable(&error) => {
                return match self.lookup(config_id) {
                    Some(found) => {
                        tracing::warn!(
                            config_id,
                            ini_path = %self.inner.ini_path.display(),
                            %error,
                            "AICostManager API unavailable; starting from the cached config"
                        );
                        found
                    }
                    None => Err(with_note(
                        error,
                        &format!(
                            "and {} holds no cached config `{config_id}`",
                            self.inner.ini_path.display()
                        ),
                    )),
                };
            }
            Err(error) => return Err(error),
        };
        if let Some(found) = self.lookup(config_id) {
            return found;
        }
        if sent_etag {
            tracing::debug!(
                config_id,
                "config not in the cached payload; fetching without If-None-Match"
            );
            self.fetch_configs(&mut state, false).await?;
            if let Some(found) = self.lookup(config_id) {
                return found;
            }
        }
        Err(Error::ConfigNotFound {
            config_id: config_id.to_owned(),
            known: self.known_ids(),
        })
    }

    /// The config as currently held in memory, without asking the API (after a `refresh`,
    /// for instance). [`Error::ConfigNotFound`] when it is not held.
    pub(crate) fn config(&self, config_id: &str) -> Result<LoadedConfig, Error> {
        self.lookup(config_id).unwrap_or_else(|| {
            Err(Error::ConfigNotFound {
                config_id: config_id.to_owned(),
                known: self.known_ids(),
            })
        })
    }

    /// Refetches configs (with the cached ETag) and triggered limits, updating memory and the
    /// INI. Errors are returned, and what was held before stays in use.
    pub(crate) async fn refresh(&self) -> Result<(), Error> {
        let mut state = self.inner.fetch.lock().await;
        self.read_ini_once(&mut state).await;
        self.fetch_configs(&mut state, true).await.map(|_| ())
    }

    /// Limits and alerts in force for a call to `service_key` for `customer_key` with this
    /// store's API key ([`limits::applies`] has the rules).
    pub(crate) fn limits_in_force(
        &self,
        service_key: &str,
        customer_key: Option<&str>,
    ) -> Vec<TriggeredLimit> {
        limits::in_force(
            &self.inner.limits.read().limits,
            self.inner.api.api_key().id(),
            service_key,
            customer_key,
            OffsetDateTime::now_utc(),
        )
    }

    /// Start-up under today's contract: the INI cache (until the API speaks), then one
    /// `GET /triggered-limits`, written to the INI when it changes what the file holds.
    /// Best effort: a failure is logged and the cache (or the next `/track` answer) serves.
    /// Skipped once the API has spoken to this store (another Tracker's start-up, a `/track`
    /// answer), so Trackers sharing a store ask once.
    pub(crate) async fn load_limits_at_start_up(&self) {
        let mut state = self.inner.fetch.lock().await;
        self.read_ini_once(&mut state).await;
        if self.inner.limits.read().live {
            return;
        }
        if let Err(error) = self.fetch_limits_live().await {
            tracing::warn!(
                %error,
                "could not fetch triggered limits at start-up; using what AICM.INI holds until                  the API answers"
            );
        }
    }

    /// `refresh` under today's contract: refetches triggered limits only (there are no
    /// configs). A failed request is returned and the limits held stay; a token that fails
    /// verification is logged and skipped, the limits held stay too.
    pub(crate) async fn refresh_limits(&self) -> Result<(), Error> {
        let mut state = self.inner.fetch.lock().await;
        self.read_ini_once(&mut state).await;
        self.fetch_limits_live().await
    }

    /// One `GET /triggered-limits` into memory, and into the INI when it changed what we hold.
    async fn fetch_limits_live(&self) -> Result<(), Error> {
        let item = self.inner.api.get_triggered_limits().await?;
        self.apply_limits(item.as_ref().unwrap_or(&Value::Null), Origin::Live);
        if self.inner.limits_dirty.load(Ordering::SeqCst) {
            self.write_ini_logged(None).await;
        }
        Ok(())
    }

    /// Active limits (not expired), optionally only those naming `customer_key`.
    pub(crate) fn triggered_limits(&self, customer_key: Option<&str>) -> Vec<TriggeredLimit> {
        limits::select(
            &self.inner.limits.read().limits,
            customer_key,
            OffsetDateTime::now_utc(),
        )
    }

    /// Takes the triggered limits of a `/track-usage` 2xx: the signed item, or the whole
    /// response body (its `triggered_limits`; absent or null means none active). An item that
    /// fails verification is logged and ignored; the previous limits stay. When the limits
    /// change, the INI is rewritten in the background (see the module docs).
    pub(crate) fn update_triggered_limits_from_response(&self, item: &Value) {
        if self.apply_limits(item, Origin::Live) {
            self.schedule_limits_write();
        }
    }

    /// Waits for pending INI writes of triggered limits, writing the newest state if needed.
    /// For `close`, so the last limits seen reach the file.
    pub(crate) async fn flush_ini(&self) {
        if self.inner.limits_dirty.load(Ordering::SeqCst) {
            if let Err(error) = self.write_ini(None).await {
                tracing::warn!(%error, "could not write triggered limits to AICM.INI");
            }
        } else {
            // A write in progress holds the writer lock; wait for it to finish.
            drop(self.inner.ini_writer.lock().await);
        }
    }

    fn lookup(&self, config_id: &str) -> Option<Result<LoadedConfig, Error>> {
        let configs = self.inner.configs.read();
        let found = configs.iter().find(|c| c.config_id == config_id)?;
        Some(found.to_loaded())
    }

    /// Every config held in memory, in the order the verified items list them (for
    /// `crate::public_configs`); a config whose schema does not parse is its own error.
    pub(crate) fn all_configs(&self) -> Vec<Result<LoadedConfig, Error>> {
        self.inner
            .configs
            .read()
            .iter()
            .map(VerifiedConfig::to_loaded)
            .collect()
    }

    fn known_ids(&self) -> Vec<String> {
        self.inner
            .configs
            .read()
            .iter()
            .map(|c| c.config_id.clone())
            .collect()
    }

    /// Loads the INI cache into memory, once per store. A missing, unreadable or garbled file
    /// is an empty cache (garbled: with a warning).
    async fn read_ini_once(&self, state: &mut FetchState) {
        if state.ini_read {
            return;
        }
        state.ini_read = true;
        let path = self.inner.ini_path.clone();
        let text = match tokio::task::spawn_blocking(move || lock::read(&path)).await {
            Ok(Ok(text)) => text,
            Ok(Err(error)) => {
                tracing::warn!(%error, "ignoring the AICM.INI cache");
                None
            }
            Err(error) => {
                tracing::warn!(%error, "could not read AICM.INI");
                None
            }
        };
        let Some(text) = text else { return };
        let doc = IniDocument::parse(&text);
        if let Some(payload) = doc.get("configs", "payload") {
            match serde_json::from_str::<Vec<Value>>(&payload) {
                Ok(items) => {
                    *self.inner.configs.write() = verify_configs(&items, "AICM.INI");
                    state.items = Some(items);
                    state.etag = doc.get("configs", "etag").unwrap_or_default();
                }
                Err(error) => tracing::warn!(
                    ini_path = %self.inner.ini_path.display(),
                    %error,
                    "AICM.INI [configs] payload is not a JSON array; ignoring it"
                ),
            }
        }
        if let Some(payload) = doc.get("triggered_limits", "payload") {
            match serde_json::from_str::<Value>(&payload) {
                Ok(value) => {
                    self.apply_limits(&value, Origin::Cache);
                }
                Err(error) => tracing::warn!(
                    %error,
                    "AICM.INI [triggered_limits] payload is not JSON; ignoring it"
                ),
            }
        }
    }

    /// One `GET /configs` (and, when it brings no limits, `GET /triggered-limits`). Returns
    /// whether `If-None-Match` was sent.
    async fn fetch_configs(&self, state: &mut FetchState, use_etag: bool) -> Result<bool, Error> {
        // An ETag is only worth sending with a payload to fall back on: a 304 would otherwise
        // leave us with nothing.
        let etag = (use_etag && state.items.is_some() && !state.etag.is_empty())
            .then(|| state.etag.clone());
        let api = &self.inner.api;
        let fetched = api.get_configs(etag.as_deref()).await?;
        match fetched {
            ConfigsFetch::NotModified => {
                if etag.is_none() {
                    return Err(Error::InvalidResponse {
                        url: api.url("/configs"),
                        message: "304 Not Modified to a request without If-None-Match".to_owned(),
                    });
                }
                state.last_fetch = Some(Instant::now());
                self.fetch_limits().await;
                if self.inner.limits_dirty.load(Ordering::SeqCst) {
                    self.write_ini_logged(None).await;
                }
            }
            ConfigsFetch::Fresh { etag, body } => {
                *self.inner.configs.write() = verify_configs(&body.service_configs, "API");
                state.last_fetch = Some(Instant::now());
                match &body.triggered_limits {
                    Some(value) => {
                        self.apply_limits(value, Origin::Live);
                    }
                    None => self.fetch_limits().await,
                }
                let payload = Value::Array(body.service_configs.clone());
                self.write_ini_logged(Some((payload, etag.clone()))).await;
                state.items = Some(body.service_configs);
                state.etag = etag;
            }
        }
        Ok(etag.is_some())
    }

    /// `GET /triggered-limits` into memory; a failure is only logged (limits are advisory and
    /// must not stop a Tracker from starting).
    async fn fetch_limits(&self) {
        match self.inner.api.get_triggered_limits().await {
            Ok(item) => {
                self.apply_limits(item.as_ref().unwrap_or(&Value::Null), Origin::Live);
            }
            Err(error) => tracing::warn!(%error, "could not fetch triggered limits"),
        }
    }

    /// Verifies and installs triggered limits. Returns whether live limits changed what we
    /// held, i.e. whether the INI needs writing. A re-signed token with the same limits is not
    /// a change (memory takes the new token; the file waits for the next real change).
    fn apply_limits(&self, value: &Value, origin: Origin) -> bool {
        let item = match unwrap_signed_item(value) {
            Ok(item) => item,
            Err(message) => {
                tracing::warn!(%message, ?origin, "ignoring triggered limits in an unexpected shape");
                return false;
            }
        };
        let completed = item.and_then(|item| self.with_held_public_key(item));
        let item = completed.as_ref().or(item);
        {
            let state = self.inner.limits.read();
            match origin {
                Origin::Cache if state.live => return false,
                Origin::Live if state.live && state.item.as_ref() == item => return false,
                _ => {}
            }
        }
        let parsed = match item {
            None => Vec::new(),
            Some(item) => match verify_item::<LimitClaims>(item, unix_now()) {
                Ok(claims) => limits::parse_limits(claims),
                Err(error) => {
                    tracing::warn!(%error, ?origin, "ignoring triggered limits that failed verification");
                    return false;
                }
            },
        };
        let mut state = self.inner.limits.write();
        if origin == Origin::Cache && state.live {
            return false;
        }
        // The first live answer is always worth a (content-compared) write: the file may hold
        // something else entirely.
        let changed = origin == Origin::Live && (!state.live || state.limits != parsed);
        *state = LimitsState {
            item: item.cloned(),
            limits: parsed,
            live: state.live || origin == Origin::Live,
        };
        if changed {
            self.inner.limits_dirty.store(true, Ordering::SeqCst);
        }
        changed
    }

    /// API-TRACK.md: an item without `public_key` is verified with the key of the item we
    /// hold. Returns the item completed with that key (so the INI copy stays verifiable on its
    /// own, for Python too), or `None` when it has a key or we hold none.
    fn with_held_public_key(&self, item: &Value) -> Option<Value> {
        if item.get("public_key").is_some() {
            return None;
        }
        let state = self.inner.limits.read();
        let key = state.item.as_ref()?.get("public_key")?.clone();
        let mut completed = item.clone();
        completed
            .as_object_mut()?
            .insert("public_key".to_owned(), key);
        Some(completed)
    }

    fn schedule_limits_write(&self) {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                let store = self.clone();
                handle.spawn(async move {
                    if store.inner.limits_dirty.load(Ordering::SeqCst) {
                        store.write_ini_logged(None).await;
                    }
                });
            }
            Err(_) => {
                if let Err(error) = self.write_limits_blocking() {
                    tracing::warn!(%error, "could not write triggered limits to AICM.INI");
                }
            }
        }
    }

    async fn write_ini_logged(&self, configs: Option<(Value, String)>) {
        if let Err(error) = self.write_ini(configs).await {
            tracing::warn!(%error, "could not update the AICM.INI cache");
        }
    }

    /// Writes the configs payload (when given) and the current triggered limits.
    async fn write_ini(&self, configs: Option<(Value, String)>) -> Result<bool, Error> {
        let _writer = self.inner.ini_writer.lock().await;
        // Cleared before reading the state: an update racing with this write marks it dirty
        // again and schedules the next write.
        self.inner.limits_dirty.store(false, Ordering::SeqCst);
        let limits_item = self.current_limits_item();
        let file_lock = lock::acquire(&self.inner.ini_path, LOCK_WAIT).await?;
        let path = self.inner.ini_path.clone();
        // The lock moves into the blocking task, so a cancelled caller cannot release it while
        // the file is being replaced.
        tokio::task::spawn_blocking(move || {
            let result = rewrite(&path, &file_lock, configs, limits_item);
            drop(file_lock);
            result
        })
        .await
        .map_err(|e| Error::Ini {
            path: self.inner.ini_path.clone(),
            message: format!("write task failed: {e}"),
        })?
    }

    fn write_limits_blocking(&self) -> Result<bool, Error> {
        let _writer = self.inner.ini_writer.blocking_lock();
        self.inner.limits_dirty.store(false, Ordering::SeqCst);
        let limits_item = self.current_limits_item();
        let file_lock = lock::acquire_blocking(&self.inner.ini_path, LOCK_WAIT)?;
        rewrite(&self.inner.ini_path, &file_lock, None, limits_item)
    }

    /// What `[triggered_limits] payload` should hold: the live item, `{}` for none; `None`
    /// while the API has not spoken, so the file's entry is left as it is.
    fn current_limits_item(&self) -> Option<Value> {
        let state = self.inner.limits.read();
        state.live.then(|| {
            state
                .item
                .clone()
                .unwrap_or_else(|| Value::Object(serde_json::Map::new()))
        })
    }
}

/// Read-modify-write of the INI under `lock`: only our keys change, and the file is replaced
/// only if its text would differ. A value already holding equal JSON (however formatted, e.g.
/// by Python's `json.dumps`) is left as it is. Returns whether the file was written.
fn rewrite(
    path: &Path,
    file_lock: &lock::IniLock,
    configs: Option<(Value, String)>,
    limits_item: Option<Value>,
) -> Result<bool, Error> {
    // An unreadable (non-UTF-8) file is an error here, so we never clobber what we cannot keep.
    let text = lock::read(path)?.unwrap_or_default();
    let mut doc = IniDocument::parse(&text);
    let before = doc.to_text();
    if let Some((items, etag)) = configs {
        set_json(&mut doc, "configs", "payload", &items);
        if doc.get("configs", "etag").as_deref() != Some(etag.as_str()) {
            doc.set("configs", "etag", &etag);
        }
    }
    if let Some(limits_item) = limits_item {
        set_json(&mut doc, "triggered_limits", "payload", &limits_item);
    }
    let after = doc.to_text();
    if after == before {
        return Ok(false);
    }
    lock::write_atomic(path, &after, file_lock)?;
    Ok(true)
}

fn set_json(doc: &mut IniDocument, section: &str, key: &str, value: &Value) {
    let current = doc
        .get(section, key)
        .and_then(|text| serde_json::from_str::<Value>(&text).ok());
    if current.as_ref() != Some(value) {
        doc.set(section, key, &value.to_string());
    }
}

/// Verifies every item and collects the configs of those that pass; the first item naming a
/// config id wins. Failures are logged with the (unverified) id the item claims, for the reader.
fn verify_configs(items: &[Value], source: &'static str) -> Vec<VerifiedConfig> {
    let now = unix_now();
    let mut configs: Vec<VerifiedConfig> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let claims = match verify_item::<ConfigClaims>(item, now) {
            Ok(claims) => claims,
            Err(error) => {
                let claimed = item.get("config_id").and_then(|v| v.as_str());
                tracing::warn!(
                    source,
                    index,
                    claimed_config_id = claimed,
                    %error,
                    "skipping a config item that failed verification"
                );
                continue;
            }
        };
        for config in claims.configs.unwrap_or_default() {
            let Some(config_id) = config.config_id else {
                continue;
            };
            if configs.iter().any(|c| c.config_id == config_id) {
                continue;
            }
            let schema = match config.manual_usage_schema {
                SchemaSlot::Raw(raw) => raw.parse(),
                SchemaSlot::Other(other) => Err(SchemaError::NotAnObject(format!(
                    "expected an object of field names to type strings, found {}",
                    crate::api::json_kind(&other)
                ))),
            };
            configs.push(VerifiedConfig {
                config_id,
                api_id: config.api_id,
                uuid: config.uuid,
                last_updated: config.last_updated,
                schema,
            });
        }
    }
    configs
}

/// Whether the API was out of reach rather than saying no: then a cached config may be used.
fn is_unavailable(error: &Error) -> bool {
    match error {
        Error::Unreachable { .. } | Error::InvalidResponse { .. } => true,
        Error::Api { status, .. } => *status >= 500 || *status == 408 || *status == 429,
        _ => false,
    }
}

fn with_note(error: Error, note: &str) -> Error {
    match error {
        Error::Unreachable { url, message } => Error::Unreachable {
            url,
            message: format!("{message}; {note}"),
        },
        Error::Api {
            status,
            url,
            message,
        } => Error::Api {
            status,
            url,
            message: format!("{message}; {note}"),
        },
        Error::InvalidResponse { url, message } => Error::InvalidResponse {
            url,
            message: format!("{message}; {note}"),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests;
