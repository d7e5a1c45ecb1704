//! `schemata migrate`, the real binary, between two real registries started by the harness:
//! after the copy, every read endpoint answers the same on both.

mod common;

use common::{record, record_with_defaults, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

struct Run {
    code: i32,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stderr\n{}", self.code, self.stderr)
    }
}

async fn migrate(from: &TestServer, to: &TestServer) -> Run {
    migrate_with(from, to, &[], &[]).await
}

/// `schemata migrate` with extra flags and environment variables.
async fn migrate_with(
    from: &TestServer,
    to: &TestServer,
    flags: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_schemata"));
    cmd.args(["migrate", "--from", &from.url, "--to", &to.url])
        .args(flags)
        .env("SCHEMATA_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("run schemata");
    Run {
        code: out.status.code().expect("exit code"),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

async fn ok(status_and_body: (StatusCode, Value)) -> Value {
    assert_eq!(status_and_body.0, 200, "{}", status_and_body.1);
    status_and_body.1
}

/// A source registry with: a subject referenced by another (named so that it sorts after its
/// referrer), an id gap, a soft-deleted version, a wholly soft-deleted subject, a schema
/// shared by two subjects, a subject config, a subject mode, and a global config.
async fn filled_source() -> TestServer {
    let s = TestServer::start().await;
    // An id used and then permanently deleted: the source's ids have a gap a fresh target
    // would not have.
    s.register("scratch", &record("Scratch", &["a"])).await;
    ok(s.delete("/subjects/scratch").await).await;
    ok(s.delete("/subjects/scratch?permanent=true").await).await;

    let common_v1 = json!({"type": "record", "name": "Common", "namespace": "com.example",
        "fields": [{"name": "at", "type": "long"}]});
    let common_v2 = json!({"type": "record", "name": "Common", "namespace": "com.example",
        "fields": [{"name": "at", "type": "long"}, {"name": "tz", "type": "string", "default": "UTC"}]});
    s.register("zz-common", &common_v1).await;
    s.register("zz-common", &common_v2).await;
    let order = json!({"type": "record", "name": "Order", "namespace": "com.example",
        "fields": [{"name": "id", "type": "string"}, {"name": "when", "type": "com.example.Common"}]});
    for version in [1, 2] {
        let body = json!({
            "schema": order.to_string(),
            "references": [{"name": "com.example.Common", "subject": "zz-common", "version": version}],
        });
        ok(s.post("/subjects/orders-value/versions", body).await).await;
    }

    s.register("legacy", &record("Legacy", &["a"])).await;
    s.register("legacy", &record_with_defaults("Legacy", &["a", "b"]))
        .await;
    s.register("legacy", &record_with_defaults("Legacy", &["a", "b", "c"]))
        .await;
    ok(s.delete("/subjects/legacy/versions/2").await).await;

    s.register("gone", &record("Gone", &["a"])).await;
    ok(s.delete("/subjects/gone").await).await;

    // The same schema under a second subject keeps its one id.
    s.register("legacy-copy", &record("Legacy", &["a"])).await;

    ok(
        s.put("/config/orders-value", json!({"compatibility": "FULL"}))
            .await,
    )
    .await;
    ok(s.put(
        "/config/legacy",
        json!({"compatibility": "NONE", "normalize": true}),
    )
    .await)
    .await;
    ok(s.put("/config", json!({"compatibility": "FORWARD"})).await).await;
    ok(s.put("/mode/legacy", json!({"mode": "READONLY"})).await).await;
    s
}

/// Every read endpoint's answer for everything `reference` holds, asked of `s`.
async fn answers(s: &TestServer, reference: &TestServer) -> Vec<(String, u16, Value)> {
    let mut paths: Vec<String> = [
        "/subjects",
        "/subjects?deleted=true",
        "/subjects?deletedOnly=true",
        "/schemas",
        "/schemas?deleted=true",
        "/config",
        "/mode",
    ]
    .map(String::from)
    .to_vec();
    let (_, subjects) = reference.get("/subjects?deleted=true").await;
    for subject in subjects.as_array().unwrap() {
        let subject = subject.as_str().unwrap();
        for suffix in [
            "/versions",
            "/versions?deleted=true",
            "/versions?deletedOnly=true",
        ] {
            paths.push(format!("/subjects/{subject}{suffix}"));
        }
        paths.push(format!("/config/{subject}"));
        paths.push(format!("/mode/{subject}"));
        let (_, versions) = reference
            .get(&format!("/subjects/{subject}/versions?deleted=true"))
            .await;
        for v in versions.as_array().unwrap() {
            for suffix in ["", "?deleted=true", "/schema?deleted=true", "/referencedby"] {
                paths.push(format!("/subjects/{subject}/versions/{v}{suffix}"));
            }
        }
    }
    let (_, schemas) = reference.get("/schemas?deleted=true").await;
    let mut ids: Vec<i64> = schemas
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        for suffix in [
            "",
            "/schema",
            "/subjects",
            "/subjects?deleted=true",
            "/versions?deleted=true",
        ] {
            paths.push(format!("/schemas/ids/{id}{suffix}"));
        }
    }
    let mut out = Vec::new();
    for path in paths {
        let (status, body) = s.get(&path).await;
        out.push((path, status.as_u16(), body));
    }
    out
}

async fn assert_same(source: &TestServer, target: &TestServer) {
    let expected = answers(source, source).await;
    let got = answers(target, source).await;
    assert!(expected.len() > 60, "{expected:?}");
    for (e, g) in expected.iter().zip(&got) {
        assert_eq!(e, g, "source and target answer differently");
    }
}

#[tokio::test]
async fn copies_everything_with_ids_and_is_idempotent() {
    let source = filled_source().await;
    let target = TestServer::start().await;
    let run = migrate(&source, &target).await;
    assert_eq!(run.code, 0, "{run:?}");
    // scratch is gone for good; 2 + 2 + 3 + 1 + 1 versions in 5 subjects.
    assert!(
        run.stderr
            .contains("copied 9 versions of 5 subjects, skipped 0 already present"),
        "{run:?}"
    );
    assert_same(&source, &target).await;
    // Ids were kept, gap included: the first schema left in the source is id 2.
    let (_, first) = target.get("/subjects/zz-common/versions/1").await;
    assert_eq!(first["id"], 2);

    // Again: nothing to copy, nothing changed.
    let run = migrate(&source, &target).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("copied 0 versions of 0 subjects, skipped 9 already present"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("updated"), "{run:?}");
    assert_same(&source, &target).await;

    // The source moves on: a resumed copy brings just the new version (into a target that now
    // has subjects, so IMPORT needs `force`), and the target's own writes are back to normal.
    let order_v3 = json!({"type": "record", "name": "Order", "namespace": "com.example",
        "fields": [{"name": "id", "type": "string"},
                   {"name": "when", "type": "com.example.Common"},
                   {"name": "note", "type": "string", "default": ""}]});
    let body = json!({
        "schema": order_v3.to_string(),
        "references": [{"name": "com.example.Common", "subject": "zz-common", "version": 2}],
    });
    ok(source.post("/subjects/orders-value/versions", body).await).await;
    let run = migrate(&source, &target).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("copied 1 versions of 1 subjects, skipped 9 already present"),
        "{run:?}"
    );
    assert_same(&source, &target).await;
    assert_eq!(
        ok(target.get("/mode").await).await,
        json!({"mode": "READWRITE"})
    );
}

#[tokio::test]
async fn a_conflicting_target_stops_the_copy_before_any_write() {
    let source = TestServer::start().await;
    source.register("a", &record("A", &["x"])).await;
    source.register("b", &record("B", &["x"])).await;
    let target = TestServer::start().await;
    // Same subject and version, another schema (the source's `a`, so its id 1 is no conflict).
    target.register("b", &record("A", &["x"])).await;
    let run = migrate(&source, &target).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("conflict"), "{run:?}");
    assert!(run.stderr.contains("b version 1"), "{run:?}");
    // Nothing was written: `a` is not there, and the mode is untouched.
    assert_eq!(target.get("/subjects").await.1, json!(["b"]));
    assert_eq!(
        ok(target.get("/mode").await).await,
        json!({"mode": "READWRITE"})
    );

    // An id taken by another schema in the target is a conflict too.
    let target = TestServer::start().await;
    target.register("c", &record("C", &["z"])).await;
    let run = migrate(&source, &target).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("id 1 is another schema"), "{run:?}");

    // An unreachable registry is an error, not a copy of nothing.
    let nowhere = format!("http://127.0.0.1:{}", common::free_port());
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_schemata"));
    cmd.args(["migrate", "--from", &nowhere, "--to", &target.url]);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"));
}

#[tokio::test]
async fn basic_credentials_for_source_and_target() {
    use schemata::auth::store::UserStore;
    use schemata::auth::{Role, User};
    // Both registries require auth; each has its own admin.
    let mut servers = Vec::new();
    for (name, password) in [
        ("src-admin", "source-pw-Zq8!"),
        ("dst-admin", "target-pw-Zq8!"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = TestServer::config_for(&dir);
        let store = schemata::store::Store::open_with(&config.store, &config.kafka)
            .await
            .unwrap();
        let users = UserStore::open(&store).await.unwrap();
        let user = User::new(name, password, Role::Admin, vec![]).unwrap();
        assert!(users.insert(&user).await.unwrap());
        drop(users);
        store.close().await;
        let config = schemata::Config {
            auth: schemata::auth::AuthConfig {
                enabled: true,
                ..Default::default()
            },
            ..config
        };
        servers.push(TestServer::start_with_config(dir, config).await);
    }
    let (source, target) = (&servers[0], &servers[1]);
    let schema = record("A", &["x"]).to_string();
    let registered = source
        .client
        .post(format!("{}/subjects/a/versions", source.url))
        .basic_auth("src-admin", Some("source-pw-Zq8!"))
        .header("Content-Type", common::CT)
        .body(json!({ "schema": schema }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 200);

    // Without the target's credentials: refused, nothing copied.
    let source_only = ["--from-user", "src-admin", "--from-password-env", "SRC_PW"];
    let run = migrate_with(
        source,
        target,
        &source_only,
        &[("SRC_PW", "source-pw-Zq8!")],
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("not authorized"), "{run:?}");

    let flags = [&source_only[..], &["--to-basic-auth-env", "DST_INFO"]].concat();
    let env = [
        ("SRC_PW", "source-pw-Zq8!"),
        ("DST_INFO", "dst-admin:target-pw-Zq8!"),
    ];
    let run = migrate_with(source, target, &flags, &env).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("copied 1 versions of 1 subjects, skipped 0 already present"),
        "{run:?}"
    );
    let copied: Value = target
        .client
        .get(format!("{}/subjects/a/versions/1", target.url))
        .basic_auth("dst-admin", Some("target-pw-Zq8!"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(copied["id"], 1);
    assert_eq!(copied["schema"], schema);
}
