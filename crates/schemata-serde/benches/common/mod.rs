//! Shared by the crate's benchmark and the peer comparison (benches-peer/): the 10-field record,
//! a canned registry on loopback (so benchmarks measure the client, not a server), and a way to
//! run an already-warm async call without a runtime's scheduling cost.
#![allow(dead_code)]

use std::future::Future;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use apache_avro::AvroSchema;
use serde::{Deserialize, Serialize};

/// The benchmark record: ten fields of the common Avro types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "bench")]
pub struct Customer {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub age: i32,
    pub score: f64,
    pub active: bool,
    pub created_at: i64,
    pub country: String,
    pub tags: Vec<String>,
    pub note: Option<String>,
}

pub fn customer() -> Customer {
    Customer {
        id: 1_234_567_890,
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
        age: 36,
        score: 99.5,
        active: true,
        created_at: 1_700_000_000_000,
        country: "GB".into(),
        tags: vec!["math".into(), "engines".into()],
        note: Some("first programmer".into()),
    }
}

pub const TOPIC: &str = "bench";
pub const ID: u32 = 1;

/// A registry that knows one schema (id 1, `bench-value` version 1) and answers every lookup,
/// registration and fetch for it. Returns its base URL.
pub fn canned_registry() -> String {
    let schema = serde_json::to_string(&Customer::get_schema()).unwrap();
    let full =
        serde_json::json!({"subject": "bench-value", "version": 1, "id": ID, "schema": schema})
            .to_string();
    let by_id = serde_json::json!({ "schema": schema }).to_string();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut sock in listener.incoming().flatten() {
            let (full, by_id) = (full.clone(), by_id.clone());
            std::thread::spawn(move || loop {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let head_end = loop {
                    let Ok(n) = sock.read(&mut chunk) else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    let Ok(n) = sock.read(&mut chunk) else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let mut first = head.split_whitespace();
                let (method, path) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
                let body = match (method, path) {
                    ("POST", p) if p.ends_with("/versions") => format!("{{\"id\":{ID}}}"),
                    ("GET", p) if p.starts_with("/schemas/ids/") => by_id.clone(),
                    _ => full.clone(),
                };
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                if sock.write_all(resp.as_bytes()).is_err() {
                    return;
                }
            });
        }
    });
    url
}

/// Runs a future that a warm cache completes without waiting: one poll, no scheduler. Falls
/// back to the runtime if it does wait (then the measurement includes that, honestly).
pub fn warm<F: Future>(rt: &tokio::runtime::Runtime, f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => rt.block_on(f),
    }
}
