//! Config (compatibility levels) and modes (READONLY, READONLY_OVERRIDE, IMPORT) over real HTTP.

mod common;

use common::{assert_error, record, record_with_defaults, TestServer};
use serde_json::json;

#[tokio::test]
async fn global_and_subject_config() {
    let s = TestServer::start().await;
    assert_eq!(
        s.get("/config").await.1,
        json!({"compatibilityLevel": "BACKWARD"})
    );
    let (st, body) = s.put("/config", json!({"compatibility": "full"})).await;
    assert_eq!((st.as_u16(), body), (200, json!({"compatibility": "FULL"})));
    assert_eq!(
        s.get("/config").await.1,
        json!({"compatibilityLevel": "FULL"})
    );
    assert_error(&s.get("/config/orders").await, 404, 40408);
    assert_eq!(
        s.get("/config/orders?defaultToGlobal=true").await.1,
        json!({"compatibilityLevel": "FULL"})
    );
    let (st, _) = s
        .put(
            "/config/orders",
            json!({"compatibility": "NONE", "unknownKey": 1}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        s.get("/config/orders").await.1,
        json!({"compatibilityLevel": "NONE"})
    );
    // A config alone does not create a subject.
    assert_eq!(s.get("/subjects").await.1, json!([]));
    assert_eq!(
        s.delete("/config/orders").await.1,
        json!({"compatibilityLevel": "NONE"})
    );
    assert_error(&s.get("/config/orders").await, 404, 40408);
    assert_error(&s.delete("/config/orders").await, 404, 40401);
    for bad in [
        json!({"compatibility": "NOPE"}),
        json!({"compatibility": ""}),
        json!({"compatibility": 5}),
    ] {
        let r = s.put("/config", bad.clone()).await;
        assert!(r.0 == 422 || r.0 == 400, "{bad}: {r:?}");
    }
    assert_error(
        &s.put("/config", json!({"compatibility": "NOPE"})).await,
        422,
        42203,
    );
    // normalize is kept and reported; the level falls back to the global one.
    let (st, body) = s.put("/config/n", json!({"normalize": true})).await;
    assert_eq!((st.as_u16(), body), (200, json!({"normalize": true})));
    assert_eq!(
        s.get("/config/n").await.1,
        json!({"compatibilityLevel": "FULL", "normalize": true})
    );
    assert_eq!(
        s.delete("/config").await.1,
        json!({"compatibilityLevel": "FULL"})
    );
    assert_eq!(
        s.get("/config").await.1,
        json!({"compatibilityLevel": "BACKWARD"})
    );
}

#[tokio::test]
async fn read_only_modes_refuse_writes_but_serve_reads() {
    let s = TestServer::start().await;
    s.register("ro", &record("A", &["x"])).await;
    assert_eq!(s.get("/mode").await.1, json!({"mode": "READWRITE"}));
    assert_error(&s.get("/mode/ro").await, 404, 40409);
    assert_eq!(
        s.get("/mode/ro?defaultToGlobal=true").await.1,
        json!({"mode": "READWRITE"})
    );
    assert_eq!(
        s.put("/mode/ro", json!({"mode": "READONLY"})).await.1,
        json!({"mode": "READONLY"})
    );
    assert_eq!(s.get("/mode/ro").await.1, json!({"mode": "READONLY"}));
    let v2 = json!({"schema": record_with_defaults("A", &["x", "y"]).to_string()});
    assert_error(
        &s.post("/subjects/ro/versions", v2.clone()).await,
        422,
        42205,
    );
    assert_error(&s.delete("/subjects/ro/versions/1").await, 422, 42205);
    assert_error(&s.delete("/subjects/ro").await, 422, 42205);
    assert_error(
        &s.put("/config/ro", json!({"compatibility": "NONE"})).await,
        422,
        42205,
    );
    // Reads, lookups and compatibility checks still work.
    assert_eq!(s.get("/subjects/ro/versions/1").await.0, 200);
    assert_eq!(
        s.post(
            "/subjects/ro",
            json!({"schema": record("A", &["x"]).to_string()})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        s.post("/compatibility/subjects/ro/versions/latest", v2.clone())
            .await
            .0,
        200
    );
    // Other subjects are unaffected.
    s.register("rw", &record("B", &["x"])).await;
    assert_eq!(s.delete("/mode/ro").await.1, json!({"mode": "READONLY"}));
    assert_error(&s.delete("/mode/ro").await, 404, 40401);
    assert_eq!(s.post("/subjects/ro/versions", v2.clone()).await.0, 200);

    // A global READONLY_OVERRIDE wins over a subject's own mode.
    s.put("/mode/rw", json!({"mode": "READWRITE"})).await;
    s.put("/mode", json!({"mode": "READONLY_OVERRIDE"})).await;
    assert_error(
        &s.post("/subjects/rw/versions", json!({"schema": "\"long\""}))
            .await,
        422,
        42205,
    );
    s.put("/mode", json!({"mode": "READWRITE"})).await;
    assert_error(&s.put("/mode", json!({"mode": "NOPE"})).await, 422, 42204);
    assert_error(&s.put("/mode", json!({})).await, 422, 42204);
}

#[tokio::test]
async fn import_mode_keeps_ids_and_versions() {
    let s = TestServer::start().await;
    s.register("live", &json!("string")).await;
    // Entering IMPORT with live subjects needs force.
    assert_error(&s.put("/mode", json!({"mode": "IMPORT"})).await, 422, 42205);
    let (st, _) = s.put("/mode/imp", json!({"mode": "IMPORT"})).await;
    assert_eq!(st, 200);
    let a = record("A", &["x"]);
    let (st, body) = s
        .post(
            "/subjects/imp/versions",
            json!({"schema": a.to_string(), "id": 100, "version": 3}),
        )
        .await;
    assert_eq!((st.as_u16(), body), (200, json!({"id": 100})));
    // No compatibility check in IMPORT, and gaps are allowed.
    let b = record("B", &["y"]);
    let (st, _) = s
        .post(
            "/subjects/imp/versions",
            json!({"schema": b.to_string(), "id": 7, "version": 1}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(s.get("/subjects/imp/versions").await.1, json!([1, 3]));
    assert_eq!(s.get("/schemas/ids/100").await.0, 200);
    // IMPORT needs an id; an id already used by other content is refused.
    assert_error(
        &s.post("/subjects/imp/versions", json!({"schema": "\"int\""}))
            .await,
        422,
        42205,
    );
    assert_error(
        &s.post(
            "/subjects/imp/versions",
            json!({"schema": "\"int\"", "id": 100}),
        )
        .await,
        422,
        42205,
    );
    // Outside IMPORT an explicit id is refused.
    assert_error(
        &s.post(
            "/subjects/live/versions",
            json!({"schema": "\"int\"", "id": 500}),
        )
        .await,
        422,
        42205,
    );
    // Back to READWRITE: new ids continue above the imported ones.
    s.delete("/mode/imp").await;
    let (_, body) = s
        .post(
            "/subjects/imp/versions",
            json!({"schema": record("A", &["x"]).to_string()}),
        )
        .await;
    assert_eq!(body["id"], 100, "existing content keeps its imported id");
    let id = s.register("fresh", &json!("bytes")).await;
    assert_eq!(id, 101);
    assert_eq!(
        s.put("/mode?force=true", json!({"mode": "IMPORT"})).await.0,
        200
    );
}

#[tokio::test]
async fn explicit_version_outside_import_must_be_next() {
    let s = TestServer::start().await;
    s.register("v", &json!("string")).await;
    s.put("/config/v", json!({"compatibility": "NONE"})).await;
    assert_error(
        &s.post(
            "/subjects/v/versions",
            json!({"schema": "\"int\"", "version": 5}),
        )
        .await,
        422,
        42201,
    );
    let (st, _) = s
        .post(
            "/subjects/v/versions",
            json!({"schema": "\"string\"", "version": 0}),
        )
        .await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn the_top_of_the_id_and_version_range_is_an_error_not_a_panic() {
    let s = TestServer::start().await;
    s.put("/mode/imp", json!({"mode": "IMPORT"})).await;
    let (st, _) = s
        .post(
            "/subjects/imp/versions",
            json!({"schema": "\"string\"", "id": i32::MAX, "version": i32::MAX}),
        )
        .await;
    assert_eq!(st, 200);
    s.delete("/mode/imp").await;
    s.put("/config/imp", json!({"compatibility": "NONE"})).await;
    // No id left for new content, and no version left in this subject: clear refusals.
    assert_error(
        &s.post("/subjects/other/versions", json!({"schema": "\"int\""}))
            .await,
        422,
        42205,
    );
    assert_error(
        &s.post("/subjects/imp/versions", json!({"schema": "\"int\""}))
            .await,
        422,
        42205,
    );
    let (st, _) = s
        .post(
            "/subjects/imp/versions",
            json!({"schema": "\"int\"", "version": i32::MIN}),
        )
        .await;
    assert_eq!(st, 422);
    // Content that already has an id still registers elsewhere.
    let (st, body) = s
        .post("/subjects/again/versions", json!({"schema": "\"string\""}))
        .await;
    assert_eq!(
        (st.as_u16(), body["id"].as_i64()),
        (200, Some(i64::from(i32::MAX)))
    );
}

#[tokio::test]
async fn deleting_the_last_version_for_good_clears_the_subjects_settings() {
    let s = TestServer::start().await;
    s.register("last", &json!("string")).await;
    s.put("/config/last", json!({"compatibility": "NONE"}))
        .await;
    s.put("/mode/last", json!({"mode": "READWRITE"})).await;
    s.delete("/subjects/last/versions/1").await;
    assert_eq!(
        s.delete("/subjects/last/versions/1?permanent=true").await.0,
        200
    );
    assert_error(&s.get("/config/last").await, 404, 40408);
    assert_error(&s.get("/mode/last").await, 404, 40409);
}

#[tokio::test]
async fn global_read_only_guards_global_config_and_override_shows_per_subject() {
    let s = TestServer::start().await;
    s.put("/mode/sub", json!({"mode": "READWRITE"})).await;
    s.put("/mode", json!({"mode": "READONLY"})).await;
    assert_error(
        &s.put("/config", json!({"compatibility": "NONE"})).await,
        422,
        42205,
    );
    assert_error(&s.delete("/config").await, 422, 42205);
    s.put("/mode", json!({"mode": "READONLY_OVERRIDE"})).await;
    assert_eq!(
        s.get("/mode/sub").await.1,
        json!({"mode": "READONLY_OVERRIDE"})
    );
    s.put("/mode", json!({"mode": "READWRITE"})).await;
    assert_eq!(s.get("/mode/sub").await.1, json!({"mode": "READWRITE"}));
    assert_eq!(
        s.put("/config", json!({"compatibility": "NONE"})).await.0,
        200
    );
}

#[tokio::test]
async fn content_imported_under_two_ids_stays_findable_when_one_goes() {
    let s = TestServer::start().await;
    s.put("/mode", json!({"mode": "IMPORT"})).await;
    let schema = record("Twice", &["x"]).to_string();
    for (subject, id) in [("first", 100), ("second", 200)] {
        let (st, body) = s
            .post(
                &format!("/subjects/{subject}/versions"),
                json!({"schema": schema, "id": id}),
            )
            .await;
        assert_eq!((st.as_u16(), body), (200, json!({"id": id})));
    }
    s.put("/mode", json!({"mode": "READWRITE"})).await;
    s.delete("/subjects/first").await;
    s.delete("/subjects/first?permanent=true").await;
    // The content still has id 200: re-registering it finds that, not a new id.
    let (_, body) = s
        .post("/subjects/second/versions", json!({"schema": schema}))
        .await;
    assert_eq!(body, json!({"id": 200}));
    assert_eq!(s.get("/subjects/second/versions").await.1, json!([1]));
    let (_, body) = s
        .post("/subjects/third/versions", json!({"schema": schema}))
        .await;
    assert_eq!(body, json!({"id": 200}));
}
