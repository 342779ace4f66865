//! The `Tracker`: validates and stamps usage records and hands them to the shared delivery
//! worker.

mod backend;
mod builder;
mod limits;
mod options;
mod protocol;
#[cfg(feature = "spool")]
mod spooled;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

pub use builder::TrackerBuilder;
pub use options::TrackOptions;

use crate::delivery::health::DeliveryHealth;
use crate::delivery::options::OnFull;
use crate::delivery::queue::{BlockOutcome, Pushed, Refused};
use crate::delivery::record::{Origin, QueuedRecord, ResponseId};
use crate::delivery::registry;
use crate::delivery::send::Receipt;
use crate::delivery::signal::{How, run_blocking};
use crate::delivery::wire::{Contract, Protocol};
use crate::delivery::worker::Worker;
use crate::usage::{LiveSchema, TrackContext};
use crate::{Error, FlushError, IntoUsage, TrackError};

/// Records usage for one config and service and delivers it in the background.
///
/// Cheap to clone: clones share one tracker (closing one closes all). Trackers with the same
/// API root, key and delivery options share one delivery worker (a thread with its own tokio
/// runtime), so the sync and async methods work from any context.
///
/// ```no_run
/// use aicm::{Tracker, TrackOptions};
/// use serde_json::json;
///
/// let tracker = Tracker::new("chat-completions", "openai::gpt-4o-mini")?;
/// let id = tracker.track_with(
///     json!({"input_tokens": 12, "output_tokens": 40, "model": "gpt-4o-mini", "cached": false}),
///     TrackOptions::new().client_customer_key("acme"),
/// )?;
/// println!("tracked {id}");
/// tracker.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Tracker {
    inner: Arc<TrackerInner>,
}

/// Shared by a Tracker's clones; dropping the last one releases the worker.
struct TrackerInner {
    core: Arc<TrackerCore>,
    /// Where accepted records wait: the worker's queue or the spool.
    backend: backend::Backend,
    /// The contract of the wire this Tracker's records are framed for.
    contract: Contract,
    worker: Arc<Worker>,
    closed: AtomicBool,
    on_full: OnFull,
    block_timeout: Option<Duration>,
    close_timeout: Duration,
    /// Usage fields redacted in every record (`TrackerBuilder::anonymize_fields`).
    anonymize_fields: Arc<[String]>,
    /// How long dropping the last clone waits for queued records (`TrackerBuilder::drop_timeout`).
    drop_timeout: Duration,
}

/// What a Tracker's clones share beyond delivery: its records' origin (what delivery sees of
/// the Tracker), the schema usage is validated against, and the account's configs and limits.
pub(crate) struct TrackerCore {
    pub origin: Arc<Origin>,
    pub live: LiveSchema,
    /// Configs and triggered limits (`None` for an in-memory Tracker).
    pub store: Option<crate::config::ConfigStore>,
}

impl fmt::Debug for Tracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracker")
            .field("config_id", &self.inner.core.origin.config_id)
            .field("service_id", &self.inner.core.origin.service_id)
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Tracker {
    /// A Tracker with settings from the environment (see [`TrackerBuilder`]). Blocks the
    /// calling thread while it loads the config; from async code use [`Tracker::create_async`].
    pub fn new(
        config_id: impl Into<String>,
        service_id: impl Into<String>,
    ) -> Result<Tracker, Error> {
        Self::builder(config_id, service_id).build()
    }

    /// [`Tracker::new`] without blocking the executor.
    pub async fn create_async(
        config_id: impl Into<String>,
        service_id: impl Into<String>,
    ) -> Result<Tracker, Error> {
        Self::builder(config_id, service_id).build_async().await
    }

    /// A builder for every setting.
    pub fn builder(config_id: impl Into<String>, service_id: impl Into<String>) -> TrackerBuilder {
        TrackerBuilder::new(config_id.into(), service_id.into())
    }

    /// A builder for a Tracker of today's API (`POST /track`) with no config id and no
    /// default service key: each record names its service key
    /// ([`TrackOptions::service_key`]), so one Tracker serves every model and service. Records
    /// are checked against a local schema when the builder is given one, else any JSON object
    /// is accepted.
    ///
    /// ```no_run
    /// use aicm::{TrackOptions, Tracker};
    /// use serde_json::json;
    ///
    /// let tracker = Tracker::track_api().build()?; // AICM_API_KEY from the environment
    /// tracker.track_with(
    ///     json!({"input_tokens": 10, "output_tokens": 20}),
    ///     TrackOptions::for_service("openai::gpt-5-mini")
    ///         .customer_key("acme")
    ///         .context(json!({"env": "prod"})),
    /// )?;
    /// tracker.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn track_api() -> TrackerBuilder {
        TrackerBuilder::new(String::new(), String::new())
    }

    /// The contract of the API this Tracker speaks: [`Protocol::Track`] or
    /// [`Protocol::Configs`] (an `Auto` setting is decided when the Tracker is built).
    pub fn protocol(&self) -> Protocol {
        self.inner.contract.protocol()
    }

    /// The config this Tracker records usage for.
    pub fn config_id(&self) -> &str {
        &self.inner.core.origin.config_id
    }

    /// The service this Tracker records usage for.
    pub fn service_id(&self) -> &str {
        &self.inner.core.origin.service_id
    }

    /// The live schema usage is validated against.
    pub fn schema(&self) -> Arc<aicm_schema::Schema> {
        self.inner.core.live.get()
    }

    /// The JSON Schema (draft 2020-12) of the usage this Tracker accepts now, from the live
    /// config: for API docs and for clients that validate before calling your service.
    #[cfg(feature = "schemars")]
    pub fn json_schema(&self) -> schemars::Schema {
        crate::json_schema::usage_schema(
            &self.inner.core.origin.config_id,
            &self.inner.core.live.get(),
        )
    }

    /// Validates `usage` and queues it for delivery; returns its response id at once.
    ///
    /// Every error of the record is found here, never later: an `Err` means nothing was queued.
    /// Under `OnFull::Block` a full queue blocks the calling thread (use
    /// [`Tracker::track_async`] in async code).
    pub fn track(&self, usage: impl IntoUsage) -> Result<ResponseId, TrackError> {
        self.track_with(usage, TrackOptions::new())
    }

    /// [`Tracker::track`] with a customer key, context or backfill overrides.
    pub fn track_with(
        &self,
        usage: impl IntoUsage,
        options: TrackOptions,
    ) -> Result<ResponseId, TrackError> {
        let record = self.prepare(usage, options)?;
        self.inner.backend.accept(self, record)
    }

    /// [`Tracker::track_with`] for async code: a full queue under `OnFull::Block` is awaited,
    /// never blocking the executor.
    pub async fn track_async(
        &self,
        usage: impl IntoUsage,
        options: TrackOptions,
    ) -> Result<ResponseId, TrackError> {
        let record = self.prepare(usage, options)?;
        self.inner.backend.accept_async(self, record).await
    }

    /// Sends one record now, bypassing the queue, and returns the server's answer: for
    /// short-lived hosts (serverless functions, CLI tools) that may exit before a batch goes
    /// out. Retries like the queue does; a refusal is [`TrackError::Delivery`].
    pub async fn deliver_now(
        &self,
        usage: impl IntoUsage,
        options: TrackOptions,
    ) -> Result<Receipt, TrackError> {
        let record = self.prepare(usage, options)?;
        let sender = self.inner.worker.sender.clone();
        let answer = self
            .inner
            .worker
            .run(
                How::Await,
                None,
                async move { sender.deliver_one(record).await },
            )
            .await;
        match answer {
            Some(Ok(receipt)) => Ok(receipt),
            Some(Err(failure)) => Err(TrackError::Delivery {
                status: failure.status,
                message: failure.message,
            }),
            None => Err(TrackError::Closed),
        }
    }

    /// Tracks many records in one call; each gets its own result, in order.
    pub fn track_many<U: IntoUsage>(
        &self,
        usages: impl IntoIterator<Item = U>,
    ) -> Vec<Result<ResponseId, TrackError>> {
        self.inner.backend.accept_many(self, usages)
    }

    /// Waits until every record accepted before the call is delivered or failed. `Err` says how
    /// many are still pending. Blocks the calling thread.
    pub fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        run_blocking(self.flush_in(How::Block, timeout))
    }

    /// [`Tracker::flush`] without blocking the executor.
    pub async fn flush_async(&self, timeout: Duration) -> Result<(), FlushError> {
        self.flush_in(How::Await, timeout).await
    }

    /// With a spool, every row this process stored before the call is acknowledged or failed
    /// (by any process sharing the file); else the queue is drained. Inside a delivery
    /// callback (on the worker's thread) it does not wait: waiting there would never end.
    async fn flush_in(&self, how: How, timeout: Duration) -> Result<(), FlushError> {
        let timeout = if how == How::Block && self.inner.worker.is_current_thread() {
            Duration::ZERO
        } else {
            timeout
        };
        self.inner
            .backend
            .flush(&self.inner.worker, how, timeout)
            .await
    }

    /// Delivers everything queued (bounded by the close timeout, 30 s by default) and closes
    /// this Tracker and all its clones; `track` then returns [`TrackError::Closed`]. The worker
    /// stops once no Tracker uses it. Closing twice is fine. Blocks the calling thread.
    pub fn close(&self) -> Result<(), Error> {
        run_blocking(self.close_in(How::Block))
    }

    /// [`Tracker::close`] without blocking the executor.
    pub async fn close_async(&self) -> Result<(), Error> {
        self.close_in(How::Await).await
    }

    async fn close_in(&self, how: How) -> Result<(), Error> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let worker = &self.inner.worker;
        let flushed = self.flush_in(how, self.inner.close_timeout).await;
        // The last triggered limits seen reach AICM.INI before the worker stops.
        if let Some(store) = self.inner.core.store.clone() {
            worker
                .run(how, Some(Duration::from_secs(10)), async move {
                    store.flush_ini().await;
                })
                .await;
        }
        if registry::release(worker) && flushed.is_ok() {
            worker.wait_stopped(how, Duration::from_secs(5)).await;
        }
        flushed.map_err(Error::Flush)
    }

    /// The triggered limits currently active for this Tracker's account (refreshed from every
    /// delivery answer), optionally only those naming `customer_key`.
    pub fn triggered_limits(&self, customer_key: Option<&str>) -> Vec<crate::TriggeredLimit> {
        match &self.inner.core.store {
            Some(store) => store.triggered_limits(customer_key),
            None => Vec::new(),
        }
    }

    /// Refetches configs and triggered limits from the API (under today's contract,
    /// [`Protocol::Track`], triggered limits only); a changed schema applies to the next
    /// `track`. Blocks the calling thread; from async code use [`Tracker::refresh_async`].
    pub fn refresh(&self) -> Result<(), Error> {
        if self.inner.worker.is_current_thread() {
            return Err(Error::Worker(
                "refresh cannot block inside a delivery callback; use refresh_async".to_owned(),
            ));
        }
        run_blocking(self.refresh_in(How::Block))
    }

    /// [`Tracker::refresh`] without blocking the executor.
    pub async fn refresh_async(&self) -> Result<(), Error> {
        self.refresh_in(How::Await).await
    }

    async fn refresh_in(&self, how: How) -> Result<(), Error> {
        let tracker = self.clone();
        self.inner
            .worker
            .run(how, None, async move { tracker.refresh_here().await })
            .await
            .unwrap_or_else(|| Err(Error::Worker("the delivery worker stopped".to_owned())))
    }

    /// Runs on the worker's runtime, where the HTTP client lives.
    async fn refresh_here(&self) -> Result<(), Error> {
        let core = &self.inner.core;
        let Some(store) = &core.store else {
            return Ok(());
        };
        if self.protocol() == Protocol::Track {
            // Today's contract has no configs: only the limits are there to refetch.
            return store.refresh_limits().await;
        }
        store.refresh().await?;
        let loaded = store.config(&core.origin.config_id)?;
        if *core.live.get() != loaded.schema {
            core.live.replace(loaded.schema);
        }
        Ok(())
    }

    /// Whether this Tracker (or a clone) was closed.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// A consistent snapshot of this Tracker's delivery worker.
    pub fn health(&self) -> DeliveryHealth {
        let mut health = self.inner.backend.health(&self.inner.worker);
        health.protocol = Some(self.protocol());
        health
    }

    fn prepare(
        &self,
        usage: impl IntoUsage,
        options: TrackOptions,
    ) -> Result<QueuedRecord, TrackError> {
        if self.inner.closed.load(Ordering::Relaxed) {
            return Err(TrackError::Closed);
        }
        let core = &self.inner.core;
        let ctx = TrackContext {
            config_id: &core.origin.config_id,
            live: &core.live,
        };
        if let Some(context) = &options.context
            && !context.is_object()
        {
            return Err(TrackError::InvalidOption {
                option: "context",
                message: format!(
                    "must be a JSON object, got {}",
                    crate::validate::json_kind(context)
                ),
            });
        }
        let response_id = match options.response_id {
            None => self.new_response_id(),
            Some(id) => {
                if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(TrackError::InvalidOption {
                        option: "response_id",
                        message: "must be 1 to 128 printable ASCII characters".to_owned(),
                    });
                }
                ResponseId::given(id)
            }
        };
        let service_key = match options.service_key {
            Some(key) if key.trim().is_empty() => {
                return Err(TrackError::InvalidOption {
                    option: "service_key",
                    message: "must not be empty".to_owned(),
                });
            }
            Some(key) => Some(Arc::<str>::from(key)),
            None if core.origin.service_id.trim().is_empty() => {
                return Err(TrackError::InvalidOption {
                    option: "service_key",
                    message: "this Tracker has no service key of its own: name one per record \
                              with TrackOptions::service_key (e.g. \"openai::gpt-5-mini\")"
                        .to_owned(),
                });
            }
            None => None,
        };
        let mut prepared = usage.into_prepared(&ctx)?;
        let record_fields = options.anonymize_fields.as_deref().unwrap_or_default();
        if !self.inner.anonymize_fields.is_empty() || !record_fields.is_empty() {
            let fields =
                crate::usage::anonymize::Fields::new(&self.inner.anonymize_fields, record_fields);
            prepared.redact(&fields)?;
        }
        let body = QueuedRecord::body(
            prepared,
            self.inner.contract,
            options.client_customer_key.as_deref(),
            options.context.as_ref(),
        )
        .map_err(|e| TrackError::Serialize(e.to_string()))?;
        Ok(QueuedRecord {
            seq: 0,
            origin: core.origin.clone(),
            response_id,
            timestamp: options.timestamp.unwrap_or_else(SystemTime::now),
            service_key,
            body,
        })
    }

    /// Spooled records get time-ordered ids (UUIDv7): unique within the process by
    /// construction, so the spool stores them without a lookup.
    fn new_response_id(&self) -> ResponseId {
        self.inner.backend.response_id()
    }

    fn block_deadline(&self) -> Option<Instant> {
        self.inner.block_timeout.map(|t| Instant::now() + t)
    }

    /// Pushes a record if that needs no wait; gives it back when `OnFull::Block` must wait for
    /// room (then [`Tracker::enqueue`] does, as its caller can).
    #[allow(clippy::result_large_err)]
    pub(super) fn push_now(
        &self,
        record: QueuedRecord,
    ) -> Result<Result<ResponseId, TrackError>, QueuedRecord> {
        let id = record.response_id.clone();
        let queue = &self.inner.worker.queue;
        match queue.try_push(record, self.inner.on_full) {
            Ok(pushed) => {
                self.report_displaced(pushed);
                Ok(Ok(id))
            }
            Err(Refused::Full(back)) if self.inner.on_full == OnFull::Block => Err(back),
            Err(refused) => Ok(Err(refused.into_error(queue.capacity()))),
        }
    }

    /// Pushes a prepared record under the `OnFull` policy; under `Block` a full queue is
    /// waited out as `how` says.
    pub(super) async fn enqueue(
        &self,
        mut record: QueuedRecord,
        how: How,
    ) -> Result<ResponseId, TrackError> {
        let id = record.response_id.clone();
        let queue = &self.inner.worker.queue;
        // Blocking on the worker's own thread (inside a callback) would never end.
        let policy = match self.inner.on_full {
            OnFull::Block if how == How::Block && self.inner.worker.is_current_thread() => {
                OnFull::Raise
            }
            other => other,
        };
        let deadline = self.block_deadline();
        loop {
            match queue.try_push(record, policy) {
                Ok(pushed) => {
                    self.report_displaced(pushed);
                    return Ok(id);
                }
                Err(Refused::Full(back)) if policy == OnFull::Block => {
                    match queue.wait_for_room(how, deadline).await {
                        BlockOutcome::Room => record = back,
                        BlockOutcome::TimedOut => {
                            return Err(TrackError::QueueFull {
                                capacity: queue.capacity(),
                            });
                        }
                        BlockOutcome::Closed => return Err(TrackError::Closed),
                    }
                }
                Err(refused) => return Err(refused.into_error(queue.capacity())),
            }
        }
    }

    /// A record dropped to make room: warned about once, handed to its own Tracker's
    /// `on_discard`.
    fn report_displaced(&self, pushed: Pushed) {
        let Pushed::Displaced(old) = pushed else {
            return;
        };
        let worker = &self.inner.worker;
        let reason = worker
            .sender
            .reports
            .displaced_from_queue(worker.queue.capacity());
        old.origin.hand_discarded(|| old.to_usage_record(), &reason);
    }
}

impl Drop for TrackerInner {
    /// The last clone of a Tracker that was not closed delivers what is queued, waiting at most
    /// `drop_timeout` (5 s by default; zero waits not at all), so that returning from `main`
    /// without `close` loses nothing that can be sent in that time. What is still undelivered
    /// then is logged once with its count (the worker goes on sending it in the background
    /// until the process exits). Never waits on the worker's own thread (inside a callback),
    /// never panics; inside an async runtime it blocks that thread for at most `drop_timeout`.
    /// With a spool nothing waits: the records are safe in the file, and the next Tracker on it
    /// delivers them. A Tracker held in a `static` is never dropped: call `close` there.
    fn drop(&mut self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.backend.dropped(&self.worker, self.drop_timeout);
        registry::release(&self.worker);
    }
}
