//! Why the local API could not be configured or started.

use std::path::PathBuf;

/// Errors from loading configs or keys, or from starting the local API.
///
/// None of them holds the API key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalApiError {
    /// A file (configs or key) could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configs document is not valid JSON of the expected shape.
    #[error("invalid configs document: {0}")]
    ConfigsJson(#[source] serde_json::Error),
    /// A config's `manual_usage_schema` holds a malformed type string.
    #[error("config `{config_id}` has an invalid manual_usage_schema: {source}")]
    Schema {
        /// The config whose schema is malformed.
        config_id: String,
        /// Every bad field, with its position.
        source: aicm::schema::SchemaError,
    },
    /// Two configs share one `config_id`.
    #[error("config `{0}` appears more than once")]
    DuplicateConfig(String),
    /// A PEM key could not be used for RS256.
    #[error("invalid {which} key: {source}")]
    Key {
        /// `private` or `public` or `other private`.
        which: &'static str,
        /// What jsonwebtoken reported.
        source: jsonwebtoken::errors::Error,
    },
    /// A fault setting cannot be used (a `status` outside 400–599).
    #[error("invalid fault: {0}")]
    InvalidFault(String),
    /// Signing a token failed.
    #[error("cannot sign a token: {0}")]
    Sign(#[source] jsonwebtoken::errors::Error),
    /// The loopback port could not be bound, or the server runtime could not start.
    #[error("cannot start the local API: {0}")]
    Start(#[source] std::io::Error),
}
