//! HTTPS: the API served over rustls with a configured certificate, over a real handshake.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;

#[tokio::test]
async fn serves_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_pem = cert.cert.pem();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, &cert_pem).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();

    let config = schemata::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        store: format!("sqlite://{}", dir.path().join("schemata.db").display()),
        tls: Some(schemata::config::TlsFiles {
            cert: cert_path,
            key: key_path,
        }),
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        schemata::serve(&config, listener, async {
            let _ = rx.await;
        })
        .await
    });

    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = format!("https://localhost:{port}/subjects");
    let mut answer = None;
    for _ in 0..100 {
        if let Ok(r) = trusting.get(&url).send().await {
            answer = Some((r.status(), r.json::<Value>().await.unwrap()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        answer,
        Some((reqwest::StatusCode::OK, Value::Array(vec![])))
    );

    // A client that does not trust the certificate is refused by the handshake …
    let untrusting = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    assert!(untrusting.get(&url).send().await.is_err());
    // … and plain HTTP gets no API answer.
    let plain = untrusting
        .get(format!("http://localhost:{port}/subjects"))
        .send()
        .await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));

    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(35), server)
        .await
        .expect("graceful shutdown")
        .unwrap()
        .unwrap();
}
