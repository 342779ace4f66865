//! Quickstart: track a few thousand dynamic usage records for two customers, see a rejected one,
//! close (which delivers everything queued) and look at the delivery health.
//!
//! ```sh
//! cargo run -p aicm-examples --example quickstart
//! ```
//! Runs on the local API in-process; set `AICM_API_KEY` (and optionally `AICM_API_BASE`) to use
//! the real service.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use aicm::TrackOptions;
use aicm_examples::{Backend, init_logging};
use serde_json::json;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    init_logging();
    let backend = Backend::from_env()?;
    println!("sending usage to {}", backend.describe());

    let tracker = backend
        .tracker("chat-completions", "openai::gpt-4o-mini")
        .build()?;
    println!(
        "config `{}` loaded; its schema: {}",
        tracker.config_id(),
        tracker.schema()
    );

    let start = Instant::now();
    let records = 5_000u64;
    for i in 0..records {
        let customer = if i % 2 == 0 { "acme" } else { "globex" };
        tracker.track_with(
            json!({
                "input_tokens": 100 + i % 900,
                "output_tokens": 20 + i % 300,
                "model": "gpt-4o-mini",
                "cached": i % 7 == 0,
                "latency_ms": 120.5 + (i % 50) as f64,
            }),
            TrackOptions::new()
                .client_customer_key(customer)
                .context(json!({"request": i})),
        )?;
    }
    println!(
        "tracked {records} records for 2 customers in {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );

    // A record that does not match the schema is refused at `track`, with every problem named.
    let rejected =
        tracker.track(json!({"input_tokens": "many", "model": "gpt-4o-mini", "colour": "red"}));
    if let Err(error) = rejected {
        println!("rejected as expected: {error}");
    }

    tracker.close()?;
    let health = tracker.health();
    println!(
        "delivery health: {}",
        serde_json::to_string_pretty(&health)?
    );
    if let Some(stored) = backend.stored_records() {
        println!("the local API stored {stored} records");
    }
    Ok(())
}
