//! The log is the source of truth: restart and replay lose nothing, concurrent writers agree on
//! ids, one process owns a SQLite file, and a log written by Confluent or Karapace replays.

mod common;

use std::collections::HashSet;

use common::{
    assert_acknowledged, assert_one_text_per_id, open_store, record, record_with_defaults,
    TestServer,
};
use schemata::registry::record::RawRecord;
use schemata::store::{Store, StoreError};
use serde_json::{json, Value};

/// Everything a client can read, for before/after comparisons.
async fn snapshot(s: &TestServer) -> Vec<Value> {
    let mut out = vec![];
    for path in [
        "/subjects",
        "/subjects?deleted=true",
        "/schemas?deleted=true",
        "/config",
        "/mode",
        "/config/users-value",
        "/mode/users-value",
        "/subjects/users-value/versions?deleted=true",
        "/schemas/ids/1?fetchMaxId=true",
        "/schemas/ids/3/versions?deleted=true",
    ] {
        out.push(json!({ "path": path, "body": s.get(path).await.1 }));
    }
    out
}

#[tokio::test]
async fn restart_replays_everything() {
    let s = TestServer::start().await;
    s.register("users-value", &record_with_defaults("User", &["name"]))
        .await;
    s.register(
        "users-value",
        &record_with_defaults("User", &["name", "email"]),
    )
    .await;
    s.register(
        "users-value",
        &record_with_defaults("User", &["name", "email", "age"]),
    )
    .await;
    s.register("other", &record("Other", &["x"])).await;
    s.delete("/subjects/users-value/versions/2").await;
    s.delete("/subjects/other").await;
    s.put("/config", json!({"compatibility": "FULL_TRANSITIVE"}))
        .await;
    s.put("/config/users-value", json!({"compatibility": "NONE"}))
        .await;
    s.put("/mode/users-value", json!({"mode": "READONLY"}))
        .await;
    let before = snapshot(&s).await;

    let dir = s.stop().await;
    let s = TestServer::start_in(dir).await;
    assert_eq!(snapshot(&s).await, before);
    // Ids continue after the highest one seen.
    s.delete("/mode/users-value").await;
    assert_eq!(s.register("fresh", &json!("bytes")).await, 5);

    // Permanently deleting the highest id and restarting must not hand that id out again.
    s.delete("/subjects/fresh").await;
    s.delete("/subjects/fresh?permanent=true").await;
    let dir = s.stop().await;
    let s = TestServer::start_in(dir).await;
    assert_eq!(s.register("fresh", &json!("double")).await, 6);
}

#[tokio::test]
async fn concurrent_registrations_agree_on_ids() {
    let s = std::sync::Arc::new(TestServer::start().await);
    // The same schema from 16 clients at once: one id, one version.
    let same: Vec<_> = (0..16)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.register("same", &record("Same", &["a"])).await })
        })
        .collect();
    let mut ids = HashSet::new();
    for t in same {
        ids.insert(t.await.unwrap());
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(s.get("/subjects/same/versions").await.1, json!([1]));
    // Different schemas at once: distinct ids.
    let different: Vec<_> = (0..16)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                s.register(&format!("diff-{i}"), &record(&format!("R{i}"), &["a"]))
                    .await
            })
        })
        .collect();
    let mut ids = HashSet::new();
    for t in different {
        assert!(ids.insert(t.await.unwrap()), "duplicate id");
    }
    assert_eq!(ids.len(), 16);
}

/// `(commits, syncs)` of the store, from `/metrics`.
async fn commit_counts(s: &TestServer) -> (u64, u64) {
    let text = s.metrics().await;
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    };
    (
        value("schemata_store_commits_total"),
        value("schemata_store_syncs_total"),
    )
}

/// Group commit on SQLite: 64 registrations at once are each acknowledged after a sync that
/// covers it, never more syncs than commits, and every acknowledged one is there after a
/// restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_registrations_share_syncs_and_survive_a_restart() {
    if common::on_kafka() {
        return; // Kafka acknowledges on its replicas; nothing to sync here.
    }
    let s = std::sync::Arc::new(TestServer::start().await);
    let (commits_before, syncs_before) = commit_counts(&s).await;
    let writers: Vec<_> = (0..64)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                let schema = record(&format!("Grouped{i}"), &["a"]);
                let id = s.register(&format!("grouped-{i}"), &schema).await;
                (schema, id)
            })
        })
        .collect();
    let mut acknowledged = vec![];
    for w in writers {
        acknowledged.push(w.await.unwrap());
    }
    let (commits, syncs) = commit_counts(&s).await;
    let (commits, syncs) = (commits - commits_before, syncs - syncs_before);
    assert!(commits >= 64, "{commits} commits for 64 registrations");
    assert!(
        (1..=commits).contains(&syncs),
        "{syncs} syncs for {commits} commits"
    );
    eprintln!("64 registrations: {commits} commits, {syncs} syncs");
    let s = std::sync::Arc::into_inner(s).unwrap();
    let s = TestServer::start_in(s.stop().await).await;
    for (schema, id) in &acknowledged {
        let (status, body) = s.get(&format!("/schemas/ids/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(body["schema"], schema.to_string());
    }
}

#[tokio::test]
async fn a_second_process_cannot_open_the_same_file() {
    if common::on_kafka() {
        eprintln!("skipped: SQLite file locking does not apply to the Kafka store");
        return;
    }
    let s = TestServer::start().await;
    let url = format!("sqlite://{}", TestServer::db_path(&s.dir).display());
    match Store::open(&url).await {
        Err(StoreError::Locked(_)) => {}
        Err(e) => panic!("expected Locked, got {e}"),
        Ok(_) => panic!("a second store opened the same SQLite file"),
    }
    // Once the owner stops, the file can be opened again.
    let dir = s.stop().await;
    let store = Store::open(&format!("sqlite://{}", TestServer::db_path(&dir).display()))
        .await
        .expect("reopen after stop");
    store.close().await;
}

fn raw(key: &str, value: Option<&str>) -> RawRecord {
    RawRecord {
        key: key.as_bytes().to_vec(),
        value: value.map(|v| v.as_bytes().to_vec()),
    }
}

#[tokio::test]
async fn replays_a_log_written_by_confluent_and_karapace() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir).await;
    let user_v1 = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}"#;
    // Karapace stores the text as sent, not canonical.
    let user_v2 = r#"{"type": "record", "name": "User", "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int", "default": 0}]}"#;
    let sv = |subject: &str, version: i32, id: i32, schema: &str, deleted: bool, extra: &str| {
        format!(
            r#"{{"subject":{},"version":{version},"id":{id}{extra},"schema":{},"deleted":{deleted}}}"#,
            json!(subject),
            json!(schema)
        )
    };
    store
        .append(&[
            // Karapace's global config key form.
            raw(r#"{"keytype":"CONFIG","subject":null,"magic":0}"#, Some(r#"{"compatibilityLevel":"FULL"}"#)),
            raw(
                r#"{"keytype":"SCHEMA","subject":"users","version":1,"magic":1}"#,
                Some(&sv("users", 1, 10, user_v1, false, r#","md5":"abc""#)),
            ),
            // Redpanda's extra key fields.
            raw(
                r#"{"keytype":"SCHEMA","subject":"users","version":2,"magic":1,"seq":2,"node":0}"#,
                Some(&sv("users", 2, 11, user_v2, false, "")),
            ),
            raw(r#"{"keytype":"SCHEMA","subject":"gone","version":1,"magic":1}"#, Some(&sv("gone", 1, 12, "\"int\"", false, ""))),
            raw(r#"{"keytype":"DELETE_SUBJECT","subject":"gone","magic":0}"#, Some(r#"{"subject":"gone","version":1}"#)),
            raw(r#"{"keytype":"SCHEMA","subject":"hard","version":1,"magic":1}"#, Some(&sv("hard", 1, 13, "\"long\"", true, ""))),
            raw(r#"{"keytype":"SCHEMA","subject":"hard","version":1,"magic":1}"#, None),
            raw(r#"{"keytype":"MODE","subject":"users","magic":0}"#, Some(r#"{"subject":"users","mode":"READONLY"}"#)),
            raw(r#"{"keytype":"NOOP","magic":0}"#, None),
            // Things a tolerant reader must skip: unknown key types, garbage, bad values.
            raw(r#"{"keytype":"CONTEXT","tenant":"t","context":".ctx","magic":0}"#, Some("{}")),
            raw(r#"{"keytype":"SOMETHING_NEW","magic":0}"#, Some("{}")),
            raw("garbage", Some("garbage")),
            raw(r#"{"keytype":"SCHEMA","subject":"bad","version":1,"magic":1}"#, Some("{not json")),
        ], 13, None)
        .await
        .unwrap();
    store.close().await;

    let s = TestServer::start_in(dir).await;
    assert_eq!(s.get("/subjects").await.1, json!(["users"]));
    assert_eq!(
        s.get("/subjects?deleted=true").await.1,
        json!(["gone", "users"])
    );
    assert_eq!(
        s.get("/config").await.1,
        json!({"compatibilityLevel": "FULL"})
    );
    assert_eq!(s.get("/mode/users").await.1, json!({"mode": "READONLY"}));
    assert_eq!(s.get("/subjects/users/versions/1").await.1["id"], 10);
    assert_eq!(s.get("/schemas/ids/11").await.1["schema"], user_v2);
    assert_error_404(&s, "/schemas/ids/13").await;
    // Lookup matches Karapace's non-canonical text by content.
    let (st, found) = s.post("/subjects/users", json!({"schema": user_v2})).await;
    assert_eq!((st.as_u16(), found["version"].as_i64()), (200, Some(2)));
    // New ids continue after the highest one in the log.
    s.delete("/mode/users").await;
    assert_eq!(s.register("next", &json!("bytes")).await, 14);
    // Our global-config write reuses the key form already in the log, so it compacts.
    s.put("/config", json!({"compatibility": "NONE"})).await;
    let dir = s.stop().await;
    let store = open_store(&dir).await;
    let all = store.read_after(0, 1000).await.unwrap();
    let mut configs: Vec<_> = all
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.record.key).contains("\"CONFIG\""))
        .map(|r| String::from_utf8_lossy(&r.record.key).to_string())
        .collect();
    // Kafka compacts later, if ever; what matters is that every write used the same key.
    configs.dedup();
    assert_eq!(
        configs,
        vec![r#"{"keytype":"CONFIG","subject":null,"magic":0}"#.to_string()]
    );
    store.close().await;
}

/// A log large enough that replay prepares its batches on every core (node.rs) replays whole
/// and in order: every version, every id, and lookups by a text stored non-canonically.
#[tokio::test]
async fn a_large_log_replays_whole_and_in_order() {
    use schemata::registry::record::{GlobalKeyForm, Record, SchemaValue};
    let n: usize = 1200;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir).await;
    let records: Vec<RawRecord> = (0..n)
        .map(|i| {
            let subject = format!("big-{}", i % 10);
            let version = (i / 10 + 1) as i32;
            // Spelled as sent, not canonical: replay must index it canonically.
            let text = format!(
                r#"{{ "type": "fixed", "size": {}, "name": "F{i}" }}"#,
                i + 1
            );
            Record::schema(SchemaValue::new(&subject, version, i as i32 + 1, text))
                .encode(GlobalKeyForm::Omitted)
        })
        .collect();
    store.append(&records, n as i32, None).await.unwrap();
    store.close().await;

    let s = TestServer::start_in(dir).await;
    let (status, versions) = s.get("/subjects/big-3/versions").await;
    assert_eq!(status, 200);
    assert_eq!(versions, json!((1..=n / 10).collect::<Vec<_>>()));
    let (_, last) = s.get(&format!("/schemas/ids/{n}")).await;
    assert_eq!(
        last["schema"],
        json!(format!(
            r#"{{ "type": "fixed", "size": {n}, "name": "F{}" }}"#,
            n - 1
        ))
    );
    // Found by its canonical spelling, under the subject and version the log gave it.
    let (status, found) = s
        .post(
            "/subjects/big-7",
            json!({"schema": r#"{"type":"fixed","name":"F777","size":778}"#}),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(
        (found["id"].clone(), found["version"].clone()),
        (json!(778), json!(78))
    );
    assert_eq!(s.register("big-new", &json!("string")).await, n as i64 + 1);
    s.stop().await;
}

async fn assert_error_404(s: &TestServer, path: &str) {
    let (st, body) = s.get(path).await;
    assert_eq!(st, 404, "{path}: {body}");
}

#[test]
fn the_binary_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_schemata"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env("SCHEMATA_LOG", "warn")
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let up = rt.block_on(async {
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = client
                .get(format!("http://127.0.0.1:{port}/subjects"))
                .send()
                .await
            {
                return r.status().is_success();
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        false
    });
    assert!(up, "binary did not serve");
    // The default store is ./schemata.db in the working directory.
    assert!(dir.path().join("schemata.db").exists());
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

/// Sends a whole registration request and closes the connection at once, as a client that
/// times out or crashes does: hyper then drops the request's handler wherever it is.
async fn register_and_hang_up(url: &str, subject: &str, schema: &Value) {
    use tokio::io::AsyncWriteExt;
    let addr = url.trim_start_matches("http://");
    let body = json!({ "schema": schema.to_string() }).to_string();
    let request = format!(
        "POST /subjects/{subject}/versions HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/vnd.schemaregistry.v1+json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(request.as_bytes()).await.unwrap();
    drop(conn);
}

/// A write that lost its client still completes before the next one is decided, so the next
/// registration never takes an id a record in the log already holds — on the live server and
/// after replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_hanging_up_mid_write_never_give_one_id_two_schemas() {
    let s = TestServer::start().await;
    s.put("/config", json!({"compatibility": "NONE"})).await;
    let mut acknowledged = vec![];
    for i in 0..200 {
        register_and_hang_up(
            &s.url,
            &format!("gone-{}", i % 5),
            &record(&format!("Gone{i}"), &["a"]),
        )
        .await;
        if i % 4 == 3 {
            let subject = format!("kept-{}", i % 3);
            let schema = record(&format!("Kept{i}"), &["a"]);
            let id = s.register(&subject, &schema).await;
            acknowledged.push((subject, schema, id));
        }
    }
    // Registrations whose client left are still in the writer's queue or done; one more
    // write queues behind them.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    s.register("last", &record("Last", &["a"])).await;

    let live = assert_one_text_per_id(&s).await;
    for (subject, schema, id) in &acknowledged {
        let (status, v) = s.get(&format!("/subjects/{subject}/versions/latest")).await;
        assert_eq!(status, 200);
        let found = s
            .post(
                &format!("/subjects/{subject}"),
                json!({ "schema": schema.to_string() }),
            )
            .await;
        assert_eq!(found.0, 200, "{subject}: {} / latest {v}", found.1);
        assert_eq!(found.1["id"].as_i64(), Some(*id), "{subject}");
    }

    let dir = s.stop().await;
    let s = TestServer::start_in(dir).await;
    assert_eq!(assert_one_text_per_id(&s).await, live, "replay disagrees");
}

/// A `schemata serve` process of the test's own, so it can be killed with SIGKILL.
struct Process {
    child: std::process::Child,
    server: TestServer,
}

impl Process {
    async fn start(dir: tempfile::TempDir) -> Process {
        let port = common::free_port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_schemata"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--store", &common::store_url(&dir)])
            // On Kafka a restart after SIGKILL waits out the dead process's writer lease.
            .env("SCHEMATA_KAFKA_LEASE_MS", "2000")
            .env("SCHEMATA_LOG", "warn")
            .spawn()
            .unwrap();
        let server = TestServer::attach(format!("http://127.0.0.1:{port}"), dir).await;
        Process { child, server }
    }

    fn kill(mut self) -> tempfile::TempDir {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
        self.server.detach()
    }
}

/// The registry killed with SIGKILL while writes are in flight: after a restart the log and the
/// answers agree, nothing acknowledged is missing, and no id names two schemas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_write_the_registry_restarts_with_nothing_acknowledged_lost() {
    let p = Process::start(tempfile::tempdir().unwrap()).await;
    p.server
        .put("/config", json!({"compatibility": "NONE"}))
        .await;
    let url = p.server.url.clone();
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (url, acknowledged) = (url.clone(), acknowledged.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for i in 0.. {
                    let schema = record(&format!("W{w}N{i}"), &["a"]);
                    let sent = client
                        .post(format!("{url}/subjects/w{w}/versions"))
                        .header("Content-Type", common::CT)
                        .body(json!({ "schema": schema.to_string() }).to_string())
                        .send()
                        .await;
                    let Ok(resp) = sent else { return }; // the server is gone
                    let Ok(body) = resp.json::<Value>().await else {
                        return;
                    };
                    if let Some(id) = body["id"].as_i64() {
                        acknowledged.lock().unwrap().push((schema, id));
                    }
                }
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while acknowledged.lock().unwrap().len() < 40 {
        assert!(
            std::time::Instant::now() < deadline,
            "writes did not go through"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let dir = p.kill();
    for w in writers {
        w.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    let p = Process::start(dir).await;
    let live = assert_one_text_per_id(&p.server).await;
    assert_acknowledged(&p.server, &acknowledged).await;
    // The next id follows everything in the log, written or half-written before the kill.
    let max = live.iter().filter_map(|v| v["id"].as_i64()).max().unwrap();
    let next = p
        .server
        .register("after-kill", &record("AfterKill", &["a"]))
        .await;
    assert!(next > max, "id {next} reused (highest before was {max})");
    let dir = p.kill();
    let p = Process::start(dir).await;
    assert_one_text_per_id(&p.server).await;
    p.kill();
}
