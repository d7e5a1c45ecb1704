//! The seven compatibility levels over real HTTP: enforced on register (409) and reported by
//! the `/compatibility` endpoints in Confluent's response shape.

mod common;

use common::{assert_error, TestServer};
use serde_json::{json, Value};

/// A record `R` with the given fields; a field is `(name, type, default)`.
fn rec(fields: &[(&str, &str, Option<Value>)]) -> Value {
    let fields: Vec<Value> = fields
        .iter()
        .map(|(name, ty, default)| {
            let mut f = json!({"name": name, "type": ty});
            if let Some(d) = default {
                f["default"] = d.clone();
            }
            f
        })
        .collect();
    json!({"type": "record", "name": "R", "fields": fields})
}

async fn register(s: &TestServer, subject: &str, schema: &Value) -> (u16, Value) {
    let (st, body) = s
        .post(
            &format!("/subjects/{subject}/versions"),
            json!({"schema": schema.to_string()}),
        )
        .await;
    (st.as_u16(), body)
}

async fn check(s: &TestServer, subject: &str, version: &str, schema: &Value) -> Value {
    let path = if version.is_empty() {
        format!("/compatibility/subjects/{subject}/versions?verbose=true")
    } else {
        format!("/compatibility/subjects/{subject}/versions/{version}?verbose=true")
    };
    let (st, body) = s.post(&path, json!({"schema": schema.to_string()})).await;
    assert_eq!(st, 200, "{path}: {body}");
    body
}

async fn set_level(s: &TestServer, subject: &str, level: &str) {
    let (st, _) = s
        .put(
            &format!("/config/{subject}"),
            json!({"compatibility": level}),
        )
        .await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn backward_is_the_default_and_names_the_cause() {
    let s = TestServer::start().await;
    let v1 = rec(&[("name", "string", None)]);
    assert_eq!(register(&s, "b", &v1).await.0, 200);
    let no_default = rec(&[("name", "string", None), ("age", "int", None)]);
    let (st, body) = register(&s, "b", &no_default).await;
    assert_eq!(st, 409, "{body}");
    assert_eq!(body["error_code"], 409);
    let msg = body["message"].as_str().unwrap();
    assert!(
        msg.starts_with(r#"Schema being registered is incompatible with an earlier schema for subject "b", details: [{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE'"#),
        "{msg}"
    );
    let verdict = check(&s, "b", "latest", &no_default).await;
    assert_eq!(verdict["is_compatible"], false);
    let messages: Vec<&str> = verdict["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        vec![
            "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'age' at path '/fields/1' in the new schema has no default value and is missing in the old schema', additionalInfo:'age'}",
            "{oldSchemaVersion: 1}",
            r#"{oldSchema: '{"type":"record","name":"R","fields":[{"name":"name","type":"string"}]}'}"#,
            "{validateFields: 'false', compatibility: 'BACKWARD'}",
        ]
    );
    // A type change names the path and both types.
    let retyped = rec(&[("name", "int", None)]);
    let verdict = check(&s, "b", "1", &retyped).await;
    assert!(verdict["messages"][0]
        .as_str()
        .unwrap()
        .contains("reader type: INT not compatible with writer type: STRING"));
    // With a default the new field is fine; without verbose there are no messages.
    let with_default = rec(&[("name", "string", None), ("age", "int", Some(json!(0)))]);
    let (st, body) = s
        .post(
            "/compatibility/subjects/b/versions/latest",
            json!({"schema": with_default.to_string()}),
        )
        .await;
    assert_eq!((st.as_u16(), body), (200, json!({"is_compatible": true})));
    assert_eq!(register(&s, "b", &with_default).await.0, 200);
}

#[tokio::test]
async fn transitive_levels_check_every_live_version() {
    // v3 reads v2 but not v1: accepted by BACKWARD, refused by BACKWARD_TRANSITIVE.
    let v1 = rec(&[("a", "string", None)]);
    let v2 = rec(&[("a", "string", None), ("b", "string", Some(json!("x")))]);
    let v3 = rec(&[("b", "string", None)]);
    for (level, accepted) in [("BACKWARD", true), ("BACKWARD_TRANSITIVE", false)] {
        let s = TestServer::start().await;
        set_level(&s, "t", level).await;
        register(&s, "t", &v1).await;
        register(&s, "t", &v2).await;
        assert_eq!(
            check(&s, "t", "", &v3).await["is_compatible"],
            accepted,
            "{level}"
        );
        assert_eq!(register(&s, "t", &v3).await.0 == 200, accepted, "{level}");
    }
    // Soft-deleted versions are not checked.
    let s = TestServer::start().await;
    set_level(&s, "t", "BACKWARD_TRANSITIVE").await;
    register(&s, "t", &v1).await;
    register(&s, "t", &v2).await;
    s.delete("/subjects/t/versions/1").await;
    assert_eq!(register(&s, "t", &v3).await.0, 200);
}

#[tokio::test]
async fn forward_levels_check_that_old_readers_cope() {
    // Removing a field the old schema needs breaks old readers.
    let s = TestServer::start().await;
    set_level(&s, "f", "FORWARD").await;
    register(
        &s,
        "f",
        &rec(&[("a", "string", None), ("b", "string", None)]),
    )
    .await;
    let removed = rec(&[("a", "string", None)]);
    let verdict = check(&s, "f", "latest", &removed).await;
    assert_eq!(verdict["is_compatible"], false);
    assert!(verdict["messages"][0]
        .as_str()
        .unwrap()
        .contains("in the old schema has no default value and is missing in the new schema"));
    // Adding a field without a default is fine for old readers.
    let added = rec(&[
        ("a", "string", None),
        ("b", "string", None),
        ("c", "int", None),
    ]);
    assert_eq!(register(&s, "f", &added).await.0, 200);

    // v3 is readable by v2 (b has a default there) but not by v1.
    let v1 = rec(&[("a", "string", None), ("b", "string", None)]);
    let v2 = rec(&[("a", "string", None), ("b", "string", Some(json!("")))]);
    let v3 = rec(&[("a", "string", None)]);
    for (level, accepted) in [("FORWARD", true), ("FORWARD_TRANSITIVE", false)] {
        let s = TestServer::start().await;
        set_level(&s, "ft", level).await;
        assert_eq!(register(&s, "ft", &v1).await.0, 200);
        assert_eq!(register(&s, "ft", &v2).await.0, 200);
        assert_eq!(register(&s, "ft", &v3).await.0 == 200, accepted, "{level}");
    }
}

#[tokio::test]
async fn full_levels_check_both_directions() {
    let s = TestServer::start().await;
    set_level(&s, "full", "FULL").await;
    register(&s, "full", &rec(&[("a", "string", None)])).await;
    // New field without default: old data cannot be read by the new schema.
    assert_eq!(
        register(
            &s,
            "full",
            &rec(&[("a", "string", None), ("b", "int", None)])
        )
        .await
        .0,
        409
    );
    // Removing a field without default: new data cannot be read by the old schema.
    assert_eq!(register(&s, "full", &rec(&[])).await.0, 409);
    // Defaults make both directions work.
    assert_eq!(
        register(
            &s,
            "full",
            &rec(&[("a", "string", None), ("b", "int", Some(json!(1)))])
        )
        .await
        .0,
        200
    );

    // v3 is fully compatible with v2 but not with v1.
    let v1 = rec(&[("a", "string", None)]);
    let v2 = rec(&[("a", "string", Some(json!("z")))]);
    let v3 = rec(&[]);
    for (level, accepted) in [("FULL", true), ("FULL_TRANSITIVE", false)] {
        let s = TestServer::start().await;
        set_level(&s, "fu", level).await;
        assert_eq!(register(&s, "fu", &v1).await.0, 200);
        assert_eq!(register(&s, "fu", &v2).await.0, 200);
        assert_eq!(
            check(&s, "fu", "", &v3).await["is_compatible"],
            accepted,
            "{level}"
        );
        assert_eq!(register(&s, "fu", &v3).await.0 == 200, accepted, "{level}");
    }
}

#[tokio::test]
async fn none_accepts_anything_and_subject_level_overrides_global() {
    let s = TestServer::start().await;
    s.put("/config", json!({"compatibility": "NONE"})).await;
    register(&s, "n", &rec(&[("a", "string", None)])).await;
    assert_eq!(register(&s, "n", &json!("int")).await.0, 200);
    // Subject level wins over the global NONE.
    set_level(&s, "strict", "FULL").await;
    register(&s, "strict", &rec(&[("a", "string", None)])).await;
    assert_eq!(register(&s, "strict", &json!("int")).await.0, 409);
    // Deleting the subject level falls back to global.
    s.delete("/config/strict").await;
    assert_eq!(register(&s, "strict", &json!("int")).await.0, 200);
}

#[tokio::test]
async fn compatibility_endpoint_edge_cases() {
    let s = TestServer::start().await;
    let schema = rec(&[("a", "string", None)]);
    // Nothing to compare against: compatible.
    assert_eq!(
        check(&s, "none", "latest", &schema).await,
        json!({"is_compatible": true, "messages": []})
    );
    assert_eq!(check(&s, "none", "", &schema).await["is_compatible"], true);
    // A numbered version must exist: 40402, never 40401.
    let r = s
        .post(
            "/compatibility/subjects/none/versions/5",
            json!({"schema": schema.to_string()}),
        )
        .await;
    assert_error(&r, 404, 40402);
    let r = s
        .post(
            "/compatibility/subjects/none/versions/zero",
            json!({"schema": schema.to_string()}),
        )
        .await;
    assert_error(&r, 422, 42202);
    // An invalid schema is 42201, or a verdict with the reason when verbose.
    let r = s
        .post(
            "/compatibility/subjects/none/versions/latest",
            json!({"schema": "{bad"}),
        )
        .await;
    assert_error(&r, 422, 42201);
    register(&s, "x", &schema).await;
    let verdict = check(&s, "x", "latest", &json!({"type": "nope"})).await;
    assert_eq!(verdict["is_compatible"], false);
    assert!(verdict["messages"][0]
        .as_str()
        .unwrap()
        .contains("Invalid schema"));
    // Re-registering the same schema skips the check even when it would now fail.
    set_level(&s, "x", "FULL").await;
    register(
        &s,
        "x",
        &rec(&[("a", "string", None), ("b", "int", Some(json!(0)))]),
    )
    .await;
    assert_eq!(register(&s, "x", &schema).await.0, 200);
}

#[tokio::test]
async fn references_are_resolved_before_checking() {
    let s = TestServer::start().await;
    let addr_v1 = json!({"type": "record", "name": "Address", "fields": [{"name": "street", "type": "string"}]});
    let addr_v2 = json!({"type": "record", "name": "Address", "fields": [{"name": "street", "type": "string"}, {"name": "zip", "type": "string", "default": ""}]});
    register(&s, "addr", &addr_v1).await;
    s.put("/config/addr", json!({"compatibility": "NONE"}))
        .await;
    register(&s, "addr", &addr_v2).await;
    let person = json!({"type": "record", "name": "Person", "fields": [{"name": "home", "type": "Address"}]});
    let refs_v1 = json!([{"name": "Address", "subject": "addr", "version": 1}]);
    let refs_v2 = json!([{"name": "Address", "subject": "addr", "version": 2}]);
    let (st, _) = s
        .post(
            "/subjects/p/versions",
            json!({"schema": person.to_string(), "references": refs_v1}),
        )
        .await;
    assert_eq!(st, 200);
    // Same root text, newer (compatible) reference: a new version.
    let (st, body) = s
        .post(
            "/subjects/p/versions",
            json!({"schema": person.to_string(), "references": refs_v2}),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(s.get("/subjects/p/versions").await.1, json!([1, 2]));
}
