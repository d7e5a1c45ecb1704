//! Writes on a follower go to the leader: when nodes share a Kafka topic, only the node holding
//! the lease appends (see `store::lease`). A write arriving elsewhere is sent on over HTTP to the
//! leader's advertised URL with its method, path, query, body and the caller's `Authorization`,
//! and the leader's answer (status, body, content type) is returned as is. Reads and lookups
//! are answered locally.
//!
//! While no leader is known (an election under way) a write waits for one, up to the store's
//! timeout; then 50004. A leader that cannot be reached is retried until the timeout (it may be
//! replaced meanwhile); then 50003.
//!
//! Over HTTPS the follower trusts the system's roots plus the certificates in this node's own
//! certificate file (`tls_cert`: put the private CA in the chain file, or share one
//! certificate between nodes); when client certificates are required it presents its own
//! certificate and key to get a connection at all. A caller known only by its client
//! certificate (auth on, no `Authorization` header) is not forwarded — the leader would see
//! this node's certificate, not the caller's — and gets 50003 naming the leader to write to.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::node::{Node, NodeError, Route};
use crate::tls::TlsFiles;

/// Marks a request one node forwarded to another, so it is never forwarded again.
const FORWARDED: &str = "x-schemata-forwarded";

/// Largest body a follower holds to pass on; the leader applies its own limit.
const MAX_FORWARDED_BYTES: usize = 64 * 1024 * 1024;

/// How often a waiting write looks again for a leader.
const POLL: Duration = Duration::from_millis(25);

/// What the forwarding layer needs: the node (who leads) and an HTTP client for the leader.
#[derive(Clone)]
pub struct Forwarder {
    node: Arc<Node>,
    client: reqwest::Client,
    /// Callers may be known by their client certificate alone (auth on, client CA set).
    certificate_callers: bool,
}

impl Forwarder {
    pub fn new(node: Arc<Node>, tls: Option<&TlsFiles>, auth: bool) -> Forwarder {
        Forwarder {
            node,
            client: client(tls),
            certificate_callers: auth && tls.is_some_and(|t| t.client_ca.is_some()),
        }
    }
}

pub async fn layer(State(f): State<Forwarder>, req: Request, next: Next) -> Response {
    let node = &f.node;
    if !is_write(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    let forwarded = req.headers().contains_key(FORWARDED);
    let deadline = Instant::now() + node.timeout();
    let (parts, body) = req.into_parts();
    let mut body = Some(body);
    let mut bytes: Option<axum::body::Bytes> = None;
    loop {
        match node.route() {
            Route::Local => {
                let body = match (body.take(), bytes.take()) {
                    (Some(b), _) => b,
                    (None, Some(bytes)) => Body::from(bytes),
                    (None, None) => Body::empty(),
                };
                return next.run(Request::from_parts(parts, body)).await;
            }
            Route::Leader(url)
                if f.certificate_callers && !parts.headers.contains_key(header::AUTHORIZATION) =>
            {
                return ApiError::Forwarding(format!(
                    "a caller known by its client certificate alone cannot be forwarded; write to the leader at {url}"
                ))
                .into_response();
            }
            Route::Leader(url) if !forwarded => {
                if bytes.is_none() {
                    let b = body.take().unwrap_or_else(Body::empty);
                    match axum::body::to_bytes(b, MAX_FORWARDED_BYTES).await {
                        Ok(b) => bytes = Some(b),
                        Err(_) => return ApiError::BodyTooLarge.into_response(),
                    }
                }
                let payload = bytes.clone().unwrap_or_default();
                match send(&f.client, &url, &parts, payload).await {
                    Ok(response) => return response,
                    Err(e) if Instant::now() >= deadline => {
                        return ApiError::Forwarding(e).into_response()
                    }
                    Err(e) => tracing::debug!(%url, error = %e, "forwarding failed; retrying"),
                }
            }
            Route::Leader(_) | Route::Unknown if Instant::now() >= deadline => {
                // The broker away (the leader log unreachable) is a store failure, as on a
                // single node; otherwise Confluent's "unknown leader".
                let error = node
                    .election_trouble()
                    .map_or(NodeError::NotLeader, NodeError::Store);
                return ApiError::Node(error).into_response();
            }
            Route::Leader(_) | Route::Unknown => {}
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Requests that append to `_schemas`. Lookups (`POST /subjects/{s}`), compatibility checks and
/// user management (its own log, written by any node) are not.
fn is_write(method: &Method, path: &str) -> bool {
    if !matches!(*method, Method::POST | Method::PUT | Method::DELETE) {
        return false;
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.first().copied() {
        Some("subjects") => !(*method == Method::POST && segments.len() == 2),
        Some("config" | "mode") => true,
        _ => false,
    }
}

/// The client for the leader; see the module doc for whom it trusts over HTTPS.
fn client(tls: Option<&TlsFiles>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(2));
    if let Some(tls) = tls {
        {
            let file = &tls.cert;
            let certs = std::fs::read(file)
                .map_err(|e| e.to_string())
                .and_then(|pem| {
                    reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| e.to_string())
                });
            match certs {
                Ok(certs) => {
                    for cert in certs {
                        builder = builder.add_root_certificate(cert);
                    }
                }
                Err(error) => tracing::warn!(file = %file.display(), %error,
                    "cannot read certificates to trust when forwarding to the leader"),
            }
        }
        if tls.client_cert_required {
            let identity = std::fs::read(&tls.cert)
                .and_then(|mut pem| {
                    pem.extend(b"\n");
                    pem.extend(std::fs::read(&tls.key)?);
                    Ok(pem)
                })
                .map_err(|e| e.to_string())
                .and_then(|pem| reqwest::Identity::from_pem(&pem).map_err(|e| e.to_string()));
            match identity {
                Ok(identity) => builder = builder.identity(identity),
                Err(error) => tracing::warn!(%error,
                    "cannot present this node's certificate when forwarding to the leader"),
            }
        }
    }
    builder.build().unwrap_or_else(|error| {
        tracing::warn!(%error, "forwarding client with the system's roots only");
        reqwest::Client::new()
    })
}

/// Sends the request to the leader at `url`; its answer, or why there is none.
async fn send(
    client: &reqwest::Client,
    url: &str,
    parts: &axum::http::request::Parts,
    body: axum::body::Bytes,
) -> Result<Response, String> {
    let target = match parts.uri.path_and_query() {
        Some(pq) => format!("{url}{pq}"),
        None => url.to_string(),
    };
    let method =
        reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).map_err(|e| e.to_string())?;
    let mut request = client.request(method, &target).body(body.to_vec());
    for name in [header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT] {
        if let Some(v) = parts.headers.get(&name) {
            request = request.header(name.as_str(), v.as_bytes());
        }
    }
    if let Some(v) = parts.headers.get("x-request-id") {
        request = request.header("x-request-id", v.as_bytes());
    }
    let answer = request
        .header(FORWARDED, "1")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status =
        axum::http::StatusCode::from_u16(answer.status().as_u16()).map_err(|e| e.to_string())?;
    let content_type = answer
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
    let body = answer.bytes().await.map_err(|e| e.to_string())?;
    let mut response = (status, body).into_response();
    if let Some(ct) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    Ok(response)
}
