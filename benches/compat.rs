//! How long a transitive compatibility check takes: a new 50-field record against a subject with
//! 100 earlier versions that grew and widened over time, the kind of history a busy topic has.

use apache_avro::Schema;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use schemata::registry::compat::{check, reader_can_read, AvroSchemaRef, CompatibilityLevel};
use serde_json::{json, Value};

const FIELDS: usize = 50;
const VERSIONS: usize = 100;

/// Field `i` as of `version` (`None` = the newest schema): types widen, enums gain symbols.
fn field(i: usize, version: Option<usize>) -> Value {
    let old = version.is_some_and(|v| (v + i).is_multiple_of(2));
    let name = format!("f{i}");
    let symbols: Vec<String> = (0..if old { 3 } else { 4 })
        .map(|s| format!("S{s}"))
        .collect();
    let (ty, default) = match i % 5 {
        0 => (json!(if old { "int" } else { "long" }), json!(0)),
        1 => (json!(["null", "string"]), Value::Null),
        2 => (
            json!({"type": "enum", "name": format!("E{i}"), "symbols": symbols}),
            json!("S0"),
        ),
        3 => (
            json!({"type": "array", "items": {"type": "record", "name": format!("Item{i}"),
                "fields": [{"name": "a", "type": "int"}, {"name": "b", "type": ["null", "long"]}]}}),
            json!([]),
        ),
        _ => (
            json!({"type": "map", "values": if old { "float" } else { "double" }}),
            json!({}),
        ),
    };
    // The newest schema gives defaults to everything added after the first ten fields.
    if version.is_none() && i >= 10 {
        json!({"name": name, "type": ty, "default": default})
    } else {
        json!({"name": name, "type": ty})
    }
}

fn schema(version: Option<usize>) -> Value {
    // Version v has the first 10 + v/2 fields, growing towards the newest one's 50.
    let count = version.map_or(FIELDS, |v| (10 + v / 2).min(FIELDS));
    let fields: Vec<Value> = (0..count).map(|i| field(i, version)).collect();
    json!({"type": "record", "name": "Event", "namespace": "bench", "fields": fields})
}

fn bench(c: &mut Criterion) {
    let new = Schema::parse(&schema(None)).unwrap();
    let old: Vec<(Schema, String)> = (1..=VERSIONS)
        .map(|v| {
            let json = schema(Some(v));
            (Schema::parse(&json).unwrap(), json.to_string())
        })
        .collect();
    let previous: Vec<(i32, AvroSchemaRef<'_>, &str)> = old
        .iter()
        .enumerate()
        .map(|(i, (s, text))| (i as i32 + 1, AvroSchemaRef::new(s), text.as_str()))
        .collect();
    let new = AvroSchemaRef::new(&new);
    assert!(
        check(CompatibilityLevel::BackwardTransitive, new, &previous)
            .unwrap()
            .is_empty()
    );

    c.bench_function("backward_transitive 50 fields x 100 versions", |b| {
        b.iter(|| {
            check(
                CompatibilityLevel::BackwardTransitive,
                black_box(new),
                black_box(&previous),
            )
        })
    });
    c.bench_function("reader_can_read 50 fields, one pair", |b| {
        b.iter(|| reader_can_read(black_box(new), black_box(previous[VERSIONS - 1].1)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
