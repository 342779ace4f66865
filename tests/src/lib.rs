//! The local AICostManager API: a faithful implementation of the wire contracts on loopback,
//! for tests, examples and users without an account: today's `POST /track`
//! (`shared/API-TRACK.md`) and the old config-based one (`shared/API.md`), both by default
//! (see [`Protocol`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), aicm_tests::LocalApiError> {
//! use aicm_tests::LocalApi;
//! let api = LocalApi::builder().start().await?;   // fixture configs, test keys, free port
//! let base = api.api_base();                      // "http://127.0.0.1:PORT"
//! // … point a Tracker at `base` with `api.api_key()` …
//! api.drop_next(1);                               // next track connection is cut
//! let stats = api.wait_for(std::time::Duration::from_secs(5), |s| s.records_stored >= 1).await;
//! # let _ = (base, stats);
//! # Ok(()) }
//! ```
//!
//! Routes (bearer auth): `POST /api/v1/track` (today's contract), `GET /api/v1/configs` and
//! `POST /api/v1/track-usage` (the config-based contract), `GET /api/v1/triggered-limits`
//! (both). Under [`Protocol::Track`], `/configs` and `/track-usage` answer 404
//! `{"detail": "Not Found"}`; under [`Protocol::Configs`], `/track` answers 404. Faults apply
//! to both track endpoints alike, which share the stored records (and so deduplicate
//! `response_id` across each other). Control endpoints without auth: `GET /__stats`,
//! `GET /__records`, `POST /__reset`, `GET|POST /__faults`, `GET|POST /__triggered_limits`,
//! `GET|POST /__configs`.
#![deny(missing_docs)]

mod config;
mod error;
mod fake_llm;
mod faults;
mod handle;
mod keys;
mod protocol;
mod record_check;
mod routes;
mod serve;
mod signing;
mod state;

pub use config::{
    ConfigEntry, ConfigsFile, DEFAULT_LAST_UPDATED, LimitVendor, TriggeredLimit,
    fixture_configs_path,
};
pub use error::LocalApiError;
pub use fake_llm::{FakeLlm, LLM_FIXTURES, llm_fixture};
pub use faults::{Faults, FaultsUpdate};
pub use handle::{LocalApi, LocalApiBuilder, LocalApiControl, LocalApiHandle, LocalApiThread};
pub use keys::{
    DEFAULT_KEY_ID, Keys, OTHER_PRIVATE_PEM, OTHER_PUBLIC_PEM, TEST_PRIVATE_PEM, TEST_PUBLIC_PEM,
};
pub use protocol::{Protocol, UnknownProtocol};
pub use routes::API_PATH;
pub use signing::{ISSUER, PAYLOAD_VERSION, SUBJECT, TokenFault, WRONG_ISSUER};
pub use state::{Stats, StoredRecord, WaitTimedOut};

/// The directory of the committed key files (`tests/keys`).
pub fn keys_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("keys")
}
