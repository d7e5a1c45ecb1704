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
//!
//! [`serve`] wires them together; `main.rs` only parses the command line.

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
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

pub use config::Config;
pub use node::Node;

/// Opens the store, replays it, and serves the API on `listener` until `shutdown` resolves;
/// then finishes in-flight requests and releases the store.
pub async fn serve(
    config: &Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = store::Store::open_with(&config.store, &config.kafka).await?;
    let auth = auth::Authenticator::open(&config.auth, &store, &config.kafka).await?;
    let node = Node::open(store).await?;
    let app = api::auth::layer(
        api::router(node.clone(), config.max_body_bytes),
        auth.clone(),
    )
    .layer(tower_http::trace::TraceLayer::new_for_http());
    // Confluent tolerates a trailing slash (`/subjects/`); trimming must happen before routing.
    let app = NormalizePathLayer::trim_trailing_slash().layer(app);
    let addr = listener.local_addr()?;
    let tls = config.tls.is_some();
    tracing::info!(%addr, tls, store = %config.store, "schemata listening");
    match &config.tls {
        None => {
            let plain = axum_server::accept::DefaultAcceptor;
            server::run(listener, app, plain, &config.http, shutdown).await?
        }
        Some(files) => {
            // The handshake counts against the head bound: a client that stalls in it is cut
            // off as one that stalls in its request head.
            let rustls = axum_server::tls_rustls::RustlsAcceptor::new(tls::server_config(files)?)
                .handshake_timeout(config.http.header_read_timeout);
            let acceptor = tls::IdentifyingAcceptor(rustls);
            server::run(listener, app, acceptor, &config.http, shutdown).await?
        }
    }
    node.close().await;
    if let Some(auth) = auth {
        auth.users().close().await;
    }
    tracing::info!("schemata stopped");
    Ok(())
}
