//! The local AICostManager API server (being built) and cross-crate tests.
