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
    // Before anything slow (opening the store, replaying it): a SIGTERM during start-up then
    // stops the server cleanly once it is up, instead of killing it mid-replay.
    let shutdown = shutdown_signal();
    let config = Config::load(args.config.as_ref(), args.overrides)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    crate::serve(&config, listener, shutdown).await
}

/// Resolves on SIGINT or SIGTERM, so in-flight requests finish and the store closes cleanly.
/// The handlers are installed when this is called, not when the future is first polled.
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    async move {
        tokio::select! {
            _ = received(term.as_mut()) => {},
            _ = received(int.as_mut()) => {},
        }
        tracing::info!("shutdown signal received");
    }
}

/// Waits for a signal; never, if its handler could not be installed.
#[cfg(unix)]
async fn received(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown signal received");
    }
}
