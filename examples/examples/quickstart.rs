//! Quickstart: track a few thousand dynamic usage records for two customers, see a rejected one,
//! close (which delivers everything queued) and look at the delivery health.
//!
//! ```sh
//! cargo run -p aicm-examples --example quickstart
//! ```
//! Runs on the local API in-process (both contracts; `AICM_LOCAL_PROTOCOL=track` serves only
//! today's, as the real service does); set `AICM_API_KEY` (and optionally `AICM_API_BASE`) to
//! use the real service.

use aicm_examples::{Backend, init_logging, quickstart};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    init_logging();
    let backend = Backend::from_env()?;
    quickstart::run(&backend, 5_000, &mut std::io::stdout())?;
    Ok(())
}
