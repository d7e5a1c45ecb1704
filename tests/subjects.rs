//! Subjects and versions over real HTTP: register, ids, lookup, listings, soft and permanent
//! deletes with Confluent's state machine, references.

mod common;

use common::{assert_error, record, record_with_defaults, TestServer};
use serde_json::json;

#[tokio::test]
async fn register_assigns_ids_and_versions_and_reuses_ids_across_subjects() {
    let s = TestServer::start().await;
    let v1 = record_with_defaults("User", &["name"]);
    let v2 = record_with_defaults("User", &["name", "email"]);
    assert_eq!(s.register("users-value", &v1).await, 1);
    assert_eq!(s.register("users-value", &v2).await, 2);
    // Same schema again: same id, no new version.
    assert_eq!(s.register("users-value", &v1).await, 1);
    // Same schema, different whitespace and key order: still the same id.
    let spaced = json!({"schema": "{ \"name\" : \"User\", \"type\": \"record\", \"fields\": [ {\"type\":\"string\",\"name\":\"name\"} ] }"});
    let (st, body) = s.post("/subjects/users-value/versions", spaced).await;
    assert_eq!((st.as_u16(), body["id"].as_i64()), (200, Some(1)));
    // Same schema in another subject: same global id.
    assert_eq!(s.register("audit-value", &v2).await, 2);

    let (st, versions) = s.get("/subjects/users-value/versions").await;
    assert_eq!(st, 200);
    assert_eq!(versions, json!([1, 2]));
    let (_, subjects) = s.get("/subjects").await;
    assert_eq!(subjects, json!(["audit-value", "users-value"]));
    let (_, subjects) = s.get("/subjects?subjectPrefix=us").await;
    assert_eq!(subjects, json!(["users-value"]));
}

#[tokio::test]
async fn version_objects_latest_and_raw_schema() {
    let s = TestServer::start().await;
    let v1 = record_with_defaults("User", &["name"]);
    let v2 = record_with_defaults("User", &["name", "email"]);
    s.register("u", &v1).await;
    s.register("u", &v2).await;
    // The canonical text: Java Avro's Schema.toString() spelling.
    let canonical = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"email","type":"string","default":""}]}"#;
    for path in [
        "/subjects/u/versions/latest",
        "/subjects/u/versions/-1",
        "/subjects/u/versions/2",
    ] {
        let (st, body) = s.get(path).await;
        assert_eq!(st, 200, "{path}");
        assert_eq!(
            body,
            json!({"subject": "u", "version": 2, "id": 2, "schema": canonical}),
            "{path}"
        );
    }
    let resp = s
        .client
        .get(format!("{}/subjects/u/versions/2/schema", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], common::CT);
    assert_eq!(resp.text().await.unwrap(), canonical);
    let (_, body) = s.get("/schemas/ids/1").await;
    assert_eq!(
        body,
        json!({"schema": r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}"#})
    );
    let (_, body) = s.get("/schemas/ids/1?fetchMaxId=true").await;
    assert_eq!(body["maxId"], 2);
    let (_, text) = s.get("/schemas/ids/1/schema").await;
    assert_eq!(text["type"], "record");
    assert_error(&s.get("/subjects/u/versions/3").await, 404, 40402);
    assert_error(&s.get("/subjects/nope/versions/1").await, 404, 40401);
    assert_error(&s.get("/subjects/nope/versions").await, 404, 40401);
    assert_error(&s.get("/schemas/ids/99").await, 404, 40403);
    assert_error(&s.get("/schemas/ids/abc").await, 404, 404);
    for bad in ["0", "-2", "abc", "2147483648"] {
        assert_error(
            &s.get(&format!("/subjects/u/versions/{bad}")).await,
            422,
            42202,
        );
    }
}

#[tokio::test]
async fn ids_listings_and_schemas_endpoint() {
    let s = TestServer::start().await;
    let a = record("A", &["x"]);
    s.register("one", &a).await;
    s.register("two", &a).await;
    s.put("/config/two", json!({"compatibility": "NONE"})).await;
    s.register("two", &json!("string")).await;
    let (_, subjects) = s.get("/schemas/ids/1/subjects").await;
    assert_eq!(subjects, json!(["one", "two"]));
    let (_, versions) = s.get("/schemas/ids/1/versions").await;
    assert_eq!(
        versions,
        json!([{"subject": "one", "version": 1}, {"subject": "two", "version": 1}])
    );
    let (_, types) = s.get("/schemas/types").await;
    assert_eq!(types, json!(["AVRO"]));
    let (_, all) = s.get("/schemas").await;
    assert_eq!(all.as_array().unwrap().len(), 3);
    let (_, latest) = s.get("/schemas?latestOnly=true").await;
    assert_eq!(latest.as_array().unwrap().len(), 2);
    assert_eq!(latest[1]["version"], 2);
    let (_, page) = s.get("/schemas?offset=1&limit=1").await;
    assert_eq!(
        page,
        json!([{"subject": "two", "version": 1, "id": 1, "schema": a.to_string().replace(' ', "")}])
    );
    let (_, prefixed) = s.get("/schemas?subjectPrefix=on").await;
    assert_eq!(prefixed.as_array().unwrap().len(), 1);
    let (st, root) = s.get("/").await;
    assert_eq!((st.as_u16(), root), (200, json!({})));
}

#[tokio::test]
async fn lookup_finds_the_version_holding_a_schema() {
    let s = TestServer::start().await;
    let v1 = record_with_defaults("User", &["name"]);
    let v2 = record_with_defaults("User", &["name", "email"]);
    s.register("u", &v1).await;
    s.register("u", &v2).await;
    let (st, body) = s
        .post("/subjects/u", json!({"schema": v1.to_string()}))
        .await;
    assert_eq!(st, 200);
    assert_eq!(body["version"], 1);
    assert_eq!(body["id"], 1);
    assert_eq!(body["subject"], "u");
    assert_error(
        &s.post("/subjects/u", json!({"schema": "\"int\""})).await,
        404,
        40403,
    );
    assert_error(
        &s.post("/subjects/nope", json!({"schema": "\"int\""})).await,
        404,
        40401,
    );
    assert_error(
        &s.post("/subjects/u", json!({"schema": "{nope"})).await,
        422,
        42201,
    );
}

#[tokio::test]
async fn version_delete_state_machine() {
    let s = TestServer::start().await;
    for i in 1..=3 {
        s.register("d", &json!({"type": "enum", "name": "E", "symbols": (0..i).map(|n| format!("S{n}")).collect::<Vec<_>>()})).await;
    }
    assert_error(
        &s.delete("/subjects/d/versions/1?permanent=true").await,
        404,
        40407,
    );
    assert_eq!(s.delete("/subjects/d/versions/1").await.1, json!(1));
    assert_error(&s.delete("/subjects/d/versions/1").await, 404, 40406);
    assert_error(&s.get("/subjects/d/versions/1").await, 404, 40402);
    assert_eq!(s.get("/subjects/d/versions/1?deleted=true").await.0, 200);
    assert_eq!(s.get("/subjects/d/versions").await.1, json!([2, 3]));
    assert_eq!(
        s.get("/subjects/d/versions?deleted=true").await.1,
        json!([1, 2, 3])
    );
    assert_eq!(
        s.get("/subjects/d/versions?deletedOnly=true").await.1,
        json!([1])
    );
    assert_eq!(
        s.get("/subjects/d/versions?deleted=true&offset=1&limit=1")
            .await
            .1,
        json!([2])
    );
    // A soft-deleted schema still resolves by id: consumers must be able to read old data.
    assert_eq!(s.get("/schemas/ids/1").await.0, 200);
    assert_eq!(
        s.delete("/subjects/d/versions/1?permanent=true").await.1,
        json!(1)
    );
    assert_error(
        &s.delete("/subjects/d/versions/1?permanent=true").await,
        404,
        40402,
    );
    assert_error(&s.delete("/subjects/d/versions/1").await, 404, 40402);
    assert_error(&s.get("/schemas/ids/1").await, 404, 40403);
    assert_eq!(s.delete("/subjects/d/versions/latest").await.1, json!(3));
    assert_eq!(s.delete("/subjects/d/versions/latest").await.1, json!(2));
    assert_error(&s.delete("/subjects/d/versions/latest").await, 404, 40402);
    assert_error(&s.delete("/subjects/d/versions/0").await, 422, 42202);
    assert_error(&s.delete("/subjects/nope/versions/1").await, 404, 40401);
}

#[tokio::test]
async fn subject_delete_state_machine_and_reuse() {
    let s = TestServer::start().await;
    let v1 = record_with_defaults("User", &["name"]);
    let v2 = record_with_defaults("User", &["name", "email"]);
    s.register("s", &v1).await;
    s.register("s", &v2).await;
    assert_error(&s.delete("/subjects/s?permanent=true").await, 404, 40405);
    assert_eq!(s.delete("/subjects/s").await.1, json!([1, 2]));
    assert_error(&s.delete("/subjects/s").await, 404, 40404);
    assert_error(&s.get("/subjects/s/versions").await, 404, 40401);
    assert_error(&s.get("/subjects/s/versions/1").await, 404, 40401);
    // `latest` never names a soft-deleted version, `deleted` or not (recorded from Confluent).
    assert_error(
        &s.get("/subjects/s/versions/latest?deleted=true").await,
        404,
        40402,
    );
    assert_eq!(s.get("/subjects/s/versions/2?deleted=true").await.0, 200);
    assert_eq!(
        s.get("/subjects/s/versions?deleted=true").await.1,
        json!([1, 2])
    );
    assert_eq!(s.get("/subjects").await.1, json!([]));
    assert_eq!(s.get("/subjects?deleted=true").await.1, json!(["s"]));
    assert_eq!(s.get("/subjects?deletedOnly=true").await.1, json!(["s"]));
    assert_eq!(s.get("/schemas/ids/1/subjects").await.1, json!([]));
    assert_eq!(
        s.get("/schemas/ids/1/subjects?deleted=true").await.1,
        json!(["s"])
    );
    assert_error(
        &s.post("/subjects/s", json!({"schema": v1.to_string()}))
            .await,
        404,
        40401,
    );
    assert_eq!(
        s.post(
            "/subjects/s?deleted=true",
            json!({"schema": v1.to_string()})
        )
        .await
        .0,
        200
    );

    // Registering into a soft-deleted subject continues the numbering; an incompatible schema
    // is fine because soft-deleted versions are not checked.
    let other = record("Other", &["x"]);
    assert_eq!(s.register("s", &other).await, 3);
    assert_eq!(s.get("/subjects/s/versions").await.1, json!([3]));
    assert_eq!(s.get("/subjects/s/versions/3").await.1["version"], 3);
    assert_eq!(s.delete("/subjects/s").await.1, json!([3]));
    assert_eq!(
        s.delete("/subjects/s?permanent=true").await.1,
        json!([1, 2, 3])
    );
    assert_error(&s.delete("/subjects/s?permanent=true").await, 404, 40401);
    assert_error(&s.get("/schemas/ids/1").await, 404, 40403);
    // Ids are never reused; versions restart at 1.
    assert_eq!(s.register("s", &v1).await, 4);
    assert_eq!(s.get("/subjects/s/versions").await.1, json!([1]));
}

#[tokio::test]
async fn reregistering_a_soft_deleted_schema_reuses_its_id_in_a_new_version() {
    let s = TestServer::start().await;
    s.put("/config/r", json!({"compatibility": "NONE"})).await;
    let a = json!({"type": "enum", "name": "E", "symbols": ["A"]});
    let b = json!({"type": "enum", "name": "E", "symbols": ["A", "B"]});
    s.register("r", &a).await;
    s.register("r", &b).await;
    s.delete("/subjects/r/versions/1").await;
    assert_eq!(s.register("r", &a).await, 1);
    assert_eq!(s.get("/subjects/r/versions").await.1, json!([2, 3]));
    // The old soft-deleted version with that id is gone for good.
    assert_eq!(
        s.get("/subjects/r/versions?deleted=true").await.1,
        json!([2, 3])
    );
}

#[tokio::test]
async fn permanent_subject_delete_clears_its_config_and_mode() {
    let s = TestServer::start().await;
    s.register("c", &json!("string")).await;
    assert_eq!(
        s.put("/config/c", json!({"compatibility": "NONE"})).await.0,
        200
    );
    assert_eq!(s.put("/mode/c", json!({"mode": "READWRITE"})).await.0, 200);
    s.delete("/subjects/c").await;
    s.delete("/subjects/c?permanent=true").await;
    assert_error(&s.get("/config/c").await, 404, 40408);
    assert_error(&s.get("/mode/c").await, 404, 40409);
}

#[tokio::test]
async fn references_resolve_and_protect_what_they_point_at() {
    let s = TestServer::start().await;
    let address = json!({"type": "record", "name": "Address", "namespace": "acme",
        "fields": [{"name": "street", "type": "string"}]});
    let addr_id = s.register("address", &address).await;
    let person = json!({"type": "record", "name": "Person", "namespace": "acme",
        "fields": [{"name": "home", "type": "Address"}]});
    // Without the reference the type is unknown.
    assert_error(
        &s.post(
            "/subjects/person/versions",
            json!({"schema": person.to_string()}),
        )
        .await,
        422,
        42201,
    );
    let refs = json!([{"name": "acme.Address", "subject": "address", "version": 1}]);
    let (st, body) = s
        .post(
            "/subjects/person/versions",
            json!({"schema": person.to_string(), "references": refs}),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let person_id = body["id"].as_i64().unwrap();
    assert_ne!(person_id, addr_id);
    let (_, v) = s.get("/subjects/person/versions/1").await;
    assert_eq!(v["references"], refs);
    let (_, by_id) = s.get(&format!("/schemas/ids/{person_id}")).await;
    assert_eq!(by_id["references"], refs);
    assert_eq!(
        s.get("/subjects/address/versions/1/referencedby").await.1,
        json!([person_id])
    );
    // A referenced schema cannot be deleted.
    assert_error(&s.delete("/subjects/address/versions/1").await, 422, 42206);
    assert_error(&s.delete("/subjects/address").await, 422, 42206);
    // Lookup with the references finds it.
    let (st, found) = s
        .post(
            "/subjects/person",
            json!({"schema": person.to_string(), "references": refs}),
        )
        .await;
    assert_eq!((st.as_u16(), found["version"].as_i64()), (200, Some(1)));
    // A reference to a missing version is an invalid schema.
    let bad = json!([{"name": "acme.Address", "subject": "address", "version": 9}]);
    assert_error(
        &s.post(
            "/subjects/p2/versions",
            json!({"schema": person.to_string(), "references": bad}),
        )
        .await,
        422,
        42201,
    );
    // Once the referrer is gone, the referenced schema can be deleted.
    s.delete("/subjects/person").await;
    assert_eq!(
        s.get("/subjects/address/versions/1/referencedby").await.1,
        json!([])
    );
    assert_eq!(s.delete("/subjects/address/versions/1").await.0, 200);
}

#[tokio::test]
async fn normalize_makes_differently_qualified_names_one_schema() {
    let s = TestServer::start().await;
    let short = json!({"type": "record", "name": "R", "namespace": "n",
        "fields": [{"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A"]}}, {"name": "f", "type": "E"}]});
    let full = json!({"type": "record", "name": "n.R",
        "fields": [{"name": "e", "type": {"type": "enum", "name": "n.E", "symbols": ["A"]}}, {"name": "f", "type": "n.E"}]});
    let (_, a) = s
        .post(
            "/subjects/n/versions?normalize=true",
            json!({"schema": short.to_string()}),
        )
        .await;
    let (_, b) = s
        .post(
            "/subjects/n/versions?normalize=true",
            json!({"schema": full.to_string()}),
        )
        .await;
    assert_eq!(a["id"], b["id"]);
    assert_eq!(s.get("/subjects/n/versions").await.1, json!([1]));
    let (st, _) = s
        .post(
            "/subjects/n?normalize=true",
            json!({"schema": full.to_string()}),
        )
        .await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn schema_type_is_checked() {
    let s = TestServer::start().await;
    let (st, _) = s
        .post(
            "/subjects/t/versions",
            json!({"schema": "\"int\"", "schemaType": "AVRO"}),
        )
        .await;
    assert_eq!(st, 200);
    // Case-sensitive, as Confluent.
    assert_error(
        &s.post(
            "/subjects/t/versions",
            json!({"schema": "\"int\"", "schemaType": "avro"}),
        )
        .await,
        422,
        42201,
    );
    assert_error(
        &s.post(
            "/subjects/t/versions",
            json!({"schema": "\"int\"", "schemaType": "XML"}),
        )
        .await,
        422,
        42201,
    );
    // Unknown fields are ignored, as Confluent does.
    let (st, _) = s
        .post(
            "/subjects/t/versions",
            json!({"schema": "\"int\"", "unknown": 1}),
        )
        .await;
    assert_eq!(st, 200);
}
