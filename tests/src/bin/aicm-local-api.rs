//! `aicm-local-api`: the local AICostManager API as a process, for examples, manual runs and
//! clients in other languages. The first stdout line is `listening on http://127.0.0.1:PORT`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use aicm_tests::{ConfigsFile, Keys, LocalApi, LocalApiError, Protocol};
use clap::Parser;

/// Serve the AICostManager API (track; configs, track-usage; triggered limits) on loopback.
#[derive(Debug, Parser)]
#[command(name = "aicm-local-api", version)]
struct Args {
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// Configs document (`{"api_key", "configs": [...]}`); default: the committed fixture.
    #[arg(long, value_name = "FILE")]
    configs: Option<PathBuf>,
    /// Accept this API key instead of the one in the configs document.
    #[arg(long, value_name = "KEY")]
    api_key: Option<String>,
    /// Count records without storing them (throughput runs).
    #[arg(long)]
    count_only: bool,
    /// PEM private key that signs configs; default: the committed test key.
    #[arg(long, value_name = "FILE", requires = "public_key")]
    private_key: Option<PathBuf>,
    /// PEM public key served with signed configs; default: the committed test key.
    #[arg(long, value_name = "FILE", requires = "private_key")]
    public_key: Option<PathBuf>,
    /// Key id (`kid`) of the signing key.
    #[arg(long, value_name = "ID")]
    key_id: Option<String>,
    /// Which contract to serve: `track` (POST /track; /configs and /track-usage answer 404),
    /// `configs` (GET /configs, POST /track-usage; /track answers 404) or `both`.
    #[arg(long, value_enum, default_value_t = Protocol::Both)]
    protocol: Protocol,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&LocalApiError::Start(error)),
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

fn fail(error: &LocalApiError) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "aicm-local-api: {error}");
    ExitCode::from(2)
}

async fn run(args: Args) -> Result<(), LocalApiError> {
    let configs = match &args.configs {
        Some(path) => ConfigsFile::from_path(path)?,
        None => ConfigsFile::fixture(),
    };
    let mut keys = match (&args.private_key, &args.public_key) {
        (Some(private), Some(public)) => Keys::from_files(private, public)?,
        _ => Keys::test()?,
    };
    if let Some(key_id) = args.key_id {
        keys = keys.with_key_id(key_id);
    }
    let mut builder = LocalApi::builder()
        .configs(configs)
        .keys(keys)
        .count_only(args.count_only)
        .protocol(args.protocol)
        .port(args.port);
    if let Some(api_key) = args.api_key {
        builder = builder.api_key(api_key);
    }
    let api = builder.start().await?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {}", api.api_base()).map_err(LocalApiError::Start)?;
        stdout.flush().map_err(LocalApiError::Start)?;
    }
    // Runs until killed; the handle keeps the server alive.
    std::future::pending::<()>().await;
    drop(api);
    Ok(())
}
