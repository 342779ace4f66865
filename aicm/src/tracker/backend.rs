//! A Tracker's one delivery backend: its worker's memory queue, or the durable spool. The
//! Tracker's methods go through this type and never ask which of the two it holds; what
//! differs between them lives here and in `spooled.rs`.

#[cfg(feature = "spool")]
use std::sync::Arc;
use std::time::Duration;

use super::Tracker;
use crate::delivery::health::DeliveryHealth;
use crate::delivery::record::{QueuedRecord, ResponseId};
use crate::delivery::signal::{How, run_blocking};
#[cfg(feature = "spool")]
use crate::delivery::spooled::SpoolDriver;
use crate::delivery::worker::Worker;
use crate::{FlushError, IntoUsage, TrackError};

/// Where a Tracker's accepted records wait for delivery.
pub(super) enum Backend {
    /// The worker's bounded memory queue.
    Memory,
    /// The durable spool file the worker's spool loop delivers from.
    #[cfg(feature = "spool")]
    Spool(Arc<SpoolDriver>),
}

impl Backend {
    /// The backend of a Tracker on `worker`: the spool if the worker has one.
    pub(super) fn of(worker: &Worker) -> Backend {
        #[cfg(feature = "spool")]
        if let Some(driver) = &worker.spool {
            return Backend::Spool(driver.clone());
        }
        let _ = worker;
        Backend::Memory
    }

    /// A fresh response id: spooled records get time-ordered ids (UUIDv7), unique within the
    /// process by construction, so the spool stores them without a lookup.
    pub(super) fn response_id(&self) -> ResponseId {
        match self {
            Backend::Memory => ResponseId::generate(),
            #[cfg(feature = "spool")]
            Backend::Spool(_) => ResponseId::generate_ordered(),
        }
    }

    /// Accepts a prepared record, blocking the thread where the policy waits.
    pub(super) fn accept(
        &self,
        tracker: &Tracker,
        record: QueuedRecord,
    ) -> Result<ResponseId, TrackError> {
        match self {
            // The common case takes no wait: a push without building the waiting future.
            Backend::Memory => match tracker.push_now(record) {
                Ok(done) => done,
                Err(back) => run_blocking(tracker.enqueue(back, How::Block)),
            },
            #[cfg(feature = "spool")]
            Backend::Spool(driver) => super::spooled::track(tracker, driver, record),
        }
    }

    /// [`Backend::accept`] awaiting instead of blocking.
    pub(super) async fn accept_async(
        &self,
        tracker: &Tracker,
        record: QueuedRecord,
    ) -> Result<ResponseId, TrackError> {
        match self {
            Backend::Memory => tracker.enqueue(record, How::Await).await,
            #[cfg(feature = "spool")]
            Backend::Spool(driver) => super::spooled::track_async(tracker, driver, record).await,
        }
    }

    /// Accepts many records; the spool stores them in shared commits.
    pub(super) fn accept_many<U: IntoUsage>(
        &self,
        tracker: &Tracker,
        usages: impl IntoIterator<Item = U>,
    ) -> Vec<Result<ResponseId, TrackError>> {
        match self {
            Backend::Memory => usages.into_iter().map(|u| tracker.track(u)).collect(),
            #[cfg(feature = "spool")]
            Backend::Spool(driver) => super::spooled::track_many(tracker, driver, usages),
        }
    }

    /// Waits (as `how` says) until what was accepted before is delivered or failed: the queue
    /// drained, or every row of the spool file this account may deliver settled.
    pub(super) async fn flush(
        &self,
        worker: &Worker,
        how: How,
        timeout: Duration,
    ) -> Result<(), FlushError> {
        match self {
            Backend::Memory => worker.queue.flush(how, timeout).await,
            #[cfg(feature = "spool")]
            Backend::Spool(driver) => match how {
                How::Block => super::spooled::flush(worker, driver, timeout),
                How::Await => super::spooled::flush_async(worker, driver, timeout).await,
            },
        }
    }

    /// One consistent snapshot of the backend's delivery.
    pub(super) fn health(&self, worker: &Worker) -> DeliveryHealth {
        match self {
            Backend::Memory => worker.queue.health(),
            #[cfg(feature = "spool")]
            Backend::Spool(driver) => super::spooled::health(worker, driver),
        }
    }

    /// The last clone of an unclosed Tracker is dropped: the queue gets up to `drop_timeout`
    /// to deliver (never on the worker's own thread), and what is left is warned about once;
    /// the spool's records are safe in the file, which is said when it holds any.
    pub(super) fn dropped(&self, worker: &Worker, drop_timeout: Duration) {
        match self {
            Backend::Memory => {
                if !drop_timeout.is_zero()
                    && !worker.is_current_thread()
                    && let Err(e) = run_blocking(worker.queue.flush(How::Block, drop_timeout))
                {
                    tracing::warn!(
                        pending = e.pending,
                        drop_timeout_ms = drop_timeout.as_millis() as u64,
                        "Tracker dropped without close: records not yet delivered are lost if \
                         the process exits now; call Tracker::close (or close_async) before \
                         exiting, or raise TrackerBuilder::drop_timeout"
                    );
                }
            }
            #[cfg(feature = "spool")]
            Backend::Spool(driver) => {
                let pending = driver.shared.health().queue_size;
                if pending > 0 {
                    tracing::info!(
                        pending,
                        path = %driver.shared.path().display(),
                        "Tracker dropped without close: its undelivered records stay in the \
                         spool file and are delivered by the next Tracker on it"
                    );
                }
            }
        }
    }
}
