//! The listener's bounds on clients (`crate::server`), over raw TCP on loopback: a half-sent
//! request head, an idle keep-alive connection and a dripped body are cut off after their
//! bounds, connections beyond the cap wait for a slot while the server stays healthy, and
//! shutdown does not wait for idle clients. Bounds are small here, set through the config.

use std::time::{Duration, Instant};

mod common;

use common::TestServer;
use schemata::server::HttpLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER: Duration = Duration::from_millis(600);
const IDLE: Duration = Duration::from_millis(1000);
const BODY: Duration = Duration::from_millis(800);
/// Scheduling slack on a busy machine: bounds are asserted within this much.
const SLACK: Duration = Duration::from_millis(1500);

async fn server_with(limits: HttpLimits) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let config = schemata::Config {
        http: limits,
        ..TestServer::config_for(&dir)
    };
    TestServer::start_with_config(dir, config).await
}

fn small_bounds() -> HttpLimits {
    HttpLimits {
        header_read_timeout: HEADER,
        idle_timeout: IDLE,
        body_read_timeout: BODY,
        max_connections: 64,
    }
}

async fn connect(server: &TestServer) -> TcpStream {
    TcpStream::connect(server.url.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection (or `limit` passes); returns how long that took
/// and what was read.
async fn until_closed(stream: &mut TcpStream, limit: Duration) -> (Duration, Vec<u8>) {
    let start = Instant::now();
    let mut read = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((start + limit).into(), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (start.elapsed(), read),
            Ok(Ok(n)) => read.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "still open after {limit:?}; read {:?}",
                String::from_utf8_lossy(&read)
            ),
        }
    }
}

/// Reads one response (head and `Content-Length` body); returns its status line.
async fn response(stream: &mut TcpStream) -> String {
    let mut read = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = read.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "closed mid-response: {:?}",
            String::from_utf8_lossy(&read)
        );
        read.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&read[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    while read.len() < head_end + length {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed mid-body");
        read.extend_from_slice(&buf[..n]);
    }
    head.lines().next().unwrap().to_string()
}

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: schemata\r\n\r\n";

#[tokio::test]
async fn a_half_sent_request_head_is_cut_off_after_the_header_bound() {
    let server = server_with(small_bounds()).await;

    let start = Instant::now();
    let mut half = connect(&server).await;
    half.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let mut silent = connect(&server).await;
    // Dripping the head a byte at a time does not extend the bound.
    let mut drip = connect(&server).await;
    let dripping = tokio::spawn(async move {
        let start = Instant::now();
        for b in b"GET /health HTTP/1.1\r\nHost: schemata\r\nX-Slow: "
            .iter()
            .cycle()
        {
            if drip.write_all(&[*b]).await.is_err() {
                return start.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        unreachable!()
    });

    for (what, stream) in [("half head", &mut half), ("nothing sent", &mut silent)] {
        let (_, read) = until_closed(stream, HEADER + SLACK).await;
        let after = start.elapsed();
        assert!(
            read.is_empty(),
            "{what}: {:?}",
            String::from_utf8_lossy(&read)
        );
        assert!(
            after >= HEADER - Duration::from_millis(100),
            "{what}: {after:?}"
        );
        eprintln!("{what}: closed after {after:?} (bound {HEADER:?})");
    }
    let dripped = tokio::time::timeout(HEADER + SLACK, dripping)
        .await
        .expect("the dripping client is cut off")
        .unwrap();
    eprintln!("dripped head: cut off after {dripped:?}");
    assert!(
        dripped >= HEADER - Duration::from_millis(100),
        "{dripped:?}"
    );

    // A client that sends its head at once is served as usual.
    let mut client = connect(&server).await;
    client.write_all(HEALTH).await.unwrap();
    assert_eq!(response(&mut client).await, "HTTP/1.1 200 OK");
    server.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_bound() {
    let server = server_with(small_bounds()).await;
    let mut client = connect(&server).await;
    // Requests within the idle bound keep the connection: the clock restarts after each.
    // (4 × IDLE/3 outlasts IDLE, with room for a slow scheduler in each pause.)
    for _ in 0..4 {
        client.write_all(HEALTH).await.unwrap();
        assert_eq!(response(&mut client).await, "HTTP/1.1 200 OK");
        tokio::time::sleep(IDLE / 3).await;
    }
    client.write_all(HEALTH).await.unwrap();
    assert_eq!(response(&mut client).await, "HTTP/1.1 200 OK");
    let (after, read) = until_closed(&mut client, IDLE + SLACK).await;
    assert!(read.is_empty());
    assert!(after >= IDLE - Duration::from_millis(100), "{after:?}");
    eprintln!("idle keep-alive: closed after {after:?} (bound {IDLE:?})");
    server.stop().await;
}

#[tokio::test]
async fn a_dripped_body_is_cut_off_after_the_body_bound() {
    let server = server_with(small_bounds()).await;
    let mut client = connect(&server).await;
    let head = "POST /subjects/s/versions HTTP/1.1\r\nHost: schemata\r\n\
                Content-Type: application/vnd.schemaregistry.v1+json\r\n\
                Content-Length: 1000\r\n\r\n";
    client.write_all(head.as_bytes()).await.unwrap();
    let start = Instant::now();
    let (mut reader, mut writer) = client.into_split();
    // A byte every 50 ms: never silent for long, so only a deadline for the whole body stops it.
    let dripping = tokio::spawn(async move {
        for _ in 0..1000 {
            if writer.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut read = Vec::new();
    let limit = BODY + SLACK;
    loop {
        let mut buf = [0u8; 4096];
        match tokio::time::timeout_at((start + limit).into(), reader.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => read.extend_from_slice(&buf[..n]),
            Err(_) => panic!("body still read after {limit:?}"),
        }
    }
    let after = start.elapsed();
    dripping.abort();
    let text = String::from_utf8_lossy(&read);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains(r#""error_code":408"#), "{text}");
    assert!(after >= BODY - Duration::from_millis(100), "{after:?}");
    eprintln!("dripped body: answered 408 and closed after {after:?} (bound {BODY:?})");
    // The subject was not registered.
    assert_eq!(server.get("/subjects").await.1, serde_json::json!([]));
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_slot_and_the_server_stays_healthy() {
    let server = server_with(HttpLimits {
        max_connections: 4,
        ..small_bounds()
    })
    .await;
    // Twice the cap in clients that connect and send nothing.
    let mut silent = Vec::new();
    for _ in 0..8 {
        silent.push(connect(&server).await);
    }
    // A real client waits its turn: the silent ones are cut off in batches of the cap.
    let start = Instant::now();
    let mut client = connect(&server).await;
    client.write_all(HEALTH).await.unwrap();
    let status = tokio::time::timeout(2 * HEADER + SLACK, response(&mut client))
        .await
        .expect("served once the silent clients are cut off");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let waited = start.elapsed();
    eprintln!("beyond the cap: served after {waited:?} (2 batches of {HEADER:?})");
    assert!(waited >= HEADER - Duration::from_millis(100), "{waited:?}");
    for mut s in silent {
        until_closed(&mut s, 2 * HEADER + SLACK).await;
    }
    // And everything works as before.
    for _ in 0..10 {
        assert_eq!(server.get("/health").await.0, reqwest::StatusCode::OK);
    }
    server.stop().await;
}

#[tokio::test]
async fn shutdown_does_not_wait_for_idle_clients() {
    // Bounds far longer than the shutdown allowed below: only draining can close these.
    let server = server_with(HttpLimits {
        header_read_timeout: Duration::from_secs(20),
        idle_timeout: Duration::from_secs(60),
        ..HttpLimits::default()
    })
    .await;
    let mut kept_alive = connect(&server).await;
    kept_alive.write_all(HEALTH).await.unwrap();
    assert_eq!(response(&mut kept_alive).await, "HTTP/1.1 200 OK");
    let mut half = connect(&server).await;
    half.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let mut silent = connect(&server).await;
    // Let the server accept them all.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let start = Instant::now();
    tokio::time::timeout(Duration::from_secs(3), server.stop())
        .await
        .expect("shutdown finishes with idle clients connected");
    let took = start.elapsed();
    eprintln!("shutdown with 3 idle clients: {took:?}");
    for stream in [&mut kept_alive, &mut half, &mut silent] {
        until_closed(stream, Duration::from_secs(1)).await;
    }
}

/// A client that asks for more than the socket buffers hold and stops reading: the server's
/// writes make no progress, and the connection is cut once they have stalled for the idle bound
/// — even though a response is still being sent, so a steady download is never cut.
#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_after_the_idle_bound() {
    let dir = tempfile::tempdir().unwrap();
    let config = schemata::Config {
        http: small_bounds(),
        max_body_bytes: 4 << 20,
        ..TestServer::config_for(&dir)
    };
    let server = TestServer::start_with_config(dir, config).await;
    // Half a MiB: under the 1 MB record limit of a Kafka store too.
    let doc = "x".repeat(1 << 19);
    let schema = serde_json::json!({"type": "record", "name": "Big", "doc": doc, "fields": []});
    let id = server.register("big", &schema).await;
    let mut client = connect(&server).await;
    let get = format!("GET /schemas/ids/{id} HTTP/1.1\r\nHost: x\r\n\r\n");
    const ASKED: usize = 96; // ~48 MiB of responses: more than any socket buffer.
    client
        .write_all(get.repeat(ASKED).as_bytes())
        .await
        .unwrap();
    // Read nothing for longer than the idle bound, then take what is there.
    tokio::time::sleep(IDLE + SLACK).await;
    let (_, read) = until_closed(&mut client, Duration::from_secs(20)).await;
    let answered = String::from_utf8_lossy(&read)
        .matches("HTTP/1.1 200 OK")
        .count();
    assert!(
        answered < ASKED,
        "all {ASKED} responses were sent to a client that did not read"
    );
    eprintln!(
        "stalled reader: cut off after {answered} of {ASKED} responses ({} bytes)",
        read.len()
    );
    server.stop().await;
}
