//! The requests clients repeat most, answered without the write path: registering a schema the
//! subject already has, lookups and compatibility checks. Proved over real HTTP against a
//! registry served in-process, so a test can hold the node's writer and show which requests
//! still answer while it is held — and that everything unusual still waits for it, answering
//! exactly as before.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{assert_error, record, record_with_defaults, TestServer, CT};
use reqwest::StatusCode;
use schemata::node::Node;
use serde_json::{json, Value};
use tempfile::TempDir;

/// A registry on the harness's store for `dir`, served on a free loopback port, with its node.
struct InProcess {
    node: Arc<Node>,
    url: String,
    client: reqwest::Client,
    _dir: TempDir,
}

impl InProcess {
    async fn start() -> InProcess {
        let dir = tempfile::tempdir().unwrap();
        let store = common::open_store(&dir).await;
        // On the Kafka pass the node elects itself, as `schemata serve` does.
        let me = schemata::store::lease::Candidate {
            node: "hot-paths".into(),
            url: "http://127.0.0.1:1".into(),
            eligible: true,
            lease: Duration::from_secs(10),
        };
        let node = Node::open_electing(store, me).await.unwrap();
        let app = schemata::api::app(node.clone(), None, 64 * 1024, None);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let service = axum::ServiceExt::<axum::extract::Request>::into_make_service(app);
        tokio::spawn(async move { axum::serve(listener, service).await });
        InProcess {
            node,
            url,
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, body).await
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::PUT, path, body).await
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .client
            .request(method, format!("{}{path}", self.url))
            .header("content-type", CT)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Holds the node's writer (a write whose command waits) until the returned sender is
    /// dropped or sent to.
    async fn hold_writer(&self) -> std::sync::mpsc::Sender<()> {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let node = self.node.clone();
        // The command may run more than once (a write fenced on Kafka is decided again), so it
        // holds what it uses once behind locks.
        let (started_tx, rx) = (
            std::sync::Mutex::new(Some(started_tx)),
            std::sync::Mutex::new(rx),
        );
        tokio::spawn(async move {
            node.write(move |_| {
                if let Some(started) = started_tx.lock().unwrap().take() {
                    let _ = started.send(());
                }
                let _ = rx.lock().unwrap().recv();
                Ok(((), vec![]))
            })
            .await
        });
        started_rx.await.expect("the held write runs");
        tx
    }
}

/// Posts `body` to `path` on a task of its own.
fn spawn_post(
    s: &Arc<InProcess>,
    path: &str,
    body: Value,
) -> tokio::task::JoinHandle<(StatusCode, Value)> {
    let (s, path) = (s.clone(), path.to_string());
    tokio::spawn(async move { s.post(&path, body).await })
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer while the writer is held"))
}

async fn still_waiting(task: &tokio::task::JoinHandle<(StatusCode, Value)>) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !task.is_finished(),
        "this request should wait for the writer"
    );
}

#[tokio::test]
async fn registering_what_the_subject_has_answers_without_the_writer() {
    let s = Arc::new(InProcess::start().await);
    let v1 = record("A", &["x"]);
    let v2 = record_with_defaults("A", &["x", "y"]);
    let body = |schema: &Value| json!({ "schema": schema.to_string() });
    assert_eq!(
        s.post("/subjects/s/versions", body(&v1)).await,
        (StatusCode::OK, json!({"id": 1}))
    );
    s.post("/subjects/other/versions", body(&json!("string")))
        .await;

    let writer = s.hold_writer().await;
    // The same schema, as sent and spelled otherwise (same canonical form), with
    // `normalize`, with Confluent's "no id"/"no version" values: answered from the state.
    let spaced = json!({"schema": serde_json::to_string_pretty(&v1).unwrap()});
    for (path, body) in [
        ("/subjects/s/versions", body(&v1)),
        ("/subjects/s/versions", spaced.clone()),
        ("/subjects/s/versions?normalize=true", body(&v1)),
        (
            "/subjects/s/versions",
            json!({"schema": v1.to_string(), "id": -1, "version": -1}),
        ),
        (
            "/subjects/s/versions",
            json!({"schema": v1.to_string(), "schemaType": "AVRO", "references": []}),
        ),
    ] {
        assert_eq!(
            within(path, s.post(path, body)).await,
            (StatusCode::OK, json!({"id": 1})),
            "{path}"
        );
    }
    // Lookups and compatibility checks never needed the writer.
    let (status, found) = within("lookup", s.post("/subjects/s", spaced.clone())).await;
    assert_eq!(
        (status, &found["id"], &found["version"]),
        (StatusCode::OK, &json!(1), &json!(1))
    );
    assert_eq!(
        within(
            "compatibility",
            s.post("/compatibility/subjects/s/versions/latest", body(&v2))
        )
        .await,
        (StatusCode::OK, json!({"is_compatible": true}))
    );

    // Everything else goes the write path, and waits for the writer.
    let new_version = spawn_post(&s, "/subjects/s/versions", body(&v2));
    // Known content, but not under this subject: a new version.
    let new_here = spawn_post(&s, "/subjects/t/versions", body(&v1));
    // An explicit id outside IMPORT mode: refused, by the write path as before.
    let with_id = spawn_post(
        &s,
        "/subjects/s/versions",
        json!({"schema": v1.to_string(), "id": 1}),
    );
    // An explicit version, even the one it has: the write path answers.
    let with_version = spawn_post(
        &s,
        "/subjects/s/versions",
        json!({"schema": v1.to_string(), "version": 1}),
    );
    // Not a schema at all: the write path reports it.
    let invalid = spawn_post(&s, "/subjects/s/versions", json!({"schema": "{"}));
    for task in [&new_version, &new_here, &with_id, &with_version, &invalid] {
        still_waiting(task).await;
    }
    writer.send(()).unwrap();
    assert_eq!(
        new_version.await.unwrap(),
        (StatusCode::OK, json!({"id": 3}))
    );
    assert_eq!(new_here.await.unwrap(), (StatusCode::OK, json!({"id": 1})));
    assert_error(&with_id.await.unwrap(), 422, 42205);
    assert_eq!(
        with_version.await.unwrap(),
        (StatusCode::OK, json!({"id": 1}))
    );
    assert_error(&invalid.await.unwrap(), 422, 42201);
}

#[tokio::test]
async fn modes_and_soft_deletes_still_decide_a_registration_of_known_content() {
    let s = Arc::new(InProcess::start().await);
    let v1 = record("A", &["x"]);
    let body = json!({ "schema": v1.to_string() });
    assert_eq!(s.post("/subjects/s/versions", body.clone()).await.0, 200);

    // READONLY refuses even a registration that would write nothing, as Confluent does.
    s.put("/mode/s", json!({"mode": "READONLY"})).await;
    assert_error(
        &s.post("/subjects/s/versions", body.clone()).await,
        422,
        42205,
    );
    s.put("/mode/s", json!({"mode": "READONLY_OVERRIDE"})).await;
    assert_error(
        &s.post("/subjects/s/versions", body.clone()).await,
        422,
        42205,
    );
    // IMPORT wants an id: without one, refused; with the id it has, answered.
    assert_eq!(s.delete("/mode/s").await, 200);
    let (status, _) = s.put("/mode/s?force=true", json!({"mode": "IMPORT"})).await;
    assert_eq!(status, 200);
    assert_error(
        &s.post("/subjects/s/versions", body.clone()).await,
        422,
        42205,
    );
    assert_eq!(
        s.post(
            "/subjects/s/versions",
            json!({"schema": v1.to_string(), "id": 1})
        )
        .await,
        (StatusCode::OK, json!({"id": 1}))
    );
    s.put("/mode/s", json!({"mode": "READWRITE"})).await;

    // Soft-deleted, the content is not a live version: registering it again writes a new
    // version with the same id.
    assert_eq!(s.delete("/subjects/s/versions/1").await, 200);
    assert_eq!(
        s.post("/subjects/s/versions", body.clone()).await,
        (StatusCode::OK, json!({"id": 1}))
    );
    let (_, _, versions) = s.get_bytes("/subjects/s/versions?deleted=true").await;
    assert_eq!(
        serde_json::from_str::<Value>(&versions).unwrap(),
        json!([2])
    );
}

/// The fast answers are the same through the harness's full server (auth layers, metrics).
#[tokio::test]
async fn a_repeated_registration_is_counted_as_existing() {
    let s = TestServer::start().await;
    let v1 = record("A", &["x"]);
    assert_eq!(s.register("s", &v1).await, 1);
    assert_eq!(s.register("s", &v1).await, 1);
    let metrics = s.metrics().await;
    let existing = metrics
        .lines()
        .find(|l| l.contains("result=\"existing\"") && !l.starts_with('#'))
        .unwrap_or_else(|| panic!("no existing registrations counted:\n{metrics}"));
    assert!(existing.ends_with(" 1"), "{existing}");
}

/// Repeated submissions are answered from their earlier parse (the process-wide fingerprint
/// map) — and only when everything the parse depended on is the same: the text exactly, the
/// `normalize` flag, and what the references name now.
#[tokio::test]
async fn a_repeated_submission_is_not_parsed_again_but_answers_the_same() {
    let s = TestServer::start().await;
    // Normalized, a decimal's `scale: 0` goes: one schema. Not normalized, two.
    let decimal = |scale: Option<i64>| {
        let mut t = json!({"type": "bytes", "logicalType": "decimal", "precision": 4});
        if let Some(scale) = scale {
            t["scale"] = json!(scale);
        }
        json!({"type": "record", "name": "D", "fields": [{"name": "d", "type": t}]})
    };
    let (full, short) = (decimal(None), decimal(Some(0)));
    let schema = |v: &Value| json!({ "schema": v.to_string() });
    let (status, _) = s
        .post("/subjects/n/versions?normalize=true", schema(&full))
        .await;
    assert_eq!(status, 200);

    let (hits_before, _) = schemata::registry::fingerprint::shared().counts();
    for _ in 0..3 {
        assert_error(&s.post("/subjects/n", schema(&short)).await, 404, 40403);
        let (status, found) = s.post("/subjects/n?normalize=true", schema(&short)).await;
        assert_eq!((status, &found["version"]), (StatusCode::OK, &json!(1)));
        assert_eq!(
            s.post("/subjects/n/versions?normalize=true", schema(&short))
                .await,
            (StatusCode::OK, json!({"id": 1}))
        );
    }
    let (hits_after, _) = schemata::registry::fingerprint::shared().counts();
    assert!(
        hits_after >= hits_before + 6,
        "{hits_before} → {hits_after}"
    );

    // A reference to the latest version of a subject: once that subject has a newer version,
    // the same text names other content, and the lookup says so.
    let x1 = json!({"type": "enum", "name": "X", "symbols": ["A"]});
    let x2 = json!({"type": "enum", "name": "X", "symbols": ["A", "B"]});
    s.register("x", &x1).await;
    let main = json!({"type": "record", "name": "M", "fields": [{"name": "x", "type": "X"}]});
    let referencing = |version: i64| json!({"schema": main.to_string(), "references": [{"name": "X", "subject": "x", "version": version}]});
    let (status, registered) = s.post("/subjects/main/versions", referencing(-1)).await;
    assert_eq!(status, 200, "{registered}");
    for _ in 0..2 {
        let (status, found) = s.post("/subjects/main", referencing(-1)).await;
        assert_eq!((status, &found["id"]), (StatusCode::OK, &registered["id"]));
    }
    s.register("x", &x2).await;
    for _ in 0..2 {
        assert_error(&s.post("/subjects/main", referencing(-1)).await, 404, 40403);
        let (status, found) = s.post("/subjects/main", referencing(1)).await;
        assert_eq!((status, &found["id"]), (StatusCode::OK, &registered["id"]));
    }

    // Compatibility verdicts repeat, compatible or not, verbose or not.
    let v1 = record("C", &["a"]);
    s.register("c", &v1).await;
    let adds_required = record("C", &["a", "b"]);
    for _ in 0..3 {
        assert_eq!(
            s.post("/compatibility/subjects/c/versions/latest", schema(&v1))
                .await,
            (StatusCode::OK, json!({"is_compatible": true}))
        );
        assert_eq!(
            s.post(
                "/compatibility/subjects/c/versions/latest",
                schema(&adds_required)
            )
            .await,
            (StatusCode::OK, json!({"is_compatible": false}))
        );
        let (status, verbose) = s
            .post(
                "/compatibility/subjects/c/versions/latest?verbose=true",
                schema(&adds_required),
            )
            .await;
        assert_eq!(
            (status, &verbose["is_compatible"]),
            (StatusCode::OK, &json!(false))
        );
        assert!(verbose["messages"][0]
            .as_str()
            .unwrap()
            .contains("READER_FIELD_MISSING_DEFAULT_VALUE"));
    }
}

impl InProcess {
    async fn delete(&self, path: &str) -> StatusCode {
        let r = self.client.delete(format!("{}{path}", self.url)).send();
        r.await.unwrap().status()
    }

    async fn get_bytes(&self, path: &str) -> (StatusCode, String, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        (status, ct, r.text().await.unwrap())
    }
}

/// Reads of a version or of a schema by id are rendered once and then served as kept bytes:
/// the bodies are exactly what rendering each request gave (and still gives where a query
/// option asks for more), for schemas with references, escapes, soft-deleted versions.
#[tokio::test]
async fn kept_response_bodies_are_exactly_the_rendered_ones() {
    let s = InProcess::start().await;
    let escaped = json!({"type": "record", "name": "E", "doc": "h\u{e9}llo \"q\" \\ / \u{1f600} <&>",
        "fields": [{"name": "a", "type": "string", "default": "\n\t"}]});
    let x = json!({"type": "enum", "name": "X", "symbols": ["A"]});
    let main = json!({"type": "record", "name": "M", "fields": [{"name": "x", "type": "X"}]});
    for (subject, body) in [
        ("plain", json!({"schema": "\"string\""})),
        ("escaped", json!({"schema": escaped.to_string()})),
        ("x", json!({"schema": x.to_string()})),
        (
            "main",
            json!({"schema": main.to_string(), "references": [{"name": "X", "subject": "x", "version": 1}]}),
        ),
        ("gone", json!({"schema": record("G", &["a"]).to_string()})),
        (
            "gone",
            json!({"schema": record_with_defaults("G", &["a", "b"]).to_string()}),
        ),
    ] {
        let (status, answer) = s.post(&format!("/subjects/{subject}/versions"), body).await;
        assert_eq!(status, 200, "{answer}");
    }
    assert_eq!(s.delete("/subjects/gone/versions/1").await, 200);

    // One pinned byte for byte.
    for _ in 0..2 {
        assert_eq!(
            s.get_bytes("/subjects/plain/versions/latest").await,
            (
                StatusCode::OK,
                CT.to_string(),
                r#"{"subject":"plain","version":1,"id":1,"schema":"\"string\""}"#.to_string()
            )
        );
        assert_eq!(
            s.get_bytes("/schemas/ids/1").await,
            (
                StatusCode::OK,
                CT.to_string(),
                r#"{"schema":"\"string\""}"#.to_string()
            )
        );
    }

    // Every version, as the `/schemas` listing renders it per request.
    let (_, _, listing) = s.get_bytes("/schemas?deleted=true").await;
    let listing: Vec<Value> = serde_json::from_str(&listing).unwrap();
    assert_eq!(listing.len(), 6);
    for expected in &listing {
        let path = format!(
            "/subjects/{}/versions/{}",
            expected["subject"].as_str().unwrap(),
            expected["version"]
        );
        let expected_bytes = serde_json::to_string(expected).unwrap();
        let deleted = expected["subject"] == "gone" && expected["version"] == 1;
        for round in 0..2 {
            let (status, ct, body) = s.get_bytes(&format!("{path}?deleted=true")).await;
            assert_eq!(
                (status, &ct, &body),
                (StatusCode::OK, &CT.to_string(), &expected_bytes),
                "{path} #{round}"
            );
            let latest = s.get_bytes(&path).await;
            if deleted {
                assert_eq!(latest.0, 404, "{path}");
            } else {
                assert_eq!(latest.2, expected_bytes, "{path}");
            }
            let (_, _, raw) = s.get_bytes(&format!("{path}/schema?deleted=true")).await;
            assert_eq!(raw, expected["schema"].as_str().unwrap());
        }
        // A lookup answers the same body.
        if !deleted && expected["version"] == 1 {
            let mut body = json!({"schema": expected["schema"]});
            if let Some(refs) = expected.get("references") {
                body["references"] = refs.clone();
            }
            let subject = expected["subject"].as_str().unwrap();
            let r = s
                .client
                .post(format!("{}/subjects/{subject}", s.url))
                .header("content-type", CT)
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(
                r.text().await.unwrap(),
                expected_bytes,
                "lookup in {subject}"
            );
        }
        // By id: the body `fetchMaxId` renders per request, less `maxId`.
        let id = &expected["id"];
        let (_, _, with_max) = s
            .get_bytes(&format!("/schemas/ids/{id}?fetchMaxId=true"))
            .await;
        let mut with_max: Value = serde_json::from_str(&with_max).unwrap();
        assert_eq!(with_max["maxId"], 6);
        with_max.as_object_mut().unwrap().remove("maxId");
        for _ in 0..2 {
            let (status, ct, body) = s.get_bytes(&format!("/schemas/ids/{id}")).await;
            assert_eq!((status, ct), (StatusCode::OK, CT.to_string()));
            assert_eq!(body, serde_json::to_string(&with_max).unwrap(), "id {id}");
            let (_, _, raw) = s.get_bytes(&format!("/schemas/ids/{id}/schema")).await;
            assert_eq!(raw, expected["schema"].as_str().unwrap());
        }
    }
    // The referencing version carries its references, in Confluent's field order.
    let (_, _, main_body) = s.get_bytes("/subjects/main/versions/1").await;
    assert!(
        main_body.starts_with(r#"{"subject":"main","version":1,"id":4,"references":[{"name":"X","subject":"x","version":1}],"schema":"#),
        "{main_body}"
    );

    // A version rewritten (soft-deleted) is rendered anew; `latest` follows new versions.
    let (_, _, before) = s.get_bytes("/subjects/gone/versions/latest").await;
    assert!(before.contains(r#""version":2"#), "{before}");
    s.post(
        "/subjects/gone/versions",
        json!({"schema": record_with_defaults("G", &["a", "b", "c"]).to_string()}),
    )
    .await;
    let (_, _, after) = s.get_bytes("/subjects/gone/versions/latest").await;
    assert!(after.contains(r#""version":3"#), "{after}");
    assert_eq!(s.delete("/subjects/gone/versions/3").await, 200);
    assert_eq!(
        s.get_bytes("/subjects/gone/versions/latest").await.2,
        before
    );
    assert_eq!(
        s.get_bytes("/subjects/gone/versions/3?deleted=true")
            .await
            .2,
        after
    );
}
