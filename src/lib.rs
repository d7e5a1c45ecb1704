//! Schemata: a Confluent-compatible schema registry for Apache Kafka (Avro).
//!
//! How a request flows, and where each part lives:
//!
//! - [`api`] — axum handlers, one module per REST resource; parses requests, renders Confluent's
//!   response shapes and maps every error to Confluent's `error_code` in `api::error`.
//! - [`node`] — one running registry: shared in-memory state, the store, the writer lock.
//!   Reads never touch the store; writes append records and answer once they are applied.
//! - [`registry`] — the pure core: the `_schemas` record format, the state folded from it,
//!   commands that turn requests into records, Avro canonical form and compatibility.
//! - [`store`] — the log the state is folded from: SQLite (embedded default), a Kafka
//!   `_schemas` topic, or memory.
//! - [`config`] — the one configuration struct (file < env < flags).
//! - [`server`] — the listener: connection cap, client timeouts, TLS, graceful drain.
//! - [`cli`] — the command line: `schemata serve` and `schemata user …`.
//!
//! [`serve`] wires them together; `main.rs` only sets up logging and runs [`cli`].

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod node;
pub mod registry;
pub mod server;
pub mod store;
pub mod tls;

use std::future::Future;

use tokio::net::TcpListener;

pub use config::Config;
pub use node::Node;

/// Opens the store, replays it, and serves the API on `listener` until `shutdown` resolves;
/// then finishes in-flight requests and releases the store (which closes the users log too).
/// `shutdown` resolving during start-up (a long replay, a broker that is not there) stops it.
pub async fn serve(
    config: &Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut shutdown = Box::pin(shutdown);
    let opened = async {
        let store = store::Store::open_with(&config.store, &config.kafka).await?;
        let auth = auth::Authenticator::open(&config.auth, &store).await?;
        let node = Node::open(store).await?;
        anyhow::Ok((node, auth))
    };
    let (node, auth) = tokio::select! {
        opened = opened => opened?,
        () = &mut shutdown => {
            tracing::info!("stopped during start-up");
            return Ok(());
        }
    };
    let app = api::app(node.clone(), auth, config.max_body_bytes);
    let addr = listener.local_addr()?;
    let tls = config.tls.is_some();
    tracing::info!(%addr, tls, store = %config.store, "schemata listening");
    server::serve(listener, app, config.tls.as_ref(), &config.http, shutdown).await?;
    node.close().await;
    tracing::info!("schemata stopped");
    Ok(())
}
