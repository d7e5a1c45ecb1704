//! Hostile schemas over real HTTP: each of these once kept one compatibility check busy for
//! minutes (or gigabytes). Now each is answered within a second, with a verdict or a clear
//! 422, and the server keeps answering other requests meanwhile.

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The most a hostile request may take here (the tests build in debug; release is faster).
const QUICK: Duration = Duration::from_secs(1);

/// These tests measure time on a 2-core machine: run alongside each other they would measure
/// each other. Each holds this lock while it runs.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A server that takes 4 MiB bodies, the default outside the tests.
async fn server() -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestServer::config_for(&dir);
    config.max_body_bytes = 4 * 1024 * 1024;
    TestServer::start_with_config(dir, config).await
}

/// POSTs `schema` to `path`; the answer and how long it took. Gives up (failing the test) after
/// a while rather than waiting out a check that runs for minutes.
async fn post_schema(
    server: &TestServer,
    path: &str,
    schema: &Value,
) -> (StatusCode, Value, Duration) {
    let body = json!({ "schema": schema.to_string() });
    assert!(
        body.to_string().len() < 4 * 1024 * 1024,
        "the body must fit the limit"
    );
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(30), server.post(path, body))
        .await
        .unwrap_or_else(|_| panic!("no answer from {path} within 30 s"));
    (answer.0, answer.1, started.elapsed())
}

/// Quick, and either a verdict or a Confluent-style refusal of the schema.
fn assert_quick_verdict_or_refusal(
    what: &str,
    (status, body, took): &(StatusCode, Value, Duration),
) {
    assert!(*took < QUICK, "{what} took {took:?}");
    match *status {
        StatusCode::OK => {}
        StatusCode::UNPROCESSABLE_ENTITY => {
            assert_eq!(body["error_code"], 42201, "{what}: {body}");
            let message = body["message"].as_str().unwrap_or_default();
            assert!(message.starts_with("Invalid schema: "), "{what}: {message}");
        }
        other => panic!("{what}: {other} {body}"),
    }
    println!("{what}: {status} in {took:?}");
}

fn record_with_aliases(prefix: &str, count: usize) -> Value {
    let aliases: Vec<String> = (0..count).map(|i| format!("{prefix}{i}")).collect();
    json!({"type": "record", "name": "R", "fields": [
        {"name": "f", "type": "int", "aliases": aliases}]})
}

fn enumeration(prefix: &str, count: usize) -> Value {
    let symbols: Vec<String> = (0..count).map(|i| format!("{prefix}{i}")).collect();
    json!({"type": "enum", "name": "E", "symbols": symbols})
}

fn union_of_records(prefix: &str, count: usize) -> Value {
    let branches: Vec<Value> = (0..count)
        .map(|i| {
            json!({"type": "record", "name": format!("{prefix}{i}"),
                "fields": [{"name": "a", "type": "int"}]})
        })
        .collect();
    Value::Array(branches)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_with_200k_aliases() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let server = server().await;
    let register = post_schema(
        &server,
        "/subjects/aliases/versions",
        &record_with_aliases("w", 200_000),
    )
    .await;
    assert_quick_verdict_or_refusal("registering 200k aliases", &register);
    let check = post_schema(
        &server,
        "/compatibility/subjects/aliases/versions/latest",
        &record_with_aliases("r", 200_000),
    )
    .await;
    assert_quick_verdict_or_refusal("checking 200k aliases", &check);
    assert_eq!(check.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", check.1);
    assert!(check.1["message"].as_str().unwrap().contains("aliases"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_disjoint_unions_of_5000_records() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let server = server().await;
    let writer = union_of_records("W", 5000);
    let register = post_schema(&server, "/subjects/unions/versions", &writer).await;
    assert_eq!(register.0, StatusCode::OK, "{}", register.1);
    let check = post_schema(
        &server,
        "/compatibility/subjects/unions/versions?verbose=true",
        &union_of_records("R", 5000),
    )
    .await;
    assert_quick_verdict_or_refusal("checking disjoint 5000-branch unions", &check);
    assert_eq!(check.1["is_compatible"], false, "{}", check.1);
    let messages = check.1["messages"].as_array().unwrap();
    // One missing branch per writer record, then the old schema and the level.
    assert_eq!(messages.len(), 5000 + 3);
    // The lookup endpoint parses off the async workers too, and still finds the version.
    let lookup = post_schema(&server, "/subjects/unions", &writer).await;
    assert_quick_verdict_or_refusal("looking up a 5000-branch union", &lookup);
    assert_eq!(lookup.1["version"], 1, "{}", lookup.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_disjoint_enums_of_200k_symbols() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let server = server().await;
    let register = post_schema(
        &server,
        "/subjects/enums/versions",
        &enumeration("A", 200_000),
    )
    .await;
    assert_quick_verdict_or_refusal("registering 200k symbols", &register);
    let check = post_schema(
        &server,
        "/compatibility/subjects/enums/versions/latest",
        &enumeration("B", 200_000),
    )
    .await;
    assert_quick_verdict_or_refusal("checking 200k symbols", &check);
    assert_eq!(check.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", check.1);
    assert!(check.1["message"].as_str().unwrap().contains("symbols"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_disjoint_enums_at_the_symbol_limit() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let server = server().await;
    let register = post_schema(
        &server,
        "/subjects/enums/versions",
        &enumeration("A", 20_000),
    )
    .await;
    assert_eq!(register.0, StatusCode::OK, "{}", register.1);
    let check = post_schema(
        &server,
        "/compatibility/subjects/enums/versions/latest?verbose=true",
        &enumeration("B", 20_000),
    )
    .await;
    assert_quick_verdict_or_refusal("checking disjoint 20k-symbol enums", &check);
    assert_eq!(check.1["is_compatible"], false, "{}", check.1);
    let first = check.1["messages"][0].as_str().unwrap();
    assert!(first.contains("MISSING_ENUM_SYMBOLS"), "{first:.200}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_with_exponentially_many_findings_is_refused() {
    let _alone = ONE_AT_A_TIME.lock().await;
    // Eight levels of records with ten fields of the next level each: 10^8 findings from a
    // schema of a few kilobytes.
    let fan_out = |leaf: &str| {
        let mut ty = json!(leaf);
        for level in 0..8 {
            // The first field defines the level below; the others name it.
            let fields: Vec<Value> = (0..10)
                .map(|i| match (i, level) {
                    (0, _) | (_, 0) => json!({"name": format!("f{i}"), "type": ty.clone()}),
                    _ => json!({"name": format!("f{i}"), "type": format!("L{}", level - 1)}),
                })
                .collect();
            ty = json!({"type": "record", "name": format!("L{level}"), "fields": fields});
        }
        ty
    };
    let server = server().await;
    let register = post_schema(&server, "/subjects/fan/versions", &fan_out("int")).await;
    assert_eq!(register.0, StatusCode::OK, "{}", register.1);
    for path in [
        "/compatibility/subjects/fan/versions/latest?verbose=true",
        "/subjects/fan/versions",
    ] {
        let answer = post_schema(&server, path, &fan_out("string")).await;
        assert_quick_verdict_or_refusal(path, &answer);
        assert_eq!(answer.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.1);
        assert!(answer.1["message"].as_str().unwrap().contains("steps"));
    }
}

/// The async workers stay free while a check runs: `/health` and plain reads answer at once.
/// On a single-threaded runtime, so that a check run on the async worker would block them.
#[tokio::test]
async fn health_answers_while_a_check_runs() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let server = server().await;
    let register = post_schema(
        &server,
        "/subjects/busy/versions",
        &enumeration("A", 20_000),
    )
    .await;
    assert_eq!(register.0, StatusCode::OK, "{}", register.1);

    let body = json!({ "schema": enumeration("B", 20_000).to_string() });
    let (client, url) = (server.client.clone(), server.url.clone());
    let check = tokio::spawn(async move {
        let mut checks = 0;
        let started = Instant::now();
        // Keep checks coming for a while, so that the polls below overlap them.
        while started.elapsed() < Duration::from_millis(1500) {
            let answer = client
                .post(format!("{url}/compatibility/subjects/busy/versions/latest"))
                .header("Content-Type", common::CT)
                .body(body.to_string())
                .send()
                .await
                .expect("check");
            assert_eq!(answer.status(), StatusCode::OK);
            checks += 1;
        }
        checks
    });
    let mut polls = 0;
    let mut slowest = Duration::ZERO;
    while !check.is_finished() {
        for path in ["/health", "/subjects/busy/versions"] {
            let started = Instant::now();
            let (status, _) = server.get(path).await;
            let took = started.elapsed();
            assert_eq!(status, StatusCode::OK);
            assert!(
                took < Duration::from_millis(100),
                "{path} took {took:?} during a check"
            );
            slowest = slowest.max(took);
            polls += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let checks = check.await.unwrap();
    assert!(checks >= 1 && polls >= 10, "{checks} checks, {polls} polls");
    println!("{checks} checks, {polls} polls, slowest {slowest:?}");
}
