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
//!
//! [`serve`] wires them together; `main.rs` only parses the command line.

pub mod api;
pub mod auth;
pub mod config;
pub mod node;
pub mod registry;
pub mod store;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;

use axum::extract::Request;
use axum::ServiceExt;
use tokio::net::TcpListener;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

/// Serves `app` over HTTPS (rustls, ring provider: the one the workspace already builds), with
/// the same graceful shutdown as plain HTTP, and client certificates when configured.
async fn serve_tls<M>(
    files: &config::TlsFiles,
    listener: TcpListener,
    app: M,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()>
where
    M: axum_server::service::MakeService<SocketAddr, axum::http::Request<hyper::body::Incoming>>
        + Send
        + 'static,
    M::MakeFuture: Send,
{
    let rustls = tls::server_config(files)?;
    let handle = axum_server::Handle::new();
    let on_shutdown = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        on_shutdown.graceful_shutdown(Some(std::time::Duration::from_secs(30)));
    });
    axum_server::from_tcp(listener.into_std()?)?
        .acceptor(tls::IdentifyingAcceptor(
            axum_server::tls_rustls::RustlsAcceptor::new(rustls),
        ))
        .handle(handle)
        .serve(app)
        .await?;
    Ok(())
}

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
    // The peer address feeds auth's per-address limit on failed logins.
    let app = ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app);
    match &config.tls {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await?
        }
        Some(files) => serve_tls(files, listener, app, shutdown).await?,
    }
    node.close().await;
    if let Some(auth) = auth {
        auth.users().close().await;
    }
    tracing::info!("schemata stopped");
    Ok(())
}
