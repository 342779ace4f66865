//! Every integration test of this package in one binary (one link instead of one per file).

mod parse_errors;
mod parse_forms;
mod props;
mod schema;
