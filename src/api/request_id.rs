//! `X-Request-Id`: every request gets an id, and a tracing span that carries it with the
//! method, route, status and latency, so a client's report, a proxy's access log and our own
//! log lines can be matched up.
//!
//! An id the client (or a proxy in front) sends is kept when it is sane — 1 to
//! [`MAX_LEN`] visible ASCII characters — so it can be followed across services; anything else
//! (empty, too long, spaces, control or non-ASCII bytes that would garble a log line) is
//! replaced by a fresh UUID. The id goes back as `X-Request-Id` on every response, refusals by
//! the auth layer and unmatched routes included: [`RequestIds`] is the outermost router layer.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use tracing::field::Empty;

use super::around::Around;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-chosen id kept (UUIDs are 36, W3C trace ids 32, AWS's ~40).
pub const MAX_LEN: usize = 128;

/// Route label for a request no route matched (see `api::metrics`).
pub const UNMATCHED: &str = "unmatched";

/// The request's id, for handlers and layers inside [`RequestIds`].
#[derive(Debug, Clone)]
pub struct RequestId(pub HeaderValue);

/// Whether a client's id may be kept as it is.
pub fn sane(id: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&id.len()) && id.iter().all(|b| b.is_ascii_graphic())
}

/// The route template the router matched (`/subjects/{subject}/versions`), never the raw
/// path: subject names stay out of labels and span fields, and their number stays bounded.
/// Shared with the router's own (no copy per request); `None` when no route matched (see
/// [`route_name`]).
pub fn route(req: &Request) -> Option<MatchedPath> {
    req.extensions().get::<MatchedPath>().cloned()
}

/// A [`route`]'s label.
pub fn route_name(route: Option<&MatchedPath>) -> &str {
    route.map_or(UNMATCHED, MatchedPath::as_str)
}

/// A fresh version 4 UUID without a system call: a per-thread random seed (from the OS, once)
/// and a counter through a bijective mix, so ids never repeat within a thread and collide
/// across threads only as random UUIDs would. Request ids need to be unique, not secret.
fn fresh_id() -> uuid::Uuid {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<(u64, u64)> = Cell::new({
            let seed = uuid::Uuid::new_v4().as_u64_pair();
            (seed.0, seed.1)
        });
    }
    /// SplitMix64's finaliser: a bijection on u64.
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let (counter, salt) = STATE.with(|s| {
        let (counter, salt) = s.get();
        s.set((counter.wrapping_add(0x9e37_79b9_7f4a_7c15), salt));
        (counter, salt)
    });
    let bits = (u128::from(mix(counter)) << 64) | u128::from(salt ^ mix(counter ^ salt));
    uuid::Builder::from_random_bytes(bits.to_be_bytes()).into_uuid()
}

/// Gives each request its id and span, and the response its `X-Request-Id`.
#[derive(Clone)]
pub struct RequestIds;

/// What [`RequestIds`] keeps while the route runs.
pub struct Pending {
    started: Instant,
    id: HeaderValue,
    span: tracing::Span,
}

impl Around for RequestIds {
    type State = Pending;

    fn before(&self, req: &mut Request) -> Pending {
        let id = match req.headers().get(&HEADER) {
            Some(sent) if sane(sent.as_bytes()) => sent.clone(),
            _ => {
                let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
                let fresh = fresh_id().hyphenated().encode_lower(&mut buf);
                let fresh = HeaderValue::from_str(fresh).expect("a UUID is a header value");
                req.headers_mut().insert(HEADER, fresh.clone());
                fresh
            }
        };
        req.extensions_mut().insert(RequestId(id.clone()));
        let span = tracing::info_span!(
            "request",
            // Displayed rather than debug-formatted: no quoting and escaping per request.
            request_id = %id.to_str().unwrap_or_default(),
            method = %req.method(),
            route = %route_name(req.extensions().get::<MatchedPath>()),
            status = Empty,
            latency_ms = Empty,
        );
        Pending {
            started: Instant::now(),
            id,
            span,
        }
    }

    fn span(pending: &Pending) -> Option<&tracing::Span> {
        Some(&pending.span)
    }

    fn after(&self, pending: Pending, response: &mut Response) {
        // Only the closing event shows them, and it is a debug one: recording (formatting)
        // them for nothing would be most of what the span costs.
        if tracing::enabled!(tracing::Level::DEBUG) {
            let span = &pending.span;
            span.record("status", response.status().as_u16());
            span.record(
                "latency_ms",
                pending.started.elapsed().as_secs_f64() * 1000.0,
            );
            span.in_scope(|| tracing::debug!("answered"));
        }
        response.headers_mut().insert(HEADER, pending.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_are_version_4_and_do_not_repeat() {
        let ids: std::collections::HashSet<uuid::Uuid> = (0..10_000).map(|_| fresh_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids
            .iter()
            .all(|id| id.get_version_num() == 4 && id.get_variant() == uuid::Variant::RFC4122));
        let other = std::thread::spawn(fresh_id).join().unwrap();
        assert!(!ids.contains(&other));
    }

    #[test]
    fn sane_ids() {
        assert!(sane(b"abc-123"));
        assert!(sane(&[b'a'; MAX_LEN]));
        assert!(!sane(&[b'a'; MAX_LEN + 1]));
        assert!(!sane(b""));
        assert!(!sane(b"a b"));
        assert!(!sane(b"a\tb"));
        assert!(!sane("é".as_bytes()));
    }
}
