//! Shared set-up for the examples: the real AICostManager service when `AICM_API_KEY` is set,
//! otherwise the local API started in-process on the sample configs, so every example runs
//! without an account. The app and job logic of the larger examples lives here too, so their
//! integration tests run exactly what the examples run.

pub mod batch;
pub mod web;

use aicm::{Tracker, TrackerBuilder};
use aicm_tests::{ConfigsFile, LocalApi, LocalApiThread};

/// Where the examples send usage.
pub enum Backend {
    /// The real service, configured by the `AICM_*` environment variables.
    Service,
    /// The local API on loopback (kept running while this value lives).
    Local(LocalApiThread),
}

impl Backend {
    /// The real service when `AICM_API_KEY` is set, else the local API on a copy of the sample
    /// configs (`tests/fixtures/configs.json`, copied from `shared/schemas/configs.json`).
    pub fn from_env() -> Result<Backend, Box<dyn std::error::Error>> {
        if std::env::var("AICM_API_KEY").is_ok_and(|k| !k.is_empty()) {
            return Ok(Backend::Service);
        }
        let api = LocalApi::builder()
            .configs(ConfigsFile::fixture())
            .start_in_thread()?;
        Ok(Backend::Local(api))
    }

    /// A Tracker builder aimed at this backend (a private INI file for the local API).
    pub fn tracker(&self, config_id: &str, service_id: &str) -> TrackerBuilder {
        let builder = aicm::Tracker::builder(config_id, service_id);
        match self {
            Backend::Service => builder,
            Backend::Local(api) => builder
                .api_key(api.api_key())
                .api_base(api.api_base())
                .ini_path(
                    std::env::temp_dir()
                        .join(format!("aicm-example-{}", std::process::id()))
                        .join("AICM.INI"),
                ),
        }
    }

    /// The tracker an async service creates once at startup: `Tracker::create_async` (settings
    /// from the environment) for the real service, the same through [`Backend::tracker`] for
    /// the local API.
    pub async fn create_async(
        &self,
        config_id: &str,
        service_id: &str,
    ) -> Result<Tracker, aicm::Error> {
        match self {
            Backend::Service => Tracker::create_async(config_id, service_id).await,
            Backend::Local(_) => self.tracker(config_id, service_id).build_async().await,
        }
    }

    /// Records the local API has stored (`None` for the real service).
    pub fn stored_records(&self) -> Option<u64> {
        match self {
            Backend::Service => None,
            Backend::Local(api) => Some(api.stats().records_stored),
        }
    }

    /// The local API's counters (`None` for the real service).
    pub fn local_stats(&self) -> Option<aicm_tests::Stats> {
        match self {
            Backend::Service => None,
            Backend::Local(api) => Some(api.stats()),
        }
    }

    /// A line saying where usage goes.
    pub fn describe(&self) -> String {
        match self {
            Backend::Service => "the AICostManager service (AICM_API_KEY is set)".to_owned(),
            Backend::Local(api) => format!("the local AICostManager API at {}", api.api_base()),
        }
    }
}

/// Logs to stderr at `info` (override with `RUST_LOG`).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
}
