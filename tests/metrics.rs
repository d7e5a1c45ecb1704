//! Operations: `/metrics` (Prometheus), `X-Request-Id` and JSON logs, against a real server
//! over real HTTP — and, for the log format, the real binary.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::time::Duration;

mod common;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::{TestServer, CT};
use reqwest::header::HeaderValue;
use reqwest::StatusCode;
use schemata::auth::store::UserStore;
use schemata::auth::{AuthConfig, Role, User};
use serde_json::{json, Value};

/// One scrape: every sample, keyed by its series as printed (`name{label="v",…}`).
struct Scrape(HashMap<String, f64>);

impl Scrape {
    fn get(&self, series: &str) -> f64 {
        self.0.get(series).copied().unwrap_or(0.0)
    }

    fn has(&self, series: &str) -> bool {
        self.0.contains_key(series)
    }
}

async fn scrape(s: &TestServer) -> Scrape {
    let resp = s
        .client
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = resp.text().await.unwrap();
    let mut samples = HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        samples.insert(series.to_string(), value.parse().expect("sample value"));
    }
    Scrape(samples)
}

fn record(name: &str, fields: Value) -> Value {
    json!({"type": "record", "name": name, "fields": fields})
}

fn requests(method: &str, route: &str, status: u16) -> String {
    format!(
        r#"schemata_http_requests_total{{method="{method}",route="{route}",status="{status}"}}"#
    )
}

#[tokio::test]
async fn metrics_follow_the_registry() {
    let s = TestServer::start().await;
    let before = scrape(&s).await;
    assert_eq!(before.get("kafka_schema_registry_master_slave_role"), 1.0);
    assert_eq!(before.get("schemata_leader"), 1.0);
    assert_eq!(before.get("schemata_schemas"), 0.0);
    assert_eq!(before.get("schemata_subjects"), 0.0);
    assert!(before.has("schemata_replay_seconds"));
    assert!(before.has("schemata_records_skipped"));
    assert!(before.has(r#"schemata_registrations_total{result="new_id"}"#));

    let v1 = record("Order", json!([{"name": "id", "type": "long"}]));
    let v2 = record(
        "Order",
        json!([{"name": "id", "type": "long"}, {"name": "note", "type": "string", "default": ""}]),
    );
    let user = record("User", json!([{"name": "name", "type": "string"}]));
    s.register("orders-value", &v1).await; // new id
    s.register("orders-value", &v2).await; // new id
    s.register("users-value", &user).await; // new id
    s.register("orders-value", &v1).await; // existing
    s.register("copy-value", &user).await; // new version, id reused

    let compat = |schema: &Value| json!({ "schema": schema.to_string() });
    let path = "/compatibility/subjects/orders-value/versions/latest";
    let (status, body) = s.post(path, compat(&v2)).await;
    assert_eq!(
        (status, &body["is_compatible"]),
        (StatusCode::OK, &json!(true))
    );
    let changed = record("Order", json!([{"name": "id", "type": "string"}]));
    let (status, body) = s.post(path, compat(&changed)).await;
    assert_eq!(
        (status, &body["is_compatible"]),
        (StatusCode::OK, &json!(false))
    );
    let missing = "/compatibility/subjects/orders-value/versions/99";
    assert_eq!(s.post(missing, compat(&v1)).await.0, StatusCode::NOT_FOUND);

    assert_eq!(
        s.get("/subjects/orders-value/versions").await.0,
        StatusCode::OK
    );
    assert_eq!(s.get("/no/such/route").await.0, StatusCode::NOT_FOUND);
    assert_eq!(s.delete("/subjects/copy-value").await.0, StatusCode::OK);

    let after = scrape(&s).await;
    let delta = |series: &str| after.get(series) - before.get(series);
    for (result, n) in [("new_id", 3.0), ("new_version", 1.0), ("existing", 1.0)] {
        let series = format!(r#"schemata_registrations_total{{result="{result}"}}"#);
        assert_eq!(delta(&series), n, "{series}");
    }
    assert_eq!(delta("kafka_schema_registry_registered_count"), 4.0);
    assert_eq!(
        delta(r#"kafka_schema_registry_schemas_created{schema_type="avro"}"#),
        4.0
    );
    assert_eq!(delta("kafka_schema_registry_deleted_count"), 1.0);
    for result in ["compatible", "incompatible", "error"] {
        let series = format!(r#"schemata_compatibility_checks_total{{result="{result}"}}"#);
        assert_eq!(delta(&series), 1.0, "{series}");
    }

    // Route templates, never raw paths: no subject name appears in any series.
    assert_eq!(
        after.get(&requests("GET", "/subjects/{subject}/versions", 200)),
        1.0
    );
    assert_eq!(
        after.get(&requests("POST", "/subjects/{subject}/versions", 200)),
        5.0
    );
    let compat_route = "/compatibility/subjects/{subject}/versions/{version}";
    assert_eq!(after.get(&requests("POST", compat_route, 200)), 2.0);
    assert_eq!(after.get(&requests("POST", compat_route, 404)), 1.0);
    assert_eq!(after.get(&requests("GET", "unmatched", 404)), 1.0);
    assert_eq!(after.get(&requests("GET", "/metrics", 200)), 1.0);
    assert!(after
        .0
        .keys()
        .all(|k| !k.contains("-value") && !k.contains("/no/")));
    let latency = r#"schemata_http_request_duration_seconds_count{method="POST",route="/subjects/{subject}/versions"}"#;
    assert_eq!(after.get(latency), 5.0);

    // Confluent's API counters: below 400 a success, from 400 a failure. Between the scrapes:
    // the first scrape, 5 registrations, 2 verdicts, 1 listing and 1 delete; 2 answers of 404.
    assert_eq!(delta("kafka_schema_registry_api_success_count"), 10.0);
    assert_eq!(delta("kafka_schema_registry_api_failure_count"), 2.0);

    // Gauges equal what the API reports.
    let (_, subjects) = s.get("/subjects").await;
    assert_eq!(
        after.get("schemata_subjects"),
        subjects.as_array().unwrap().len() as f64
    );
    assert_eq!(after.get("schemata_subjects"), 2.0);
    let (_, all) = s.get("/schemas?deleted=true").await;
    let ids: std::collections::BTreeSet<i64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect();
    assert_eq!(after.get("schemata_schemas"), ids.len() as f64);
    assert_eq!(after.get("schemata_schemas"), 3.0);

    // The permanent delete that follows is the same version leaving: not counted again.
    assert_eq!(
        s.delete("/subjects/copy-value?permanent=true").await.0,
        StatusCode::OK
    );
    let last = scrape(&s).await;
    assert_eq!(
        last.get("kafka_schema_registry_deleted_count"),
        after.get("kafka_schema_registry_deleted_count")
    );
    assert!(after.get("schemata_log_offset") > before.get("schemata_log_offset"));
    s.stop().await;
}

#[tokio::test]
async fn replay_is_measured_on_restart() {
    let s = TestServer::start().await;
    s.register("a-value", &record("A", json!([]))).await;
    let dir = s.stop().await;
    let s = TestServer::start_in(dir).await;
    let m = scrape(&s).await;
    assert!(m.get("schemata_replay_seconds") > 0.0);
    assert_eq!(m.get("schemata_schemas"), 1.0);
    assert_eq!(m.get("schemata_records_skipped"), 0.0);
    s.stop().await;
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", B64.encode(format!("{user}:{password}")))
}

#[tokio::test]
async fn auth_failures_are_counted_by_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = TestServer::config_for(&dir);
    {
        let store = schemata::store::Store::open_with(&config.store, &config.kafka)
            .await
            .unwrap();
        let users: Arc<UserStore> = UserStore::open(&store).await.unwrap();
        let reader = User::new("reader", "reader-pw-Zq8!", Role::Read, vec![]).unwrap();
        assert!(users.insert(&reader).await.unwrap());
        drop(users);
        store.close().await;
    }
    let config = schemata::Config {
        auth: AuthConfig {
            enabled: true,
            max_failed_logins: 3,
            ..AuthConfig::default()
        },
        ..config
    };
    let s = TestServer::start_with_config(dir, config).await;
    // Open without credentials, as /health.
    let before = scrape(&s).await;
    let reason = |r: &str| format!(r#"schemata_auth_failures_total{{reason="{r}"}}"#);

    let send = |auth: Option<String>, post: bool| {
        let url = format!("{}/subjects/s-value/versions", s.url);
        let mut req = if post {
            s.client
                .post(url)
                .header("Content-Type", CT)
                .body(json!({"schema": "\"string\""}).to_string())
        } else {
            s.client.get(url)
        };
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        async move {
            let resp = req.send().await.unwrap();
            let id = resp.headers().get("x-request-id").cloned();
            (resp.status(), id)
        }
    };
    let (status, id) = send(None, false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        id.is_some(),
        "a 401 from the auth layer carries X-Request-Id"
    );
    let wrong = basic("reader", "not-the-password");
    assert_eq!(send(Some(wrong), false).await.0, StatusCode::UNAUTHORIZED);
    let right = basic("reader", "reader-pw-Zq8!");
    assert_eq!(
        send(Some(right.clone()), false).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(send(Some(right), true).await.0, StatusCode::FORBIDDEN);
    // Guesses at an unknown user until the limiter steps in.
    let mut refused = 0;
    let mut limited = false;
    for _ in 0..10 {
        match send(Some(basic("ghost", "guess")), false).await.0 {
            StatusCode::UNAUTHORIZED => refused += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                limited = true;
                break;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(limited, "the limiter never answered 429");

    let after = scrape(&s).await;
    let delta = |series: &str| after.get(series) - before.get(series);
    assert_eq!(delta(&reason("missing_credentials")), 1.0);
    assert_eq!(delta(&reason("bad_credentials")), 1.0 + refused as f64);
    assert_eq!(delta(&reason("forbidden")), 1.0);
    assert_eq!(delta(&reason("rate_limited")), 1.0);
    assert_eq!(
        after.get(&requests("GET", "/subjects/{subject}/versions", 401)),
        2.0 + refused as f64
    );
    s.stop().await;
}

#[tokio::test]
async fn request_ids_are_echoed_or_replaced() {
    let s = TestServer::start().await;
    let id_for = |sent: Option<HeaderValue>, path: &'static str| {
        let mut req = s.client.get(format!("{}{path}", s.url));
        if let Some(v) = sent {
            req = req.header("X-Request-Id", v);
        }
        async move {
            let resp = req.send().await.unwrap();
            let id = resp.headers().get("x-request-id").expect("X-Request-Id");
            id.to_str().unwrap().to_string()
        }
    };
    // Generated: a UUID, a new one each time.
    let a = id_for(None, "/subjects").await;
    let b = id_for(None, "/subjects").await;
    assert_eq!(a.len(), 36, "{a}");
    assert_ne!(a, b);
    // A sane id is echoed, on success and on error alike.
    let sane = HeaderValue::from_static("trace-42.abc_DEF:1");
    assert_eq!(
        id_for(Some(sane.clone()), "/subjects").await,
        "trace-42.abc_DEF:1"
    );
    assert_eq!(id_for(Some(sane), "/nowhere").await, "trace-42.abc_DEF:1");
    let longest = "x".repeat(128);
    let kept = HeaderValue::from_str(&longest).unwrap();
    assert_eq!(id_for(Some(kept), "/subjects").await, longest);
    // Malformed ones are replaced.
    for bad in [
        HeaderValue::from_str(&"x".repeat(129)).unwrap(),
        HeaderValue::from_static("has space"),
        HeaderValue::from_static(""),
        HeaderValue::from_bytes("caf\u{e9}".as_bytes()).unwrap(),
    ] {
        let got = id_for(Some(bad.clone()), "/subjects").await;
        assert_ne!(got.as_bytes(), bad.as_bytes());
        assert_eq!(got.len(), 36, "{got}");
    }
    s.stop().await;
}

/// The real binary with `SCHEMATA_LOG_FORMAT=json`: every stderr line is a JSON object; the
/// start-up line has its fields at the top level, and a request's line carries its span.
#[tokio::test]
async fn json_logs() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_schemata"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--store", &common::store_url(&dir)])
        .env("SCHEMATA_LOG_FORMAT", "json")
        .env("SCHEMATA_LOG", "info,schemata::api=debug")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next_line = |wanted: &dyn Fn(&Value) -> bool| -> Value {
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("a log line within 30 s");
            let value: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            if wanted(&value) {
                return value;
            }
        }
    };
    let listening = next_line(&|v| v["message"] == "schemata listening");
    assert_eq!(listening["level"], "INFO");
    assert!(listening["timestamp"].is_string());
    assert_eq!(listening["target"], "schemata");
    let addr = listening["addr"].as_str().expect("addr field").to_string();

    let resp = reqwest::Client::new()
        .get(format!("http://{addr}/subjects"))
        .header("X-Request-Id", "json-log-test-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let answered = next_line(&|v| v["message"] == "answered");
    let span = &answered["span"];
    assert_eq!(span["request_id"], "json-log-test-1");
    assert_eq!(span["method"], "GET");
    assert_eq!(span["route"], "/subjects");
    assert_eq!(span["status"], 200);
    assert!(span["latency_ms"].is_f64(), "{answered}");
    child.kill().unwrap();
    child.wait().unwrap();
}
