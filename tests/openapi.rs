//! openapi.yaml stays true: every path and method it documents is served (never the router's
//! 404/405 fallback), and every route the server has is documented.

mod common;

use common::TestServer;
use reqwest::Method;
use serde_json::json;

/// `(path, method)` pairs from the `paths:` section, read by indentation (two spaces for a path,
/// four for a method) so the test needs no YAML parser.
fn documented() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    let mut out = vec![];
    let mut in_paths = false;
    let mut path = String::new();
    for line in text.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_paths = line == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            path = format!("/{p}");
        } else if let Some(m) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(':')) {
            if ["get", "put", "post", "delete"].contains(&m) {
                out.push((path.clone(), m.to_uppercase()));
            }
        }
    }
    out
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let s = TestServer::start().await;
    s.register("s", &json!("string")).await;
    let routes = documented();
    assert!(routes.len() >= 30, "parsed only {} routes", routes.len());
    for (path, method) in &routes {
        let url = path
            .replace("{subject}", "s")
            .replace("{version}", "1")
            .replace("{id}", "1");
        let method: Method = method.parse().unwrap();
        let body = matches!(method, Method::POST | Method::PUT).then(|| json!({}));
        let (status, resp) = s.call(method.clone(), &url, body).await;
        let fallback = matches!(resp["error_code"].as_i64(), Some(404) | Some(405));
        assert!(
            !fallback,
            "{method} {path} is documented but not routed: {status} {resp}"
        );
    }
}

#[test]
fn every_route_in_the_code_is_documented() {
    let documented = documented();
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src/api");
    let mut missing = vec![];
    for entry in std::fs::read_dir(src).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        // Routes are written as `.route(\n "PATH",` or `.route("PATH",`.
        for chunk in text.split(".route(").skip(1) {
            let path = chunk
                .trim_start()
                .trim_start_matches('"')
                .split('"')
                .next()
                .unwrap();
            if !documented.iter().any(|(p, _)| p == path) {
                missing.push(path.to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes missing from openapi.yaml: {missing:?}"
    );
}
