//! Starting the local API in-process, and controlling it from tests.
//!
//! Two forms: [`LocalApiHandle`] runs on the caller's tokio runtime (async tests), and
//! [`LocalApiThread`] runs on its own thread with its own runtime, for sync code and for
//! current-thread runtimes whose thread a blocking SDK call would otherwise starve.

use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::LocalApiError;
use crate::config::{ConfigEntry, ConfigsFile, TriggeredLimit};
use crate::faults::{Faults, FaultsUpdate};
use crate::keys::Keys;
use crate::protocol::Protocol;
use crate::routes::{API_PATH, router};
use crate::serve::serve;
use crate::signing::TokenFault;
use crate::state::{Shared, Stats, StoredRecord, UpdateError, WaitTimedOut};

/// How long dropping a [`LocalApiThread`] waits for its thread before leaving it behind.
const THREAD_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Entry point: `LocalApi::builder()…start().await` or `…start_in_thread()`.
#[derive(Debug, Clone, Copy)]
pub struct LocalApi;

impl LocalApi {
    /// A builder with the committed fixture configs, the committed test keys, a free port.
    pub fn builder() -> LocalApiBuilder {
        LocalApiBuilder::default()
    }

    /// Starts the default server on the current tokio runtime.
    pub async fn start() -> Result<LocalApiHandle, LocalApiError> {
        LocalApi::builder().start().await
    }

    /// Starts the default server on its own thread and runtime.
    pub fn start_in_thread() -> Result<LocalApiThread, LocalApiError> {
        LocalApi::builder().start_in_thread()
    }
}

/// Options of a local API server.
#[derive(Clone, Default)]
pub struct LocalApiBuilder {
    configs: Option<ConfigsFile>,
    api_key: Option<String>,
    keys: Option<Keys>,
    count_only: bool,
    port: u16,
    triggered_limits: Option<Vec<TriggeredLimit>>,
    service_keys: Vec<String>,
    faults: Faults,
    protocol: Protocol,
}

impl std::fmt::Debug for LocalApiBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalApiBuilder")
            .field("configs", &self.configs)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("count_only", &self.count_only)
            .field("port", &self.port)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl LocalApiBuilder {
    /// The configs (and API key) to serve; default [`ConfigsFile::fixture`].
    #[must_use]
    pub fn configs(mut self, configs: ConfigsFile) -> Self {
        self.configs = Some(configs);
        self
    }

    /// Overrides the API key of the configs document.
    #[must_use]
    pub fn api_key(mut self, api_key: impl Into<String>) -> Self {
        self.api_key = Some(api_key.into());
        self
    }

    /// The signing keys; default [`Keys::test`].
    #[must_use]
    pub fn keys(mut self, keys: Keys) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Count records without storing them (throughput benchmarks). Records are still checked
    /// and answered (with event ids on `/track-usage`, per-record statuses on `/track`), but
    /// `records()` stays empty and nothing is deduplicated.
    #[must_use]
    pub fn count_only(mut self, count_only: bool) -> Self {
        self.count_only = count_only;
        self
    }

    /// The loopback port; 0 (the default) picks a free one.
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Limits reported as triggered from the start (overrides the configs document's).
    #[must_use]
    pub fn triggered_limits(mut self, limits: Vec<TriggeredLimit>) -> Self {
        self.triggered_limits = Some(limits);
        self
    }

    /// Faults in force from the start.
    #[must_use]
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Which contract(s) to serve; default [`Protocol::Both`].
    #[must_use]
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Service keys `POST /track` knows, added to the configs document's
    /// [`ConfigsFile::service_keys`] (every config's `service_id` is known too).
    #[must_use]
    pub fn service_keys<I, S>(mut self, service_keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.service_keys
            .extend(service_keys.into_iter().map(Into::into));
        self
    }

    fn shared(self) -> Result<(Arc<Shared>, u16), LocalApiError> {
        let mut configs = self.configs.unwrap_or_else(ConfigsFile::fixture);
        if let Some(key) = self.api_key {
            configs.api_key = key;
        }
        if let Some(limits) = self.triggered_limits {
            configs.triggered_limits = limits;
        }
        for service_key in self.service_keys {
            configs = configs.with_service_key(service_key);
        }
        let keys = match self.keys {
            Some(keys) => keys,
            None => Keys::test()?,
        };
        let shared = Shared::new(configs, keys, self.faults, self.count_only, self.protocol)?;
        Ok((Arc::new(shared), self.port))
    }

    /// Binds `127.0.0.1:port` and serves on the current tokio runtime until the handle drops.
    pub async fn start(self) -> Result<LocalApiHandle, LocalApiError> {
        let (shared, port) = self.shared()?;
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .await
            .map_err(LocalApiError::Start)?;
        let addr = listener.local_addr().map_err(LocalApiError::Start)?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(serve(listener, router(Arc::clone(&shared)), stopped));
        tracing::debug!(%addr, "local API started");
        Ok(LocalApiHandle {
            control: LocalApiControl { shared, addr },
            stop,
            task: Some(task),
        })
    }

    /// Binds `127.0.0.1:port` and serves on a new thread with its own tokio runtime, until
    /// the returned value drops. Usable with or without a runtime on the calling thread.
    pub fn start_in_thread(self) -> Result<LocalApiThread, LocalApiError> {
        let (shared, port) = self.shared()?;
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .map_err(LocalApiError::Start)?;
        listener
            .set_nonblocking(true)
            .map_err(LocalApiError::Start)?;
        let addr = listener.local_addr().map_err(LocalApiError::Start)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(LocalApiError::Start)?;
        let (stop, stopped) = watch::channel(false);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let app = router(Arc::clone(&shared));
        let thread = std::thread::Builder::new()
            .name(format!("aicm-local-api-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => serve(listener, app, stopped).await,
                        Err(error) => tracing::error!(%error, "local API cannot listen"),
                    }
                });
                // Cancels open connections and stalled requests; nothing here blocks.
                drop(runtime);
                let _ = done_tx.send(());
            })
            .map_err(LocalApiError::Start)?;
        tracing::debug!(%addr, "local API started on its own thread");
        Ok(LocalApiThread {
            control: LocalApiControl { shared, addr },
            stop,
            done: done_rx,
            thread: Some(thread),
        })
    }
}

/// A running server on the caller's runtime. Derefs to [`LocalApiControl`]; stops on drop.
#[derive(Debug)]
pub struct LocalApiHandle {
    control: LocalApiControl,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl LocalApiHandle {
    /// A cloneable controller that outlives borrows of the handle (it does not keep the
    /// server running).
    pub fn control(&self) -> LocalApiControl {
        self.control.clone()
    }

    /// Stops the server and waits until it no longer accepts connections.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Deref for LocalApiHandle {
    type Target = LocalApiControl;
    fn deref(&self) -> &LocalApiControl {
        &self.control
    }
}

impl Drop for LocalApiHandle {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// A running server on its own thread. Derefs to [`LocalApiControl`]; stops on drop.
#[derive(Debug)]
pub struct LocalApiThread {
    control: LocalApiControl,
    stop: watch::Sender<bool>,
    done: std::sync::mpsc::Receiver<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LocalApiThread {
    /// A cloneable controller (it does not keep the server running).
    pub fn control(&self) -> LocalApiControl {
        self.control.clone()
    }

    /// Stops the server and waits (boundedly) for its thread.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Deref for LocalApiThread {
    type Target = LocalApiControl;
    fn deref(&self) -> &LocalApiControl {
        &self.control
    }
}

impl Drop for LocalApiThread {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        match self.done.recv_timeout(THREAD_STOP_TIMEOUT) {
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                if let Some(thread) = self.thread.take() {
                    let _ = thread.join();
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                tracing::warn!("local API thread did not stop in time; leaving it behind");
            }
        }
    }
}

/// Inspects and steers a running server. Cheap to clone; every method is synchronous and
/// holds the state lock only briefly (configs, limits and token-fault changes re-sign
/// tokens, which takes a few milliseconds).
#[derive(Clone)]
pub struct LocalApiControl {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl std::fmt::Debug for LocalApiControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalApiControl")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl LocalApiControl {
    /// The bound address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`: what the SDK takes as `api_base`.
    pub fn api_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/api/v1`: the API root (`api_base` + the default `api_url`).
    pub fn api_root(&self) -> String {
        format!("http://{}{API_PATH}", self.addr)
    }

    /// The contract(s) the server speaks.
    pub fn protocol(&self) -> Protocol {
        self.shared.protocol
    }

    /// The API key the server accepts.
    pub fn api_key(&self) -> String {
        self.shared.read().configs.api_key.clone()
    }

    /// The PEM public key served with every signed item.
    pub fn public_key_pem(&self) -> String {
        self.shared.read().keys.public_pem().to_owned()
    }

    /// The configs document being served.
    pub fn configs(&self) -> ConfigsFile {
        self.shared.read().configs.clone()
    }

    /// The current ETag of `/configs`, quotes included.
    pub fn etag(&self) -> String {
        self.shared.read().rendered.etag.clone()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.read().stats.clone()
    }

    /// Every stored record, in arrival order.
    pub fn records(&self) -> Vec<StoredRecord> {
        self.shared.read().records.clone()
    }

    /// Forgets records, dedup ids, stats and faults; keeps configs, limits and keys.
    pub fn reset(&self) {
        if let Err(error) = self.shared.reset() {
            tracing::error!(%error, "reset could not re-sign tokens");
        }
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.shared.read().faults.clone()
    }

    /// Replaces every fault.
    pub fn set_faults(&self, faults: Faults) -> Result<(), LocalApiError> {
        self.shared.set_faults(faults)
    }

    /// Applies a partial change, exactly as `POST /__faults` does; returns the faults after.
    pub fn update_faults(&self, update: FaultsUpdate) -> Result<Faults, LocalApiError> {
        self.shared
            .update_faults(update)
            .map_err(|error| match error {
                UpdateError::Invalid(message) => LocalApiError::InvalidFault(message),
                UpdateError::Render(error) => error,
            })
    }

    /// Clears every fault.
    pub fn clear_faults(&self) {
        self.edit_faults(|f| *f = Faults::default());
    }

    /// Answers the next `n` track requests (either endpoint) with `status` (400–599).
    pub fn fail_next(&self, n: u32, status: u16) {
        self.edit_faults(|f| {
            f.fail_next = n;
            f.status = status;
        });
    }

    /// Answers the next `n` track requests (either endpoint) with 429 and
    /// `Retry-After: retry_after_secs`.
    pub fn rate_limit_next(&self, n: u32, retry_after_secs: u64) {
        self.edit_faults(|f| {
            f.rate_limit_next = n;
            f.retry_after = retry_after_secs;
        });
    }

    /// Closes the next `n` track connections (either endpoint) without answering (nothing
    /// stored).
    pub fn drop_next(&self, n: u32) {
        self.edit_faults(|f| f.drop_next = n);
    }

    /// Stores the next `n` track requests (either endpoint), then closes without answering.
    pub fn drop_after_store_next(&self, n: u32) {
        self.edit_faults(|f| f.drop_after_store_next = n);
    }

    /// Delays every track answer (either endpoint, after storing); zero clears it.
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.edit_faults(|f| f.delay_ms = ms);
    }

    /// Holds every track request (either endpoint) before it is looked at, until set back to
    /// false.
    pub fn set_stall(&self, stall: bool) {
        self.edit_faults(|f| f.stall = stall);
    }

    /// Poisons records whose usage (`/track-usage`) or payload (`/track`) has this key:
    /// `/track-usage` rejects the whole request (422), `/track` answers such a record `error`
    /// and stores the rest. `None` clears it.
    pub fn set_poison_key(&self, key: Option<&str>) {
        let key = key.map(str::to_owned);
        self.edit_faults(|f| f.poison_key = key);
    }

    /// Serves config tokens a correct client must refuse; `None` serves good ones again.
    /// Changes the payload and so the ETag.
    pub fn set_token_fault(&self, fault: Option<TokenFault>) -> Result<(), LocalApiError> {
        self.try_edit_faults(|f| f.token_fault = fault)
    }

    /// The same for the triggered-limits token.
    pub fn set_limits_token_fault(&self, fault: Option<TokenFault>) -> Result<(), LocalApiError> {
        self.try_edit_faults(|f| f.limits_token_fault = fault)
    }

    fn edit_faults(&self, edit: impl FnOnce(&mut Faults)) {
        // Counted faults never re-sign, so this cannot fail.
        if let Err(error) = self.try_edit_faults(edit) {
            tracing::error!(%error, "fault change failed");
        }
    }

    fn try_edit_faults(&self, edit: impl FnOnce(&mut Faults)) -> Result<(), LocalApiError> {
        self.shared
            .modify_faults(|f| {
                edit(f);
                Ok(())
            })
            .map_err(|error| match error {
                UpdateError::Invalid(message) => LocalApiError::InvalidFault(message),
                UpdateError::Render(error) => error,
            })
    }

    /// Replaces the configs document (configs, API key, and its triggered limits are ignored:
    /// use [`LocalApiControl::set_triggered_limits`]). Changes the payload and the ETag.
    pub fn set_configs(&self, configs: ConfigsFile) -> Result<(), LocalApiError> {
        self.shared.set_configs(configs)
    }

    /// Adds a config or replaces the one with the same id. Changes the payload and the ETag.
    pub fn upsert_config(&self, entry: ConfigEntry) -> Result<(), LocalApiError> {
        self.shared.edit_configs(|file| file.upsert(entry))
    }

    /// Replaces the service keys `POST /track` knows besides every config's `service_id`
    /// ([`ConfigsFile::service_keys`]).
    pub fn set_service_keys<I, S>(&self, service_keys: I) -> Result<(), LocalApiError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let service_keys: Vec<String> = service_keys.into_iter().map(Into::into).collect();
        self.shared
            .edit_configs(|file| file.service_keys = service_keys)
    }

    /// Adds a service key `POST /track` knows (nothing changes when it is known already).
    pub fn add_service_key(&self, service_key: impl Into<String>) -> Result<(), LocalApiError> {
        let service_key = service_key.into();
        self.shared.edit_configs(|file| {
            if !file.service_keys.contains(&service_key) {
                file.service_keys.push(service_key);
            }
        })
    }

    /// Removes a config; returns whether it existed.
    pub fn remove_config(&self, config_id: &str) -> Result<bool, LocalApiError> {
        self.shared.edit_configs(|file| {
            let before = file.configs.len();
            file.configs.retain(|c| c.config_id != config_id);
            file.configs.len() != before
        })
    }

    /// The limits reported as triggered (in `/configs`, `/triggered-limits` and every
    /// `/track-usage` and `/track` answer). Changes the `/configs` payload and so the ETag.
    pub fn set_triggered_limits(&self, limits: Vec<TriggeredLimit>) -> Result<(), LocalApiError> {
        self.shared.set_limits(limits)
    }

    /// Waits until `done` holds for the stats (checked now and after every change), or the
    /// timeout passes (the error carries the last stats seen). For async code.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        done: impl FnMut(&Stats) -> bool,
    ) -> Result<Stats, WaitTimedOut> {
        self.shared.wait_for(timeout, done).await
    }

    /// The blocking form of [`LocalApiControl::wait_for`], for sync code (do not call it on
    /// an async executor thread).
    pub fn wait_for_blocking(
        &self,
        timeout: Duration,
        done: impl FnMut(&Stats) -> bool,
    ) -> Result<Stats, WaitTimedOut> {
        self.shared.wait_for_blocking(timeout, done)
    }
}
