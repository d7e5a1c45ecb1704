//! Round trips through a real Schemata server on loopback: serde, derive and `Value` paths,
//! subject strategies, registration modes, schema evolution and the warm-cache promise.

mod common;

use std::sync::Arc;

use common::Schemata;
use schemata_serde::{
    AvroSchema, Deserializer, Error, Incoming, ParsedSchema, Part, Serializer, SubjectNameStrategy,
    Value,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "com.acme")]
struct Order {
    id: i64,
    item: String,
    qty: i32,
    note: Option<String>,
    tags: Vec<String>,
}

fn order() -> Order {
    Order {
        id: 42,
        item: "tea".into(),
        qty: 3,
        note: Some("green".into()),
        tags: vec!["a".into(), "b".into()],
    }
}

const V1: &str = r#"{"type":"record","name":"User","namespace":"com.acme","fields":[
    {"name":"name","type":"string"},
    {"name":"age","type":"int"}]}"#;
const V2: &str = r#"{"type":"record","name":"User","namespace":"com.acme","fields":[
    {"name":"name","type":"string"},
    {"name":"age","type":"int"},
    {"name":"email","type":"string","default":"unknown@example.com"}]}"#;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct UserV1 {
    name: String,
    age: i32,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct UserV2 {
    name: String,
    age: i32,
    email: String,
}

#[tokio::test]
async fn derive_type_round_trips_and_registers_under_topic_subject() {
    let sr = Schemata::start().await;
    let client = sr.client();
    let ser = Serializer::new(client.clone(), Part::Value);
    let de = Deserializer::new(client.clone());

    let bytes = ser.serialize_avro("orders", &order()).await.unwrap();
    assert_eq!(bytes[0], 0, "magic byte");
    let id = u32::from_be_bytes(bytes[1..5].try_into().unwrap());
    let latest = client.latest_version("orders-value").await.unwrap();
    assert_eq!(latest.id, id);
    assert_eq!(latest.version, 1);
    assert_eq!(latest.schema.fullname(), Some("com.acme.Order"));

    let back: Option<Order> = de.deserialize_avro(&bytes).await.unwrap();
    assert_eq!(back, Some(order()));

    // The same schema on another topic shares the id, under its own subject.
    let other = ser.serialize_avro("orders-eu", &order()).await.unwrap();
    assert_eq!(other[1..5], bytes[1..5]);
    assert_eq!(
        client.latest_version("orders-eu-value").await.unwrap().id,
        id
    );
}

#[tokio::test]
async fn value_and_serde_paths_agree() {
    let sr = Schemata::start().await;
    let client = sr.client();
    let ser = Serializer::new(client.clone(), Part::Value);
    let de = Deserializer::new(client);
    let schema = ParsedSchema::parse(V1).unwrap();

    let value = Value::Record(vec![
        ("name".into(), Value::String("ada".into())),
        ("age".into(), Value::Int(36)),
    ]);
    let from_value = ser.serialize_value("users", &schema, &value).await.unwrap();
    let from_serde = ser
        .serialize(
            "users",
            &schema,
            &UserV1 {
                name: "ada".into(),
                age: 36,
            },
        )
        .await
        .unwrap();
    assert_eq!(from_value, from_serde);

    assert_eq!(
        de.deserialize_value(&from_value).await.unwrap(),
        Some(value.clone())
    );
    let user: Option<UserV1> = de.deserialize(&from_serde, &schema).await.unwrap();
    assert_eq!(user.unwrap().name, "ada");

    // A value that does not fit the schema is an Avro error, not a panic.
    let bad = Value::Record(vec![("name".into(), Value::Int(1))]);
    assert!(matches!(
        ser.serialize_value("users", &schema, &bad).await,
        Err(Error::Avro(_))
    ));
}

#[tokio::test]
async fn schema_evolution_resolves_writer_into_reader() {
    let sr = Schemata::start().await;
    let client = sr.client();
    let ser = Serializer::new(client.clone(), Part::Value);
    let de = Deserializer::new(client.clone());
    let (v1, v2) = (
        ParsedSchema::parse(V1).unwrap(),
        ParsedSchema::parse(V2).unwrap(),
    );

    let old = ser
        .serialize(
            "users",
            &v1,
            &UserV1 {
                name: "ada".into(),
                age: 36,
            },
        )
        .await
        .unwrap();
    // v2 adds a defaulted field: BACKWARD compatible, so the registry accepts it.
    let new = ser
        .serialize(
            "users",
            &v2,
            &UserV2 {
                name: "bob".into(),
                age: 7,
                email: "bob@example.com".into(),
            },
        )
        .await
        .unwrap();
    assert_ne!(old[1..5], new[1..5], "v2 got its own id");
    assert_eq!(
        client.latest_version("users-value").await.unwrap().version,
        2
    );

    // New reader, old data: the missing field takes its default.
    let read: UserV2 = de.deserialize(&old, &v2).await.unwrap().unwrap();
    assert_eq!(
        read,
        UserV2 {
            name: "ada".into(),
            age: 36,
            email: "unknown@example.com".into()
        }
    );
    let value = de.deserialize_value_with(&old, &v2).await.unwrap().unwrap();
    let Value::Record(fields) = value else {
        panic!("record expected")
    };
    assert_eq!(fields.len(), 3);

    // Old reader, new data: the extra field is skipped.
    let read: UserV1 = de.deserialize(&new, &v1).await.unwrap().unwrap();
    assert_eq!(
        read,
        UserV1 {
            name: "bob".into(),
            age: 7
        }
    );

    // An incompatible reader is an Avro resolution error.
    let incompatible = ParsedSchema::parse(
        r#"{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"zip","type":"int"}]}"#,
    )
    .unwrap();
    assert!(matches!(
        de.deserialize_value_with(&old, &incompatible).await,
        Err(Error::Avro(_))
    ));
}

#[tokio::test]
async fn typed_decoding_resolves_promotions_enums_and_unions() {
    const W: &str = r#"{"type":"record","name":"M","namespace":"evo","fields":[
        {"name":"i","type":"int"},{"name":"f","type":"float"},{"name":"l","type":"long"},
        {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}},
        {"name":"u","type":["null","int"]},
        {"name":"a","type":{"type":"array","items":"int"}},
        {"name":"m","type":{"type":"map","values":"float"}},
        {"name":"inner","type":{"type":"record","name":"In","fields":[{"name":"x","type":"int"}]}},
        {"name":"gone","type":"string"}]}"#;
    const R: &str = r#"{"type":"record","name":"M","namespace":"evo","fields":[
        {"name":"i","type":"long"},{"name":"f","type":"double"},{"name":"l","type":"float"},
        {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","Z"],"default":"Z"}},
        {"name":"u","type":["null","long"]},
        {"name":"a","type":{"type":"array","items":"double"}},
        {"name":"m","type":{"type":"map","values":"double"}},
        {"name":"inner","type":{"type":"record","name":"In","fields":[{"name":"x","type":"long"},
            {"name":"y","type":"string","default":"dflt"}]}},
        {"name":"added","type":["null","string"],"default":null}]}"#;
    #[derive(Debug, PartialEq, Serialize)]
    enum E {
        A,
        B,
        C,
    }
    #[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
    enum E2 {
        A,
        B,
        Z,
    }
    #[derive(Serialize)]
    #[serde(rename = "In")]
    struct InW {
        x: i32,
    }
    #[derive(Serialize)]
    #[serde(rename = "M")]
    struct MW {
        i: i32,
        f: f32,
        l: i64,
        e: E,
        u: Option<i32>,
        a: Vec<i32>,
        m: std::collections::HashMap<String, f32>,
        inner: InW,
        gone: String,
    }
    #[derive(Debug, PartialEq, Deserialize)]
    struct InR {
        x: i64,
        y: String,
    }
    #[derive(Debug, PartialEq, Deserialize)]
    struct MR {
        i: i64,
        f: f64,
        l: f32,
        e: E2,
        u: Option<i64>,
        a: Vec<f64>,
        m: std::collections::HashMap<String, f64>,
        inner: InR,
        added: Option<String>,
    }
    let sr = Schemata::start().await;
    let client = sr.client();
    let ser = Serializer::new(client.clone(), Part::Value);
    let de = Deserializer::new(client);
    let (w, r) = (
        ParsedSchema::parse(W).unwrap(),
        ParsedSchema::parse(R).unwrap(),
    );
    let _ = E::B;
    for (e, u, e2) in [(E::A, Some(-3), E2::A), (E::C, None, E2::Z)] {
        let bytes = ser
            .serialize(
                "evo",
                &w,
                &MW {
                    i: 7,
                    f: 1.5,
                    l: 1 << 40,
                    e,
                    u,
                    a: vec![1, -2],
                    m: [("k".to_string(), 0.25)].into(),
                    inner: InW { x: 9 },
                    gone: "bye".into(),
                },
            )
            .await
            .unwrap();
        // Twice: the first call decides the path, the second takes the remembered one.
        for _ in 0..2 {
            let got: MR = de.deserialize(&bytes, &r).await.unwrap().unwrap();
            assert_eq!(
                got,
                MR {
                    i: 7,
                    f: 1.5,
                    l: (1u64 << 40) as f32,
                    e: e2,
                    u: u.map(i64::from),
                    a: vec![1.0, -2.0],
                    m: [("k".to_string(), 0.25)].into(),
                    inner: InR {
                        x: 9,
                        y: "dflt".into()
                    },
                    added: None,
                }
            );
        }
    }
}

#[tokio::test]
async fn subject_strategies_and_key_side() {
    let sr = Schemata::start().await;
    let schema = ParsedSchema::of::<Order>().unwrap();

    let record = Serializer::new(
        schemata_serde::RegistryClient::new(
            sr.config()
                .value_subject_strategy(SubjectNameStrategy::RecordName)
                .build(),
        )
        .unwrap(),
        Part::Value,
    );
    record.serialize("t1", &schema, &order()).await.unwrap();
    assert_eq!(record.subject("t1", &schema).unwrap(), "com.acme.Order");

    let topic_record = Serializer::new(
        schemata_serde::RegistryClient::new(
            sr.config()
                .value_subject_strategy(SubjectNameStrategy::TopicRecordName)
                .build(),
        )
        .unwrap(),
        Part::Value,
    );
    topic_record
        .serialize("t1", &schema, &order())
        .await
        .unwrap();

    let key = Serializer::new(sr.client(), Part::Key);
    let key_schema = ParsedSchema::parse(r#""string""#).unwrap();
    key.serialize("t1", &key_schema, &"k-1").await.unwrap();

    let client = sr.client();
    for subject in ["com.acme.Order", "t1-com.acme.Order", "t1-key"] {
        client.latest_version(subject).await.unwrap();
    }
    // Record strategies need a named schema.
    assert!(matches!(
        record.serialize("t1", &key_schema, &"x").await,
        Err(Error::UnnamedSchema { .. })
    ));
}

#[tokio::test]
async fn lookup_mode_and_use_latest_version() {
    let sr = Schemata::start().await;
    let v1 = ParsedSchema::parse(V1).unwrap();
    let user = UserV1 {
        name: "ada".into(),
        age: 36,
    };

    // auto.register.schemas=false: an unregistered schema is Confluent's 40401/40403.
    let lookup = Serializer::new(
        schemata_serde::RegistryClient::new(sr.config().auto_register(false).build()).unwrap(),
        Part::Value,
    );
    let err = lookup.serialize("users", &v1, &user).await.unwrap_err();
    assert!(
        matches!(err.error_code(), Some(40401) | Some(40403)),
        "{err}"
    );

    let registering = Serializer::new(sr.client(), Part::Value);
    let id = registering.schema_id("users", &v1).await.unwrap();
    assert_eq!(lookup.schema_id("users", &v1).await.unwrap(), id);
    let v2 = ParsedSchema::parse(V2).unwrap();
    let id2 = registering.schema_id("users", &v2).await.unwrap();

    // use.latest.version: frames with the latest id and encodes with the latest schema, even
    // when handed the older schema; nothing new is registered.
    let latest = Serializer::new(
        schemata_serde::RegistryClient::new(sr.config().use_latest_version(true).build()).unwrap(),
        Part::Value,
    );
    let full = UserV2 {
        name: "ada".into(),
        age: 36,
        email: "a@example.com".into(),
    };
    let bytes = latest.serialize("users", &v1, &full).await.unwrap();
    assert_eq!(u32::from_be_bytes(bytes[1..5].try_into().unwrap()), id2);
    let de = Deserializer::new(sr.client());
    let back: UserV2 = de.deserialize(&bytes, &v2).await.unwrap().unwrap();
    assert_eq!(back, full);
    assert_eq!(
        sr.client()
            .latest_version("users-value")
            .await
            .unwrap()
            .version,
        2
    );
}

#[tokio::test]
async fn compatibility_check_and_registry_errors() {
    let sr = Schemata::start().await;
    let client = sr.client();
    let v1 = ParsedSchema::parse(V1).unwrap();
    client.register("users-value", &v1).await.unwrap();

    let v2 = ParsedSchema::parse(V2).unwrap();
    let ok = client
        .test_compatibility("users-value", None, &v2)
        .await
        .unwrap();
    assert!(ok.is_compatible);
    let breaking = ParsedSchema::parse(
        r#"{"type":"record","name":"User","namespace":"com.acme","fields":[
            {"name":"name","type":"string"},{"name":"zip","type":"int"}]}"#,
    )
    .unwrap();
    let no = client
        .test_compatibility("users-value", Some(1), &breaking)
        .await
        .unwrap();
    assert!(!no.is_compatible);

    let err = client.schema_by_id(999_999).await.unwrap_err();
    assert_eq!(err.error_code(), Some(40403), "{err}");
    let err = client.latest_version("nope-value").await.unwrap_err();
    assert_eq!(err.error_code(), Some(40401), "{err}");
    let err = client.register("users-value", &breaking).await.unwrap_err();
    assert_eq!(err.error_code(), Some(409), "{err}");

    let de = Deserializer::new(client);
    assert!(matches!(
        de.deserialize_value(&[7u8, 0, 0, 0, 1][..]).await,
        Err(Error::Wire(_))
    ));
    assert!(matches!(
        de.deserialize_value(&[0u8, 0][..]).await,
        Err(Error::Wire(_))
    ));
}

#[tokio::test]
async fn bad_datums_are_errors_and_good_ones_still_decode() {
    let sr = Schemata::start().await;
    let client = sr.client();
    let ser = Serializer::new(client.clone(), Part::Value);
    let de = Deserializer::new(client);
    let good = ser.serialize_avro("orders", &order()).await.unwrap();
    let back: Option<Order> = de.deserialize_avro(&good).await.unwrap();
    assert_eq!(back, Some(order()));

    // Every truncation of the datum, and a string length of 2^62 bytes (no allocation of that
    // size, no panic), is an Avro error; the datums around them decode as before.
    let mut bad: Vec<Vec<u8>> = (5..good.len()).map(|n| good[..n].to_vec()).collect();
    let mut hostile = good[..5].to_vec();
    hostile.extend_from_slice(&[84]); // id 42
    hostile.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]);
    bad.push(hostile);
    for bytes in &bad {
        let r: Result<Option<Order>, _> = de.deserialize_avro(bytes).await;
        assert!(matches!(r, Err(Error::Avro(_))), "{bytes:?}: {r:?}");
        let back: Option<Order> = de.deserialize_avro(&good).await.unwrap();
        assert_eq!(back, Some(order()));
    }

    // A Rust type named otherwise than the record decodes all the same, every time (fields are
    // matched by name; apache-avro's own deserializer, where it is used, would refuse the name
    // and send the type through schema resolution).
    #[derive(Debug, PartialEq, Deserialize)]
    struct Renamed {
        id: i64,
        item: String,
    }
    let schema = ParsedSchema::of::<Order>().unwrap();
    for _ in 0..3 {
        let r: Renamed = de.deserialize(&good, &schema).await.unwrap().unwrap();
        assert_eq!(
            r,
            Renamed {
                id: 42,
                item: "tea".into()
            }
        );
    }
}

/// `u64` is an 8-byte fixed to apache-avro, which the crate's own decoder leaves to
/// apache-avro's: the first record finds that out, and every record decodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "com.acme")]
struct Counter {
    name: String,
    total: u64,
    at: Option<i64>,
}

#[tokio::test]
async fn a_type_the_own_decoder_leaves_to_apache_avro_still_decodes() {
    let sr = Schemata::start().await;
    let client = sr.client();
    let ser = Serializer::new(client.clone(), Part::Value);
    let de = Deserializer::new(client);
    for total in [0, 1, u64::MAX, 1 << 40] {
        let counter = Counter {
            name: "visits".into(),
            total,
            at: Some(-5),
        };
        let bytes = ser.serialize_avro("counters", &counter).await.unwrap();
        let back: Option<Counter> = de.deserialize_avro(&bytes).await.unwrap();
        assert_eq!(back, Some(counter));
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Link {
    value: i64,
    next: Option<Box<Link>>,
}

/// A recursive schema lets a datum nest as deep as its bytes allow; decoding one 100,000 links
/// deep must not take the consumer's stack (apache-avro's reader recurses until it overflows).
#[tokio::test]
async fn a_datum_nested_beyond_any_record_is_an_error_not_a_crash() {
    let sr = Schemata::start().await;
    let client = sr.client();
    let ser = Serializer::new(client.clone(), Part::Value);
    let de = Deserializer::new(client);
    let schema = ParsedSchema::parse(
        r#"{"type":"record","name":"Link","namespace":"com.acme","fields":[
            {"name":"value","type":"long"},{"name":"next","type":["null","Link"]}]}"#,
    )
    .unwrap();
    let short = Link {
        value: 1,
        next: Some(Box::new(Link {
            value: 2,
            next: None,
        })),
    };
    let good = ser.serialize("links", &schema, &short).await.unwrap();
    // The same frame, then links of value 0, each followed by the union branch `Link`.
    let mut deep = good[..5].to_vec();
    deep.extend([0u8, 2].repeat(100_000));
    deep.extend([0u8, 0]);
    for _ in 0..2 {
        let r: Result<Option<Link>, _> = de.deserialize(&deep, &schema).await;
        assert!(matches!(r, Err(Error::Avro(_))), "{r:?}");
        let back: Option<Link> = de.deserialize(&good, &schema).await.unwrap();
        assert_eq!(back.as_ref(), Some(&short));
    }

    // The paths that read by value are guarded alike: a generic value, and schema evolution
    // (a reader schema with a field the writer's lacks).
    let r = de.deserialize_value(&deep).await;
    assert!(matches!(r, Err(Error::Avro(_))), "{r:?}");
    assert!(de.deserialize_value(&good).await.unwrap().is_some());
    let evolved = ParsedSchema::parse(
        r#"{"type":"record","name":"Link","namespace":"com.acme","fields":[
            {"name":"value","type":"long"},{"name":"next","type":["null","Link"]},
            {"name":"note","type":"string","default":""}]}"#,
    )
    .unwrap();
    #[derive(Debug, PartialEq, Deserialize)]
    struct NotedLink {
        value: i64,
        next: Option<Box<NotedLink>>,
        note: String,
    }
    let r: Result<Option<NotedLink>, _> = de.deserialize(&deep, &evolved).await;
    assert!(matches!(r, Err(Error::Avro(_))), "{r:?}");
    let r = de.deserialize_value_with(&deep, &evolved).await;
    assert!(matches!(r, Err(Error::Avro(_))), "{r:?}");
    let back: Option<NotedLink> = de.deserialize(&good, &evolved).await.unwrap();
    assert_eq!(back.map(|l| (l.value, l.note)), Some((1, String::new())));
}

/// `u64` is apache-avro's to decode: the type takes apache-avro's reader, and the crate's own
/// decoder still checks each datum first, so the deep one is refused as above.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Tally {
    total: u64,
    next: Option<Box<Tally>>,
}

#[tokio::test]
async fn a_deep_datum_is_refused_for_a_type_apache_avro_decodes_too() {
    let sr = Schemata::start().await;
    let client = sr.client();
    let ser = Serializer::new(client.clone(), Part::Value);
    let de = Deserializer::new(client);
    let schema = ParsedSchema::parse(
        r#"{"type":"record","name":"Tally","namespace":"com.acme","fields":[
            {"name":"total","type":{"type":"fixed","name":"u64","namespace":"org.apache.avro.rust","size":8}},
            {"name":"next","type":["null","Tally"]}]}"#,
    )
    .unwrap();
    let short = Tally {
        total: u64::MAX,
        next: Some(Box::new(Tally {
            total: 3,
            next: None,
        })),
    };
    let good = ser.serialize("tallies", &schema, &short).await.unwrap();
    let mut deep = good[..5].to_vec();
    deep.extend([&[0u8; 8][..], &[2]].concat().repeat(100_000));
    deep.extend([0u8; 9]);
    for _ in 0..2 {
        let back: Option<Tally> = de.deserialize(&good, &schema).await.unwrap();
        assert_eq!(back.as_ref(), Some(&short));
        let r: Result<Option<Tally>, _> = de.deserialize(&deep, &schema).await;
        assert!(matches!(r, Err(Error::Avro(_))), "{r:?}");
    }
}

#[tokio::test]
async fn tombstones_pass_through() {
    let sr = Schemata::start().await;
    let client = sr.client();
    let de = Deserializer::new(client.clone());
    let ser = Serializer::new(client.clone(), Part::Value);
    let schema = ParsedSchema::parse(V1).unwrap();
    assert_eq!(de.deserialize_value(None).await.unwrap(), None);
    let t: Option<UserV1> = de.deserialize(Incoming::new(None), &schema).await.unwrap();
    assert!(t.is_none());
    let out = ser
        .serialize_opt::<UserV1>("users", &schema, None)
        .await
        .unwrap();
    assert!(out.is_none());
    assert_eq!(client.http_requests(), 0, "tombstones need no registry");
}

#[tokio::test]
async fn warm_caches_make_no_http_calls() {
    let sr = Schemata::start().await;
    let client = sr.client();
    let ser = Serializer::new(client.clone(), Part::Value);
    let de = Deserializer::new(client.clone());
    let bytes = ser.serialize_avro("orders", &order()).await.unwrap();
    let _: Option<Order> = de.deserialize_avro(&bytes).await.unwrap();
    let warm = client.http_requests();
    assert!(warm <= 2, "register + fetch by id, got {warm}");
    for _ in 0..200 {
        let b = ser.serialize_avro("orders", &order()).await.unwrap();
        let o: Option<Order> = de.deserialize_avro(&b).await.unwrap();
        assert_eq!(o, Some(order()));
        de.deserialize_value(&b).await.unwrap();
    }
    assert_eq!(client.http_requests(), warm);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_fetches_of_one_id_make_one_request() {
    let sr = Schemata::start().await;
    let id = sr
        .client()
        .register("users-value", &ParsedSchema::parse(V1).unwrap())
        .await
        .unwrap();
    let fresh = Arc::new(Deserializer::new(sr.client()));
    let mut bytes = vec![0u8];
    bytes.extend_from_slice(&id.to_be_bytes());
    bytes.extend_from_slice(&[6, b'a', b'd', b'a', 72]);
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (de, bytes) = (fresh.clone(), bytes.clone());
            tokio::spawn(async move { de.deserialize_value(&bytes).await })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().unwrap().is_some());
    }
    assert_eq!(fresh.client().http_requests(), 1);
}

#[test]
fn blocking_facade_round_trips() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sr = rt.block_on(Schemata::start());
    let config = sr.config().build();
    // The facade owns its runtime, so it runs on a thread outside any async context.
    std::thread::spawn(move || {
        let ser = schemata_serde::blocking::Serializer::new(config.clone(), Part::Value).unwrap();
        let de = schemata_serde::blocking::Deserializer::new(config).unwrap();
        let bytes = ser.serialize_avro("orders", &order()).unwrap();
        let back: Option<Order> = de.deserialize_avro(&bytes).unwrap();
        assert_eq!(back, Some(order()));
        assert!(de.deserialize_value(&bytes).unwrap().is_some());
    })
    .join()
    .unwrap();
    drop(sr);
}
