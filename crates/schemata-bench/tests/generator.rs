//! The generator's counts, checked against servers that count what they answer: its own loopback
//! server, and one that answers every request with a 500 in chunked encoding. Real HTTP on
//! 127.0.0.1, a fraction of a second each.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::Router;
use schemata_bench::load::{self, LoadConfig};
use schemata_bench::loopback;
use schemata_bench::workload::{Target, Workload};

/// Serves `router` on a free loopback port; returns its URL.
async fn spawn(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

async fn config(url: &str, workload: Workload) -> LoadConfig {
    LoadConfig {
        target: Target::resolve(url).await.unwrap(),
        workload,
        connections: 4,
        // No warm-up: every request the server answers is one the report must count.
        warmup: Duration::ZERO,
        duration: Duration::from_millis(300),
    }
}

#[tokio::test]
async fn every_answered_request_is_counted_and_sized() {
    let served = Arc::new(AtomicU64::new(0));
    let url = spawn(loopback::router(loopback::body(321), served.clone())).await;
    for workload in [Workload::Latest, Workload::RegisterNew, Workload::Compat] {
        served.store(0, Ordering::SeqCst);
        let report = load::run(&config(&url, workload).await, &[1, 2, 3]).await;
        assert_eq!(report.errors, 0, "{workload}: {:?}", report.error_samples);
        assert!(report.requests > 10, "{workload}: only {}", report.requests);
        assert_eq!(report.requests, served.load(Ordering::SeqCst), "{workload}");
        assert_eq!(report.body_bytes, 321, "{workload}");
        assert!(report.p50_us > 0 && report.p50_us <= report.p99_us);
        let expected = report.requests as f64 / report.elapsed.as_secs_f64();
        assert!((report.req_per_s - expected).abs() < 1.0, "{report:?}");
        let line: serde_json::Value = serde_json::from_str(&report.json_line()).unwrap();
        assert_eq!(line["requests"], report.requests);
        assert_eq!(line["body_bytes"], 321);
    }
}

#[tokio::test]
async fn ids_resolve_from_lookups_and_setup() {
    let served = Arc::new(AtomicU64::new(0));
    let url = spawn(loopback::router(loopback::body(100), served.clone())).await;
    let target = Target::resolve(&url).await.unwrap();
    // The loopback body is JSON with "id":1, answered to every lookup and registration.
    assert_eq!(load::setup(&target, 7, 3).await.unwrap(), vec![1; 7]);
    assert_eq!(load::resolve_ids(&target, 5, 2).await.unwrap(), vec![1; 5]);
    assert_eq!(served.load(Ordering::SeqCst), 12);
}

/// The loopback server behind a check of `Authorization`: 401 to a request without exactly
/// `expected`, counted in `refused`.
async fn spawn_guarded(
    expected: &'static str,
    served: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
) -> String {
    let guard = move |req: Request, next: Next| {
        let refused = refused.clone();
        async move {
            let authorization = req.headers().get(header::AUTHORIZATION);
            if authorization.is_some_and(|a| a == expected) {
                next.run(req).await
            } else {
                refused.fetch_add(1, Ordering::SeqCst);
                StatusCode::UNAUTHORIZED.into_response()
            }
        }
    };
    let router: Router = loopback::router(loopback::body(200), served);
    spawn(router.layer(middleware::from_fn(guard))).await
}

#[tokio::test]
async fn basic_credentials_go_with_every_request() {
    // `bench:s3cret pass:with colon`: only the first colon separates (RFC 7617).
    const EXPECTED: &str = "Basic YmVuY2g6czNjcmV0IHBhc3M6d2l0aCBjb2xvbg==";
    let (served, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let url = spawn_guarded(EXPECTED, served.clone(), refused.clone()).await;
    let target = Target::resolve(&url)
        .await
        .unwrap()
        .with_basic("bench:s3cret pass:with colon")
        .unwrap();
    // Setup and id resolution carry them …
    assert_eq!(load::setup(&target, 5, 2).await.unwrap(), vec![1; 5]);
    assert_eq!(load::resolve_ids(&target, 3, 2).await.unwrap(), vec![1; 3]);
    // … and so does every workload: GETs, POSTs of fixed bodies, and new schemas.
    for workload in [Workload::GetById, Workload::Lookup, Workload::RegisterNew] {
        let report = load::run(
            &LoadConfig {
                target: target.clone(),
                ..config(&url, workload).await
            },
            &[1, 2, 3],
        )
        .await;
        assert_eq!(report.errors, 0, "{workload}: {:?}", report.error_samples);
        assert!(report.requests > 10, "{workload}: only {}", report.requests);
        assert_eq!(report.body_bytes, 200, "{workload}");
    }
    assert_eq!(refused.load(Ordering::SeqCst), 0);
    // Without --basic nothing is sent: every request is refused.
    let report = load::run(&config(&url, Workload::Latest).await, &[1]).await;
    assert!(report.requests > 10, "only {}", report.requests);
    assert_eq!(report.errors, report.requests);
    assert_eq!(report.error_samples, ["401: "]);
    assert!(refused.load(Ordering::SeqCst) >= report.requests);
    assert!(served.load(Ordering::SeqCst) > 30);
}

#[tokio::test]
async fn basic_credentials_need_a_user_and_a_password() {
    let target = Target::resolve("http://127.0.0.1:9").await.unwrap();
    assert!(target.clone().with_basic("no-colon").is_err());
    let target = target.with_basic("u:p").unwrap();
    let request = String::from_utf8(target.get("/x")).unwrap();
    assert!(
        request.contains("\r\nAuthorization: Basic dTpw\r\n\r\n"),
        "{request:?}"
    );
    let post = String::from_utf8(target.post("/x", b"{}")).unwrap();
    assert!(
        post.ends_with("Content-Length: 2\r\nAuthorization: Basic dTpw\r\n\r\n{}"),
        "{post:?}"
    );
}

/// A hand-written HTTP/1.1 server that answers every GET with a 500 whose body comes in
/// chunked encoding (so the generator's chunked decoding runs too), counting the requests.
async fn spawn_failing(served: Arc<AtomicU64>) -> String {
    const ANSWER: &[u8] = b"HTTP/1.1 500 Internal Server Error\r\n\
        content-type: application/vnd.schemaregistry.v1+json\r\n\
        transfer-encoding: chunked\r\n\r\n\
        14\r\n{\"error_code\":50001,\r\n11\r\n\"message\":\"boom\"}\r\n0\r\n\r\n";
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let served = served.clone();
            tokio::spawn(async move {
                let mut pending = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let n = match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&buf[..n]);
                    // GET requests have no body: each ends at its blank line.
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        served.fetch_add(1, Ordering::SeqCst);
                        if socket.write_all(ANSWER).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn every_non_2xx_answer_is_an_error() {
    let served = Arc::new(AtomicU64::new(0));
    let url = spawn_failing(served.clone()).await;
    let report = load::run(&config(&url, Workload::GetById).await, &[1, 2]).await;
    assert!(report.requests > 10, "only {}", report.requests);
    assert_eq!(report.requests, served.load(Ordering::SeqCst));
    assert_eq!(report.errors, report.requests);
    assert_eq!(report.req_per_s, 0.0);
    assert_eq!(
        report.error_samples[0],
        "500: {\"error_code\":50001,\"message\":\"boom\"}"
    );
}

#[tokio::test]
async fn a_server_that_is_gone_is_counted_as_errors() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let report = load::run(&config(&url, Workload::Latest).await, &[1]).await;
    assert_eq!(report.req_per_s, 0.0);
    assert!(report.errors > 0);
    assert_eq!(report.errors, report.requests);
}
