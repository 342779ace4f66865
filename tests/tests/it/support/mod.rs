//! Shared set-up for the Tracker tests against the local API.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aicm::TrackerBuilder;
use aicm_tests::{LocalApi, LocalApiControl};

/// How long a test waits for the server to see what it expects.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A fresh INI path, so tests never share a cache. It lives under Cargo's scratch directory
/// for integration tests (`target/tmp`, emptied by `cargo clean`), never in the system's
/// temp directory: a tracker may write its INI until it is dropped, so the file outlives the
/// test function.
pub fn temp_ini() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "aicm-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::create_dir_all(&dir);
    dir.join("AICM.INI")
}

/// A builder pointed at `api` with its key and a private INI.
pub fn builder(api: &LocalApiControl, config_id: &str) -> TrackerBuilder {
    aicm::Tracker::builder(config_id, "openai::gpt-4o-mini")
        .api_key(api.api_key())
        .api_base(api.api_base())
        .ini_path(temp_ini())
}

/// The server on its own thread, with the fixture configs.
pub fn server() -> aicm_tests::LocalApiThread {
    LocalApi::builder()
        .start_in_thread()
        .expect("local API starts")
}

/// A valid `chat-completions` usage.
pub fn chat_usage(i: u64) -> serde_json::Value {
    serde_json::json!({
        "input_tokens": i,
        "output_tokens": 2 * i,
        "model": "gpt-4o-mini",
        "cached": i.is_multiple_of(2),
    })
}

/// Samples a tracker's health on another thread until dropped, checking the accounting
/// identity in every snapshot.
pub struct IdentityProbe {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<(u64, Vec<aicm::DeliveryHealth>)>>,
}

impl IdentityProbe {
    pub fn start(tracker: &aicm::Tracker) -> IdentityProbe {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let tracker = tracker.clone();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = 0u64;
            let mut broken = Vec::new();
            // At least one sample, even when the thread is first scheduled after `finish`.
            loop {
                let h = tracker.health();
                samples += 1;
                if !h.is_balanced() {
                    broken.push(h);
                }
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::yield_now();
            }
            (samples, broken)
        });
        IdentityProbe {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sampling; panics if any snapshot was unbalanced. Returns the number of samples.
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let (samples, broken) = self.thread.take().unwrap().join().unwrap();
        assert!(broken.is_empty(), "unbalanced snapshots: {broken:?}");
        assert!(samples > 0);
        samples
    }
}

/// Each named test function, taking an `aicm::Protocol`, run once per contract of the wire:
/// `configs::name` posts to `/track-usage`, `track::name` to today's `/track`.
macro_rules! under_both_contracts {
    ($($name:ident,)*) => {
        mod configs {
            $(#[test]
            fn $name() {
                super::$name(aicm::Protocol::Configs)
            })*
        }
        mod track {
            $(#[test]
            fn $name() {
                super::$name(aicm::Protocol::Track)
            })*
        }
    };
}
pub(crate) use under_both_contracts;
