//! The one wait primitive behind every sync/async pair: a condition is written once, as a
//! closure that reads shared state, and [`Signal::wait`] waits for it either by blocking the
//! thread or by awaiting, as the caller's [`How`] says. Code that must exist in both forms is
//! written once as an `async fn` taking a `How`; its blocking form runs it with
//! [`run_blocking`], which completes in one poll because a blocking wait never suspends.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};
use tokio::sync::Notify;

/// How a wait waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum How {
    /// Block the calling thread (sync callers).
    Block,
    /// Await without blocking the executor (async callers).
    Await,
}

/// Wakes blocked threads and awaiting tasks when a condition may have changed.
#[derive(Default)]
pub(crate) struct Signal {
    /// Bumped by every notification that found a waiter: a blocked waiter sleeps only while it
    /// is unchanged since before it checked its condition, so no wake-up is lost.
    epoch: Mutex<u64>,
    cond: Condvar,
    notify: Notify,
    /// Waiters now, so that a notification with nobody waiting costs one atomic load.
    waiters: AtomicUsize,
}

impl Signal {
    /// Wakes every waiter to check its condition again. Call after changing what conditions
    /// read (after the change is visible, e.g. after releasing the lock it was made under).
    pub(crate) fn notify(&self) {
        if self.waiters.load(Ordering::SeqCst) == 0 {
            return;
        }
        *self.epoch.lock() += 1;
        self.cond.notify_all();
        self.notify.notify_waiters();
    }

    /// Whether a wait is under way (for tests that must act only once a waiter is parked).
    #[cfg(test)]
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiters.load(Ordering::SeqCst) > 0
    }

    /// Waits until `ready` gives `Some` (checked at once, then after every notification) or
    /// `deadline` passes (then `ready` is checked once more). Returns what `ready` gave last.
    pub(crate) async fn wait<T>(
        &self,
        how: How,
        deadline: Option<Instant>,
        mut ready: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let _registered = Registered(&self.waiters);
        match how {
            How::Block => loop {
                let seen = *self.epoch.lock();
                if let Some(found) = ready() {
                    return Some(found);
                }
                let mut epoch = self.epoch.lock();
                while *epoch == seen {
                    match deadline {
                        Some(deadline) => {
                            if self.cond.wait_until(&mut epoch, deadline).timed_out() {
                                drop(epoch);
                                return ready();
                            }
                        }
                        None => self.cond.wait(&mut epoch),
                    }
                }
            },
            How::Await => loop {
                let notified = self.notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if let Some(found) = ready() {
                    return Some(found);
                }
                match deadline {
                    Some(deadline) => {
                        if tokio::time::timeout_at(deadline.into(), notified)
                            .await
                            .is_err()
                        {
                            return ready();
                        }
                    }
                    None => notified.await,
                }
            },
        }
    }
}

/// Counts a waiter for as long as it waits (also when an awaiting one is dropped).
struct Registered<'a>(&'a AtomicUsize);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs code written once for both forms in its blocking form. Its waits take
/// [`How::Block`], so it never suspends and completes in the first poll; should it ever
/// return `Pending`, it is polled again rather than lost.
pub(crate) fn run_blocking<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    #[test]
    fn a_blocking_wait_sees_a_change_made_from_another_thread() {
        let signal = Arc::new(Signal::default());
        let flag = Arc::new(AtomicBool::new(false));
        let setter = {
            let (signal, flag) = (signal.clone(), flag.clone());
            std::thread::spawn(move || {
                flag.store(true, Ordering::SeqCst);
                signal.notify();
            })
        };
        let got = run_blocking(signal.wait(How::Block, None, || {
            flag.load(Ordering::SeqCst).then_some(7)
        }));
        assert_eq!(got, Some(7));
        setter.join().unwrap();
        assert_eq!(signal.waiters.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_wait_ends_at_its_deadline_with_the_last_check() {
        let signal = Signal::default();
        let deadline = Instant::now() + Duration::from_millis(20);
        let got: Option<()> = run_blocking(signal.wait(How::Block, Some(deadline), || None));
        assert_eq!(got, None);
        assert!(Instant::now() >= deadline);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_awaiting_wait_does_not_block_the_thread_it_shares_with_the_notifier() {
        let signal = Arc::new(Signal::default());
        let flag = Arc::new(AtomicBool::new(false));
        let notifier = {
            let (signal, flag) = (signal.clone(), flag.clone());
            tokio::spawn(async move {
                flag.store(true, Ordering::SeqCst);
                signal.notify();
            })
        };
        let got = signal
            .wait(How::Await, None, || {
                flag.load(Ordering::SeqCst).then_some(())
            })
            .await;
        assert_eq!(got, Some(()));
        notifier.await.unwrap();
    }
}
