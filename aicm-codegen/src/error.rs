//! Everything that can stop a generation, worded for the person running the command.

use std::path::PathBuf;

use aicm_schema::FieldError;

/// Why nothing (or not everything) could be generated.
///
/// Each message names what to fix: the config, the field, the position in a type string, the
/// file, or the option to use instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodegenError {
    /// `--config-id` named configs that the source does not hold.
    #[error("{}", unknown_configs(.unknown, .known))]
    UnknownConfig {
        /// The ids asked for and not found.
        unknown: Vec<String>,
        /// Every id the source holds, sorted.
        known: Vec<String>,
    },
    /// A config's schema has fields whose types cannot be used (all of them are listed).
    #[error("{}", invalid_schema(.config_id, .errors))]
    InvalidSchema {
        /// The config whose schema is bad.
        config_id: String,
        /// Every bad field: the parse errors carry the position in the type string.
        errors: Vec<FieldError>,
    },
    /// Two schema keys would become the same Rust field; merging them would lose data.
    #[error(
        "config `{config_id}`: fields {} all map to the Rust field `{ident}`; \
         rename one of them in the schema",
        quoted(.fields)
    )]
    FieldCollision {
        /// The config holding the keys.
        config_id: String,
        /// The Rust identifier they share.
        ident: String,
        /// The schema keys, in schema order.
        fields: Vec<String>,
    },
    /// Two configs would produce structs of the same name.
    #[error(
        "configs {} all map to the struct name `{name}`; give one of them another name with \
         `--name ID=Name`",
        quoted(.config_ids)
    )]
    NameCollision {
        /// The shared struct name.
        name: String,
        /// The configs that produce it.
        config_ids: Vec<String>,
    },
    /// A `--name` that is not usable as a struct name.
    #[error("`--name {config_id}={name}`: {reason}")]
    InvalidName {
        /// The config the name was for.
        config_id: String,
        /// The name given.
        name: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// A config id that cannot be used as a file name for `--schema-dir` or `json-schema`.
    #[error(
        "config `{config_id}` cannot be used as a file name (it is empty, starts with a dot or \
         holds a path separator)"
    )]
    UnsafeFileName {
        /// The offending id.
        config_id: String,
    },
    /// The input file is neither a configs file nor a bare schema.
    #[error("{}: {message}", .path.display())]
    InputFormat {
        /// The file read.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A bare `{field: type}` schema file needs exactly one `--config-id` to name it.
    #[error(
        "{} is a bare schema (not a configs file), so it needs exactly one `--config-id` to \
         name it{}",
        .path.display(),
        if *.all { " (`--all` cannot name it)" } else { "" }
    )]
    BareSchemaNeedsId {
        /// The file read.
        path: PathBuf,
        /// Whether `--all` was given instead.
        all: bool,
    },
    /// The API has no `GET /configs`: today's service (`POST /track`) keeps no usage schemas,
    /// so there is nothing to generate from but a file.
    #[error(
        "the AICostManager API at {url} has no /configs (today's API keeps no usage schemas): \
         generate from a schema or configs file with `--from-file FILE`"
    )]
    NoConfigsEndpoint {
        /// The API root asked.
        url: String,
    },
    /// The API could not be reached (or refused the request).
    #[error(
        "cannot fetch configs from the AICostManager API: {message}\n\
         hint: to generate without the API, pass a configs file or a schema with \
         `--from-file FILE`"
    )]
    Unreachable {
        /// What went wrong, as the client reported it (never the API key).
        message: String,
    },
    /// The settings for the API (key, base URL, INI path) are missing or unusable.
    #[error(
        "{message}\n\
         hint: to generate without the API, pass a configs file or a schema with \
         `--from-file FILE`"
    )]
    Settings {
        /// What aicm said about the settings (never the API key).
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl CodegenError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> CodegenError {
        CodegenError::Io {
            path: path.into(),
            source,
        }
    }
}

fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknown_configs(unknown: &[String], known: &[String]) -> String {
    let what = if unknown.len() == 1 {
        format!("unknown config id {}", quoted(unknown))
    } else {
        format!("unknown config ids {}", quoted(unknown))
    };
    if known.is_empty() {
        format!("{what}; the source holds no configs")
    } else {
        format!("{what}; known config ids: {}", quoted(known))
    }
}

fn invalid_schema(config_id: &str, errors: &[FieldError]) -> String {
    let mut out = format!("config `{config_id}` has an invalid manual_usage_schema:");
    for error in errors {
        out.push_str("\n  ");
        out.push_str(&describe_field_error(error));
    }
    out
}

/// One line per bad field, with the position spelled out and pointed at.
fn describe_field_error(error: &FieldError) -> String {
    match error {
        FieldError::Parse { field, error } => format!(
            "field `{field}`: {} at position {} in `{}`\n    {}\n    {}^",
            error.kind,
            error.position,
            error.input,
            error.input,
            " ".repeat(
                error
                    .input
                    .get(..error.position)
                    .map_or(error.position, |s| s.chars().count())
            )
        ),
        other => other.to_string(),
    }
}
