//! HTTPS: the API served over rustls with a configured certificate, over a real handshake.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;

/// The head bound for the HTTPS test, which covers the TLS handshake.
const HANDSHAKE_BOUND: Duration = Duration::from_millis(500);

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
        tls: Some(schemata::tls::TlsFiles {
            cert: cert_path,
            key: key_path,
            client_ca: None,
            client_cert_required: false,
        }),
        http: schemata::server::HttpLimits {
            header_read_timeout: HANDSHAKE_BOUND,
            ..Default::default()
        },
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

    // A client that stalls in the handshake (silent, or half a ClientHello) is cut off after the
    // head bound, as a plain one stalling in its request head.
    for sent in [&b""[..], &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01][..]] {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let start = std::time::Instant::now();
        let mut stalled = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        stalled.write_all(sent).await.unwrap();
        let mut buf = [0u8; 1024];
        let closed = tokio::time::timeout(HANDSHAKE_BOUND + Duration::from_secs(2), async {
            while stalled.read(&mut buf).await.is_ok_and(|n| n > 0) {}
        })
        .await;
        assert!(closed.is_ok(), "a stalled handshake is cut off");
        assert!(start.elapsed() >= HANDSHAKE_BOUND - Duration::from_millis(100));
    }

    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(35), server)
        .await
        .expect("graceful shutdown")
        .unwrap()
        .unwrap();
}

/// A CA, and certificates it signs for `localhost` (server) or for a client named `cn`.
struct Pki {
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        Pki { ca, ca_key }
    }

    /// (certificate PEM, key PEM)
    fn issue(&self, cn: &str, server: bool) -> (String, String) {
        let names = if server {
            vec!["localhost".into()]
        } else {
            vec![]
        };
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.extended_key_usages = vec![if server {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        }];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn client(&self, identity: Option<(String, String)>) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca.pem().as_bytes()).unwrap())
            .timeout(Duration::from_secs(10));
        if let Some((cert, key)) = identity {
            let pem = format!("{cert}{key}");
            builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
        }
        builder.build().unwrap()
    }
}

/// Starts an HTTPS registry with auth on and client certificates from `pki`'s CA; returns its
/// base URL and a way to stop it.
async fn mtls_server(
    dir: &tempfile::TempDir,
    pki: &Pki,
    required: bool,
) -> (
    String,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    use schemata::auth::{Role, User};
    let store_url = format!("sqlite://{}", dir.path().join("schemata.db").display());
    let store = schemata::store::Store::open(&store_url).await.unwrap();
    let users = schemata::auth::store::UserStore::open(&store)
        .await
        .unwrap();
    for (name, role, grants) in [
        ("root", Role::Admin, vec![]),
        ("ci-pipeline", Role::Write, vec!["ci-".to_string()]),
    ] {
        let user = User::new(name, "a-long-password", role, grants).unwrap();
        assert!(users.insert(&user).await.unwrap());
    }
    drop(users);
    store.close().await;

    let (cert, key) = pki.issue("localhost", true);
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("cert.pem"), cert).unwrap();
    std::fs::write(path("key.pem"), key).unwrap();
    std::fs::write(path("ca.pem"), pki.ca.pem()).unwrap();
    let config = schemata::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        store: store_url,
        tls: Some(schemata::tls::TlsFiles {
            cert: path("cert.pem"),
            key: path("key.pem"),
            client_ca: Some(path("ca.pem")),
            client_cert_required: required,
        }),
        auth: schemata::auth::AuthConfig {
            enabled: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
    let url = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        schemata::serve(&config, listener, async {
            let _ = rx.await;
        })
        .await
    });
    // Ready once /health answers (it needs no credentials, but may need a certificate).
    let probe = pki.client(Some(pki.issue("probe", false)));
    for _ in 0..100 {
        if probe.get(format!("{url}/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (url, tx, server)
}

/// The status of `GET /subjects`, with Basic credentials for `root` if a password is given.
async fn list(client: &reqwest::Client, url: &str, root_password: Option<&str>) -> u16 {
    let mut request = client.get(format!("{url}/subjects"));
    if let Some(password) = root_password {
        request = request.basic_auth("root", Some(password));
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn client_certificates_name_users() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new("Schemata test CA");
    let (url, stop, server) = mtls_server(&dir, &pki, false).await;
    let schema = serde_json::json!({"schema": r#"{"type":"record","name":"R","fields":[]}"#});
    let register = |client: &reqwest::Client, subject: &str| {
        client
            .post(format!("{url}/subjects/{subject}/versions"))
            .header("Content-Type", "application/vnd.schemaregistry.v1+json")
            .body(schema.to_string())
            .send()
    };

    // The certificate's common name is the user, with that user's role and grants.
    let ci = pki.client(Some(pki.issue("ci-pipeline", false)));
    assert_eq!(register(&ci, "ci-orders").await.unwrap().status(), 200);
    assert_eq!(register(&ci, "orders").await.unwrap().status(), 403);
    let subjects: Value = ci
        .get(format!("{url}/subjects"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(subjects, serde_json::json!(["ci-orders"]));

    // A verified certificate naming no user is not enough …
    let stranger = pki.client(Some(pki.issue("stranger", false)));
    assert_eq!(list(&stranger, &url, None).await, 401);
    // … and an Authorization header decides over the certificate.
    assert_eq!(list(&ci, &url, Some("wrong-password")).await, 401);

    // Certificates are optional here: Basic still works without one.
    let anonymous = pki.client(None);
    assert_eq!(list(&anonymous, &url, None).await, 401);
    assert_eq!(list(&anonymous, &url, Some("a-long-password")).await, 200);

    // A certificate from another CA fails the handshake, even for user names that exist.
    let other = Pki::new("Another CA");
    let forged = pki.client(Some(other.issue("ci-pipeline", false)));
    assert!(forged.get(format!("{url}/subjects")).send().await.is_err());

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn required_client_certificates_refuse_connections_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new("Schemata test CA");
    let (url, stop, server) = mtls_server(&dir, &pki, true).await;
    let anonymous = pki.client(None);
    let basic = anonymous
        .get(format!("{url}/subjects"))
        .basic_auth("root", Some("a-long-password"))
        .send()
        .await;
    assert!(basic.is_err(), "{basic:?}");
    let ci = pki.client(Some(pki.issue("ci-pipeline", false)));
    assert_eq!(list(&ci, &url, None).await, 200);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
