//! Every integration test of aicm-tests in one binary (one link instead of one per file).

mod config_http;
mod delivery_faults;
mod derive_e2e;
mod llm;
mod server_api;
mod server_faults;
mod spool_tracker;
mod support;
mod tracker_http;
