//! Every integration test of this package in one binary (one link instead of one per file).

mod cli;
mod cli_live;
mod golden;
mod roundtrip;
mod support;
mod trybuild;
mod typed;
