//! schemata-serde vs schema_registry_converter 6 on the 10-field record, warm caches, both
//! against the same canned registry. Run through scripts/bench-serde.

#[path = "../../benches/common/mod.rs"]
mod common;

use common::{customer, warm, Customer, TOPIC};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::schema_registry_common::SubjectNameStrategy;
use schemata_serde::{Config, Deserializer, Part, RegistryClient, Serializer};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = common::canned_registry();
    let record = customer();

    let client = RegistryClient::new(Config::builder(&url).build()).unwrap();
    let ser = Serializer::new(client.clone(), Part::Value);
    let de = Deserializer::new(client);
    let ours = rt.block_on(ser.serialize_avro(TOPIC, &record)).unwrap();
    let back: Option<Customer> = rt.block_on(de.deserialize_avro(&ours)).unwrap();
    assert_eq!(back.as_ref(), Some(&record));

    let peer_enc = AvroEncoder::new(SrSettings::new(url.clone()));
    let peer_dec = AvroDecoder::new(SrSettings::new(url));
    let strategy = SubjectNameStrategy::TopicNameStrategy(TOPIC.to_string(), false);
    let theirs = rt
        .block_on(peer_enc.encode_struct(record.clone(), &strategy))
        .unwrap();
    assert_eq!(ours, theirs, "both frame the same bytes");
    let decoded = rt.block_on(peer_dec.decode(Some(&theirs))).unwrap();
    let back: Customer = apache_avro::from_value(&decoded.value).unwrap();
    assert_eq!(back, record);

    let mut g = c.benchmark_group("peer-encode");
    g.bench_function("schemata-serde", |b| {
        b.iter(|| warm(&rt, ser.serialize_avro(TOPIC, black_box(&record))).unwrap())
    });
    g.bench_function("schema_registry_converter", |b| {
        b.iter(|| {
            warm(
                &rt,
                peer_enc.encode_struct(black_box(record.clone()), &strategy),
            )
            .unwrap()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("peer-decode");
    g.bench_function("schemata-serde", |b| {
        b.iter(|| {
            warm(&rt, de.deserialize_avro::<Customer>(black_box(&ours)))
                .unwrap()
                .unwrap()
        })
    });
    g.bench_function("schema_registry_converter", |b| {
        b.iter(|| {
            let r = warm(&rt, peer_dec.decode(Some(black_box(&theirs)))).unwrap();
            apache_avro::from_value::<Customer>(&r.value).unwrap()
        })
    });
    g.bench_function("schemata-serde/value", |b| {
        b.iter(|| warm(&rt, de.deserialize_value(black_box(&ours))).unwrap())
    });
    g.bench_function("schema_registry_converter/value", |b| {
        b.iter(|| warm(&rt, peer_dec.decode(Some(black_box(&theirs)))).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
