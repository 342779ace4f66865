//! The operations behind the command line, usable from a build script: generate (and write
//! snapshots), check for drift, write JSON Schemas.

use std::path::{Path, PathBuf};

use crate::drift::{Change, DriftReport, compare};
use crate::render::{RenderOptions, render_module};
use crate::source::{ConfigSchema, Selection, Source, load_configs};
use crate::{CodegenError, json_schema};

/// What to generate from where, and where to write it.
///
/// ```
/// use aicm_codegen::GenerateOptions;
///
/// let options = GenerateOptions::from_file("configs.json")
///     .config_id("chat-completions")
///     .name("chat-completions", "ChatUsage")
///     .out("src/usage.rs");
/// assert_eq!(options.out, std::path::Path::new("src/usage.rs"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Where the configs come from.
    pub source: Source,
    /// Which configs (default: all).
    pub selection: Selection,
    /// The module file to write (or check).
    pub out: PathBuf,
    /// Where to write (or check) one `<config_id>.json` schema snapshot per config, for
    /// `#[usage(schema_file = "…")]`.
    pub schema_dir: Option<PathBuf>,
    /// Names and flags of the generated code.
    pub render: RenderOptions,
}

impl GenerateOptions {
    /// Configs from a local file: the local API's configs file or a bare schema.
    pub fn from_file(path: impl Into<PathBuf>) -> GenerateOptions {
        Self::with_source(Source::File(path.into()))
    }

    /// Configs fetched from the API with aicm's settings (environment and `AICM.INI`).
    pub fn from_api() -> GenerateOptions {
        Self::with_source(Source::Api)
    }

    fn with_source(source: Source) -> GenerateOptions {
        GenerateOptions {
            source,
            selection: Selection::All,
            out: PathBuf::new(),
            schema_dir: None,
            render: RenderOptions::default(),
        }
    }

    /// Every config of the source (the default).
    pub fn all(mut self) -> GenerateOptions {
        self.selection = Selection::All;
        self
    }

    /// Adds a config to generate; the first call replaces the default "all".
    pub fn config_id(mut self, id: impl Into<String>) -> GenerateOptions {
        match &mut self.selection {
            Selection::Ids(ids) => ids.push(id.into()),
            Selection::All => self.selection = Selection::Ids(vec![id.into()]),
        }
        self
    }

    /// The module file to write.
    pub fn out(mut self, path: impl Into<PathBuf>) -> GenerateOptions {
        self.out = path.into();
        self
    }

    /// Also write schema snapshots into `dir`.
    pub fn schema_dir(mut self, dir: impl Into<PathBuf>) -> GenerateOptions {
        self.schema_dir = Some(dir.into());
        self
    }

    /// Names the struct of `config_id` (instead of `<PascalCaseId>Usage`).
    pub fn name(
        mut self,
        config_id: impl Into<String>,
        name: impl Into<String>,
    ) -> GenerateOptions {
        self.render.names.insert(config_id.into(), name.into());
        self
    }

    /// Also derive `schemars::JsonSchema` on the generated types.
    pub fn schemars(mut self, on: bool) -> GenerateOptions {
        self.render.schemars = on;
        self
    }
}

/// What [`generate`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The configs in the module, sorted by id.
    pub configs: Vec<ConfigSchema>,
    /// The module's text.
    pub code: String,
    /// The files written; a file whose content was already right is left alone (so a build
    /// script does not trigger rebuilds) and not listed.
    pub written: Vec<PathBuf>,
}

/// Loads the configs, renders the module and writes it (and the snapshots) where the options
/// say, leaving files that already hold the right bytes untouched.
pub fn generate(options: &GenerateOptions) -> Result<Generated, CodegenError> {
    require_out(options)?;
    let configs = load_configs(&options.source, &options.selection)?;
    let code = render_module(&configs, &options.render)?;
    let mut written = Vec::new();
    if write_if_changed(&options.out, &code)? {
        written.push(options.out.clone());
    }
    if let Some(dir) = &options.schema_dir {
        for config in &configs {
            let path = dir.join(snapshot_file_name(&config.config_id)?);
            if write_if_changed(&path, &snapshot_text(config))? {
                written.push(path);
            }
        }
    }
    tracing::debug!(configs = configs.len(), files = written.len(), "generated");
    Ok(Generated {
        configs,
        code,
        written,
    })
}

/// Like [`generate`] but writes nothing: reports how the files on disk differ from what would
/// be written now.
pub fn check(options: &GenerateOptions) -> Result<DriftReport, CodegenError> {
    require_out(options)?;
    let configs = load_configs(&options.source, &options.selection)?;
    let code = render_module(&configs, &options.render)?;
    let existing = read_if_exists(&options.out)?;
    let mut report = compare(&options.out, existing.as_deref(), &code, &configs);
    if let Some(dir) = &options.schema_dir {
        for config in &configs {
            let path = dir.join(snapshot_file_name(&config.config_id)?);
            if read_if_exists(&path)?.as_deref() != Some(snapshot_text(config).as_str()) {
                report.changes.push(Change::SnapshotOutdated { path });
            }
        }
    }
    Ok(report)
}

/// Writes `<config_id>.schema.json` (JSON Schema 2020-12) for each config into `out_dir`,
/// creating it if needed; returns the files in config order.
pub fn write_json_schemas(
    configs: &[ConfigSchema],
    out_dir: &Path,
) -> Result<Vec<PathBuf>, CodegenError> {
    let mut paths = Vec::with_capacity(configs.len());
    for config in configs {
        let path = out_dir.join(json_schema_file_name(&config.config_id)?);
        let mut text = serde_json::to_string_pretty(&json_schema(config)).map_err(|e| {
            CodegenError::io(
                &path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        text.push('\n');
        write_if_changed(&path, &text)?;
        paths.push(path);
    }
    Ok(paths)
}

fn require_out(options: &GenerateOptions) -> Result<(), CodegenError> {
    if options.out.as_os_str().is_empty() {
        return Err(CodegenError::io(
            "",
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "no output file given (GenerateOptions::out)",
            ),
        ));
    }
    Ok(())
}

/// `<config_id>.json`, the snapshot file of a config.
pub fn snapshot_file_name(config_id: &str) -> Result<String, CodegenError> {
    safe_stem(config_id).map(|id| format!("{id}.json"))
}

/// `<config_id>.schema.json`, the JSON Schema file of a config.
pub fn json_schema_file_name(config_id: &str) -> Result<String, CodegenError> {
    safe_stem(config_id).map(|id| format!("{id}.schema.json"))
}

fn safe_stem(config_id: &str) -> Result<&str, CodegenError> {
    let bad = config_id.is_empty()
        || config_id.starts_with('.')
        || config_id
            .chars()
            .any(|c| matches!(c, '/' | '\\' | ':') || c.is_control());
    if bad {
        Err(CodegenError::UnsafeFileName {
            config_id: config_id.to_owned(),
        })
    } else {
        Ok(config_id)
    }
}

/// The schema as pretty JSON with canonical type strings, in field order.
fn snapshot_text(config: &ConfigSchema) -> String {
    let fields = config.schema.fields();
    if fields.is_empty() {
        return "{}\n".to_owned();
    }
    let mut out = String::from("{\n");
    for (i, field) in fields.iter().enumerate() {
        let key = serde_json::Value::String(field.name.clone());
        let ty = serde_json::Value::String(field.ty.to_string());
        out.push_str(&format!("  {key}: {ty}"));
        out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
    }
    out.push_str("}\n");
    out
}

fn read_if_exists(path: &Path) -> Result<Option<String>, CodegenError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CodegenError::io(path, e)),
    }
}

/// Writes through a temporary file and a rename, so a reader never sees half a module.
fn write_if_changed(path: &Path, text: &str) -> Result<bool, CodegenError> {
    if read_if_exists(path)?.as_deref() == Some(text) {
        return Ok(false);
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| CodegenError::io(parent, e))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".aicm-codegen.tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text).map_err(|e| CodegenError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| CodegenError::io(path, e))?;
    Ok(true)
}
