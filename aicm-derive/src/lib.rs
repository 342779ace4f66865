//! `#[derive(Usage)]` for aicm (being built).
