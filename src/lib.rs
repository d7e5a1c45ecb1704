//! Schemata: a Confluent-compatible schema registry for Apache Kafka (Avro).
//!
//! The modules, bottom layer first (each uses only modules above it in this list; the test
//! `tests/architecture.rs` checks it, and `docs/architecture.md` tells the whole story):
//!
//! - [`registry`] — the pure core, no I/O: the `_schemas` record format, the state folded from
//!   it, queries (reads) and commands (writes that return records), submitted schemas, Avro
//!   canonical form, compatibility, and the domain types (`SchemaId`, `Subject`, `Version`).
//! - [`store`] — the logs the state is folded from: the schemas log and the users log, on SQLite
//!   (the embedded default), Kafka topics, or memory; [`store::follow`] reads a log to its end,
//!   catches up to an offset and tails it, for every fold; on Kafka, `store::lease` elects the
//!   one writer of a topic several nodes share and `store::kafka::fence` makes a deposed
//!   writer's late records count for no reader.
//! - [`node`] — one running registry: the in-memory state, the store, the one writer (on a
//!   shared topic, only while this node leads). Reads never touch the store; a write appends
//!   records and answers once they are applied.
//! - [`auth`] — users (a fold of the users log), passwords, SCRAM, roles and grants, login
//!   limits, and user management used by both the HTTP API and the CLI.
//! - [`tls`] — certificates and the client identity a TLS connection carries.
//! - [`api`] — HTTP: one module per REST resource (Confluent's API, `/admin/users`, `/metrics`),
//!   the auth middleware, request ids, forwarding of writes from a follower to the leader, and
//!   [`api::error`], where every error becomes Confluent's status and `error_code`.
//! - [`server`] — the listener: connection cap, client timeouts, TLS, graceful drain.
//! - [`config`] — composes each layer's settings (file or Confluent `.properties` < env < flags).
//! - [`cli`] — the command line: `serve`, `user`, `check`, `migrate`.
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
        let me = store::lease::Candidate {
            node: uuid::Uuid::new_v4().to_string(),
            url: config.advertised_url(),
            eligible: config.leader_eligibility,
            lease: config.kafka.lease,
        };
        let node = Node::open_electing(store, me).await?;
        anyhow::Ok((node, auth))
    };
    let (node, auth) = tokio::select! {
        opened = opened => opened?,
        () = &mut shutdown => {
            tracing::info!("stopped during start-up");
            return Ok(());
        }
    };
    let app = api::app(
        node.clone(),
        auth.clone(),
        config.max_body_bytes,
        config.tls.as_ref(),
    );
    let addr = listener.local_addr()?;
    let tls = config.tls.is_some();
    tracing::info!(%addr, tls, store = %config.store, "schemata listening");
    server::serve(listener, app, config.tls.as_ref(), &config.http, shutdown).await?;
    node.close().await;
    tracing::info!("schemata stopped");
    Ok(())
}
