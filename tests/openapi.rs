//! openapi.yaml stays true: every path and method it documents is served (never the router's
//! 404/405 fallback), every method it does not document is refused with 405, and every route
//! the server has is documented. What the responses look like is checked by Schemathesis
//! against a live server (scripts/schemathesis).

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

#[tokio::test]
async fn every_undocumented_method_is_refused() {
    let s = TestServer::start().await;
    s.register("s", &json!("string")).await;
    let routes = documented();
    let mut paths: Vec<&String> = routes.iter().map(|(p, _)| p).collect();
    paths.dedup();
    for path in paths {
        let url = path
            .replace("{subject}", "s")
            .replace("{version}", "1")
            .replace("{id}", "1");
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            if routes.iter().any(|(p, m)| p == path && m == method) {
                continue;
            }
            let resp = s
                .client
                .request(method.parse().unwrap(), format!("{}{url}", s.url))
                .send()
                .await
                .unwrap();
            assert_eq!(
                resp.status(),
                405,
                "{method} {path} is served but not documented"
            );
            assert!(
                resp.headers().contains_key("allow"),
                "{method} {path}: 405 without Allow"
            );
        }
    }
}

/// Every `.rs` file under `dir`, however deep: the router may be split into modules.
fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_route_in_the_code_is_documented() {
    let documented = documented();
    let mut files = vec![];
    sources(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
        &mut files,
    );
    let mut missing = vec![];
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        // Routes are written as `.route(\n "PATH",` or `.route("PATH",`.
        for chunk in text.split(".route(").skip(1) {
            // Only a string literal is a path (`node.route()` is not).
            let Some(literal) = chunk.trim_start().strip_prefix('"') else {
                continue;
            };
            let path = literal.split('"').next().unwrap();
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

#[tokio::test]
async fn the_server_serves_this_description() {
    let s = TestServer::start().await;
    let (status, body) = s.get("/openapi.yaml").await;
    assert_eq!(status, 200);
    let served = body.as_str().expect("YAML, not JSON");
    let file =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    assert_eq!(served, file);
}
