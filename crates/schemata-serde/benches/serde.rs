//! Hot-path cost of the serializer crate against bare apache-avro on a 10-field record:
//! encode and decode with a warm cache (schema id known, writer schema parsed).
//! The comparison with schema_registry_converter lives in benches-peer/ (run
//! scripts/bench-serde), so CI never builds the peer.

mod common;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::AvroSchema;
use common::{customer, warm, Customer, TOPIC};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use schemata_serde::{Config, Deserializer, ParsedSchema, Part, RegistryClient, Serializer};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = common::canned_registry();
    let client = RegistryClient::new(Config::builder(&url).build()).unwrap();
    let ser = Serializer::new(client.clone(), Part::Value);
    let de = Deserializer::new(client.clone());
    let record = customer();
    let framed = rt.block_on(ser.serialize_avro(TOPIC, &record)).unwrap();
    let back: Option<Customer> = rt.block_on(de.deserialize_avro(&framed)).unwrap();
    assert_eq!(back.as_ref(), Some(&record));
    let warmed = client.http_requests();

    let schema = Customer::get_schema();
    let writer = GenericDatumWriter::builder(&schema).build().unwrap();
    let reader = GenericDatumReader::builder(&schema).build().unwrap();
    let datum = writer.write_ser_to_vec(&record).unwrap();
    assert_eq!(&framed[5..], &datum[..], "same datum as bare apache-avro");
    let parsed = ParsedSchema::of::<Customer>().unwrap();

    let mut g = c.benchmark_group("encode");
    g.bench_function("apache-avro", |b| {
        b.iter(|| writer.write_ser_to_vec(black_box(&record)).unwrap())
    });
    g.bench_function("schemata-serde", |b| {
        b.iter(|| warm(&rt, ser.serialize_avro(TOPIC, black_box(&record))).unwrap())
    });
    g.bench_function("schemata-serde/parsed", |b| {
        b.iter(|| warm(&rt, ser.serialize(TOPIC, &parsed, black_box(&record))).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("decode");
    g.bench_function("apache-avro", |b| {
        b.iter(|| {
            reader
                .read_deser::<Customer>(&mut black_box(&datum[..]))
                .unwrap()
        })
    });
    g.bench_function("schemata-serde", |b| {
        b.iter(|| {
            warm(&rt, de.deserialize_avro::<Customer>(black_box(&framed)))
                .unwrap()
                .unwrap()
        })
    });
    g.bench_function("apache-avro/value", |b| {
        b.iter(|| reader.read_value(&mut black_box(&datum[..])).unwrap())
    });
    g.bench_function("schemata-serde/value", |b| {
        b.iter(|| warm(&rt, de.deserialize_value(black_box(&framed))).unwrap())
    });
    g.finish();

    assert_eq!(
        client.http_requests(),
        warmed,
        "the hot path made HTTP calls"
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
