//! Every integration test of this package in one binary (one link instead of one per file).

mod derive_check;
mod derive_consts;
mod derive_crate_path;
mod derive_generic;
mod derive_ui;
mod json_schema;
mod tracker_recording;
mod validate_props;
mod validate_usage;
mod validate_values;
