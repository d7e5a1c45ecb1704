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
    let signal = shutdown_signal();
    let config = Config::load(args.config.as_ref(), args.overrides)?;
    let grace = shutdown_grace(&config);
    let shutdown = async move {
        signal.await;
        watchdog(grace);
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    crate::serve(&config, listener, shutdown).await
}

/// How long a clean shutdown may take: the last write, the leader's resignation and the final
/// flush each wait at most the store's timeout (SQLite's is 10 s), plus time for in-flight
/// requests.
fn shutdown_grace(config: &Config) -> std::time::Duration {
    config.kafka.timeout.max(std::time::Duration::from_secs(10)) * 3
        + std::time::Duration::from_secs(10)
}

/// Ends the process `grace` after the shutdown signal if it has not ended by itself: a client
/// library blocked on an unreachable broker (librdkafka's destroy, say) must not keep a
/// stopped registry alive, holding its port and its supervisor's restart.
fn watchdog(grace: std::time::Duration) {
    let spawned = std::thread::Builder::new()
        .name("shutdown-watchdog".into())
        .spawn(move || {
            std::thread::sleep(grace);
            tracing::error!(
                grace_ms = grace.as_millis() as u64,
                "shutdown did not finish in time; exiting"
            );
            std::process::exit(1);
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the shutdown watchdog");
    }
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
