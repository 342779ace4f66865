//! Copies the write-ahead log back into the database file, mostly on its own thread.
//!
//! A checkpoint writes pages into the database and fsyncs; run inside a commit (SQLite's
//! automatic checkpoints) it stalls every append of that group for milliseconds. So the
//! writer's connection has automatic checkpoints off, and a background thread with its own
//! connection runs PASSIVE checkpoints (which never block writers or readers) every
//! [`COMMITS_PER_CHECKPOINT`] commits.
//!
//! The log starts over from its beginning only when a write transaction begins after a
//! checkpoint that copied all of it; under a steady stream of commits the background rarely
//! wins that race, and the log would keep growing. So once the log is longer than
//! [`INLINE_ABOVE_FRAMES`] (the writer learns its length from a WAL hook at every commit), the
//! writer finishes a checkpoint itself between two groups: the background has copied most of
//! the log by then, and the next transaction starts the log over.

use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};
use rusqlite::Connection;

/// Commits between two background checkpoint requests (about 0.5-5 MiB of log).
pub(crate) const COMMITS_PER_CHECKPOINT: u64 = 128;

/// Log frames (pages) past which the writer finishes a checkpoint itself (32 MiB of the
/// spool's 2 KiB pages, see `schema::PAGE_SIZE`; a file made with other pages keeps them). A safety valve more than a routine: it stalls the writer for its fsyncs (and what
/// the background had not copied yet), so it should be rare.
#[cfg(not(test))]
pub(crate) const INLINE_ABOVE_FRAMES: i32 = 16_384;
#[cfg(test)]
pub(crate) const INLINE_ABOVE_FRAMES: i32 = 512;

thread_local! {
    /// Frames in the log after this thread's last commit, from the WAL hook (which SQLite
    /// calls on the committing thread).
    static LOG_FRAMES: Cell<i32> = const { Cell::new(0) };
}

/// Makes every commit on `conn` record the log's length for [`log_frames`]. Replaces the
/// automatic checkpoint hook, which is off anyway.
pub(crate) fn count_log_frames(conn: &Connection) {
    conn.wal_hook(Some(|_wal, frames| {
        LOG_FRAMES.with(|n| n.set(frames));
        Ok(())
    }));
}

/// The log's length after the calling thread's last commit.
pub(crate) fn log_frames() -> i32 {
    LOG_FRAMES.with(Cell::get)
}

/// After a complete checkpoint: the next commit starts the log over.
pub(crate) fn reset_log_frames() {
    LOG_FRAMES.with(|n| n.set(0));
}

#[derive(Default)]
struct State {
    due: bool,
    closing: bool,
}

#[derive(Default)]
struct Signal {
    state: Mutex<State>,
    cond: Condvar,
    /// Held while either thread checkpoints: SQLite runs one checkpoint at a time and a second
    /// one fails at once, so the writer's must not start while the background's runs.
    running: Mutex<()>,
    /// The writer wants to checkpoint: the background starts no new one meanwhile (else,
    /// busy with a long log, it could hold `running` for ever).
    inline_wanted: AtomicBool,
    /// Background checkpoints run, for tests.
    done: AtomicU64,
    /// Checkpoints the writer ran, for tests.
    inline_done: AtomicU64,
    /// Tests set it to drop background requests, as when the background loses every race.
    #[cfg(test)]
    paused: AtomicBool,
}

pub(crate) struct Checkpointer {
    signal: Arc<Signal>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    pub fn start(conn: Connection, path: Arc<std::path::PathBuf>) -> std::io::Result<Checkpointer> {
        let signal = Arc::new(Signal::default());
        let thread_signal = signal.clone();
        let thread = std::thread::Builder::new()
            .name("aicm-spool-checkpoint".to_owned())
            .spawn(move || run(&conn, &thread_signal, &path))?;
        Ok(Checkpointer {
            signal,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Asks for a background checkpoint soon (never waits).
    pub fn request(&self) {
        self.signal.state.lock().due = true;
        self.signal.cond.notify_one();
    }

    /// Runs a checkpoint on the writer's connection (between two groups) unless the background
    /// one is running, which then starts no other until the writer has had its turn.
    /// `false`: not run; the writer tries again after its next commit.
    pub fn try_inline(&self, conn: &Connection, path: &Path) -> bool {
        self.signal.inline_wanted.store(true, Ordering::Relaxed);
        let Some(_running) = self.signal.running.try_lock() else {
            return false;
        };
        checkpoint(conn, path);
        self.signal.inline_wanted.store(false, Ordering::Relaxed);
        self.signal.inline_done.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Background and inline checkpoints run so far.
    #[cfg(test)]
    pub fn done(&self) -> (u64, u64) {
        (
            self.signal.done.load(Ordering::Relaxed),
            self.signal.inline_done.load(Ordering::Relaxed),
        )
    }

    /// Drops background requests from now on. Returns once a background checkpoint already
    /// running has ended: the background checks the flag under `running`, so none starts
    /// after that.
    #[cfg(test)]
    pub fn pause_background(&self) {
        self.signal.paused.store(true, Ordering::Relaxed);
        drop(self.signal.running.lock());
    }

    pub fn close(&self) {
        self.signal.state.lock().closing = true;
        self.signal.cond.notify_one();
        if let Some(thread) = self.thread.lock().take()
            && thread.join().is_err()
        {
            tracing::error!("the aicm spool checkpoint thread panicked");
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.close();
    }
}

fn run(conn: &Connection, signal: &Signal, path: &Path) {
    loop {
        {
            let mut state = signal.state.lock();
            while !state.due && !state.closing {
                signal.cond.wait(&mut state);
            }
            if state.closing {
                return;
            }
            state.due = false;
        }
        if signal.inline_wanted.load(Ordering::Relaxed) {
            continue;
        }
        let _running = signal.running.lock();
        #[cfg(test)]
        if signal.paused.load(Ordering::Relaxed) {
            continue;
        }
        checkpoint(conn, path);
        signal.done.fetch_add(1, Ordering::Relaxed);
    }
}

fn checkpoint(conn: &Connection, path: &Path) {
    let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    });
    match result {
        Ok((log, done)) if done < log => tracing::debug!(
            path = %path.display(),
            log_frames = log,
            checkpointed = done,
            "spool checkpoint incomplete: a reader holds an older snapshot"
        ),
        Ok(_) => {}
        Err(e) => tracing::debug!(path = %path.display(), error = %e, "spool checkpoint failed"),
    }
}
