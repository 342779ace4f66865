//! The way back from the writer thread to a caller: a slot a thread blocks on, or a oneshot a
//! task awaits. A reply dropped unsent (the writer stopped) answers its caller with `Closed`,
//! so no caller waits for ever.
//!
//! Blocked threads all wait on one condition variable per spool (the [`Hub`]): the writer
//! fills the slots of a whole group, then wakes the waiters with one call. It is the standard
//! library's condition variable, which wakes them all at once: parking_lot's hands the wake-up
//! on from thread to thread (each woken caller wakes the next when it lets the lock go), and
//! that chain of wake-ups was most of the time the writer waited for the next group (8
//! callers on 2 cores: ~75 µs against ~50 µs).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::error::SpoolError;

type Outcome<T> = Result<T, SpoolError>;

/// Where the threads of one spool wait for their replies.
#[derive(Default)]
pub(crate) struct Hub {
    lock: std::sync::Mutex<()>,
    filled: std::sync::Condvar,
}

impl Hub {
    /// Wakes every waiting thread to look at its slot. Called after each group.
    pub fn wake_all(&self) {
        // Taken and released so that no waiter is between its look at the slot and its wait.
        drop(lock(&self.lock));
        self.filled.notify_all();
    }
}

/// The hub's lock guards no data, so a panic while it was held leaves nothing to distrust.
fn lock(mutex: &std::sync::Mutex<()>) -> std::sync::MutexGuard<'_, ()> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) struct Reply<T> {
    to: Option<To<T>>,
    path: Arc<PathBuf>,
}

enum To<T> {
    /// The hub is woken by the writer after the group; a reply dropped unsent wakes it itself.
    Thread(Arc<Slot<T>>, Arc<Hub>),
    Task(oneshot::Sender<Outcome<T>>),
}

/// What a blocked thread waits on.
pub(crate) struct Slot<T> {
    value: Mutex<Option<Outcome<T>>>,
}

impl<T> Slot<T> {
    /// Blocks the calling thread until the reply arrives.
    pub fn wait(&self, hub: &Hub) -> Outcome<T> {
        let mut guard = lock(&hub.lock);
        loop {
            // Filled before the writer takes the hub lock to wake us: never missed.
            if let Some(v) = self.value.lock().take() {
                return v;
            }
            guard = hub
                .filled
                .wait(guard)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

/// A reply for a blocking caller, and the slot it waits on (with [`Slot::wait`] on `hub`).
pub(crate) fn for_thread<T>(path: Arc<PathBuf>, hub: &Arc<Hub>) -> (Reply<T>, Arc<Slot<T>>) {
    let slot = Arc::new(Slot {
        value: Mutex::new(None),
    });
    (
        Reply {
            to: Some(To::Thread(slot.clone(), hub.clone())),
            path,
        },
        slot,
    )
}

/// A reply for an async caller, and the receiver it awaits.
pub(crate) fn for_task<T>(path: Arc<PathBuf>) -> (Reply<T>, oneshot::Receiver<Outcome<T>>) {
    let (tx, rx) = oneshot::channel();
    (
        Reply {
            to: Some(To::Task(tx)),
            path,
        },
        rx,
    )
}

impl<T> Reply<T> {
    /// Answers the caller. A thread is woken by the writer's next [`Hub::wake_all`].
    pub fn send(mut self, outcome: Outcome<T>) {
        match self.to.take() {
            Some(To::Thread(slot, _)) => *slot.value.lock() = Some(outcome),
            // The task may have stopped waiting (its future was dropped): nothing to tell.
            Some(To::Task(tx)) => {
                let _ = tx.send(outcome);
            }
            None => {}
        }
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        let closed = || {
            Err(SpoolError::Closed {
                path: (*self.path).clone(),
            })
        };
        match self.to.take() {
            Some(To::Thread(slot, hub)) => {
                *slot.value.lock() = Some(closed());
                hub.wake_all();
            }
            Some(To::Task(tx)) => {
                let _ = tx.send(closed());
            }
            None => {}
        }
    }
}

/// What an awaited receiver yields when the writer dropped the reply.
pub(crate) fn closed<T>(
    received: Result<Outcome<T>, oneshot::error::RecvError>,
    path: &Path,
) -> Outcome<T> {
    received.unwrap_or_else(|_| {
        Err(SpoolError::Closed {
            path: path.to_owned(),
        })
    })
}
