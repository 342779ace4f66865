//! `aicm-codegen`: typed usage structs and JSON Schemas from AICostManager configs.
//!
//! Exit status: 0 on success (and for `--check`, when nothing drifted), 1 when `--check` found
//! drift, 2 on any error (bad arguments, unknown config, unreadable API or file).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use aicm_codegen::{
    CodegenError, GenerateOptions, Selection, Source, check, generate, load_configs,
    write_json_schemas,
};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "aicm-codegen", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a Rust module with one `#[derive(aicm::Usage)]` struct per config.
    Generate(GenerateArgs),
    /// Write one JSON Schema (draft 2020-12) document per config.
    JsonSchema(JsonSchemaArgs),
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct Which {
    /// A config to generate (repeatable).
    #[arg(long = "config-id", value_name = "ID")]
    config_ids: Vec<String>,
    /// Every config of the source.
    #[arg(long)]
    all: bool,
}

#[derive(Args)]
struct SourceArgs {
    /// Read configs from this file (the local API's configs file, or a bare {field: type}
    /// schema named by `--config-id`) instead of fetching them from the API with the
    /// AICM_* environment and AICM.INI.
    #[arg(long, value_name = "FILE")]
    from_file: Option<PathBuf>,
}

#[derive(Args)]
struct GenerateArgs {
    #[command(flatten)]
    which: Which,
    #[command(flatten)]
    source: SourceArgs,
    /// The module file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Write nothing; exit 1 and report what changed when FILE (or a snapshot) differs from
    /// what would be generated now.
    #[arg(long)]
    check: bool,
    /// Also write each schema as DIR/<config_id>.json, for `#[usage(schema_file = "…")]`.
    #[arg(long, value_name = "DIR")]
    schema_dir: Option<PathBuf>,
    /// Name a config's struct (default: the config id in PascalCase + `Usage`); repeatable.
    #[arg(long = "name", value_name = "ID=Name", value_parser = parse_name)]
    names: Vec<(String, String)>,
    /// Also derive `schemars::JsonSchema` on the generated types.
    #[arg(long)]
    schemars: bool,
}

#[derive(Args)]
struct JsonSchemaArgs {
    #[command(flatten)]
    which: Which,
    #[command(flatten)]
    source: SourceArgs,
    /// The directory to write <config_id>.schema.json files into.
    #[arg(long, value_name = "DIR")]
    out_dir: PathBuf,
}

fn parse_name(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((id, name)) if !id.is_empty() && !name.is_empty() => {
            Ok((id.to_owned(), name.to_owned()))
        }
        _ => Err(format!("expected ID=Name, found `{text}`")),
    }
}

impl Which {
    fn selection(&self) -> Selection {
        if self.all {
            Selection::All
        } else {
            Selection::Ids(self.config_ids.clone())
        }
    }
}

impl SourceArgs {
    fn source(&self) -> Source {
        match &self.from_file {
            Some(path) => Source::File(path.clone()),
            None => Source::Api,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(args) => run_generate(args),
        Command::JsonSchema(args) => run_json_schema(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

fn run_generate(args: GenerateArgs) -> Result<ExitCode, CodegenError> {
    let mut options = GenerateOptions::from_file(PathBuf::new()).out(&args.out);
    options.source = args.source.source();
    options.selection = args.which.selection();
    options.schema_dir = args.schema_dir;
    options.render.schemars = args.schemars;
    options.render.names = args.names.into_iter().collect();
    if args.check {
        let report = check(&options)?;
        if report.is_clean() {
            say(&format!("{report}"));
            Ok(ExitCode::SUCCESS)
        } else {
            eprintln!("{report}");
            Ok(ExitCode::from(1))
        }
    } else {
        let generated = generate(&options)?;
        let ids: Vec<&str> = generated
            .configs
            .iter()
            .map(|c| c.config_id.as_str())
            .collect();
        let status = if generated.written.contains(&options.out) {
            "wrote"
        } else {
            "unchanged"
        };
        say(&format!(
            "{status} {} ({} config{}: {})",
            options.out.display(),
            ids.len(),
            if ids.len() == 1 { "" } else { "s" },
            ids.join(", ")
        ));
        Ok(ExitCode::SUCCESS)
    }
}

fn run_json_schema(args: JsonSchemaArgs) -> Result<ExitCode, CodegenError> {
    let configs = load_configs(&args.source.source(), &args.which.selection())?;
    for path in write_json_schemas(&configs, &args.out_dir)? {
        say(&format!("wrote {}", path.display()));
    }
    Ok(ExitCode::SUCCESS)
}

/// Progress on stdout; a closed pipe is not worth failing over.
fn say(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}
