//! Every integration test of this package in one binary (one link instead of one per file).

mod axum_app;
mod batch_job;
mod docs;
mod quickstart;
mod typed_usage;
