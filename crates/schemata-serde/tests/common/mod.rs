//! Test servers: a real Schemata on loopback (as the server's own tests start it), and a tiny
//! scripted HTTP server for behaviour a real registry cannot be made to show on demand
//! (5xx answers, slow answers, GUID endpoints, request counting).
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use schemata_serde::{Config, RegistryClient};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A Schemata server on a free loopback port with a fresh SQLite file.
pub struct Schemata {
    pub url: String,
    _dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Schemata {
    pub async fn start() -> Schemata {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = schemata::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            store: format!("sqlite://{}", dir.path().join("schemata.db").display()),
            max_body_bytes: 64 * 1024,
            ..Default::default()
        };
        let listener = TcpListener::bind(config.listen).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            schemata::serve(&config, listener, async {
                let _ = rx.await;
            })
            .await
        });
        let server = Schemata {
            url,
            _dir: dir,
            shutdown: Some(tx),
        };
        for _ in 0..200 {
            if let Ok(r) = reqwest::get(format!("{}/health", server.url)).await {
                if r.status().is_success() {
                    return server;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("schemata at {} did not become ready", server.url);
    }

    pub fn client(&self) -> RegistryClient {
        RegistryClient::new(self.config().build()).unwrap()
    }

    pub fn config(&self) -> schemata_serde::ConfigBuilder {
        Config::builder(&self.url)
    }
}

impl Drop for Schemata {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// One request as the scripted server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: String,
}

type Script = dyn Fn(&Seen, usize) -> (u16, String) + Send + Sync;

/// An HTTP/1.1 server answering each request with `script(request, index)` after `delay`,
/// closing every connection after one answer so each request is one accept.
pub struct Scripted {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    count: Arc<AtomicUsize>,
}

impl Scripted {
    pub async fn start(
        delay: Duration,
        script: impl Fn(&Seen, usize) -> (u16, String) + Send + Sync + 'static,
    ) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let script: Arc<Script> = Arc::new(script);
        let (seen2, count2) = (seen.clone(), count.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (seen, count, script) = (seen2.clone(), count2.clone(), script.clone());
                tokio::spawn(async move {
                    let Some(req) = read_request(&mut sock).await else {
                        return;
                    };
                    let n = count.fetch_add(1, Ordering::SeqCst);
                    seen.lock().unwrap().push(req.clone());
                    tokio::time::sleep(delay).await;
                    let (status, body) = script(&req, n);
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Scripted { url, seen, count }
    }

    pub fn requests(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let mut len = 0;
    let mut authorization = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => len = v.trim().parse().ok()?,
                "authorization" => authorization = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    while buf.len() < head_end + len {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(Seen {
        method,
        path,
        authorization,
        body: String::from_utf8_lossy(&buf[head_end..]).to_string(),
    })
}
