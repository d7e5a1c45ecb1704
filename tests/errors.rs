//! Bad input gets Confluent's error bodies — never a panic, a 500 or a partial write.

mod common;

use common::{assert_error, TestServer, CT};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn raw(
    s: &TestServer,
    method: reqwest::Method,
    path: &str,
    ct: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut req = s
        .client
        .request(method, format!("{}{}", s.url, path))
        .body(body);
    if let Some(ct) = ct {
        req = req.header("Content-Type", ct);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let ct_header = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(
        ct_header.as_deref(),
        Some(CT),
        "response content type for {path}"
    );
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn malformed_bodies() {
    let s = TestServer::start().await;
    let post = reqwest::Method::POST;
    // (body, HTTP status, error_code), as Confluent answers each.
    let cases: [(&[u8], u16, i64); 9] = [
        (b"{", 400, 400),
        (b"[]", 400, 400),
        // An array whose items would fill the request's fields in order is still not an object.
        (
            br#"["\"int\"", null, null, null, null, null, null]"#,
            400,
            400,
        ),
        (b"42", 400, 400),
        (b"", 422, 422),
        (b"null", 422, 422),
        (b"{}", 422, 42201),
        (br#"{"schema":{"type":"int"}}"#, 400, 400),
        (&[0xff, 0xfe], 400, 400),
    ];
    for (body, status, code) in cases {
        let resp = raw(
            &s,
            post.clone(),
            "/subjects/x/versions",
            Some(CT),
            body.to_vec(),
        )
        .await;
        assert_error(&resp, status, code);
    }
    // Content types: Confluent's four are accepted, others (and none) refused.
    for ct in [
        "application/json",
        "application/vnd.schemaregistry+json",
        "application/octet-stream",
        "application/json; charset=utf-8",
    ] {
        let r = raw(
            &s,
            post.clone(),
            "/subjects/ct/versions",
            Some(ct),
            br#"{"schema":"\"int\""}"#.to_vec(),
        )
        .await;
        assert_eq!(r.0, 200, "{ct}: {:?}", r.1);
    }
    assert_error(
        &raw(
            &s,
            post.clone(),
            "/subjects/x/versions",
            Some("text/plain"),
            br#"{"schema":"\"int\""}"#.to_vec(),
        )
        .await,
        415,
        415,
    );
    assert_error(
        &raw(
            &s,
            post.clone(),
            "/subjects/x/versions",
            None,
            br#"{"schema":"\"int\""}"#.to_vec(),
        )
        .await,
        415,
        415,
    );
    // Nothing was written by any of the refused requests.
    assert_eq!(s.get("/subjects").await.1, json!(["ct"]));
}

#[tokio::test]
async fn invalid_schemas_are_42201() {
    let s = TestServer::start().await;
    let bad = [
        "{\"type\":\"record\",\"name\":\"R\"}",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"Nope\"}]}",
        "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"A\"]}",
        "{\"type\":\"fixed\",\"name\":\"F\"}",
        "not json",
        "42",
        "[\"int\",\"int\"]",
    ];
    for schema in bad {
        assert_error(
            &s.post("/subjects/x/versions", json!({"schema": schema}))
                .await,
            422,
            42201,
        );
    }
    // Deep nesting is refused, not a stack overflow.
    let mut deep = String::from("\"int\"");
    for _ in 0..2000 {
        deep = format!("{{\"type\":\"array\",\"items\":{deep}}}");
    }
    assert_error(
        &s.post("/subjects/x/versions", json!({"schema": deep}))
            .await,
        422,
        42201,
    );
    assert_eq!(s.get("/subjects").await.1, json!([]));
}

#[tokio::test]
async fn oversized_bodies_and_names_are_bounded() {
    let s = TestServer::start().await;
    // The harness limits bodies to 64 KiB.
    let big = format!("{{\"schema\":\"{}\"}}", "x".repeat(100 * 1024));
    assert_error(
        &raw(
            &s,
            reqwest::Method::POST,
            "/subjects/x/versions",
            Some(CT),
            big.into_bytes(),
        )
        .await,
        413,
        413,
    );
    let long = "s".repeat(2000);
    assert_error(
        &s.post(
            &format!("/subjects/{long}/versions"),
            json!({"schema": "\"int\""}),
        )
        .await,
        422,
        42208,
    );
    assert_error(
        &s.post("/subjects/a%09b/versions", json!({"schema": "\"int\""}))
            .await,
        422,
        42208,
    );
    // Invalid UTF-8 in a path segment.
    assert_error(&s.get("/subjects/%ff%fe/versions").await, 400, 400);
}

#[tokio::test]
async fn routing_errors_and_odd_names() {
    let s = TestServer::start().await;
    assert_error(&s.get("/nope").await, 404, 404);
    assert_error(&s.get("/subjects/x/nope").await, 404, 404);
    assert_error(&s.put("/subjects", json!({})).await, 405, 405);
    assert_error(&s.delete("/schemas/types").await, 405, 405);
    // Trailing slashes are tolerated.
    assert_eq!(s.get("/subjects/").await.0, 200);
    // Subject names may hold spaces, slashes (encoded) and unicode.
    for name in ["with space", "a/b", "ünïcødé", "dots.and-dashes_"] {
        let enc = name.replace('/', "%2F").replace(' ', "%20");
        let (st, _) = s
            .post(
                &format!("/subjects/{enc}/versions"),
                json!({"schema": "\"int\""}),
            )
            .await;
        assert_eq!(st, 200, "{name}");
        let (st, body) = s.get(&format!("/subjects/{enc}/versions/1")).await;
        assert_eq!((st.as_u16(), body["subject"].as_str()), (200, Some(name)));
    }
    assert_eq!(s.get("/v1/metadata/id").await.0, 200);
    assert_eq!(s.get("/contexts").await.1, json!(["."]));
    assert_eq!(s.post("/", json!({"a": "b"})).await.1, json!({}));
    assert_error(&s.get("/subjects?limit=abc").await, 404, 404);
    // Java's trim() is ASCII-only: a Unicode space makes the version invalid.
    assert_error(
        &s.get("/subjects/with%20space/versions/%E2%80%891").await,
        422,
        42202,
    );
    assert_eq!(s.get("/subjects/with%20space/versions/%201").await.0, 200);
    assert_eq!(s.get("/subjects?offset=-1").await.0, 400);
}
