//! The `schemata` command line. Everything else lives in the library.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use schemata::config::{Config, Overrides};
use tracing_subscriber::EnvFilter;

/// mimalloc rather than the system allocator: start-up replay allocates millions of short-lived
/// values (see `mimalloc` in Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "schemata",
    version,
    about = "A Confluent-compatible schema registry for Apache Kafka (Avro)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once at start-up; boxing buys nothing
enum Command {
    /// Run the registry (the default when no command is given).
    Serve {
        /// TOML config file (keys: listen, store, max_body_bytes, and a [kafka] table)
        #[arg(long, env = "SCHEMATA_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Manage users in the store (`[auth]`); on SQLite, run while the server is stopped
    User(schemata::auth::cli::UserArgs),
    /// Check local .avsc files against a registry's subjects (or earlier versions), for CI
    Check(schemata::cli::check::CheckArgs),
    /// Copy every subject, version (ids kept), config and mode into another registry
    Migrate(schemata::cli::migrate::MigrateArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("SCHEMATA_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        // stderr, as the README says: stdout is for what `schemata user list` prints.
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let (file, overrides) = match cli.command {
        Some(Command::Serve { config, overrides }) => (config, overrides),
        None => (None, Overrides::default()),
        Some(Command::User(args)) => return schemata::auth::cli::run(args).await,
        Some(Command::Check(args)) => std::process::exit(schemata::cli::check::run(args).await),
        Some(Command::Migrate(args)) => return schemata::cli::migrate::run(args).await,
    };
    let config = Config::load(file.as_ref(), overrides)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    schemata::serve(&config, listener, shutdown_signal()).await
}

/// Resolves on SIGINT or SIGTERM, so in-flight requests finish and the store closes cleanly.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}
