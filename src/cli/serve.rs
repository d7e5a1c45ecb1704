//! `schemata serve`: load the configuration, listen, and serve until SIGINT or SIGTERM.

use std::path::PathBuf;

use crate::config::{Config, Overrides};

#[derive(Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// Config file: TOML (docs/configuration.md), or Confluent's schema-registry.properties
    /// when the name ends in .properties
    #[arg(long, env = "SCHEMATA_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: Overrides,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::load(args.config.as_ref(), args.overrides)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    crate::serve(&config, listener, shutdown_signal()).await
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
