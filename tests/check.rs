//! `schemata check`, the real binary, against real registries started by the harness (and in
//! local mode, against files only).

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{record, record_with_defaults, TestServer};
use serde_json::{json, Value};

/// Output of one run of the binary.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `schemata ARGS` with extra environment variables, off the test's runtime (the server
/// runs on it).
async fn schemata(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_schemata"));
    cmd.args(args).env("SCHEMATA_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("run schemata");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn write(dir: &Path, name: &str, schema: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_string_pretty(schema).unwrap()).unwrap();
    path
}

fn pair(subject: &str, path: &Path) -> String {
    format!("{subject}={}", path.display())
}

/// A registry holding `orders-value` version 1: a record with one string field `id`.
async fn registry_with_orders() -> TestServer {
    let server = TestServer::start().await;
    server
        .register("orders-value", &record("Order", &["id"]))
        .await;
    server
}

#[tokio::test]
async fn compatible_and_new_subjects_pass() {
    let server = registry_with_orders().await;
    let files = tempfile::tempdir().unwrap();
    // --dir: schemas/<subject>.avsc; one grows with a default, one is a new subject.
    let dir = files.path().join("schemas");
    write(
        &dir,
        "orders-value.avsc",
        &record_with_defaults("Order", &["id", "note"]),
    );
    write(&dir, "payments-value.avsc", &record("Payment", &["id"]));
    let run = schemata(
        &[
            "check",
            "--url",
            &server.url,
            "--dir",
            dir.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("compatible    orders-value"), "{run:?}");
    assert!(
        run.stdout.contains("new           payments-value"),
        "{run:?}"
    );
    assert!(run
        .stdout
        .contains("2 subjects checked: 2 compatible, 0 incompatible"));

    // JSON says the same, and nothing was registered.
    let run = schemata(
        &[
            "check",
            "--url",
            &server.url,
            "--dir",
            dir.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["compatible"], true);
    assert_eq!(report["subjects"][0]["subject"], "orders-value");
    assert_eq!(report["subjects"][0]["new"], false);
    assert_eq!(report["subjects"][1]["new"], true);
    assert_eq!(server.get("/subjects").await.1, json!(["orders-value"]));
}

#[tokio::test]
async fn incompatible_schemas_fail_with_the_reason_and_its_path() {
    let server = registry_with_orders().await;
    let files = tempfile::tempdir().unwrap();
    // A new field without a default: BACKWARD (the default level) refuses it.
    let bad = write(
        files.path(),
        "orders.avsc",
        &record("Order", &["id", "amount"]),
    );
    let good = write(files.path(), "other.avsc", &record("Other", &["x"]));
    let args = [
        "check",
        "--url",
        &server.url,
        "--schema",
        &pair("orders-value", &bad),
        "--schema",
        &pair("other-value", &good),
    ];
    let run = schemata(&args, &[]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("INCOMPATIBLE  orders-value"), "{run:?}");
    assert!(
        run.stdout.contains("READER_FIELD_MISSING_DEFAULT_VALUE"),
        "{run:?}"
    );
    assert!(run.stdout.contains("'/fields/1'"), "{run:?}");
    assert!(
        run.stdout.contains("1 compatible, 1 incompatible"),
        "{run:?}"
    );

    // The subject's own level decides: under NONE the same file passes.
    let (status, _) = server
        .put("/config/orders-value", json!({"compatibility": "NONE"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(schemata(&args, &[]).await.code, 0);
}

#[tokio::test]
async fn register_after_a_passing_check_prints_the_ids() {
    let server = registry_with_orders().await;
    let files = tempfile::tempdir().unwrap();
    let next = write(
        files.path(),
        "o.avsc",
        &record_with_defaults("Order", &["id", "note"]),
    );
    let bad = write(files.path(), "b.avsc", &record("Order", &["id", "amount"]));

    // A compatible version and two new subjects (whatever their schema): all registered.
    let run = schemata(
        &[
            "check",
            "--url",
            &server.url,
            "--register",
            "--schema",
            &pair("orders-value", &next),
            "--schema",
            &pair("refunds-value", &bad),
            "--schema",
            &pair("orders-key", &bad),
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let (_, versions) = server.get("/subjects/orders-value/versions").await;
    assert_eq!(versions, json!([1, 2]));
    let (_, latest) = server.get("/subjects/orders-value/versions/latest").await;
    let id = latest["id"].as_i64().unwrap();
    assert!(
        run.stdout
            .contains(&format!("registered    orders-value as id {id}")),
        "{run:?}"
    );

    // One incompatible subject in a run: nothing is registered, not even the new subject.
    let worse = write(files.path(), "w.avsc", &record("Order", &["id", "x"]));
    let run = schemata(
        &[
            "check",
            "--url",
            &server.url,
            "--register",
            "--schema",
            &pair("payments-value", &next),
            "--schema",
            &pair("orders-value", &worse),
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        server.get("/subjects/orders-value/versions").await.1,
        json!([1, 2])
    );
    let (status, _) = server.get("/subjects/payments-value/versions").await;
    assert_eq!(status, 404, "nothing registered after a failed check");
}

#[tokio::test]
async fn errors_exit_with_2() {
    let files = tempfile::tempdir().unwrap();
    let file = write(files.path(), "s.avsc", &record("R", &["a"]));
    let unreachable = format!("http://127.0.0.1:{}", common::free_port());
    let run = schemata(
        &[
            "check",
            "--url",
            &unreachable,
            "--schema",
            &pair("s", &file),
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("cannot reach"), "{run:?}");

    // The GitHub format reports it as an annotation too.
    let run = schemata(
        &[
            "check",
            "--url",
            &unreachable,
            "--schema",
            &pair("s", &file),
            "--format",
            "github",
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stdout.starts_with("::error title=schemata check::"),
        "{run:?}"
    );

    // A file that is not there, or not JSON, is an error before any request.
    let server = TestServer::start().await;
    let missing = files.path().join("missing.avsc");
    let not_json = files.path().join("bad.avsc");
    std::fs::write(&not_json, "{ not json").unwrap();
    for path in [&missing, &not_json] {
        let run = schemata(
            &["check", "--url", &server.url, "--schema", &pair("s", path)],
            &[],
        )
        .await;
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains(&path.display().to_string()), "{run:?}");
    }
    // Credentials in the URL are refused, and not echoed.
    let with_password = server.url.replacen("http://", "http://u:hunter2@", 1);
    let run = schemata(
        &[
            "check",
            "--url",
            &with_password,
            "--schema",
            &pair("s", &file),
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("holds credentials"), "{run:?}");
    assert!(!format!("{run:?}").contains("hunter2"), "{run:?}");

    // Nothing to check, or a malformed pair: also 2 (clap's usage errors are 2 as well).
    assert_eq!(
        schemata(&["check", "--url", &server.url], &[]).await.code,
        2
    );
    assert_eq!(
        schemata(&["check", "--url", &server.url, "--schema", "nofile"], &[])
            .await
            .code,
        2
    );
}

#[tokio::test]
async fn github_format_annotates_each_subject() {
    let server = registry_with_orders().await;
    let files = tempfile::tempdir().unwrap();
    let bad = write(
        files.path(),
        "orders.avsc",
        &record("Order", &["id", "amount"]),
    );
    let new = write(files.path(), "new.avsc", &record("New", &["a"]));
    let run = schemata(
        &[
            "check",
            "--url",
            &server.url,
            "--format",
            "github",
            "--schema",
            &pair("orders-value", &bad),
            "--schema",
            &pair("new-value", &new),
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "one line per subject: {run:?}");
    let error = format!(
        "::error file={},title=orders-value is incompatible::",
        bad.display()
    );
    assert!(lines[0].starts_with(&error), "{run:?}");
    // The message's lines are joined with %0A, so the annotation stays one command.
    assert!(
        lines[0].contains("'/fields/1'") && lines[0].contains("%0A"),
        "{run:?}"
    );
    let notice = format!(
        "::notice file={},title=new-value is compatible::new-value: new subject",
        new.display()
    );
    assert_eq!(lines[1], notice);
}

#[tokio::test]
async fn local_mode_runs_the_registry_checker_on_files() {
    let files = tempfile::tempdir().unwrap();
    let dir = files.path();
    let v1 = write(dir, "old/orders-value/v1.avsc", &record("Order", &["id"]));
    let v2 = write(
        dir,
        "old/orders-value/v2.avsc",
        &record_with_defaults("Order", &["id", "note"]),
    );
    let good = write(
        dir,
        "good.avsc",
        &record_with_defaults("Order", &["id", "note", "more"]),
    );
    // Drops `note` (fine for BACKWARD), adds `amount` without a default (not fine).
    let bad = write(dir, "bad.avsc", &record("Order", &["id", "amount"]));
    let previous = format!("orders-value={},{}", v1.display(), v2.display());

    let run = schemata(
        &[
            "check",
            "--previous",
            &previous,
            "--schema",
            &pair("orders-value", &good),
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("compatible    orders-value"), "{run:?}");

    let run = schemata(
        &[
            "check",
            "--previous",
            &previous,
            "--schema",
            &pair("orders-value", &bad),
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains("READER_FIELD_MISSING_DEFAULT_VALUE"),
        "{run:?}"
    );
    assert!(run.stdout.contains("'/fields/1'"), "{run:?}");

    // The same from a directory of earlier versions, and with a level: FORWARD lets the old
    // schema read the new data, which it can (it ignores `amount`, `note` has a default).
    let old_dir = dir.join("old");
    let base = [
        "check",
        "--previous-dir",
        old_dir.to_str().unwrap(),
        "--schema",
        &pair("orders-value", &bad),
    ];
    assert_eq!(schemata(&base, &[]).await.code, 1);
    let forward = [&base[..], &["--level", "forward"]].concat();
    let run = schemata(&forward, &[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    // FULL_TRANSITIVE compares with v1 too; the GitHub format reports it.
    let full = [
        &base[..],
        &["--level", "FULL_TRANSITIVE", "--format", "github"],
    ]
    .concat();
    let run = schemata(&full, &[]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.starts_with("::error file="), "{run:?}");
    assert!(run.stdout.contains("FULL_TRANSITIVE"), "{run:?}");

    // A subject without earlier versions is new; an earlier version that is not Avro is an
    // error, as is an unknown level.
    let run = schemata(
        &[
            "check",
            "--previous",
            &previous,
            "--schema",
            &pair("fresh", &bad),
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("new           fresh"), "{run:?}");
    let not_avro = write(dir, "not-avro.avsc", &json!({"type": "nothing"}));
    let run = schemata(
        &[
            "check",
            "--previous",
            &format!("orders-value={}", not_avro.display()),
            "--schema",
            &pair("orders-value", &good),
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    let level = [&base[..], &["--level", "SIDEWAYS"]].concat();
    assert_eq!(schemata(&level, &[]).await.code, 2);
    // And no registry, no earlier versions: nothing to check against.
    let run = schemata(&["check", "--schema", &pair("orders-value", &good)], &[]).await;
    assert_eq!(run.code, 2, "{run:?}");
}

/// Adds a user with the write role to `dir`'s store, before a server opens it.
async fn add_writer(dir: &tempfile::TempDir, name: &str, password: &str) {
    use schemata::auth::store::UserStore;
    use schemata::auth::{Role, User};
    let config = TestServer::config_for(dir);
    let store = schemata::store::Store::open_with(&config.store, &config.kafka)
        .await
        .unwrap();
    let users: Arc<UserStore> = UserStore::open(&store).await.unwrap();
    let user = User::new(name, password, Role::Write, vec![]).unwrap();
    assert!(users.insert(&user).await.unwrap());
    drop(users);
    store.close().await;
}

#[tokio::test]
async fn basic_auth_from_an_environment_variable_or_stdin() {
    let dir = tempfile::tempdir().unwrap();
    add_writer(&dir, "ci", "ci-secret-Zq8!").await;
    let config = schemata::Config {
        auth: schemata::auth::AuthConfig {
            enabled: true,
            ..Default::default()
        },
        ..TestServer::config_for(&dir)
    };
    let server = TestServer::start_with_config(dir, config).await;
    let files = tempfile::tempdir().unwrap();
    let file = write(files.path(), "s.avsc", &record("R", &["a"]));
    let schema = pair("s-value", &file);

    // Without credentials: refused, an error.
    let run = schemata(&["check", "--url", &server.url, "--schema", &schema], &[]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("not authorized"), "{run:?}");

    // --user with the password in a named environment variable; then register with it.
    let with_user = [
        "check",
        "--url",
        &server.url,
        "--schema",
        &schema,
        "--user",
        "ci",
        "--password-env",
        "CI_REGISTRY_PASSWORD",
        "--register",
    ];
    let run = schemata(&with_user, &[("CI_REGISTRY_PASSWORD", "ci-secret-Zq8!")]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("registered    s-value as id 1"),
        "{run:?}"
    );
    let run = schemata(&with_user, &[("CI_REGISTRY_PASSWORD", "wrong")]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("not authorized"), "{run:?}");

    // USER:PASSWORD in Confluent's conventional variable.
    let run = schemata(
        &[
            "check",
            "--url",
            &server.url,
            "--schema",
            &schema,
            "--basic-auth-env",
        ],
        &[("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "ci:ci-secret-Zq8!")],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");

    // The password on standard input.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_schemata"));
    cmd.args([
        "check",
        "--url",
        &server.url,
        "--schema",
        &schema,
        "--user",
        "ci",
        "--password-stdin",
    ])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped());
    let status = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"ci-secret-Zq8!\n")
            .unwrap();
        child.wait_with_output().unwrap().status
    })
    .await
    .unwrap();
    assert_eq!(status.code(), Some(0));
}

/// A CA and a certificate it signs: for `localhost` (server) or for a client named `cn`.
fn issue(
    ca: &rcgen::Certificate,
    ca_key: &rcgen::KeyPair,
    cn: &str,
    server: bool,
) -> (String, String) {
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
    let cert = params.signed_by(&key, ca, ca_key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn client_certificates_and_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    add_writer(&dir, "ci", "unused-password-Zq8!").await;
    let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = params.self_signed(&ca_key).unwrap();
    let path = |name: &str| dir.path().join(name);
    let (cert, key) = issue(&ca, &ca_key, "localhost", true);
    std::fs::write(path("server.pem"), cert).unwrap();
    std::fs::write(path("server.key"), key).unwrap();
    let (cert, key) = issue(&ca, &ca_key, "ci", false);
    std::fs::write(path("client.pem"), cert).unwrap();
    std::fs::write(path("client.key"), key).unwrap();
    std::fs::write(path("ca.pem"), ca.pem()).unwrap();

    // HTTPS, a client certificate required, and the certificate's name is the user.
    let config = schemata::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Some(schemata::tls::TlsFiles {
            cert: path("server.pem"),
            key: path("server.key"),
            client_ca: Some(path("ca.pem")),
            client_cert_required: true,
        }),
        auth: schemata::auth::AuthConfig {
            enabled: true,
            ..Default::default()
        },
        ..TestServer::config_for(&dir)
    };
    let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
    // Connections wait in the listener's backlog until the server is up.
    let url = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        schemata::serve(&config, listener, async {
            let _ = stopped.await;
        })
        .await
    });

    let file = write(dir.path(), "s.avsc", &record("R", &["a"]));
    let schema = pair("s-value", &file);
    let (cert, key, ca) = (path("client.pem"), path("client.key"), path("ca.pem"));
    let (cert, key, ca) = (
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
        ca.to_str().unwrap(),
    );
    let base = ["check", "--url", &url, "--schema", &schema];
    let run = schemata(
        &[
            &base[..],
            &["--cert", cert, "--key", key, "--ca", ca, "--register"],
        ]
        .concat(),
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("registered    s-value as id 1"),
        "{run:?}"
    );
    // Without the CA the server's certificate is not trusted; without a certificate the
    // server refuses the handshake.
    let run = schemata(&[&base[..], &["--cert", cert, "--key", key]].concat(), &[]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("cannot reach"), "{run:?}");
    let run = schemata(&[&base[..], &["--ca", ca]].concat(), &[]).await;
    assert_eq!(run.code, 2, "{run:?}");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
