//! The Python SDK's lock protocol for `AICM.INI`, and atomic replacement of the file.
//!
//! The lock is a file `<ini path>.lock` created with `O_EXCL` (`create_new`) and removed when
//! the writer is done; a lock file older than 30 s is taken to belong to a crashed process and
//! removed. Speaking the same protocol is what lets Python and Rust processes share one file.
//! The file is replaced by writing a temporary file in the same directory and renaming it over
//! the old one, so a reader sees the old or the new content, never a torn one.
//!
//! Waiting for the lock comes in two forms: async (sleeps on the timer, never blocking an
//! executor thread) and blocking (for callers with no runtime).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::Error;

/// Age after which a lock file is considered abandoned (the Python SDK's rule).
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(30);
/// First and longest pause between attempts.
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const MAX_PAUSE: Duration = Duration::from_millis(200);

/// A held `<ini>.lock`; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct IniLock {
    path: PathBuf,
}

impl Drop for IniLock {
    fn drop(&mut self) {
        if let Err(error) = fs::remove_file(&self.path)
            && error.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), %error, "could not remove the AICM.INI lock file");
        }
    }
}

/// `<ini path>.lock`.
pub(crate) fn lock_path(ini: &Path) -> PathBuf {
    let mut name = ini.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn ini_error(ini: &Path, message: impl Into<String>) -> Error {
    Error::Ini {
        path: ini.to_owned(),
        message: message.into(),
    }
}

/// One attempt: `Ok(Some)` when taken, `Ok(None)` when another holder has it (a stale lock is
/// removed first, so the next attempt can take it).
fn try_acquire(ini: &Path, stale_after: Duration) -> Result<Option<IniLock>, Error> {
    let path = lock_path(ini);
    if let Some(dir) = ini.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)
            .map_err(|e| ini_error(ini, format!("cannot create {}: {e}", dir.display())))?;
    }
    match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(_) => Ok(Some(IniLock { path })),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let age = fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| SystemTime::now().duration_since(modified).ok());
            if age.is_some_and(|age| age > stale_after) {
                tracing::warn!(path = %path.display(), "removing a stale AICM.INI lock (older than {} s)", stale_after.as_secs());
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(ini_error(ini, format!("cannot remove stale lock: {e}")));
                    }
                }
            }
            Ok(None)
        }
        Err(e) => Err(ini_error(
            ini,
            format!("cannot create lock file {}: {e}", path.display()),
        )),
    }
}

fn timed_out(ini: &Path, waited: Duration) -> Error {
    ini_error(
        ini,
        format!(
            "lock {} still held by another process after {} ms",
            lock_path(ini).display(),
            waited.as_millis()
        ),
    )
}

/// Takes the lock, waiting at most `max_wait` on the async timer.
pub(crate) async fn acquire(ini: &Path, max_wait: Duration) -> Result<IniLock, Error> {
    let start = Instant::now();
    let mut pause = FIRST_PAUSE;
    loop {
        if let Some(lock) = try_acquire(ini, STALE_AFTER)? {
            return Ok(lock);
        }
        let waited = start.elapsed();
        if waited >= max_wait {
            return Err(timed_out(ini, waited));
        }
        tokio::time::sleep(pause.min(max_wait - waited)).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// Takes the lock, blocking the calling thread at most `max_wait`. Only for callers outside
/// any async runtime.
pub(crate) fn acquire_blocking(ini: &Path, max_wait: Duration) -> Result<IniLock, Error> {
    let start = Instant::now();
    let mut pause = FIRST_PAUSE;
    loop {
        if let Some(lock) = try_acquire(ini, STALE_AFTER)? {
            return Ok(lock);
        }
        let waited = start.elapsed();
        if waited >= max_wait {
            return Err(timed_out(ini, waited));
        }
        std::thread::sleep(pause.min(max_wait - waited));
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// Reads the file; `None` when it does not exist.
pub(crate) fn read(ini: &Path) -> Result<Option<String>, Error> {
    match fs::read(ini) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| ini_error(ini, "not UTF-8 text; leaving it alone")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ini_error(ini, format!("cannot read: {e}"))),
    }
}

/// Replaces the file with `text` atomically. The caller holds the lock.
pub(crate) fn write_atomic(ini: &Path, text: &str, _lock: &IniLock) -> Result<(), Error> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match ini.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = ini
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "AICM.INI".to_owned());
    let temp = dir.join(format!(
        ".{name}.tmp{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| -> io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&temp, ini)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&temp);
        ini_error(ini, format!("cannot write: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lock_file_exists_while_held_and_is_removed_after() {
        let dir = tempfile::tempdir().unwrap();
        let ini = dir.path().join("sub").join("AICM.INI");
        let lock = acquire(&ini, Duration::from_secs(1)).await.unwrap();
        assert!(lock_path(&ini).exists());
        drop(lock);
        assert!(!lock_path(&ini).exists());
    }

    #[tokio::test]
    async fn a_fresh_lock_is_waited_for_then_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let ini = dir.path().join("AICM.INI");
        let _held = acquire(&ini, Duration::from_secs(1)).await.unwrap();
        let start = Instant::now();
        let err = acquire(&ini, Duration::from_millis(150)).await.unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(150));
        assert!(matches!(err, Error::Ini { .. }), "{err}");
        assert!(err.to_string().contains("still held"), "{err}");
        // The other holder's lock is untouched.
        assert!(lock_path(&ini).exists());
    }

    #[tokio::test]
    async fn a_fresh_lock_is_taken_once_released() {
        let dir = tempfile::tempdir().unwrap();
        let ini = dir.path().join("AICM.INI");
        let held = acquire(&ini, Duration::from_secs(1)).await.unwrap();
        let (acquired_tx, acquired_rx) = tokio::sync::oneshot::channel();
        let ini2 = ini.clone();
        let waiter = tokio::spawn(async move {
            let lock = acquire(&ini2, Duration::from_secs(10)).await;
            let _ = acquired_tx.send(());
            lock
        });
        // The waiter keeps polling while we hold the lock.
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(held);
        acquired_rx.await.unwrap();
        let lock = waiter.await.unwrap().unwrap();
        assert!(lock_path(&ini).exists());
        drop(lock);
    }

    #[tokio::test]
    async fn a_stale_lock_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let ini = dir.path().join("AICM.INI");
        fs::write(lock_path(&ini), b"").unwrap();
        // Backdate the lock file past the staleness age.
        let old = SystemTime::now() - Duration::from_secs(31);
        fs::File::options()
            .write(true)
            .open(lock_path(&ini))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let lock = acquire(&ini, Duration::from_secs(2)).await.unwrap();
        drop(lock);
        assert!(!lock_path(&ini).exists());
    }

    #[test]
    fn blocking_acquire_works_without_a_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let ini = dir.path().join("AICM.INI");
        let lock = acquire_blocking(&ini, Duration::from_secs(1)).unwrap();
        assert!(acquire_blocking(&ini, Duration::from_millis(20)).is_err());
        drop(lock);
        assert!(acquire_blocking(&ini, Duration::from_millis(20)).is_ok());
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let ini = dir.path().join("AICM.INI");
        let lock = acquire_blocking(&ini, Duration::from_secs(1)).unwrap();
        write_atomic(&ini, "[a]\nk = 1\n", &lock).unwrap();
        write_atomic(&ini, "[a]\nk = 2\n", &lock).unwrap();
        drop(lock);
        assert_eq!(read(&ini).unwrap().as_deref(), Some("[a]\nk = 2\n"));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("AICM.INI")]);
    }

    #[test]
    fn non_utf8_file_is_an_ini_error() {
        let dir = tempfile::tempdir().unwrap();
        let ini = dir.path().join("AICM.INI");
        fs::write(&ini, [0xff, 0xfe, 0x00]).unwrap();
        assert!(matches!(read(&ini), Err(Error::Ini { .. })));
        assert_eq!(read(&dir.path().join("none")).unwrap(), None);
    }
}
