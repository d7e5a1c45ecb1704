//! Authentication and authorization over real HTTP: a server with `[auth] enabled` on the
//! harness's store — a SQLite file, or on the suite's Kafka run a `_schemas` topic and a users
//! topic of the test's own — with users made up front, as `schemata user add` makes them.

use std::sync::Arc;
use std::time::Duration;

mod common;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::{on_kafka, TestServer, CT};
use hmac::{Hmac, Mac};
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use schemata::auth::store::UserStore;
use schemata::auth::{AuthConfig, Role, User};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// The shared harness's server, started with auth on (or off, see [`server_with_subject_x`]).
struct AuthServer(TestServer);

impl std::ops::Deref for AuthServer {
    type Target = TestServer;
    fn deref(&self) -> &TestServer {
        &self.0
    }
}

fn password(user: &str) -> String {
    format!("pw-{user}-Zq8!")
}

/// Opens `dir`'s store and its users, as a server configured by the harness would.
async fn open_users(dir: &TempDir) -> (schemata::store::Store, Arc<UserStore>) {
    let config = TestServer::config_for(dir);
    let store = schemata::store::Store::open_with(&config.store, &config.kafka)
        .await
        .unwrap();
    let users = UserStore::open(&store).await.unwrap();
    (store, users)
}

/// Adds users (password: [`password`]) to `dir`'s store while no server holds it.
async fn add_users(dir: &TempDir, users: &[(&str, Role, &[&str])]) {
    let (store, table) = open_users(dir).await;
    for (name, role, grants) in users {
        let grants = grants.iter().map(|g| g.to_string()).collect();
        let user = User::new(name, &password(name), *role, grants).unwrap();
        assert!(table.insert(&user).await.unwrap());
    }
    drop(table);
    store.close().await;
}

impl AuthServer {
    async fn start(users: &[(&str, Role, &[&str])]) -> AuthServer {
        Self::start_with(users, AuthConfig::default()).await
    }

    async fn start_with(users: &[(&str, Role, &[&str])], auth: AuthConfig) -> AuthServer {
        let dir = tempfile::tempdir().unwrap();
        add_users(&dir, users).await;
        Self::start_in(dir, auth).await
    }

    async fn start_in(dir: TempDir, auth: AuthConfig) -> AuthServer {
        let config = schemata::Config {
            auth: AuthConfig {
                enabled: true,
                ..auth
            },
            ..TestServer::config_for(&dir)
        };
        AuthServer(TestServer::start_with_config(dir, config).await)
    }

    async fn stop(self) -> TempDir {
        self.0.stop().await
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.url))
    }

    /// A request as `user` with Basic credentials, and `body` as JSON if given.
    async fn call_as(
        &self,
        user: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .request(method, path)
            .basic_auth(user, Some(password(user)));
        if let Some(b) = body {
            req = req.header("Content-Type", CT).body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn register_as(&self, user: &str, subject: &str, field: &str) -> (StatusCode, Value) {
        let schema = json!({"type": "record", "name": "R", "fields": [
            {"name": field, "type": "string", "default": ""}]});
        self.call_as(
            user,
            Method::POST,
            &format!("/subjects/{subject}/versions"),
            Some(json!({"schema": schema.to_string()})),
        )
        .await
    }
}

#[tokio::test]
async fn health_is_open_everything_else_needs_valid_credentials() {
    let server = AuthServer::start(&[("alice", Role::Read, &[])]).await;
    let health = server.request(Method::GET, "/health").send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    for path in [
        "/subjects",
        "/schemas/ids/1",
        "/config",
        "/nowhere",
        "/admin/users",
    ] {
        let resp = server.request(Method::GET, path).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
        let challenges: Vec<_> = resp
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        assert_eq!(
            challenges,
            [
                r#"Basic realm="schemata""#,
                r#"SCRAM-SHA-256 realm="schemata""#
            ]
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body, json!({"error_code": 401, "message": "Unauthorized"}));
    }

    let ok = server
        .call_as("alice", Method::GET, "/subjects", None)
        .await;
    assert_eq!(ok, (StatusCode::OK, json!([])));
    for (user, pass) in [("alice", "wrong-password"), ("bob", "pw-bob-Zq8!")] {
        let resp = server
            .request(Method::GET, "/subjects")
            .basic_auth(user, Some(pass))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{user}");
    }
    let garbage = server
        .request(Method::GET, "/subjects")
        .header("Authorization", "Basic !!!")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), StatusCode::UNAUTHORIZED);
    server.stop().await;
}

/// Every endpoint class × every role × a subject inside and outside the user's grant.
#[tokio::test]
async fn authorization_matrix() {
    let users: &[(&str, Role, &[&str])] = &[
        ("root", Role::Admin, &[]),
        ("writer", Role::Write, &[]),
        ("writer-a", Role::Write, &["team-a."]),
        ("reader", Role::Read, &[]),
        ("reader-a", Role::Read, &["team-a."]),
    ];
    let server = AuthServer::start(users).await;
    let (status, _) = server.register_as("root", "team-a.s", "f").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.register_as("root", "team-b.s", "f").await;
    assert_eq!(status, StatusCode::OK);
    let shared_id = body["id"].as_i64().unwrap();

    // (class, the weakest role allowed, whether the grant is checked, request)
    type Case = (&'static str, Role, bool, Method, String, Option<Value>);
    let schema = json!({"schema": json!({"type": "record", "name": "R", "fields": [
        {"name": "f", "type": "string", "default": ""}]}).to_string()});
    let cases = |s: &str| -> Vec<Case> {
        vec![
            (
                "read latest",
                Role::Read,
                true,
                Method::GET,
                format!("/subjects/{s}/versions/latest"),
                None,
            ),
            (
                "read versions",
                Role::Read,
                true,
                Method::GET,
                format!("/subjects/{s}/versions"),
                None,
            ),
            (
                "lookup",
                Role::Read,
                true,
                Method::POST,
                format!("/subjects/{s}"),
                Some(schema.clone()),
            ),
            (
                "compatibility",
                Role::Read,
                true,
                Method::POST,
                format!("/compatibility/subjects/{s}/versions/latest"),
                Some(schema.clone()),
            ),
            (
                "subject config read",
                Role::Read,
                true,
                Method::GET,
                format!("/config/{s}?defaultToGlobal=true"),
                None,
            ),
            (
                "register",
                Role::Write,
                true,
                Method::POST,
                format!("/subjects/{s}/versions"),
                Some(schema.clone()),
            ),
            (
                "subject config",
                Role::Write,
                true,
                Method::PUT,
                format!("/config/{s}"),
                Some(json!({"compatibility": "BACKWARD"})),
            ),
            (
                "subject mode",
                Role::Admin,
                false,
                Method::PUT,
                format!("/mode/{s}"),
                Some(json!({"mode": "READWRITE"})),
            ),
            (
                "schema by id",
                Role::Read,
                false,
                Method::GET,
                "/schemas/ids/1".into(),
                None,
            ),
            (
                "global config read",
                Role::Read,
                false,
                Method::GET,
                "/config".into(),
                None,
            ),
            (
                "global config",
                Role::Admin,
                false,
                Method::PUT,
                "/config".into(),
                Some(json!({"compatibility": "BACKWARD"})),
            ),
            (
                "global mode",
                Role::Admin,
                false,
                Method::PUT,
                "/mode".into(),
                Some(json!({"mode": "READWRITE"})),
            ),
            (
                "users",
                Role::Admin,
                false,
                Method::GET,
                "/admin/users".into(),
                None,
            ),
        ]
    };
    for (user, role, grants) in users {
        for subject in ["team-a.s", "team-b.s"] {
            let in_grant = grants.is_empty() || subject.starts_with(grants[0]);
            for (class, needs, checks_grant, method, path, body) in cases(subject) {
                let expect_allowed =
                    *role >= needs && (!checks_grant || in_grant || *role == Role::Admin);
                let (status, resp) = server.call_as(user, method, &path, body).await;
                let what = format!("{user} {class} {path}: {status} {resp}");
                if expect_allowed {
                    assert!(status.is_success(), "allowed: {what}");
                } else {
                    assert_eq!(status, StatusCode::FORBIDDEN, "denied: {what}");
                    assert_eq!(resp, json!({"error_code": 403, "message": "Forbidden"}));
                }
            }
        }
        // Responses naming subjects the request did not name list only those in the grant.
        let visible: Vec<&str> = ["team-a.s", "team-b.s"]
            .into_iter()
            .filter(|s| grants.is_empty() || *role == Role::Admin || s.starts_with(grants[0]))
            .collect();
        let (status, body) = server.call_as(user, Method::GET, "/subjects", None).await;
        assert_eq!((status, body), (StatusCode::OK, json!(visible)), "{user}");
        let (status, body) = server.call_as(user, Method::GET, "/schemas", None).await;
        assert_eq!(status, StatusCode::OK, "{user} /schemas: {body}");
        let listed: Vec<&str> = body
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["subject"].as_str().unwrap())
            .collect();
        assert_eq!(listed, visible, "{user} /schemas");
        // Both subjects hold the same schema, so one id names both.
        let (status, body) = server
            .call_as(
                user,
                Method::GET,
                &format!("/schemas/ids/{shared_id}/subjects"),
                None,
            )
            .await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, json!(visible)),
            "{user} ids/subjects"
        );
        let (status, body) = server
            .call_as(
                user,
                Method::GET,
                &format!("/schemas/ids/{shared_id}/versions"),
                None,
            )
            .await;
        let expected: Vec<Value> = visible
            .iter()
            .map(|s| json!({"subject": s, "version": 1}))
            .collect();
        assert_eq!(
            (status, body),
            (StatusCode::OK, json!(expected)),
            "{user} ids/versions"
        );
    }

    // References name subjects too: a schema may reference only subjects its sender may read.
    // (A registered reference pins the version it names, so other teams could not delete it;
    // resolving one tells whether a subject exists.)
    let referenced = json!({"type": "record", "name": "Ref", "fields": [
        {"name": "x", "type": "string"}]});
    for s in ["team-a.ref", "team-b.ref"] {
        let (status, body) = server
            .call_as(
                "root",
                Method::POST,
                &format!("/subjects/{s}/versions"),
                Some(json!({"schema": referenced.to_string()})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let referencing = json!({"type": "record", "name": "R", "fields": [
        {"name": "f", "type": "string", "default": ""},
        {"name": "r", "type": ["null", "Ref"], "default": null}]})
    .to_string();
    for (user, role, grants) in users {
        let reads = |s: &str| grants.is_empty() || *role == Role::Admin || s.starts_with(grants[0]);
        for (subject, target) in [
            ("team-a.s", "team-a.ref"),
            ("team-a.s", "team-b.ref"),
            ("team-b.s", "team-a.ref"),
        ] {
            let body = json!({"schema": referencing, "references": [
                {"name": "Ref", "subject": target, "version": 1}]});
            for (class, needs, path) in [
                (
                    "register",
                    Role::Write,
                    format!("/subjects/{subject}/versions"),
                ),
                ("lookup", Role::Read, format!("/subjects/{subject}")),
                (
                    "compatibility",
                    Role::Read,
                    format!("/compatibility/subjects/{subject}/versions/latest"),
                ),
            ] {
                let allowed = *role >= needs && reads(subject) && reads(target);
                let (status, resp) = server
                    .call_as(user, Method::POST, &path, Some(body.clone()))
                    .await;
                let what = format!("{user} {class} {subject} -> {target}: {status} {resp}");
                if allowed {
                    assert!(status.is_success(), "allowed: {what}");
                } else {
                    assert_eq!(status, StatusCode::FORBIDDEN, "denied: {what}");
                    assert_eq!(resp, json!({"error_code": 403, "message": "Forbidden"}));
                }
            }
        }
        // Refused before resolving: a missing subject outside the grant is not told apart.
        if !reads("team-b.missing") && reads("team-a.s") {
            let body = json!({"schema": referencing, "references": [
                {"name": "Ref", "subject": "team-b.missing", "version": 1}]});
            let (status, _) = server
                .call_as(user, Method::POST, "/subjects/team-a.s", Some(body))
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{user} probe");
        }
    }

    // Deletes: soft needs write on the subject, permanent needs admin.
    for (user, role, grants) in users {
        for subject in ["team-a.s", "team-b.s"] {
            let in_grant = grants.is_empty() || subject.starts_with(grants[0]);
            let field = user.replace('-', "_");
            let (status, _) = server.register_as("root", subject, &field).await;
            assert_eq!(status, StatusCode::OK);
            let path = format!("/subjects/{subject}/versions/latest");
            let (status, resp) = server.call_as(user, Method::DELETE, &path, None).await;
            let soft_allowed = *role == Role::Admin || (*role >= Role::Write && in_grant);
            assert_eq!(
                status.is_success(),
                soft_allowed,
                "{user} soft {subject}: {resp}"
            );
            if !soft_allowed {
                assert_eq!(status, StatusCode::FORBIDDEN);
                let (status, _) = server.call_as("root", Method::DELETE, &path, None).await;
                assert_eq!(status, StatusCode::OK);
            }
            let version = resp.as_i64().unwrap_or(0);
            let permanent = format!("/subjects/{subject}/versions/{version}?permanent=true");
            let (status, resp) = server.call_as(user, Method::DELETE, &permanent, None).await;
            if *role == Role::Admin {
                assert_eq!(status, StatusCode::OK, "{user} permanent: {resp}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{user} permanent: {resp}");
            }
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn admin_api_manages_users_and_changes_apply_at_once() {
    let server = AuthServer::start(&[("root", Role::Admin, &[])]).await;
    let add = json!({"name": "carol", "password": password("carol"), "role": "write",
                     "grants": ["team-c."]});
    let (status, body) = server
        .call_as("root", Method::POST, "/admin/users", Some(add.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"name": "carol", "role": "write", "grants": ["team-c."]})
    );
    let (status, body) = server
        .call_as("root", Method::POST, "/admin/users", Some(add))
        .await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (StatusCode::CONFLICT, json!(409))
    );
    let weak = json!({"name": "dave", "password": "short"});
    let (status, _) = server
        .call_as("root", Method::POST, "/admin/users", Some(weak))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, body) = server
        .call_as("root", Method::GET, "/admin/users", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<_> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].clone())
        .collect();
    assert_eq!(names, [json!("carol"), json!("root")]);
    assert!(
        !body.to_string().contains("pw-"),
        "no secrets listed: {body}"
    );

    // carol can write her prefix only; widening her grant works on her next request.
    assert_eq!(
        server.register_as("carol", "team-c.x", "f").await.0,
        StatusCode::OK
    );
    assert_eq!(
        server.register_as("carol", "team-d.x", "f").await.0,
        StatusCode::FORBIDDEN
    );
    let (status, _) = server
        .call_as(
            "root",
            Method::PUT,
            "/admin/users/carol/grants",
            Some(json!({"grants": []})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        server.register_as("carol", "team-d.x", "f").await.0,
        StatusCode::OK
    );

    // A new password replaces the old one at once, cached or not.
    let (status, _) = server
        .call_as(
            "root",
            Method::PUT,
            "/admin/users/carol/password",
            Some(json!({"password": "a-brand-new-password"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        server
            .call_as("carol", Method::GET, "/subjects", None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let resp = server
        .request(Method::GET, "/subjects")
        .basic_auth("carol", Some("a-brand-new-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // The last admin stays; other users go.
    let (status, _) = server
        .call_as("root", Method::DELETE, "/admin/users/root", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = server
        .call_as(
            "root",
            Method::PUT,
            "/admin/users/root/grants",
            Some(json!({"role": "read"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = server
        .call_as("root", Method::DELETE, "/admin/users/carol", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server
        .call_as("root", Method::GET, "/admin/users/carol", None)
        .await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (StatusCode::NOT_FOUND, json!(404))
    );
    let resp = server
        .request(Method::GET, "/subjects")
        .basic_auth("carol", Some("a-brand-new-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    server.stop().await;
}

/// Sends a SCRAM client-first message; returns the session id and the server-first message.
async fn scram_first(server: &AuthServer, client_first_bare: &str) -> (String, String) {
    let first = server
        .request(Method::GET, "/subjects")
        .header(
            "Authorization",
            format!(
                "SCRAM-SHA-256 data={}",
                B64.encode(format!("n,,{client_first_bare}"))
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    let challenge = first.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    let params = challenge.strip_prefix("SCRAM-SHA-256 ").expect(&challenge);
    let param = |name: &str| {
        params
            .split(',')
            .find_map(|p| p.trim().strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_string()
    };
    let sid = param("sid");
    let server_first = String::from_utf8(B64.decode(param("data")).unwrap()).unwrap();
    (sid, server_first)
}

/// An RFC 5802 client, as a test would write one from the RFC: returns the exchange's final
/// response and the session id.
async fn scram_login(
    server: &AuthServer,
    user: &str,
    pass: &str,
) -> (reqwest::Response, Option<String>) {
    let client_nonce = "fyko+d2lbbFgONRv9qkxdawL";
    let client_first_bare = format!("n={user},r={client_nonce}");
    let (sid, server_first) = scram_first(server, &client_first_bare).await;
    let attr = |name: &str| {
        server_first
            .split(',')
            .find_map(|a| a.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_string()
    };
    let nonce = attr("r");
    assert!(nonce.starts_with(client_nonce) && nonce.len() > client_nonce.len());
    let salt = B64.decode(attr("s")).unwrap();
    let iterations: u32 = attr("i").parse().unwrap();
    assert!(iterations >= 4096);

    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(pass.as_bytes(), &salt, iterations, &mut salted);
    let mac = |key: &[u8], data: &[u8]| {
        let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
        m.update(data);
        m.finalize().into_bytes().to_vec()
    };
    let client_key = mac(&salted, b"Client Key");
    let stored_key = Sha256::digest(&client_key);
    let without_proof = format!("c=biws,r={nonce}");
    let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
    let signature = mac(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&signature)
        .map(|(k, s)| k ^ s)
        .collect();
    let client_final = format!("{without_proof},p={}", B64.encode(proof));
    let send_final = || {
        server
            .request(Method::GET, "/subjects")
            .header(
                "Authorization",
                format!(
                    "SCRAM-SHA-256 sid={sid}, data={}",
                    B64.encode(&client_final)
                ),
            )
            .send()
    };
    let last = send_final().await.unwrap();
    if last.status() == StatusCode::OK {
        let info = last.headers()["authentication-info"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(info.starts_with(&format!("sid={sid}, data=")), "{info}");
        let data = info.split("data=").nth(1).unwrap();
        let server_final = String::from_utf8(B64.decode(data).unwrap()).unwrap();
        let server_key = mac(&salted, b"Server Key");
        let expected = B64.encode(mac(&server_key, auth_message.as_bytes()));
        assert_eq!(
            server_final,
            format!("v={expected}"),
            "the server proves itself"
        );
        // The same client-final again is refused: an exchange is single-use.
        let replay = send_final().await.unwrap();
        assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
        return (last, Some(sid));
    }
    (last, None)
}

#[tokio::test]
async fn scram_sha_256_exchange_end_to_end_and_session_reuse() {
    let server = AuthServer::start(&[("reader", Role::Read, &[])]).await;
    let (resp, sid) = scram_login(&server, "reader", &password("reader")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!([]));
    let sid = sid.unwrap();

    // The session id alone authenticates later requests, with the user's role.
    let reuse = server
        .request(Method::GET, "/subjects")
        .header("Authorization", format!("SCRAM-SHA-256 sid={sid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(reuse.status(), StatusCode::OK);
    let write = server
        .request(Method::PUT, "/config")
        .header("Authorization", format!("SCRAM-SHA-256 sid={sid}"))
        .header("Content-Type", CT)
        .body(json!({"compatibility": "NONE"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), StatusCode::FORBIDDEN);
    let forged = server
        .request(Method::GET, "/subjects")
        .header("Authorization", "SCRAM-SHA-256 sid=not-a-session")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);

    // Wrong passwords and unknown users fail the same way, after the same exchange.
    let (resp, sid) = scram_login(&server, "reader", "not-the-password").await;
    assert_eq!((resp.status(), sid), (StatusCode::UNAUTHORIZED, None));
    let (resp, sid) = scram_login(&server, "nobody", "whatever-password").await;
    assert_eq!((resp.status(), sid), (StatusCode::UNAUTHORIZED, None));
    server.stop().await;
}

#[tokio::test]
async fn failed_logins_are_rate_limited_per_user_and_address() {
    let config = AuthConfig {
        max_failed_logins: 3,
        failed_login_refill: Duration::from_secs(3600),
        ..AuthConfig::default()
    };
    let server = AuthServer::start_with(
        &[("alice", Role::Read, &[]), ("bob", Role::Read, &[])],
        config,
    )
    .await;
    let attempt = |user: &'static str, pass: &'static str| {
        server
            .request(Method::GET, "/subjects")
            .basic_auth(user, Some(pass))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(
            attempt("alice", "wrong-password").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Now even the right password is refused, so the limit cannot be guessed around …
    let limited = server
        .call_as("alice", Method::GET, "/subjects", None)
        .await;
    assert_eq!(limited.0, StatusCode::TOO_MANY_REQUESTS, "{}", limited.1);
    assert_eq!(limited.1["error_code"], json!(429));
    let resp = attempt("alice", "wrong-password").await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    // Other users from this address are not (one user's typos must not lock out colleagues
    // behind the same NAT) …
    let other = server.call_as("bob", Method::GET, "/subjects", None).await;
    assert_eq!(other.0, StatusCode::OK);
    // … until the address has failed a few times more often, trying names: then its guesses
    // are refused for every name.
    for name in ["carol", "dave", "erin", "frank", "grace", "heidi"] {
        let resp = server
            .request(Method::GET, "/subjects")
            .basic_auth(name, Some("wrong-password"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{name}");
    }
    // (Bob's login, verified above, is cached and goes on working.)
    let other = attempt("bob", "wrong-password").await.unwrap();
    assert_eq!(other.status(), StatusCode::TOO_MANY_REQUESTS);
    // /health stays open.
    let health = server.request(Method::GET, "/health").send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    server.stop().await;
}

/// A client on another loopback address (Linux routes all of 127/8 to loopback), so tests can
/// fail logins "from elsewhere".
fn client_from(last_octet: u8) -> Client {
    Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, last_octet]))
        .build()
        .unwrap()
}

/// Starts a SCRAM exchange for `user` from `client`, as anyone may: 401 (exchange goes on) or
/// 429 (limited).
async fn scram_start(server: &AuthServer, client: &Client, user: &str) -> StatusCode {
    let first = format!("n,,n={user},r=nonce-{}", user.len());
    client
        .get(format!("{}/subjects", server.url))
        .header(
            "Authorization",
            format!("SCRAM-SHA-256 data={}", B64.encode(first)),
        )
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn failing_on_purpose_elsewhere_does_not_lock_a_user_out() {
    let config = AuthConfig {
        max_failed_logins: 3,
        failed_login_refill: Duration::from_secs(3600),
        ..AuthConfig::default()
    };
    let server = AuthServer::start_with(&[("producer-svc", Role::Write, &[])], config).await;
    let attacker = client_from(2);
    // SCRAM starts cost nothing to send and spend a token each, as do wrong passwords.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(scram_start(&server, &attacker, "producer-svc").await);
    }
    for _ in 0..2 {
        let resp = attacker
            .get(format!("{}/subjects", server.url))
            .basic_auth("producer-svc", Some("wrong-password"))
            .send()
            .await
            .unwrap();
        statuses.push(resp.status());
    }
    let limited = StatusCode::TOO_MANY_REQUESTS;
    assert_eq!(&statuses[..3], [StatusCode::UNAUTHORIZED; 3]);
    assert!(statuses[3..].iter().all(|s| *s == limited), "{statuses:?}");
    // The attacker is limited; the user, from where it runs, is not.
    let ok = server
        .call_as("producer-svc", Method::GET, "/subjects", None)
        .await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
    let (resp, _) = scram_login(&server, "producer-svc", &password("producer-svc")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn many_clients_failing_limit_a_user_but_a_cached_login_in_use_outlasts_them() {
    let config = AuthConfig {
        max_failed_logins: 3,
        failed_login_refill: Duration::from_secs(3600),
        credential_cache_ttl: Duration::from_secs(1),
        ..AuthConfig::default()
    };
    let users: &[(&str, Role, &[&str])] = &[("alice", Role::Read, &[]), ("bob", Role::Read, &[])];
    let server = AuthServer::start_with(users, config).await;
    // Alice logs in once: her login is cached for a second, and each use extends that.
    let ok = server
        .call_as("alice", Method::GET, "/subjects", None)
        .await;
    assert_eq!(ok.0, StatusCode::OK);
    // Ten addresses fail three times each for both names: the loose per-name bound (ten
    // addresses' worth) is spent.
    for octet in 10..20 {
        // Alice keeps working meanwhile.
        let still = server
            .call_as("alice", Method::GET, "/subjects", None)
            .await;
        assert_eq!(still.0, StatusCode::OK, "{}", still.1);
        let attacker = client_from(octet);
        for user in ["alice", "bob"] {
            for _ in 0..3 {
                let status = scram_start(&server, &attacker, user).await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{user} from {octet}");
            }
        }
    }
    // Now a login that is not cached is refused from anywhere …
    let resp = client_from(40)
        .get(format!("{}/subjects", server.url))
        .basic_auth("bob", Some(password("bob")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // … but Alice, working all along, keeps her cached login well past its first second.
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_millis(2500) {
        let still = server
            .call_as("alice", Method::GET, "/subjects", None)
            .await;
        assert_eq!(
            still.0,
            StatusCode::OK,
            "after {:?}: {}",
            start.elapsed(),
            still.1
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn parallel_guesses_stay_within_the_burst_and_verified_logins_survive_a_lockout() {
    let config = AuthConfig {
        max_failed_logins: 3,
        failed_login_refill: Duration::from_secs(3600),
        ..AuthConfig::default()
    };
    let server = AuthServer::start_with(&[("alice", Role::Read, &[])], config).await;
    // Alice logs in once: her verified credentials are cached.
    let ok = server
        .call_as("alice", Method::GET, "/subjects", None)
        .await;
    assert_eq!(ok.0, StatusCode::OK);
    // 20 guesses at once: only the burst of 3 may reach the password check.
    let guesses: Vec<_> = (0..20)
        .map(|_| {
            server
                .request(Method::GET, "/subjects")
                .basic_auth("alice", Some("wrong-password"))
                .send()
        })
        .collect();
    let mut unauthorized = 0;
    for g in guesses {
        match g.await.unwrap().status() {
            StatusCode::UNAUTHORIZED => unauthorized += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(unauthorized <= 3, "{unauthorized} guesses were checked");
    // Alice's own (cached) login still works while the guesser is locked out.
    let still = server
        .call_as("alice", Method::GET, "/subjects", None)
        .await;
    assert_eq!(still.0, StatusCode::OK, "{}", still.1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_first_logins_with_the_right_password_is_not_limited() {
    let config = AuthConfig {
        max_failed_logins: 3,
        failed_login_refill: Duration::from_secs(3600),
        ..AuthConfig::default()
    };
    let server = AuthServer::start_with(&[("alice", Role::Read, &[])], config).await;
    // 64 clients start at once with the same correct credentials, none verified yet (a fleet
    // restarting, a benchmark): each on its own connection, all in flight together.
    let logins: Vec<_> = (0..64)
        .map(|_| {
            let login = Client::new()
                .get(format!("{}/subjects", server.url))
                .basic_auth("alice", Some(password("alice")))
                .send();
            tokio::spawn(async move { login.await.unwrap().status() })
        })
        .collect();
    for login in logins {
        assert_eq!(login.await.unwrap(), StatusCode::OK);
    }
    // None of them spent a failed-login token: a guesser still gets the whole burst, then 429.
    for expected in [StatusCode::UNAUTHORIZED; 3]
        .into_iter()
        .chain([StatusCode::TOO_MANY_REQUESTS])
    {
        let resp = server
            .request(Method::GET, "/subjects")
            .basic_auth("alice", Some("wrong-password"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), expected);
    }
    // The right password, verified and cached, goes on working.
    let ok = server
        .call_as("alice", Method::GET, "/subjects", None)
        .await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
    server.stop().await;
}

#[tokio::test]
async fn the_store_holds_no_plaintext_password() {
    let server = AuthServer::start(&[("root", Role::Admin, &[])]).await;
    let secret = "Unmistakable-Secret-4711";
    let (status, _) = server
        .call_as(
            "root",
            Method::POST,
            "/admin/users",
            Some(json!({"name": "erin", "password": secret})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let dir = server.stop().await;

    // Every byte the store keeps: the SQLite files, or every record of the users topic.
    let stored: Vec<Vec<u8>> = if on_kafka() {
        users_topic_records(&dir)
            .await
            .into_iter()
            .flat_map(|r| [r.key, r.value.unwrap_or_default()])
            .collect()
    } else {
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect()
    };
    let needles = [secret.as_bytes().to_vec(), password("root").into_bytes()];
    let mut scanned = 0;
    for bytes in &stored {
        scanned += bytes.len();
        for needle in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "a password is stored in plaintext"
            );
        }
    }
    // The user is in what was scanned: its argon2id hash is.
    let hashes = stored
        .iter()
        .map(|b| String::from_utf8_lossy(b).matches("$argon2id$").count())
        .sum::<usize>();
    assert!(
        scanned > 0 && hashes >= 2,
        "{hashes} hashes in {scanned} bytes"
    );

    let (store, users) = open_users(&dir).await;
    let erin = users.get("erin").unwrap();
    assert!(erin
        .password_phc
        .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert!(schemata::auth::password::verify(secret, &erin.password_phc));
    assert!(erin.scram.iterations >= 4096 && erin.scram.salt.len() >= 16);
    drop(users);
    store.close().await;
}

/// Every record of `dir`'s users topic (Kafka runs only).
async fn users_topic_records(dir: &TempDir) -> Vec<schemata::registry::record::RawRecord> {
    let config = TestServer::config_for(dir);
    let broker = common::kafka_broker().unwrap();
    let log =
        schemata::store::kafka::KafkaStore::open(&broker, &config.kafka.users_topic, &config.kafka)
            .await
            .unwrap();
    let mut records = Vec::new();
    let mut offset = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while offset < log.opened_at() {
        assert!(
            std::time::Instant::now() < deadline,
            "the users topic stalled"
        );
        for stored in log.read_after(offset, 1000).await.unwrap() {
            offset = stored.offset;
            records.push(stored.record);
        }
    }
    log.close().await;
    records
}

/// Runs `schemata user ARGS` on `config`'s store with `stdin`; whether it succeeded, and what it
/// printed (stdout, then stderr).
fn user_cli(config: &schemata::Config, args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_schemata"))
        .arg("user")
        .args(["--store", &config.store])
        .args(["--kafka-users-topic", &config.kafka.users_topic])
        .args(["--kafka-fetch-wait-ms", "10"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[tokio::test]
async fn user_cli_adds_lists_and_removes_users_for_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let config = TestServer::config_for(&dir);
    let run = |args: &[&str], stdin: &str| user_cli(&config, args, stdin);
    let pass = format!("{}\n", password("ops"));
    let (ok, out) = run(
        &[
            "add",
            "ops",
            "--role",
            "write",
            "--prefix",
            "team-",
            "--password-stdin",
        ],
        &pass,
    );
    assert!(ok, "{out}");
    let (ok, out) = run(&["add", "ops", "--password-stdin"], &pass);
    assert!(!ok && out.contains("already exists"), "{out}");
    let (ok, out) = run(&["add", "tmp", "--password-stdin"], &pass);
    assert!(ok, "{out}");
    let (ok, out) = run(&["remove", "tmp"], "");
    assert!(ok, "{out}");
    let (ok, out) = run(&["grant", "ops", "--prefix", "team-x."], "");
    assert!(ok, "{out}");
    let (ok, out) = run(&["list"], "");
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "ops\twrite\tteam-x.");

    let server = AuthServer::start_in(dir, AuthConfig::default()).await;
    assert_eq!(
        server.register_as("ops", "team-x.s", "f").await.0,
        StatusCode::OK
    );
    assert_eq!(
        server.register_as("ops", "team-y.s", "f").await.0,
        StatusCode::FORBIDDEN
    );
    if on_kafka() {
        // Kafka: the CLI works while servers run, and they pick its changes up by themselves.
        let (ok, out) = run(
            &["add", "late", "--role", "write", "--password-stdin"],
            &format!("{}\n", password("late")),
        );
        assert!(ok, "{out}");
        eventually("the server never saw 'late'", || async {
            server.register_as("late", "team-z.s", "f").await.0 == StatusCode::OK
        })
        .await;
        // And a removal revokes access, cached login or not.
        let (ok, out) = run(&["remove", "late"], "");
        assert!(ok, "{out}");
        eventually("the server still lets 'late' in", || async {
            server.register_as("late", "team-z.s", "f").await.0 == StatusCode::UNAUTHORIZED
        })
        .await;
    } else {
        // While the server holds a SQLite store, the CLI says so instead of writing behind it.
        let (ok, out) = run(&["list"], "");
        assert!(!ok && out.contains("stop the server"), "{out}");
    }
    server.stop().await;
}

/// The CLI follows the API's rules: the last admin can be neither removed nor demoted, so the
/// registry always keeps someone who can manage users over HTTP.
#[tokio::test]
async fn user_cli_keeps_the_last_admin() {
    let dir = tempfile::tempdir().unwrap();
    let config = TestServer::config_for(&dir);
    let run = |args: &[&str], stdin: &str| user_cli(&config, args, stdin);
    let pass = |user: &str| format!("{}\n", password(user));
    let (ok, out) = run(
        &["add", "root", "--role", "admin", "--password-stdin"],
        &pass("root"),
    );
    assert!(ok, "{out}");
    let (ok, out) = run(&["add", "reader", "--password-stdin"], &pass("reader"));
    assert!(ok, "{out}");
    let last_admin = "'root' is the last admin and cannot be removed or demoted";
    let (ok, out) = run(&["remove", "root"], "");
    assert!(!ok && out.contains(last_admin), "{out}");
    for role in ["write", "read"] {
        let (ok, out) = run(&["grant", "root", "--role", role], "");
        assert!(!ok && out.contains(last_admin), "{role}: {out}");
    }
    // Prefixes alone leave the role as it is; non-admins go freely.
    let (ok, out) = run(&["grant", "root", "--prefix", "team-"], "");
    assert!(ok, "{out}");
    let (ok, out) = run(&["remove", "reader"], "");
    assert!(ok, "{out}");
    let (ok, out) = run(&["list"], "");
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "root\tadmin\tteam-");

    // With a second admin, the first may step down; then the second is the last.
    let (ok, out) = run(
        &["add", "ops", "--role", "admin", "--password-stdin"],
        &pass("ops"),
    );
    assert!(ok, "{out}");
    let (ok, out) = run(&["grant", "root", "--role", "write", "--all-subjects"], "");
    assert!(ok, "{out}");
    let (ok, out) = run(&["remove", "ops"], "");
    assert!(!ok && out.contains("'ops' is the last admin"), "{out}");
    let (ok, out) = run(&["remove", "root"], "");
    assert!(ok, "{out}");
    let (ok, out) = run(&["list"], "");
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "ops\tadmin\t*");
}

/// Requests per second for `GET /subjects/x/versions/latest` with auth off, with Basic auth and
/// its credential cache, with the cache disabled (argon2 on every request), and with a SCRAM
/// session id. Loopback only, bounded: 8 connections for 3 s per mode. Run it with
/// `cargo test --release --test auth -- --ignored --nocapture measure`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement, not a check"]
async fn measure_requests_per_second_with_and_without_auth() {
    async fn load(url: String, authorization: Option<String>) -> f64 {
        let client = Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (client, url, authorization) =
                    (client.clone(), url.clone(), authorization.clone());
                tokio::spawn(async move {
                    let mut done = 0u64;
                    while tokio::time::Instant::now() < deadline {
                        let mut req = client.get(&url);
                        if let Some(a) = &authorization {
                            req = req.header("Authorization", a);
                        }
                        let resp = req.send().await.unwrap();
                        assert_eq!(resp.status(), StatusCode::OK);
                        resp.bytes().await.unwrap();
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total as f64 / 3.0
    }
    let path = "/subjects/x/versions/latest";
    let basic = format!(
        "Basic {}",
        B64.encode(format!("reader:{}", password("reader")))
    );
    let users: &[(&str, Role, &[&str])] =
        &[("reader", Role::Read, &[]), ("root", Role::Admin, &[])];

    let plain = server_with_subject_x(users, false, AuthConfig::default()).await;
    let off = load(format!("{}{path}", plain.url), None).await;
    plain.stop().await;

    let server = server_with_subject_x(users, true, AuthConfig::default()).await;
    let cached = load(format!("{}{path}", server.url), Some(basic.clone())).await;
    let (_, sid) = scram_login(&server, "reader", &password("reader")).await;
    let scram = load(
        format!("{}{path}", server.url),
        Some(format!("SCRAM-SHA-256 sid={}", sid.unwrap())),
    )
    .await;
    server.stop().await;

    let uncached_config = AuthConfig {
        credential_cache_ttl: Duration::ZERO,
        ..AuthConfig::default()
    };
    let server = server_with_subject_x(users, true, uncached_config).await;
    let uncached = load(format!("{}{path}", server.url), Some(basic)).await;
    server.stop().await;

    println!("GET {path}, 8 connections, 3 s each, loopback:");
    println!("  auth off:                    {off:>8.0} req/s");
    println!("  Basic, cached credentials:   {cached:>8.0} req/s");
    println!("  SCRAM session id:            {scram:>8.0} req/s");
    println!("  Basic, cache off (argon2id): {uncached:>8.0} req/s");
}

/// A server with `users` and subject `x` registered, auth on or off.
async fn server_with_subject_x(
    users: &[(&str, Role, &[&str])],
    enabled: bool,
    auth: AuthConfig,
) -> AuthServer {
    let server = AuthServer::start_with(users, auth.clone()).await;
    let (status, body) = server.register_as("root", "x", "f").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    if enabled {
        return server;
    }
    let dir = server.stop().await;
    let config = TestServer::config_for(&dir);
    AuthServer(TestServer::start_with_config(dir, config).await)
}

#[tokio::test]
async fn with_auth_off_everything_is_open_but_user_management() {
    let users: &[(&str, Role, &[&str])] = &[("root", Role::Admin, &[])];
    let server = server_with_subject_x(users, false, AuthConfig::default()).await;
    let resp = server
        .request(Method::GET, "/subjects")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("www-authenticate").is_none());
    for path in ["/admin/users", "/admin/users/root"] {
        let resp = server.request(Method::GET, path).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path}");
    }
    server.stop().await;
}

/// The salt `server` gives `user` at the start of a SCRAM exchange.
async fn scram_salt(server: &AuthServer, user: &str) -> String {
    let (_, server_first) = scram_first(server, &format!("n={user},r=abcdefghijklmnop")).await;
    server_first
        .split(',')
        .find_map(|a| a.strip_prefix("s="))
        .unwrap()
        .to_string()
}

/// An unknown user's fake salt must not tell the name is unknown: it is the same on every try
/// and after a restart (a changing salt would give the fake away), and differs between names.
#[tokio::test]
async fn unknown_users_keep_their_scram_salt_across_restarts() {
    let server = AuthServer::start(&[("root", Role::Admin, &[])]).await;
    let ghost = scram_salt(&server, "ghost").await;
    let root = scram_salt(&server, "root").await;
    assert_eq!(scram_salt(&server, "ghost").await, ghost);
    assert_ne!(scram_salt(&server, "phantom").await, ghost);
    let dir = server.stop().await;

    let server = AuthServer::start_in(dir, AuthConfig::default()).await;
    assert_eq!(scram_salt(&server, "ghost").await, ghost);
    assert_eq!(scram_salt(&server, "root").await, root);
    server.stop().await;
}

/// Registries sharing a users topic share their users: a change made through one is honoured
/// by the other within about a second, and a password change ends the old password's cached
/// logins there too. (Kafka only: a SQLite file belongs to one process.)
#[tokio::test]
async fn registries_sharing_a_users_topic_agree_on_users() {
    if !on_kafka() {
        return;
    }
    let a = AuthServer::start(&[("root", Role::Admin, &[])]).await;
    let users_topic = TestServer::config_for(&a.dir).kafka.users_topic;
    let dir_b = tempfile::tempdir().unwrap();
    let mut config = TestServer::config_for(&dir_b);
    config.kafka.users_topic = users_topic;
    config.auth.enabled = true;
    let b = AuthServer(TestServer::start_with_config(dir_b, config).await);
    // Loaded at start: the user made before either server ran.
    assert_eq!(
        b.call_as("root", Method::GET, "/subjects", None).await.0,
        StatusCode::OK
    );

    let add = json!({"name": "dave", "password": password("dave"), "role": "write"});
    let (status, body) = a
        .call_as("root", Method::POST, "/admin/users", Some(add))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually("B never saw the user added through A", || async {
        b.call_as("dave", Method::GET, "/subjects", None).await.0 == StatusCode::OK
    })
    .await;

    // B has dave's login cached now; a new password through A must end it.
    let new = json!({"password": "a-new-password-42"});
    let (status, body) = a
        .call_as("root", Method::PUT, "/admin/users/dave/password", Some(new))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually("B still honours the old password", || async {
        b.call_as("dave", Method::GET, "/subjects", None).await.0 == StatusCode::UNAUTHORIZED
    })
    .await;
    let fresh = b
        .request(Method::GET, "/subjects")
        .basic_auth("dave", Some("a-new-password-42"))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);

    // Two admins, one per registry, change dave one right after the other: B demotes him, A
    // (before its tailer has run) resets his password. A's change must not restore the role
    // it last saw.
    let demote = json!({"role": "read"});
    let (status, body) = b
        .call_as(
            "root",
            Method::PUT,
            "/admin/users/dave/grants",
            Some(demote),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reset = json!({"password": "a-third-password-7"});
    let (status, body) = a
        .call_as(
            "root",
            Method::PUT,
            "/admin/users/dave/password",
            Some(reset),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "read", "A undid B's demotion: {body}");
    b.stop().await;
    a.stop().await;
}

/// Nothing secret reaches the log, even at its most verbose: not passwords (right, wrong or
/// newly set), not `Authorization` values, not SCRAM session ids. The real binary, its stderr
/// captured at `SCHEMATA_LOG=trace`. (SQLite only: the binary is pointed at a file.)
#[test]
fn no_secret_reaches_the_log() {
    if on_kafka() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(add_users(&dir, &[("root", Role::Admin, &[])]));
    let port = common::free_port();
    let log_path = dir.path().join("stderr.log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_schemata"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--store", &common::store_url(&dir), "--auth-enabled"])
        .env("SCHEMATA_LOG", "trace")
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let new_password = "Log-Secret-New-9931";
    let wrong_password = "Log-Secret-Wrong-4417";
    let sid = rt.block_on(async {
        let client = Client::new();
        let mut up = false;
        for _ in 0..200 {
            if client.get(format!("{url}/health")).send().await.is_ok() {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(up, "the binary did not serve");
        let get = |user: &str, pass: &str| {
            client
                .get(format!("{url}/subjects"))
                .basic_auth(user, Some(pass))
                .send()
        };
        assert_eq!(get("root", &password("root")).await.unwrap().status(), 200);
        assert_eq!(get("root", wrong_password).await.unwrap().status(), 401);
        let add = client
            .post(format!("{url}/admin/users"))
            .basic_auth("root", Some(password("root")))
            .header("Content-Type", CT)
            .body(json!({"name": "newbie", "password": new_password}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(add.status(), 200);
        assert_eq!(get("newbie", new_password).await.unwrap().status(), 200);
        let first = client
            .get(format!("{url}/subjects"))
            .header(
                "Authorization",
                format!(
                    "SCRAM-SHA-256 data={}",
                    B64.encode("n,,n=root,r=abcdefghijklmnop")
                ),
            )
            .send()
            .await
            .unwrap();
        let challenge = first.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        challenge
            .split(',')
            .find_map(|p| p.trim().strip_prefix("SCRAM-SHA-256 sid="))
            .unwrap()
            .to_string()
    });
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(child.wait().unwrap().success());

    let log = std::fs::read_to_string(&log_path).unwrap();
    // The capture works: requests were logged, with their paths.
    assert!(
        log.contains("/admin/users") && log.contains("/subjects"),
        "{log}"
    );
    let secrets = [
        password("root"),
        wrong_password.to_string(),
        new_password.to_string(),
        B64.encode(format!("root:{}", password("root"))),
        B64.encode(format!("root:{wrong_password}")),
        B64.encode(format!("newbie:{new_password}")),
        sid,
    ];
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "the log holds a secret: {secret}"
        );
    }
}

/// Polls `check` about once per users-topic tail interval until it holds, eight tries at most:
/// slowly, since a check that logs in with credentials a server does not know yet counts as a
/// failed login, and ten in a burst would trip the rate limit.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        if check().await {
            return;
        }
    }
    panic!("{what}");
}

/// A SQLite file as a release that kept users in `users` and `auth_secrets` tables left it:
/// migrations 0001–0004 applied (from their own files, so the checksums are theirs) and rows
/// written as that release wrote them.
async fn legacy_database(dir: &TempDir, users: &[&User], secret: &[u8; 32]) {
    let old = dir.path().join("old-migrations");
    std::fs::create_dir(&old).unwrap();
    let current = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for entry in std::fs::read_dir(current).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if ["0001_", "0002_", "0003_", "0004_"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            std::fs::copy(&path, old.join(name)).unwrap();
        }
    }
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(TestServer::db_path(dir))
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let migrator = sqlx::migrate::Migrator::new(old.as_path()).await.unwrap();
    assert_eq!(migrator.iter().count(), 4);
    migrator.run(&pool).await.unwrap();
    for u in users {
        sqlx::query(include_str!("legacy/insert_user.sql"))
            .bind(&u.name)
            .bind(u.role.as_str())
            .bind(serde_json::to_string(&u.grants).unwrap())
            .bind(&u.password_phc)
            .bind(&u.scram.salt)
            .bind(i64::from(u.scram.iterations))
            .bind(&u.scram.stored_key[..])
            .bind(&u.scram.server_key[..])
            .execute(&pool)
            .await
            .unwrap();
    }
    sqlx::query(include_str!("legacy/insert_secret.sql"))
        .bind("unknown_user_salt")
        .bind(&secret[..])
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    std::fs::remove_dir_all(old).unwrap();
}

/// The fake SCRAM salt an unknown user is given under `secret`: HMAC-SHA-256 of the name,
/// first 16 bytes — what the release that wrote the secret gave too.
fn fake_salt(secret: &[u8; 32], user: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(user.as_bytes());
    B64.encode(&mac.finalize().into_bytes()[..16])
}

/// Users of a release that kept them in SQLite tables log in after the upgrade (Basic and
/// SCRAM), with their roles and grants, and unknown users keep their fake salt: the rows
/// became users-log records, once, and the old tables were emptied.
#[tokio::test]
async fn users_of_a_release_with_user_tables_carry_over() {
    if on_kafka() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = User::new("root", &password("root"), Role::Admin, vec![]).unwrap();
    let clerk = User::new(
        "clerk",
        &password("clerk"),
        Role::Write,
        vec!["orders-".into()],
    )
    .unwrap();
    let secret: [u8; 32] = std::array::from_fn(|i| i as u8 * 7 + 1);
    legacy_database(&dir, &[&root, &clerk], &secret).await;

    let server = AuthServer::start_in(dir, AuthConfig::default()).await;
    let (status, body) = server
        .call_as("root", Method::GET, "/admin/users", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server.register_as("clerk", "orders-value", "a").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = server.register_as("clerk", "payments-value", "a").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the grants came along");
    let (resp, sid) = scram_login(&server, "clerk", &password("clerk")).await;
    assert_eq!((resp.status(), sid.is_some()), (StatusCode::OK, true));
    assert_eq!(
        scram_salt(&server, "ghost").await,
        fake_salt(&secret, "ghost")
    );
    let dir = server.stop().await;

    let (store, users) = open_users(&dir).await;
    assert_eq!(users.salt_key(), secret);
    let names: Vec<String> = users.list().into_iter().map(|u| u.name).collect();
    assert_eq!(names, ["clerk", "root"]);
    assert_eq!(
        users.get("clerk").unwrap().scram.stored_key,
        clerk.scram.stored_key
    );
    drop(users);
    store.close().await;
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new().filename(TestServer::db_path(&dir)),
    )
    .await
    .unwrap();
    let left: i64 = sqlx::query_scalar(include_str!("legacy/count_rows.sql"))
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "the old tables are emptied");
    pool.close().await;

    // A second start converts nothing again and still knows everyone.
    let server = AuthServer::start_in(dir, AuthConfig::default()).await;
    let (status, body) = server
        .call_as("clerk", Method::GET, "/subjects", None)
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!(["orders-value"])));
    assert_eq!(
        scram_salt(&server, "ghost").await,
        fake_salt(&secret, "ghost")
    );
    let dir = server.stop().await;

    // Old tables written again after the conversion (an older release on a copy of the file):
    // users in both places are refused, not silently dropped from either.
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new().filename(TestServer::db_path(&dir)),
    )
    .await
    .unwrap();
    sqlx::query(include_str!("legacy/insert_secret.sql"))
        .bind("unknown_user_salt")
        .bind(&secret[..])
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let config = TestServer::config_for(&dir);
    let store = schemata::store::Store::open_with(&config.store, &config.kafka)
        .await
        .unwrap();
    let refused = UserStore::open(&store).await.err().expect("refused");
    assert!(refused.to_string().contains("both in the old"), "{refused}");
    store.close().await;
}
