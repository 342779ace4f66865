//! Copies the write-ahead log back into the database file on its own thread and connection.
//!
//! A checkpoint writes pages into the database and fsyncs; run inside a commit (SQLite's
//! automatic checkpoints) it stalls every append of that group for milliseconds. Here it runs
//! beside the writer in PASSIVE mode, which never blocks writers or readers.
//!
//! The log starts over from its beginning only when a write transaction begins after a
//! checkpoint that copied all of it; under a steady stream of commits the background
//! checkpoint rarely wins that race. So when the log has grown past [`INLINE_ABOVE_FRAMES`],
//! the writer runs one checkpoint itself right after a commit: by then the background has
//! copied nearly everything, so it costs little more than its fsync, and the next transaction
//! restarts the log.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};
use rusqlite::Connection;

/// Commits between two checkpoint requests. About 1-10 MiB of log at typical group sizes.
pub(crate) const COMMITS_PER_CHECKPOINT: u64 = 256;

/// Log frames (pages) above which the writer finishes a checkpoint itself (32 MiB of 4 KiB
/// pages).
#[cfg(not(test))]
pub(crate) const INLINE_ABOVE_FRAMES: i64 = 8_192;
#[cfg(test)]
pub(crate) const INLINE_ABOVE_FRAMES: i64 = 512;

/// Log frames above which a checkpoint that could not finish is reported.
const LAGGING_FRAMES: i64 = 65_536;

#[derive(Default)]
struct State {
    due: bool,
    closing: bool,
}

#[derive(Default)]
struct Signal {
    state: Mutex<State>,
    cond: Condvar,
    /// The log has grown past `INLINE_ABOVE_FRAMES`: the writer should finish a checkpoint.
    inline_due: AtomicBool,
    /// Background checkpoints run, for tests.
    done: AtomicU64,
    /// Checkpoints the writer ran, for tests.
    inline_done: AtomicU64,
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

    /// Whether the writer should checkpoint now (clears the request).
    pub fn inline_due(&self) -> bool {
        self.signal.inline_due.swap(false, Ordering::Relaxed)
    }

    /// Runs a checkpoint on the caller's (the writer's) connection, right after its commit.
    pub fn run_inline(&self, conn: &Connection, path: &Path) {
        checkpoint(conn, path, &self.signal, Kind::Inline);
    }

    /// Background and inline checkpoints run so far.
    #[cfg(test)]
    pub fn done(&self) -> (u64, u64) {
        (
            self.signal.done.load(Ordering::Relaxed),
            self.signal.inline_done.load(Ordering::Relaxed),
        )
    }

    /// Asks for a checkpoint soon (never waits).
    pub fn request(&self) {
        self.signal.state.lock().due = true;
        self.signal.cond.notify_one();
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
        checkpoint(conn, path, signal, Kind::Background);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Background,
    Inline,
}

fn checkpoint(conn: &Connection, path: &Path, signal: &Signal, kind: Kind) {
    let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    });
    match kind {
        Kind::Background => {
            signal.done.fetch_add(1, Ordering::Relaxed);
            if let Ok((log, _)) = result {
                signal
                    .inline_due
                    .store(log > INLINE_ABOVE_FRAMES, Ordering::Relaxed);
            }
        }
        Kind::Inline => {
            signal.inline_done.fetch_add(1, Ordering::Relaxed);
        }
    }
    match result {
        Ok((log, done)) if log > LAGGING_FRAMES && done < log => tracing::warn!(
            path = %path.display(),
            log_frames = log,
            checkpointed = done,
            "spool log keeps growing: a reader holds an old snapshot"
        ),
        Ok(_) => {}
        Err(e) => tracing::debug!(path = %path.display(), error = %e, "spool checkpoint failed"),
    }
}
