//! Record usage (tokens, durations, calls, anything a customer is billed for) and deliver it
//! to the AICostManager API, reliably and fast.
//!
//! A [`Tracker`] validates every record in [`Tracker::track`] and hands it to a shared
//! background worker that batches, retries and reports what it could not deliver. `track` never
//! waits for the network.
//!
//! # Which API
//!
//! The service speaks `POST /track` (today's contract, since August 2025): each record names a
//! service key (`vendor::service`), a payload, and optionally a customer key and context.
//! [`Tracker::track_api`] builds a Tracker for it with no config id, so one Tracker serves every
//! service key:
//!
//! ```no_run
//! use aicm::{TrackOptions, Tracker};
//! use serde_json::json;
//!
//! let tracker = Tracker::track_api().build()?; // AICM_API_KEY from the environment
//! tracker.track_with(
//!     json!({"input_tokens": 10, "output_tokens": 20}),
//!     TrackOptions::for_service("openai::gpt-5-mini").customer_key("acme"),
//! )?;
//! tracker.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The config-based contract (`GET /configs` with a signed `manual_usage_schema`,
//! `POST /track-usage`) is still spoken where a service serves it. [`Protocol`] chooses
//! (`AICM_PROTOCOL`: `auto`, the default, asks the service once per API root and key; `track`;
//! `configs`); [`Tracker::protocol`] says which is in force. Under today's contract the service
//! keeps no schema: typed records keep their compile-time checks, and JSON records are
//! validated against a local schema when the builder has one
//! ([`TrackerBuilder::usage_schema`]). A record the service refuses one by one (`error`,
//! `service_key_unknown`) is counted as failed and handed to `on_failed`, never retried.
//!
//! # Typed usage
//!
//! `#[derive(Usage)]` checks a struct against the schema at compile time (field names, types,
//! optionality), so `track` only stamps and queues it. Here under the config-based contract,
//! whose service holds the config's schema:
//!
//! ```no_run
//! use aicm::{Tracker, TrackOptions, Usage};
//! use serde::Serialize;
//!
//! #[derive(Serialize, Usage)]
//! #[usage(config_id = "chat-completions",
//!         schema = r#"{"input_tokens": "int", "output_tokens": "int", "model": "str",
//!                      "cached": "bool", "latency_ms": "Optional[float]"}"#)]
//! struct ChatUsage {
//!     input_tokens: u32,
//!     output_tokens: u32,
//!     model: String,
//!     cached: bool,
//!     latency_ms: Option<f64>,
//! }
//!
//! let tracker = Tracker::new("chat-completions", "openai::gpt-4o-mini")?;
//! tracker.track_with(
//!     ChatUsage { input_tokens: 12, output_tokens: 40, model: "gpt-4o-mini".into(),
//!                 cached: false, latency_ms: Some(180.0) },
//!     TrackOptions::new().client_customer_key("acme"),
//! )?;
//! tracker.close()?; // delivers everything queued
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `aicm-codegen` writes such structs from the live schema and checks them for drift in CI.
//!
//! # Dynamic usage
//!
//! JSON objects are validated against the schema (the config's, or a local one) by the
//! [`TypeValidator`]; a bad record is refused with every problem named:
//!
//! ```
//! # #[cfg(feature = "testing")] {
//! use serde_json::json;
//! // A recording tracker (feature `testing`) behaves like a live one, without a server.
//! let (tracker, recording) = aicm::testing::recording_tracker(
//!     "chat-completions", "openai::gpt-4o-mini",
//!     r#"{"input_tokens": "int", "model": "str", "note": "Optional[str]"}"#,
//! ).unwrap();
//!
//! tracker.track(json!({"input_tokens": 12, "model": "gpt-4o-mini"})).unwrap();
//! let err = tracker.track(json!({"input_tokens": "12", "colour": "red"})).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "invalid usage: Missing fields: model; Type errors: input_tokens: expected int, got str; \
//!      Unexpected fields: colour"
//! );
//! assert_eq!(recording.records().len(), 1);
//! # }
//! ```
//!
//! # Delivery
//!
//! One worker per API root, key and delivery options (a thread with its own tokio runtime, so
//! it serves sync code, multi-thread and current-thread runtimes alike). It sends up to
//! `max_batch_size` records per request, retries network errors, timeouts, 408, 429 (honouring
//! `Retry-After`) and 5xx with exponential backoff and jitter, splits a refused batch until the
//! bad records are isolated, and counts every record in [`DeliveryHealth`]:
//! `total_accepted = total_sent + total_failed + total_discarded + queue_size + in_flight`.
//! A full queue follows [`OnFull`]: `Backpressure` (drop the oldest, the default), `Block`
//! or `Raise`.
//!
//! # Exiting without `close`
//!
//! Records are delivered in the background. Call [`Tracker::close`] (or
//! [`Tracker::close_async`]) before exiting; it returns once everything queued is delivered or
//! reports how many records are still pending. As a safety net, dropping the last clone of a
//! Tracker that was not closed (returning from `main`) waits up to
//! [`TrackerBuilder::drop_timeout`] (5 s by default) for what is queued to be delivered, and
//! logs one warning with the count of what was not. A Tracker held in a `static` is never
//! dropped: there only `close` delivers. Short-lived hosts can use [`Tracker::deliver_now`] to
//! send one record and wait for the answer.
//!
//! With a durable spool (`TrackerBuilder::spool`, feature `spool`) `track` returns only once
//! the record is committed to a file, so an exit, a crash or an outage loses nothing `track`
//! accepted: the next Tracker on that file delivers it.
//!
//! # Usage from LLM responses
//!
//! With feature `llm`, `llm::extract` and `llm::StreamAccumulator` read a provider's answer
//! (OpenAI Chat Completions and Responses, Anthropic Messages, Gemini, OpenAI-compatible
//! providers; plain or streamed) into a record of its own usage object, and
//! `Tracker::track_llm` tracks it. The `llm-reqwest` and `llm-async-openai` features do it for
//! every call of a client, without call-site changes. The `llm` module has the table of
//! what each record holds.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `derive` | yes | `#[derive(Usage)]` (re-exported from `aicm-derive`) |
//! | `rustls` | yes | TLS through rustls |
//! | `native-tls` | no | TLS through the platform library |
//! | `llm` | no | `aicm::llm`: usage records from OpenAI, Anthropic, Gemini and OpenAI-compatible responses and event streams; `Tracker::track_llm` |
//! | `llm-http` | no | `llm::LlmTracking`, `llm::TapBody` and `llm::LlmLayer`: track the LLM answers of any client on `http` types as their bodies flow |
//! | `llm-reqwest` | no | `llm::LlmMiddleware`: the same for `reqwest-middleware` 0.4 clients |
//! | `llm-async-openai` | no | `llm::LlmLayer` for async-openai's `with_http_service`, records from its typed answers |
//! | `testing` | no | `aicm::testing`: a recording Tracker for your unit tests; with `spool`, `testing::SpoolRows`: a spool's rows as the delivery loop has them (append, claim, ack, fail, release), for tests and benchmarks |
//! | `spool` | no | `TrackerBuilder::spool`: a durable on-disk queue (`aicm::spool`), so records survive crashes, restarts and outages |
//! | `schemars` | no | `schemars::JsonSchema` for [`DeliveryHealth`], [`UsageValidationError`], [`TriggeredLimit`] and [`ResponseId`]; `aicm::json_schema` and `Tracker::json_schema` (the JSON Schema of a config's usage); `aicm::schemars` re-exported, for `aicm-codegen --schemars` output |
#![deny(missing_docs)]

#[doc(hidden)]
pub mod __private;
pub mod conform;
mod delivery;
mod error;
#[cfg(feature = "schemars")]
pub mod json_schema;
#[cfg(feature = "llm")]
pub mod llm;
#[cfg(feature = "spool")]
pub mod spool;
#[cfg(feature = "testing")]
pub mod testing;
mod tracker;
mod usage;
pub mod validate;

mod api;
mod config;
mod policy;
mod public_configs;
mod settings;
#[cfg(feature = "testing")]
#[doc(hidden)]
pub use config::probe::ConfigProbe as __ConfigProbe;

#[cfg(feature = "derive")]
pub use aicm_derive::Usage;
pub use aicm_schema as schema;
pub use config::{LimitVendor, LoadedConfig, TriggeredLimit};
pub use delivery::health::{DeliveryHealth, global_delivery_health};
pub use delivery::options::defaults;
pub use delivery::record::{DiscardedRecord, FailedRecord, ResponseId, UsageRecord};
pub use delivery::send::Receipt;
pub use delivery::wire::{ParseProtocolError, Protocol};
pub use error::{Error, FlushError, SchemaMismatch, TrackError};
pub use policy::{OnFull, ParseOnFullError};
pub use public_configs::{fetch_all_configs, fetch_all_configs_blocking};
/// The schemars version aicm implements `JsonSchema` with.
#[cfg(feature = "schemars")]
pub use schemars;
pub use tracker::{TrackOptions, Tracker, TrackerBuilder};
pub use usage::{IntoUsage, PreparedUsage, TrackContext, Usage};
pub use validate::{Mismatch, TypeValidator, UsageValidationError, ValidationIssue};

/// The Rust blocks of the workspace's README.md, compiled (and run unless `no_run`) as
/// doctests, so the user guide cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
