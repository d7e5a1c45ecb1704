//! Client behaviour against a scripted HTTP server: single-flight counted on the server side,
//! retries, Basic auth, URL fail-over, and the GUID forms (header and prefix).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Scripted;
use schemata_serde::wire::{write_guid_prefix, SchemaRef};
use schemata_serde::{Config, Deserializer, Error, Incoming, Part, RegistryClient, Value};

const STRING_SCHEMA: &str = r#"{"schema":"\"string\""}"#;

fn fast_retries(url: &str) -> schemata_serde::ConfigBuilder {
    Config::builder(url).retry_backoff(Duration::from_millis(5), Duration::from_millis(20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_gets_make_one_server_call() {
    // A slow answer keeps every caller waiting on the same in-flight request.
    let server = Scripted::start(Duration::from_millis(200), |_, _| {
        (200, STRING_SCHEMA.to_string())
    })
    .await;
    let client = RegistryClient::new(Config::builder(&server.url).build()).unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.schema_by_id(5).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(
            t.await.unwrap().unwrap().schema(),
            &apache_avro::Schema::String
        );
    }
    assert_eq!(server.requests(), 1, "64 concurrent gets, one HTTP call");
    assert_eq!(server.seen.lock().unwrap()[0].path, "/schemas/ids/5");
    client.schema_by_id(5).await.unwrap();
    assert_eq!(server.requests(), 1, "then served from cache");
}

#[tokio::test]
async fn retries_5xx_but_not_4xx() {
    let server = Scripted::start(Duration::ZERO, |req, n| {
        if req.path.ends_with("/1") && n < 2 {
            (503, "busy".into())
        } else if req.path.ends_with("/1") {
            (200, STRING_SCHEMA.into())
        } else {
            (
                404,
                r#"{"error_code":40403,"message":"Schema 2 not found"}"#.into(),
            )
        }
    })
    .await;
    let client = RegistryClient::new(fast_retries(&server.url).build()).unwrap();
    client.schema_by_id(1).await.unwrap();
    assert_eq!(server.requests(), 3, "two 503s, then success");
    let err = client.schema_by_id(2).await.unwrap_err();
    assert_eq!(err.error_code(), Some(40403));
    assert!(err.to_string().contains("Schema 2 not found"));
    assert_eq!(server.requests(), 4, "404 is not retried");

    let always = Scripted::start(Duration::ZERO, |_, _| (500, "{}".into())).await;
    let client = RegistryClient::new(fast_retries(&always.url).max_retries(2).build()).unwrap();
    let err = client.schema_by_id(1).await.unwrap_err();
    assert!(matches!(err, Error::Registry { status: 500, .. }), "{err}");
    assert_eq!(always.requests(), 3, "one try plus max_retries");
}

#[tokio::test]
async fn fails_over_to_the_next_url_and_sends_basic_auth() {
    let server = Scripted::start(Duration::ZERO, |_, _| (200, STRING_SCHEMA.into())).await;
    // Nothing listens on the first URL (a bound-then-dropped port).
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let client = RegistryClient::new(
        fast_retries(&format!("{dead_url},{}", server.url))
            .basic_auth("svc", "s3cret")
            .build(),
    )
    .unwrap();
    client.schema_by_id(1).await.unwrap();
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    // base64("svc:s3cret")
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Basic c3ZjOnMzY3JldA==")
    );
}

#[tokio::test]
async fn guid_header_and_guid_prefix_fetch_by_guid() {
    let guid = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    let server = Scripted::start(Duration::ZERO, |req, _| {
        if req.path == "/schemas/guids/01234567-89ab-cdef-0123-456789abcdef" {
            (200, STRING_SCHEMA.into())
        } else {
            (404, r#"{"error_code":40403,"message":"no"}"#.into())
        }
    })
    .await;
    let client = RegistryClient::new(Config::builder(&server.url).build()).unwrap();
    let de = Deserializer::new(client.clone());
    let datum = [6u8, b'a', b'b', b'c'];

    // Header form: raw datum in the payload, GUID frame in `__value_schema_id`.
    let mut header = Vec::new();
    write_guid_prefix(&mut header, guid);
    assert_eq!(Part::Value.header(), "__value_schema_id");
    let v = de
        .deserialize_value(Incoming::new(Some(&datum)).header(Some(&header)))
        .await
        .unwrap();
    assert_eq!(v, Some(Value::String("abc".into())));

    // Prefix form: 0x01 + GUID + datum.
    let mut payload = header.clone();
    payload.extend_from_slice(&datum);
    let (at, _) = de.writer_schema(&payload).await.unwrap().unwrap();
    assert_eq!(at, SchemaRef::Guid(guid));
    assert_eq!(
        de.deserialize_value(&payload).await.unwrap(),
        Some(Value::String("abc".into()))
    );
    assert_eq!(server.requests(), 1, "GUID schemas are cached too");

    // A header wins over a payload that happens to look like an id prefix: the payload is
    // read as a bare datum (a zero-length string), and schema id 4 is never fetched.
    let looks_prefixed = [0u8, 0, 0, 0, 4];
    let v = de
        .deserialize_value(Incoming::new(Some(&looks_prefixed)).header(Some(&header)))
        .await
        .unwrap();
    assert_eq!(v, Some(Value::String(String::new())));
    assert_eq!(server.requests(), 1, "no id lookup happened");

    // Malformed header.
    assert!(matches!(
        de.deserialize_value(Incoming::new(Some(&datum)).header(Some(&[1, 2, 3])))
            .await,
        Err(Error::Wire(_))
    ));
}

#[tokio::test]
async fn non_avro_schemas_are_refused() {
    let server = Scripted::start(Duration::ZERO, |_, _| {
        (
            200,
            r#"{"schemaType":"PROTOBUF","schema":"syntax = \"proto3\";"}"#.into(),
        )
    })
    .await;
    let client = RegistryClient::new(Config::builder(&server.url).build()).unwrap();
    assert!(matches!(
        client.schema_by_id(1).await,
        Err(Error::NotAvro { .. })
    ));
    let client = Arc::new(client);
    assert!(
        client.schema_by_id(1).await.is_err(),
        "failures are not cached"
    );
    assert_eq!(server.requests(), 2);
}
