//! `TrackerBuilder`: every setting of a Tracker, builder value first, then environment, then
//! the documented default.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{Tracker, TrackerCore, TrackerInner};
use crate::Error;
use crate::api::ApiClient;
use crate::config::{ConfigStore, LoadedConfig};
use crate::delivery::options::{DeliveryOptions, OnFull};
use crate::delivery::record::{Callback, DiscardedRecord, FailedRecord, Origin};
use crate::delivery::registry::{self, WorkerKey};
use crate::delivery::retry::Backoff;
use crate::delivery::send::{LimitsHook, Sender, Transport};
use crate::delivery::signal::{How, run_blocking};
use crate::delivery::wire::{Contract, Protocol};
use crate::delivery::worker::Worker;
use crate::settings::{Settings, SettingsOverrides};
use crate::usage::LiveSchema;

/// Configures and builds a [`Tracker`].
///
/// ```no_run
/// use std::time::Duration;
/// use aicm::{OnFull, Tracker};
///
/// let tracker = Tracker::builder("chat-completions", "openai::gpt-4o-mini")
///     .api_key("sk-...")
///     .on_full(OnFull::Block)
///     .batch_interval(Duration::from_millis(200))
///     .build()?;
/// # Ok::<(), aicm::Error>(())
/// ```
pub struct TrackerBuilder {
    config_id: String,
    service_id: String,
    overrides: SettingsOverrides,
    options: DeliveryOptions,
    on_full: Option<OnFull>,
    protocol: Option<Protocol>,
    on_discard: Option<Callback<DiscardedRecord>>,
    on_failed: Option<Callback<FailedRecord>>,
    anonymize_fields: Vec<String>,
    drop_timeout: Duration,
    http_client: Option<reqwest::Client>,
    memory: Option<MemorySetup>,
    schema: Option<aicm_schema::Schema>,
    local_schema: Option<LocalSchema>,
    spool: Option<PathBuf>,
    #[cfg(feature = "spool")]
    spool_options: Option<crate::spool::SpoolOptions>,
    #[cfg(feature = "spool")]
    spool_durability: Option<crate::spool::Durability>,
}

impl fmt::Debug for TrackerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackerBuilder")
            .field("config_id", &self.config_id)
            .field("service_id", &self.service_id)
            .field(
                "api_key",
                &self.overrides.api_key.as_ref().map(|_| "(redacted)"),
            )
            .field("api_base", &self.overrides.api_base)
            .field("api_url", &self.overrides.api_url)
            .field("ini_path", &self.overrides.ini_path)
            .field("options", &self.options)
            .field("on_full", &self.on_full)
            .field("protocol", &self.protocol)
            .field("spool", &self.spool)
            .finish_non_exhaustive()
    }
}

impl TrackerBuilder {
    pub(crate) fn new(config_id: String, service_id: String) -> TrackerBuilder {
        TrackerBuilder {
            config_id,
            service_id,
            overrides: SettingsOverrides::default(),
            options: DeliveryOptions::default(),
            on_full: None,
            protocol: None,
            on_discard: None,
            on_failed: None,
            anonymize_fields: Vec::new(),
            drop_timeout: crate::delivery::options::defaults::DROP_TIMEOUT,
            http_client: None,
            memory: None,
            schema: None,
            local_schema: None,
            spool: None,
            #[cfg(feature = "spool")]
            spool_options: None,
            #[cfg(feature = "spool")]
            spool_durability: None,
        }
    }

    /// The AICostManager API key (else `AICM_API_KEY`). Never logged or printed.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.overrides.api_key = Some(key.into());
        self
    }

    /// The API's scheme and host (else `AICM_API_BASE`, else `https://aicostmanager.com`).
    pub fn api_base(mut self, base: impl Into<String>) -> Self {
        self.overrides.api_base = Some(base.into());
        self
    }

    /// The API's path prefix (else `AICM_API_URL`, else `/api/v1`).
    pub fn api_url(mut self, url: impl Into<String>) -> Self {
        self.overrides.api_url = Some(url.into());
        self
    }

    /// Where the config cache lives (else `AICM_INI_PATH`, else
    /// `~/.config/aicostmanager/AICM.INI`).
    pub fn ini_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.overrides.ini_path = Some(path.into());
        self
    }

    /// Records the in-memory queue holds (default 10,000).
    pub fn queue_size(mut self, size: usize) -> Self {
        self.options.queue_size = size.max(1);
        self
    }

    /// Records per request (default 1,000).
    pub fn max_batch_size(mut self, size: usize) -> Self {
        self.options.max_batch_size = size.max(1);
        self
    }

    /// How long a partial batch waits for more records (default 500 ms).
    pub fn batch_interval(mut self, interval: Duration) -> Self {
        self.options.batch_interval = interval;
        self
    }

    /// Per-request HTTP timeout (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// Retries of a batch after its first attempt (default 8).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.options.max_retries = retries;
        self
    }

    /// First retry wait before jitter, doubled per attempt (default 250 ms).
    pub fn initial_backoff(mut self, wait: Duration) -> Self {
        self.options.initial_backoff = wait;
        self
    }

    /// Longest single retry wait, `Retry-After` included (default 30 s).
    pub fn max_backoff(mut self, wait: Duration) -> Self {
        self.options.max_backoff = wait;
        self
    }

    /// Requests in flight at once (default 4).
    pub fn max_concurrent_requests(mut self, n: usize) -> Self {
        self.options.max_concurrent_requests = n.max(1);
        self
    }

    /// What `track` does when the queue is full (else `AICM_DELIVERY_ON_FULL`, else
    /// `backpressure`).
    pub fn on_full(mut self, policy: OnFull) -> Self {
        self.on_full = Some(policy);
        self
    }

    /// Which contract of the API to speak (else `AICM_PROTOCOL`: `auto`, `track` or `configs`,
    /// else `auto`). `Auto` asks the service once per API root and key at start-up: a
    /// service without `GET /configs` speaks today's contract (`POST /track`). A Tracker
    /// without a config id ([`Tracker::track_api`]) always speaks today's contract.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// The service key records are sent with when `TrackOptions::service_key` does not name
    /// one (the service id given to [`Tracker::builder`]).
    pub fn service_key(mut self, service_key: impl Into<String>) -> Self {
        self.service_id = service_key.into();
        self
    }

    /// A local schema for dynamic (JSON) usage, as JSON text (`{"input_tokens": "int",
    /// "model": "str"}`, the type language of `manual_usage_schema`). Today's contract has no
    /// schema on the service: with one given here, JSON records are validated against it in
    /// `track` (a typed record's compiled schema is compared with it once per type); without
    /// one, any JSON object is accepted. Under the config-based contract the config's schema
    /// from the service applies instead. A malformed schema fails `build`.
    ///
    /// ```no_run
    /// let tracker = aicm::Tracker::track_api()
    ///     .usage_schema(r#"{"input_tokens": "int", "output_tokens": "int"}"#)
    ///     .build()?;
    /// # Ok::<(), aicm::Error>(())
    /// ```
    pub fn usage_schema(mut self, schema_json: impl Into<String>) -> Self {
        self.local_schema = Some(LocalSchema::Inline(schema_json.into()));
        self
    }

    /// [`TrackerBuilder::usage_schema`] read from a file in a format `aicm-codegen` reads and
    /// writes: a schema snapshot (`{"field": "type", …}`, what `aicm-codegen --schema-dir`
    /// writes), or a configs document (`{"configs": [...]}` or `{"service_configs": [...]}`)
    /// whose entry for this Tracker's config id holds a `manual_usage_schema`.
    pub fn usage_schema_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.local_schema = Some(LocalSchema::File(path.into()));
        self
    }

    /// Usage fields whose values never leave the process: wherever a field of one of these
    /// names appears in a record's usage (at any depth), its strings are sent as
    /// `"[REDACTED]"` (inside a list or object, every string in it); numbers, booleans and
    /// null are kept, so counts still add up. As the Python SDK's `anonymize_fields`.
    /// [`TrackOptions::anonymize_fields`](crate::TrackOptions::anonymize_fields) adds names
    /// for one record. Records are validated before they are redacted.
    pub fn anonymize_fields<S: Into<String>>(
        mut self,
        fields: impl IntoIterator<Item = S>,
    ) -> Self {
        self.anonymize_fields
            .extend(fields.into_iter().map(Into::into));
        self
    }

    /// Under `OnFull::Block`, give up with `TrackError::QueueFull` after this long (default:
    /// wait as long as it takes).
    pub fn block_timeout(mut self, timeout: Duration) -> Self {
        self.options.block_timeout = Some(timeout);
        self
    }

    /// How long dropping the last clone of a Tracker that was not closed waits for its queued
    /// records to be delivered (default 5 s; `Duration::ZERO` does not wait). Anything still
    /// undelivered then is logged once with its count. `close` is the way to be sure; this is
    /// the safety net for a `main` that returns without it. Spooled records never wait: they
    /// are safe in the file. A Tracker held in a `static` is never dropped.
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// let tracker = aicm::Tracker::track_api()
    ///     .drop_timeout(Duration::from_secs(2)) // a CLI that should exit quickly
    ///     .build()?;
    /// tracker.track_with(
    ///     serde_json::json!({"calls": 1}),
    ///     aicm::TrackOptions::for_service("acme::search"),
    /// )?;
    /// // returning without close: the drop waits up to 2 s for delivery
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn drop_timeout(mut self, timeout: Duration) -> Self {
        self.drop_timeout = timeout;
        self
    }

    /// How long `close` waits for queued records (default 30 s).
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.options.close_timeout = timeout;
        self
    }

    /// Called with every record this Tracker accepted that was dropped to make room. Runs on
    /// the thread whose `track` call displaced it; keep it short.
    pub fn on_discard(mut self, f: impl Fn(&DiscardedRecord) + Send + Sync + 'static) -> Self {
        self.on_discard = Some(Box::new(f));
        self
    }

    /// Called with every record this Tracker accepted that will not be delivered (refused by
    /// the server, or out of retries). Runs on the delivery thread; keep it short and do not
    /// wait for the tracker (`flush`, `close`) inside it.
    pub fn on_failed(mut self, f: impl Fn(&FailedRecord) + Send + Sync + 'static) -> Self {
        self.on_failed = Some(Box::new(f));
        self
    }

    /// Keeps records in a durable spool file at `path` (else `AICM_SPOOL_PATH`), so that they
    /// survive a crash, a restart or a long outage: `track` returns once the record is stored
    /// there (concurrent calls share commits), and the worker delivers what the file holds,
    /// including what an earlier run or a dead process left behind. Several processes may
    /// share one file; a file holds the records of one account (API root and key).
    ///
    /// Needs aicm's `spool` cargo feature: without it, `build` refuses a spool path (from here
    /// or the environment) rather than silently keep records in memory only. The queue-size
    /// setting does not apply; the spool's bounds do (`spool_options`, feature `spool`), with
    /// this builder's [`OnFull`] policy and block timeout.
    pub fn spool(mut self, path: impl Into<PathBuf>) -> Self {
        self.spool = Some(path.into());
        self
    }

    /// How far a spooled record is stored before `track` returns (else
    /// `AICM_SPOOL_DURABILITY`: `process` or `fsync`, else `process`).
    /// [`Durability::Process`](crate::spool::Durability::Process) survives the process being
    /// killed at no fsync cost; [`Durability::Fsync`](crate::spool::Durability::Fsync) also
    /// survives a power loss, at one fsync per group commit (milliseconds on many disks,
    /// shared by every `track` waiting for that commit).
    #[cfg(feature = "spool")]
    pub fn spool_durability(mut self, durability: crate::spool::Durability) -> Self {
        self.spool_durability = Some(durability);
        self
    }

    /// The spool's bounds (`max_rows`, default 1,000,000; `max_bytes`, default 1 GiB), lease
    /// and lock wait, and its durability (as if given to
    /// [`TrackerBuilder::spool_durability`]). Its `on_full` and `block_timeout` are replaced
    /// by this builder's. The lease is how long another process waits before taking over rows
    /// of a process that died while delivering them; it is never shorter than the request
    /// timeout plus a second, so a live request never loses its rows.
    #[cfg(feature = "spool")]
    pub fn spool_options(mut self, options: crate::spool::SpoolOptions) -> Self {
        self.spool_durability = Some(options.durability);
        self.spool_options = Some(options);
        self
    }

    /// Use this HTTP client (its own TLS, proxy and pool settings). A Tracker with its own
    /// client gets a worker of its own.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Builds the Tracker: resolves settings, starts (or joins) the delivery worker and loads
    /// the config and its schema. Blocks the calling thread on network I/O; from async code use
    /// [`TrackerBuilder::build_async`] (calling this inside a runtime works, but blocks that
    /// executor thread).
    pub fn build(self) -> Result<Tracker, Error> {
        run_blocking(self.build_in(How::Block))
    }

    /// Builds the Tracker without blocking the executor. Works on any tokio runtime.
    pub async fn build_async(self) -> Result<Tracker, Error> {
        self.build_in(How::Await).await
    }

    async fn build_in(self, how: How) -> Result<Tracker, Error> {
        let (prepared, worker) = self.prepare()?;
        if !prepared.needs_loading(&worker, how == How::Block) {
            return prepared.finish(worker, Ok(None));
        }
        if how == How::Block && worker.is_current_thread() {
            registry::release(&worker);
            return Err(Error::Worker(
                "a Tracker cannot be built synchronously inside a delivery callback; use \
                 build_async"
                    .to_owned(),
            ));
        }
        let loaded = worker
            .run(how, None, prepared.load(&worker))
            .await
            .unwrap_or_else(|| Err(Error::Worker("the delivery worker stopped".to_owned())));
        prepared.finish(worker, loaded)
    }

    fn prepare(mut self) -> Result<(Prepared, Arc<Worker>), Error> {
        // An in-memory (recording) Tracker has nothing to make durable.
        let spool_path = match self.memory {
            Some(_) => None,
            None => crate::settings::spool_path(self.spool.take(), |n| std::env::var_os(n)),
        };
        #[cfg(not(feature = "spool"))]
        if let Some((path, name)) = spool_path {
            return Err(spool_feature_off(&path, name));
        }
        self.options.on_full = match self.on_full {
            Some(p) => p,
            None => on_full_from_env()?,
        };
        let protocol = match self.protocol {
            Some(p) => p,
            None => protocol_from(std::env::var("AICM_PROTOCOL").ok())?,
        };
        if let Some(local) = self.local_schema.take() {
            self.schema = Some(local.load(&self.config_id)?);
        }
        // Today's contract has no config ids: a Tracker without one speaks it.
        let protocol = match (protocol, self.config_id.is_empty()) {
            (Protocol::Configs, true) => {
                return Err(Error::InvalidSetting {
                    name: "AICM_PROTOCOL",
                    message: "`configs` needs a config id; this Tracker was built without one \
                              (Tracker::track_api speaks today's contract only)"
                        .to_owned(),
                });
            }
            (_, true) => Protocol::Track,
            (p, false) => p,
        };
        if protocol != Protocol::Configs {
            // Today's contract takes at most 1,000 records per request.
            self.options.max_batch_size = self
                .options
                .max_batch_size
                .min(crate::delivery::wire::track::MAX_BATCH);
        }
        #[cfg(feature = "spool")]
        let spool_setup = match spool_path {
            Some((path, _)) => Some(super::spooled::Setup::resolve(
                path,
                self.spool_options.take(),
                self.spool_durability,
                &self.options,
            )?),
            None => None,
        };
        #[cfg(feature = "spool")]
        let mut spool_shared = None;
        let options = self.options.clone();
        #[cfg_attr(not(feature = "spool"), allow(unused_mut))]
        let (mut key, transport, store, limits_hook, contract) = match self.memory.take() {
            Some(memory) => {
                let key = WorkerKey {
                    api_root: String::new(),
                    api_key: String::new(),
                    ini_path: PathBuf::new(),
                    options: options.clone(),
                    unique: Some(unique_id()),
                    spool: None,
                    protocol,
                };
                self.schema = Some(memory.schema);
                let transport = Transport::Memory(memory.store);
                let contract = match protocol {
                    Protocol::Track => Contract::Track,
                    Protocol::Auto | Protocol::Configs => Contract::Configs,
                };
                (key, transport, None, None, Some(contract))
            }
            None => {
                let settings = Settings::resolve(self.overrides.clone())?;
                let http = match self.http_client.clone() {
                    Some(client) => client,
                    None => reqwest::Client::builder()
                        .timeout(options.timeout)
                        .connect_timeout(options.timeout.min(Duration::from_secs(10)))
                        .build()
                        .map_err(|e| {
                            Error::Worker(format!("could not build the HTTP client: {e}"))
                        })?,
                };
                let api = ApiClient::new(Some(http.clone()), &settings)?;
                #[cfg(feature = "spool")]
                if let Some(setup) = &spool_setup {
                    spool_shared = Some(setup.acquire(api.root(), settings.api_key.expose())?);
                }
                let key = WorkerKey {
                    api_root: api.root().to_owned(),
                    api_key: settings.api_key.expose().to_owned(),
                    ini_path: settings.ini_path.clone(),
                    options: options.clone(),
                    unique: self.http_client.as_ref().map(|_| unique_id()),
                    spool: None,
                    protocol,
                };
                let transport = Transport::Http {
                    http: http.clone(),
                    root: api.root().to_owned(),
                    auth: api.auth_header().clone(),
                };
                let contract = match protocol {
                    Protocol::Track => Some(Contract::Track),
                    Protocol::Configs => Some(Contract::Configs),
                    Protocol::Auto => super::protocol::decided(api.root(), &settings.api_key),
                };
                let store = ConfigStore::shared(api, settings.ini_path.clone());
                let hook_store = store.clone();
                let hook: LimitsHook = Arc::new(move |body: &serde_json::Value| {
                    hook_store.update_triggered_limits_from_response(body)
                });
                (key, transport, Some(store), Some(hook), contract)
            }
        };
        #[cfg(feature = "spool")]
        let lease = spool_setup.as_ref().map(|s| s.lease(options.timeout));
        #[cfg(feature = "spool")]
        if let (Some(shared), Some(lease)) = (&spool_shared, lease) {
            key.spool = Some((shared.path().to_owned(), lease));
        }
        let worker = registry::acquire(key, || {
            Worker::start(
                options.clone(),
                |queue| {
                    Sender::new(
                        transport,
                        contract,
                        Backoff {
                            initial: options.initial_backoff,
                            max: options.max_backoff,
                        },
                        options.max_retries,
                        options.timeout,
                        queue,
                        limits_hook,
                    )
                },
                #[cfg(feature = "spool")]
                spool_shared.zip(lease).map(|(shared, lease)| {
                    crate::delivery::spooled::SpoolDriver::new(shared, lease)
                }),
            )
        })?;
        Ok((
            Prepared {
                config_id: self.config_id,
                service_id: self.service_id,
                protocol,
                store,
                schema: self.schema,
                options: self.options,
                on_discard: self.on_discard,
                on_failed: self.on_failed,
                anonymize_fields: self.anonymize_fields,
                drop_timeout: self.drop_timeout,
            },
            worker,
        ))
    }

    /// A Tracker whose worker keeps records in `store` instead of sending them, validating
    /// against `schema` (the `testing` feature's recording tracker).
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn in_memory(
        mut self,
        schema: aicm_schema::Schema,
        store: Arc<parking_lot::Mutex<Vec<crate::UsageRecord>>>,
    ) -> Self {
        self.memory = Some(MemorySetup { schema, store });
        self
    }
}

/// Where a local usage schema comes from.
enum LocalSchema {
    Inline(String),
    File(PathBuf),
}

impl LocalSchema {
    fn load(self, config_id: &str) -> Result<aicm_schema::Schema, Error> {
        let invalid = |source| Error::InvalidSchema {
            config_id: config_id.to_owned(),
            source,
        };
        match self {
            LocalSchema::Inline(text) => aicm_schema::Schema::from_json_str(&text).map_err(invalid),
            LocalSchema::File(path) => {
                let setting = |message: String| Error::InvalidSetting {
                    name: "TrackerBuilder::usage_schema_file",
                    message: format!("{}: {message}", path.display()),
                };
                let text = std::fs::read_to_string(&path).map_err(|e| setting(e.to_string()))?;
                let value: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| setting(format!("not JSON: {e}")))?;
                let schema = schema_in_document(&value, config_id).map_err(setting)?;
                aicm_schema::Schema::from_value(schema).map_err(invalid)
            }
        }
    }
}

/// The usage schema a file holds: the file itself when it is a bare schema, else the
/// `manual_usage_schema` of the entry for `config_id` in a configs document.
fn schema_in_document<'a>(
    value: &'a serde_json::Value,
    config_id: &str,
) -> Result<&'a serde_json::Value, String> {
    let list = value
        .get("configs")
        .or_else(|| value.get("service_configs"))
        .and_then(serde_json::Value::as_array);
    let Some(list) = list else {
        return Ok(value);
    };
    list.iter()
        .find(|c| c.get("config_id").and_then(serde_json::Value::as_str) == Some(config_id))
        .and_then(|c| c.get("manual_usage_schema"))
        .ok_or_else(|| format!("holds no config `{config_id}` with a manual_usage_schema"))
}

/// What replaces settings, config loading and HTTP for an in-memory Tracker.
struct MemorySetup {
    schema: aicm_schema::Schema,
    store: Arc<parking_lot::Mutex<Vec<crate::UsageRecord>>>,
}

fn unique_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A spool path without the feature that implements it: refusing is the only honest answer,
/// since the records would otherwise live in memory only.
#[cfg(not(feature = "spool"))]
fn spool_feature_off(path: &std::path::Path, name: &'static str) -> Error {
    Error::InvalidSetting {
        name,
        message: format!(
            "asks for a durable spool at {}, but aicm was built without its `spool` feature; \
             enable it (aicm = {{ version = \"{}\", features = [\"spool\"] }}) or remove the \
             setting",
            path.display(),
            env!("CARGO_PKG_VERSION")
        ),
    }
}

/// `AICM_DELIVERY_ON_FULL`, or the default; an invalid value names the valid ones.
fn on_full_from_env() -> Result<OnFull, Error> {
    on_full_from(std::env::var("AICM_DELIVERY_ON_FULL").ok())
}

/// `AICM_PROTOCOL`'s value, or `auto`; an invalid value names the valid ones.
fn protocol_from(value: Option<String>) -> Result<Protocol, Error> {
    match value {
        Some(v) if !v.trim().is_empty() => v.parse().map_err(|_| Error::InvalidSetting {
            name: "AICM_PROTOCOL",
            message: format!("`{v}` is not one of {}", Protocol::VARIANTS.join(", ")),
        }),
        _ => Ok(Protocol::Auto),
    }
}

fn on_full_from(value: Option<String>) -> Result<OnFull, Error> {
    match value {
        Some(v) if !v.trim().is_empty() => v.parse().map_err(|_| Error::InvalidSetting {
            name: "AICM_DELIVERY_ON_FULL",
            message: format!("`{v}` is not one of {}", OnFull::VARIANTS.join(", ")),
        }),
        _ => Ok(OnFull::default()),
    }
}

/// Everything but the loaded config.
struct Prepared {
    config_id: String,
    service_id: String,
    /// The setting (`Auto` may still be undecided on the worker).
    protocol: Protocol,
    /// `None` for an in-memory Tracker.
    store: Option<ConfigStore>,
    /// Known without loading (in-memory Tracker).
    schema: Option<aicm_schema::Schema>,
    options: DeliveryOptions,
    on_discard: Option<Callback<DiscardedRecord>>,
    on_failed: Option<Callback<FailedRecord>>,
    anonymize_fields: Vec<String>,
    drop_timeout: Duration,
}

impl Prepared {
    /// Whether building asks the service: for configs under the config-based contract or to
    /// decide `Auto`, for triggered limits under today's. A blocking build on the worker's own
    /// thread (inside a callback) skips today's start-up fetch rather than fail: the next
    /// `/track` answer brings the limits anyway.
    fn needs_loading(&self, worker: &Worker, blocking: bool) -> bool {
        match (&self.store, worker.sender.contract()) {
            (None, _) => false,
            (Some(_), Some(Contract::Track)) => !(blocking && worker.is_current_thread()),
            (Some(_), _) => true,
        }
    }

    /// Loads the config (config-based contract) or settles `Auto` from the service's answer
    /// to `GET /configs`: 404 means today's contract, which needs no config. Under today's
    /// contract it then loads triggered limits (see [`limits_at_start_up`]).
    fn load(
        &self,
        worker: &Arc<Worker>,
    ) -> impl std::future::Future<Output = Result<Option<LoadedConfig>, Error>> + Send + 'static
    {
        let store = self.store.clone();
        let config_id = self.config_id.clone();
        let sender = worker.sender.clone();
        async move {
            let Some(store) = store else {
                return Ok(None);
            };
            match sender.contract() {
                Some(Contract::Configs) => return store.load_config(&config_id).await.map(Some),
                Some(Contract::Track) => {
                    limits_at_start_up(store).await;
                    return Ok(None);
                }
                None => {}
            }
            let (root, key) = store.account();
            match store.load_config(&config_id).await {
                Ok(loaded) => {
                    let decided = super::protocol::decide(&sender, &root, &key, Contract::Configs);
                    Ok((decided == Contract::Configs).then_some(loaded))
                }
                Err(Error::Api { status: 404, .. }) => {
                    if super::protocol::decide(&sender, &root, &key, Contract::Track)
                        == Contract::Track
                    {
                        limits_at_start_up(store).await;
                    }
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        }
    }

    fn finish(
        self,
        worker: Arc<Worker>,
        loaded: Result<Option<LoadedConfig>, Error>,
    ) -> Result<Tracker, Error> {
        let schema = match (loaded, self.schema) {
            (Ok(Some(loaded)), _) => loaded.schema,
            (Ok(None), Some(schema)) => schema,
            (Ok(None), None) => aicm_schema::Schema::empty(),
            (Err(e), _) => {
                registry::release(&worker);
                return Err(e);
            }
        };
        let core = Arc::new(TrackerCore {
            origin: Arc::new(Origin {
                config_id: self.config_id,
                service_id: self.service_id,
                on_discard: self.on_discard,
                on_failed: self.on_failed,
            }),
            live: LiveSchema::new(schema),
            store: self.store,
        });
        #[cfg(feature = "spool")]
        if let Some(driver) = &worker.spool {
            driver.shared.register_tracker(&core.origin);
        }
        let Some(contract) = worker.sender.contract() else {
            registry::release(&worker);
            return Err(Error::Worker(format!(
                "the API contract ({}) was not settled",
                self.protocol
            )));
        };
        Ok(Tracker {
            inner: Arc::new(TrackerInner {
                core,
                backend: super::backend::Backend::of(&worker),
                contract,
                worker,
                closed: std::sync::atomic::AtomicBool::new(false),
                on_full: self.options.on_full,
                block_timeout: self.options.block_timeout,
                close_timeout: self.options.close_timeout,
                anonymize_fields: self.anonymize_fields.into(),
                drop_timeout: self.drop_timeout,
            }),
        })
    }
}

/// How long building waits for today's start-up `GET /triggered-limits`; a slower answer is
/// still taken when it comes, the Tracker just does not wait for it.
const START_UP_LIMITS_WAIT: Duration = Duration::from_secs(5);

/// Loads the triggered limits of today's contract at start-up (the INI cache, then the API),
/// waiting at most [`START_UP_LIMITS_WAIT`]. Never fails: limits are advisory. Runs on the
/// worker's runtime.
async fn limits_at_start_up(store: ConfigStore) {
    let task = tokio::spawn(async move { store.load_limits_at_start_up().await });
    if tokio::time::timeout(START_UP_LIMITS_WAIT, task)
        .await
        .is_err()
    {
        tracing::debug!(
            "triggered limits not loaded yet; the Tracker starts and takes them when they come"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_full_comes_from_the_environment_value_or_defaults_to_backpressure() {
        assert_eq!(on_full_from(None).unwrap(), OnFull::Backpressure);
        assert_eq!(
            on_full_from(Some("  ".into())).unwrap(),
            OnFull::Backpressure
        );
        assert_eq!(on_full_from(Some("block".into())).unwrap(), OnFull::Block);
        assert_eq!(on_full_from(Some(" RAISE ".into())).unwrap(), OnFull::Raise);
        let err = on_full_from(Some("drop".into())).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid setting AICM_DELIVERY_ON_FULL: `drop` is not one of block, raise, \
             backpressure"
        );
    }

    #[cfg(not(feature = "spool"))]
    #[test]
    fn a_spool_without_the_feature_is_a_clear_error_at_build() {
        let err = Tracker::builder("cfg", "svc")
            .api_key("sk-test")
            .api_base("http://127.0.0.1:9")
            .spool(std::env::temp_dir().join("never-created.spool"))
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidSetting {
                    name: "TrackerBuilder::spool",
                    ..
                }
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("`spool` feature"), "{text}");
        assert!(text.contains("never-created.spool"), "{text}");
        assert!(!std::env::temp_dir().join("never-created.spool").exists());
        let from_env = spool_feature_off(std::path::Path::new("/x.spool"), "AICM_SPOOL_PATH");
        assert!(
            from_env
                .to_string()
                .starts_with("invalid setting AICM_SPOOL_PATH: ")
        );
    }

    #[test]
    fn protocol_comes_from_the_environment_value_or_defaults_to_auto() {
        assert_eq!(protocol_from(None).unwrap(), Protocol::Auto);
        assert_eq!(protocol_from(Some(" ".into())).unwrap(), Protocol::Auto);
        assert_eq!(
            protocol_from(Some("Track".into())).unwrap(),
            Protocol::Track
        );
        assert_eq!(
            protocol_from(Some("configs".into())).unwrap(),
            Protocol::Configs
        );
        let err = protocol_from(Some("v2".into())).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid setting AICM_PROTOCOL: `v2` is not one of auto, track, configs"
        );
    }

    #[test]
    fn on_full_round_trips_through_display() {
        for p in [OnFull::Block, OnFull::Raise, OnFull::Backpressure] {
            assert_eq!(p.to_string().parse::<OnFull>().unwrap(), p);
        }
    }
}
