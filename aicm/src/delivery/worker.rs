//! The delivery worker: its own thread with its own current-thread tokio runtime, so it runs the
//! same under sync code, multi-thread runtimes and current-thread runtimes. It drains the queue
//! in batches and sends up to `max_concurrent_requests` of them at once, so a batch waiting to
//! retry never holds back the rest. A worker of spooled Trackers also runs the spool's delivery
//! loop on the same runtime, with the same HTTP sender.

use std::sync::Arc;
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Semaphore;

use super::health;
use super::options::DeliveryOptions;
use super::queue::{NextBatch, Queue};
use super::send::Sender;
use super::signal::{How, Signal};
use crate::Error;

/// A running worker, shared (through the registry) by every Tracker with the same settings.
pub(crate) struct Worker {
    pub queue: Arc<Queue>,
    pub runtime: tokio::runtime::Handle,
    pub sender: Arc<Sender>,
    thread_id: ThreadId,
    thread: Mutex<Option<JoinHandle<()>>>,
    exited: Arc<Exited>,
    /// The durable spool its Trackers store records in, and its delivery loop.
    #[cfg(feature = "spool")]
    pub spool: Option<Arc<super::spooled::SpoolDriver>>,
}

/// Set when the worker thread has finished.
#[derive(Default)]
struct Exited {
    done: std::sync::atomic::AtomicBool,
    signal: Signal,
}

impl Worker {
    /// Starts the thread and its runtime. `make_sender` runs once the queue exists.
    pub fn start(
        options: DeliveryOptions,
        make_sender: impl FnOnce(Arc<Queue>) -> Sender,
        #[cfg(feature = "spool")] spool: Option<Arc<super::spooled::SpoolDriver>>,
    ) -> Result<Worker, Error> {
        let queue = Arc::new(Queue::new(options.queue_size, options.max_batch_size));
        let sender = Arc::new(make_sender(queue.clone()));
        let worker_sender = sender.clone();
        let exited = Arc::new(Exited::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let thread_queue = queue.clone();
        let thread_exited = exited.clone();
        let batch_interval = options.batch_interval;
        let concurrency = options.max_concurrent_requests.max(1);
        #[cfg(feature = "spool")]
        let spool_loop = spool
            .clone()
            .map(|driver| super::spooled::run(driver, sender.clone(), options.clone()));
        let thread = std::thread::Builder::new()
            .name("aicm-delivery".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = tx.send(Ok(runtime.handle().clone()));
                let memory_loop = run(thread_queue.clone(), sender, batch_interval, concurrency);
                #[cfg(feature = "spool")]
                runtime.block_on(async move {
                    let spool_loop = async move {
                        if let Some(spool_loop) = spool_loop {
                            spool_loop.await;
                        }
                    };
                    tokio::join!(memory_loop, spool_loop);
                });
                #[cfg(not(feature = "spool"))]
                runtime.block_on(memory_loop);
                // Drop the runtime here, on this thread, outside any runtime context.
                drop(runtime);
                thread_queue.mark_worker_stopped();
                health::retire(&thread_queue);
                thread_exited
                    .done
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                thread_exited.signal.notify();
                tracing::debug!("aicm delivery worker stopped");
            })
            .map_err(|e| Error::Worker(format!("could not spawn the delivery thread: {e}")))?;
        let thread_id = thread.thread().id();
        let runtime = match rx.recv() {
            Ok(Ok(handle)) => handle,
            Ok(Err(e)) => return Err(Error::Worker(format!("could not start its runtime: {e}"))),
            Err(_) => {
                return Err(Error::Worker(
                    "the delivery thread died at start".to_owned(),
                ));
            }
        };
        health::register(&queue);
        Ok(Worker {
            queue,
            runtime,
            sender: worker_sender,
            thread_id,
            thread: Mutex::new(Some(thread)),
            exited,
            #[cfg(feature = "spool")]
            spool,
        })
    }

    /// No Tracker uses the worker any more: the queue delivers what is left and stops; the
    /// spool loop stops at once (its rows are safe in the file).
    pub fn begin_closing(&self) {
        #[cfg(feature = "spool")]
        if let Some(driver) = &self.spool {
            driver.stop();
        }
        self.queue.begin_closing();
    }

    /// Whether the caller runs on this worker's thread (inside a callback): it must not wait
    /// for the worker there.
    pub fn is_current_thread(&self) -> bool {
        std::thread::current().id() == self.thread_id
    }

    /// Waits (as `how` says) up to `timeout` for the thread to finish; a blocking waiter also
    /// joins it. Never waits on the worker's own thread.
    pub async fn wait_stopped(&self, how: How, timeout: Duration) -> bool {
        if self.is_current_thread() {
            return false;
        }
        let done = || {
            self.exited
                .done
                .load(std::sync::atomic::Ordering::SeqCst)
                .then_some(())
        };
        let finished = self
            .exited
            .signal
            .wait(how, Some(std::time::Instant::now() + timeout), done)
            .await
            .is_some();
        if finished
            && how == How::Block
            && let Some(handle) = self.thread.lock().take()
        {
            let _ = handle.join();
        }
        finished
    }

    /// Runs `task` on the worker's runtime (where its HTTP client lives) and waits for its
    /// output as `how` says, at most `timeout`. `None` when the time ran out or the worker
    /// stopped before the task finished. Never blocks the worker's own thread (awaiting there
    /// is fine: the task runs while the waiter is suspended).
    pub async fn run<T: Send + 'static>(
        &self,
        how: How,
        timeout: Option<Duration>,
        task: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Option<T> {
        if how == How::Block && self.is_current_thread() {
            return None;
        }
        let slot = Arc::new(Slot::<T>::default());
        let filler = SlotFiller(slot.clone());
        self.runtime.spawn(async move {
            let out = task.await;
            *filler.0.value.lock() = Some(out);
            // `filler` drops here (or with the task, if the runtime shuts down first) and
            // wakes the waiter either way.
        });
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        slot.signal
            .wait(how, deadline, || {
                let value = slot.value.lock().take();
                match value {
                    Some(v) => Some(Some(v)),
                    None => slot
                        .ended
                        .load(std::sync::atomic::Ordering::SeqCst)
                        .then_some(None),
                }
            })
            .await
            .flatten()
    }
}

/// Where [`Worker::run`]'s task leaves its output.
struct Slot<T> {
    value: Mutex<Option<T>>,
    ended: std::sync::atomic::AtomicBool,
    signal: Signal,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            value: Mutex::new(None),
            ended: std::sync::atomic::AtomicBool::new(false),
            signal: Signal::default(),
        }
    }
}

/// Marks the slot ended when the task finishes or is dropped unfinished.
struct SlotFiller<T>(Arc<Slot<T>>);

impl<T> Drop for SlotFiller<T> {
    fn drop(&mut self) {
        self.0
            .ended
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.0.signal.notify();
    }
}

async fn run(queue: Arc<Queue>, sender: Arc<Sender>, batch_interval: Duration, concurrency: usize) {
    let permits = Arc::new(Semaphore::new(concurrency));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let (flight, batch) = loop {
            match queue.next_batch(batch_interval) {
                NextBatch::Send(flight, batch) => break (flight, batch),
                NextBatch::Wait(Some(until)) => {
                    let _ = tokio::time::timeout_at(until.into(), queue.work.notified()).await;
                }
                NextBatch::Wait(None) => queue.work.notified().await,
                NextBatch::Stop => return,
            }
        };
        let sender = sender.clone();
        tokio::spawn(async move {
            sender.deliver(flight, batch).await;
            drop(permit);
        });
    }
}
