//! Every integration test of this package in one binary (one link instead of one per file).

mod axum_app;
mod batch_job;
mod docs;
mod llm_openai;
mod quickstart;
mod typed_usage;
