//! The loopback ceiling: a server on the registry's own stack (axum on tokio) that answers every
//! GET and POST, on any path, with the same N bytes. What a workload reaches against it is the
//! most this machine's loopback, HTTP stack and generator allow for that response size.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::routing::any;
use axum::Router;

use crate::workload;

/// `n` bytes of valid JSON when there is room (`{"id":1,"pad":"xx…"}`), so a client that reads
/// an id (the generator resolving ids for `get-by-id`) finds one; spaces below 17 bytes.
pub fn body(n: usize) -> Bytes {
    const HEAD: &str = "{\"id\":1,\"pad\":\"";
    const TAIL: &str = "\"}";
    if n < HEAD.len() + TAIL.len() {
        return Bytes::from(vec![b' '; n]);
    }
    let mut b = Vec::with_capacity(n);
    b.extend_from_slice(HEAD.as_bytes());
    b.resize(n - TAIL.len(), b'x');
    b.extend_from_slice(TAIL.as_bytes());
    Bytes::from(b)
}

/// Answers every request with `body`, counting them in `served`. A request body is read in full
/// (as the registry reads a schema) before the answer.
pub fn router(body: Bytes, served: Arc<AtomicU64>) -> Router {
    Router::new().fallback(any(move |_request_body: Bytes| {
        let body = body.clone();
        let served = served.clone();
        async move {
            served.fetch_add(1, Ordering::Relaxed);
            ([(CONTENT_TYPE, workload::CONTENT_TYPE)], body)
        }
    }))
}

/// Serves [`router`] on `listener` until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    body_bytes: usize,
    served: Arc<AtomicU64>,
) -> std::io::Result<()> {
    axum::serve(listener, router(body(body_bytes), served)).await
}
