//! The quickstart's job (`cargo run -p aicm-examples --example quickstart`): track a few
//! thousand dynamic usage records for two customers, show a rejected one, close (which delivers
//! everything queued) and report the delivery health. Here, so that its test runs exactly what
//! the example runs, against the local API under either contract.

use std::io::Write;
use std::time::Instant;

use aicm::{DeliveryHealth, Protocol, TrackOptions};
use serde_json::json;

use crate::Backend;

/// The usage schema of the `chat-completions` config. Under the config-based contract the
/// service's copy of it applies; today's service keeps no schema, so the Tracker carries this
/// one to refuse bad records before they are sent.
pub const CHAT_SCHEMA: &str = r#"{"input_tokens": "int", "output_tokens": "int", "model": "str",
    "cached": "bool", "latency_ms": "Optional[float]"}"#;

/// What a quickstart run did.
#[derive(Debug)]
pub struct Summary {
    /// The contract the Tracker chose (`Auto`, the default).
    pub protocol: Protocol,
    /// Records `track` accepted.
    pub tracked: u64,
    /// Why the deliberately bad record was refused (`None` if it was not).
    pub rejected: Option<String>,
    /// The delivery health after `close`.
    pub health: DeliveryHealth,
}

/// Runs the quickstart against `backend`, writing what it does to `out`.
pub fn run(
    backend: &Backend,
    records: u64,
    out: &mut dyn Write,
) -> Result<Summary, Box<dyn std::error::Error>> {
    writeln!(out, "sending usage to {}", backend.describe())?;
    // Default settings: the contract is chosen by asking the service (AICM_PROTOCOL overrides).
    let tracker = backend
        .tracker("chat-completions", "openai::gpt-4o-mini")
        .usage_schema(CHAT_SCHEMA)
        .build()?;
    writeln!(
        out,
        "speaking the {} contract; usage schema: {}",
        tracker.protocol(),
        tracker.schema()
    )?;

    let start = Instant::now();
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
                .customer_key(customer)
                .context(json!({"request": i})),
        )?;
    }
    writeln!(
        out,
        "tracked {records} records for 2 customers in {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    )?;

    // A record that does not match the schema is refused at `track`, with every problem named.
    let rejected = tracker
        .track(json!({"input_tokens": "many", "model": "gpt-4o-mini", "colour": "red"}))
        .err()
        .map(|e| e.to_string());
    if let Some(error) = &rejected {
        writeln!(out, "rejected as expected: {error}")?;
    }

    tracker.close()?;
    let health = tracker.health();
    writeln!(
        out,
        "delivery health: {}",
        serde_json::to_string_pretty(&health)?
    )?;
    if let Some(stored) = backend.stored_records() {
        writeln!(out, "the local API stored {stored} records")?;
    }
    Ok(Summary {
        protocol: tracker.protocol(),
        tracked: records,
        rejected,
        health,
    })
}
