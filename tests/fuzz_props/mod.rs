//! The properties the fuzzers check, written once and shared by both harnesses: the proptest
//! suite in `tests/fuzz.rs` (stable, every `cargo test`) and the libFuzzer targets in `fuzz/`
//! (nightly, `scripts/fuzz`). Keeping one definition means a crash either finds is a failure of
//! the same property, and becomes a plain regression test in `tests/fuzz.rs`.
//!
//! Every function panics when the property fails; returning normally means it held.
#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use schemata::registry::avro::{self, ParsedSchema};
use schemata::registry::compat::{self, AvroSchemaRef, CompatibilityLevel};
use serde_json::Value;
use tower::{Layer, ServiceExt};
use tower_http::normalize_path::{NormalizePath, NormalizePathLayer};

/// Schema parsing and canonical form. Whatever `text` is, parsing must not panic; when it is
/// accepted, its canonical text must parse again to the same canonical text (clients compare
/// these strings, and ids are deduplicated by them), and so must its normalized text.
pub fn parse_and_canonical(text: &str) -> Option<ParsedSchema> {
    let parsed = avro::parse(text, &[]).ok()?;
    let canonical = &parsed.canonical;
    let again = avro::parse(canonical, &[])
        .unwrap_or_else(|e| panic!("canonical text does not parse: {e}\n{canonical}\nof {text}"));
    assert_eq!(
        &again.canonical, canonical,
        "canonical form is not idempotent for {text}"
    );
    let json: Value = serde_json::from_str(text).expect("parse accepted it as JSON");
    let normalized = avro::normalized_text(&json)
        .unwrap_or_else(|e| panic!("no normalized text for an accepted schema: {e}\n{text}"));
    let reparsed = avro::parse(&normalized, &[])
        .unwrap_or_else(|e| panic!("normalized text does not parse: {e}\n{normalized}\nof {text}"));
    let renormalized = avro::normalized_text(&serde_json::from_str(&reparsed.canonical).unwrap())
        .expect("normalized text of a normalized schema");
    assert_eq!(
        renormalized, normalized,
        "normalized form is not idempotent for {text}"
    );
    Some(parsed)
}

fn schema_ref(p: &ParsedSchema) -> AvroSchemaRef<'_> {
    AvroSchemaRef {
        root: &p.schema,
        refs: &p.refs,
    }
}

/// Java's one legitimate verdict against a schema itself: a reader field whose alias names
/// another field of the same record matches two writer fields, and Java (so Confluent) throws.
fn java_ambiguous_field(messages: &[String]) -> bool {
    messages.first().is_some_and(|m| {
        m.starts_with("Unexpected exception during compatibility check: Reader record field")
            && m.contains("matches multiple fields")
    })
}

/// Compatibility of an arbitrary pair at every level, in both roles and transitively: must not
/// panic, whatever the verdict.
pub fn compat_pair(a: &ParsedSchema, b: &ParsedSchema) {
    let (ra, rb) = (schema_ref(a), schema_ref(b));
    for level in CompatibilityLevel::ALL {
        let _ = compat::check(level, ra, &[(1, rb, &b.canonical)]);
        let _ = compat::check(level, rb, &[(1, ra, &a.canonical), (2, rb, &b.canonical)]);
    }
    let _ = compat::reader_can_read(ra, rb);
    let _ = compat::reader_can_read(rb, ra);
}

/// A schema is compatible with itself at every level: with the very same parse, and with a
/// second parse of its canonical text (what re-registering it compares against).
pub fn self_compatible(a: &ParsedSchema) {
    let again = avro::parse(&a.canonical, &[]).expect("canonical text parses");
    let ra = schema_ref(a);
    for other in [a, &again] {
        for level in CompatibilityLevel::ALL {
            // A schema too costly to compare is refused with a clear error (the step budget),
            // never judged incompatible with itself.
            let Ok(messages) =
                compat::check(level, ra, &[(1, schema_ref(other), &other.canonical)])
            else {
                continue;
            };
            assert!(
                messages.is_empty() || java_ambiguous_field(&messages),
                "{level}: schema incompatible with itself: {messages:?}\n{}",
                a.canonical
            );
        }
    }
}

/// An in-process registry (memory store, auth off) behind the same router and path
/// normalization `schemata::serve` uses, driven without sockets so each request costs
/// microseconds. Its state persists across requests, so later bodies meet registered subjects.
pub struct Api {
    rt: tokio::runtime::Runtime,
    app: NormalizePath<axum::Router>,
}

impl Default for Api {
    fn default() -> Self {
        Self::new()
    }
}

impl Api {
    pub fn new() -> Api {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let node: Arc<schemata::Node> = rt.block_on(async {
            let store = schemata::store::Store::open("memory://")
                .await
                .expect("memory store");
            schemata::Node::open(store).await.expect("node")
        });
        let router = schemata::api::auth::layer(schemata::api::router(node, 64 * 1024), None);
        let app = NormalizePathLayer::trim_trailing_slash().layer(router);
        Api { rt, app }
    }

    /// Sends one request and checks the REST property: never a 5xx (nor a panic), and every
    /// error is Confluent's `{"error_code": …, "message": …}`.
    pub fn check(&self, method: &str, path: &str, content_type: Option<&str>, body: Vec<u8>) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let Ok(req) = req.body(Body::from(body)) else {
            return; // Not an HTTP request at all (bad method or URI): nothing reaches us.
        };
        let app = self.app.clone();
        let (status, bytes) = self.rt.block_on(async move {
            let resp = app.oneshot(req).await.expect("infallible");
            let status = resp.status();
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("body");
            (status, bytes)
        });
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            status.as_u16() < 500,
            "{method} {path} answered {status}: {text}"
        );
        if status.as_u16() >= 400 && status != StatusCode::METHOD_NOT_ALLOWED {
            let json: Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("{method} {path} {status}: not JSON: {text}"));
            assert!(
                json["error_code"].is_u64() && json["message"].is_string(),
                "{method} {path} {status}: not a Confluent error: {text}"
            );
        }
    }
}

/// Request targets that read a JSON body, plus a few that do not (their bodies must be ignored).
/// `{s}` is replaced by a subject.
pub const ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/subjects/{s}/versions"),
    ("POST", "/subjects/{s}"),
    ("POST", "/subjects/{s}?normalize=true&deleted=true"),
    ("POST", "/subjects/{s}/versions?normalize=true"),
    (
        "POST",
        "/compatibility/subjects/{s}/versions/latest?verbose=true",
    ),
    ("POST", "/compatibility/subjects/{s}/versions/1"),
    ("POST", "/compatibility/subjects/{s}/versions"),
    ("PUT", "/config"),
    ("PUT", "/config/{s}"),
    ("PUT", "/mode/{s}?force=true"),
    ("PUT", "/mode/{s}"),
    ("POST", "/"),
    ("POST", "/admin/users"),
    ("PUT", "/admin/users/{s}/grants"),
    ("GET", "/subjects/{s}/versions/latest"),
    ("DELETE", "/subjects/{s}"),
];

/// Content types: Confluent's accepted ones and some it refuses.
pub const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/vnd.schemaregistry.v1+json"),
    Some("application/json; charset=utf-8"),
    Some("application/octet-stream"),
    Some("application/vnd.schemaregistry+json"),
    Some("text/plain"),
    None,
];

/// The request path for endpoint `i` and `subject`, the subject percent-encoded byte by byte
/// where it is not plainly safe (so any subject string makes a valid URI).
pub fn endpoint_path(i: usize, subject: &str) -> (&'static str, String) {
    let (method, template) = ENDPOINTS[i % ENDPOINTS.len()];
    let mut encoded = String::new();
    for b in subject.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    (method, template.replace("{s}", &encoded))
}
