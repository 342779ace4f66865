//! An axum service that records usage: the Rust form of the FastAPI example of the Python SDK.
//!
//! The tracker is created once at startup (`Tracker::create_async`), shared through the router
//! state, and closed after the server has drained on ctrl-c or SIGTERM, so every record a
//! handler tracked is delivered before the process exits. The app itself is
//! `aicm_examples::web` (so its integration test runs the very same code).
//!
//! ```sh
//! cargo run -p aicm-examples --example axum_app
//! curl -s localhost:8000/chat -H 'content-type: application/json' \
//!      -H 'x-customer-key: acme' -d '{"prompt": "hello there"}'
//! curl -s localhost:8000/track -H 'content-type: application/json' \
//!      -d '{"usage": {"input_tokens": 10, "output_tokens": 5, "model": "gpt-4o-mini",
//!                     "cached": false}, "client_customer_key": "globex"}'
//! curl -s localhost:8000/track -H 'content-type: application/json' \
//!      -d '{"usage": {"input_tokens": "ten", "colour": "red"}}'      # 422, every problem listed
//! curl -s localhost:8000/health
//! ```
//! Runs on the local API in-process; set `AICM_API_KEY` (and optionally `AICM_API_BASE`) to use
//! the real service.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;

use aicm_examples::web::{self, CONFIG_ID, SERVICE_ID};
use aicm_examples::{Backend, init_logging};
use clap::Parser;

/// An axum app that tracks LLM usage with aicm.
#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    addr: SocketAddr,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    init_logging();
    let args = Args::parse();
    let backend = Backend::from_env()?;
    println!("sending usage to {}", backend.describe());

    // Once per process: loading the signed config is a network call.
    let tracker = backend.create_async(CONFIG_ID, SERVICE_ID).await?;

    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    println!(
        "listening on http://{}: POST /chat, POST /track, GET /health (ctrl-c to stop)",
        listener.local_addr()?
    );
    web::serve(listener, tracker.clone(), web::shutdown_signal()).await?;

    let health = tracker.health();
    println!(
        "closed: {} record(s) accepted, {} delivered, {} failed",
        health.total_accepted, health.total_sent, health.total_failed
    );
    if let Some(stored) = backend.stored_records() {
        println!("the local API stored {stored} record(s)");
    }
    Ok(())
}
