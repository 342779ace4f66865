//! The way back from the writer thread to a caller: a slot a thread blocks on, or a oneshot a
//! task awaits. A reply dropped unsent (the writer stopped) wakes its caller with `Closed`, so
//! no caller waits for ever.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use tokio::sync::oneshot;

use super::error::SpoolError;

type Outcome<T> = Result<T, SpoolError>;

pub(crate) struct Reply<T> {
    to: Option<To<T>>,
    path: Arc<PathBuf>,
}

enum To<T> {
    Thread(Arc<Slot<T>>),
    Task(oneshot::Sender<Outcome<T>>),
}

/// What a blocked thread waits on.
pub(crate) struct Slot<T> {
    value: Mutex<Option<Outcome<T>>>,
    filled: Condvar,
}

impl<T> Slot<T> {
    /// Blocks the calling thread until the reply arrives.
    pub fn wait(&self) -> Outcome<T> {
        let mut value = self.value.lock();
        loop {
            if let Some(v) = value.take() {
                return v;
            }
            self.filled.wait(&mut value);
        }
    }
}

/// A reply for a blocking caller, and the slot it waits on.
pub(crate) fn for_thread<T>(path: Arc<PathBuf>) -> (Reply<T>, Arc<Slot<T>>) {
    let slot = Arc::new(Slot {
        value: Mutex::new(None),
        filled: Condvar::new(),
    });
    (
        Reply {
            to: Some(To::Thread(slot.clone())),
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
    pub fn send(mut self, outcome: Outcome<T>) {
        if let Some(to) = self.to.take() {
            deliver(to, outcome);
        }
    }
}

fn deliver<T>(to: To<T>, outcome: Outcome<T>) {
    match to {
        To::Thread(slot) => {
            *slot.value.lock() = Some(outcome);
            slot.filled.notify_one();
        }
        // The task may have stopped waiting (its future was dropped): nothing to tell.
        To::Task(tx) => {
            let _ = tx.send(outcome);
        }
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        if let Some(to) = self.to.take() {
            deliver(
                to,
                Err(SpoolError::Closed {
                    path: (*self.path).clone(),
                }),
            );
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
