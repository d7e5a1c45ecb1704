//! Standing fuzz tests of the consumer side (property tests, stable toolchain, part of every
//! `cargo test`): arbitrary bytes through the wire-format decoder and through the real
//! [`schemata_serde::Deserializer`] against an in-process registry must never panic. The
//! property lives in `fuzz_props`, shared with the libFuzzer target `wire_decode` in the
//! repository's `fuzz/` (`scripts/fuzz`), which runs it for longer.
//!
//! Data comes raw, and as valid encodings of generated values damaged byte by byte (valid data
//! reaches far deeper into the decoder than noise). `PROPTEST_CASES=N` raises the case counts.

mod fuzz_props;

use std::sync::OnceLock;

use fuzz_props::{check_framing, Decoder};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use schemata_serde::apache_avro::writer::datum::GenericDatumWriter;
use schemata_serde::apache_avro::{types::Value as Avro, Schema};
use schemata_serde::wire;

/// `n` cases unless `PROPTEST_CASES` says otherwise.
fn cases(n: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n);
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// One registry and deserializer for the whole file: schemas are fetched once and cached.
fn decoder() -> &'static Decoder {
    static DECODER: OnceLock<Decoder> = OnceLock::new();
    DECODER.get_or_init(Decoder::new)
}

/// Values of the `Small` writer schema (`fuzz_props::WRITERS[1]`).
fn small() -> impl Strategy<Value = Avro> {
    (any::<i64>(), ".{0,12}").prop_map(|(id, name)| {
        Avro::Record(vec![
            ("id".into(), Avro::Long(id)),
            ("name".into(), Avro::String(name)),
        ])
    })
}

/// Values of the union-rooted writer schema (`fuzz_props::WRITERS[2]`).
fn union_value() -> impl Strategy<Value = Avro> {
    let map = prop::collection::hash_map(".{0,4}", any::<f64>().prop_map(Avro::Double), 0..4)
        .prop_map(Avro::Map);
    prop_oneof![
        Just(Avro::Union(0, Box::new(Avro::Null))),
        ".{0,8}".prop_map(|s| Avro::Union(1, Box::new(Avro::String(s)))),
        prop::collection::vec(map, 0..4).prop_map(|a| Avro::Union(2, Box::new(Avro::Array(a)))),
    ]
}

/// Byte-level damage: flips, truncation, insertions of bytes that read as big or negative
/// varints (lengths and counts are where decoders go wrong).
fn damage(mut bytes: Vec<u8>, ops: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(at, kind, b) in ops {
        let at = if bytes.is_empty() {
            0
        } else {
            at % bytes.len()
        };
        match kind % 4 {
            0 if !bytes.is_empty() => bytes[at] ^= 1 << (b % 8),
            1 => bytes.truncate(at),
            2 => {
                for (k, x) in [0xff, 0xff, 0xff, 0xff, b].into_iter().enumerate() {
                    bytes.insert(at + k, x);
                }
            }
            _ => bytes.insert(at, b),
        }
    }
    bytes
}

fn encode(writer: usize, value: &Avro) -> Vec<u8> {
    let schema = Schema::parse_str(fuzz_props::WRITERS[writer]).unwrap();
    GenericDatumWriter::builder(&schema)
        .build()
        .and_then(|w| w.write_value_to_vec(value.clone()))
        .expect("generated value fits its schema")
}

proptest! {
    #![proptest_config(cases(4096))]

    #[test]
    fn framing_never_panics(payload in prop::collection::vec(any::<u8>(), 0..40), split in any::<usize>()) {
        check_framing(&payload);
        let cut = split % (payload.len() + 1);
        let _ = wire::decode_with_header(&payload[..cut], &payload[cut..]);
    }
}

proptest! {
    #![proptest_config(cases(2048))]

    #[test]
    fn random_datums_never_panic(writer in 0..fuzz_props::WRITERS.len(), datum in prop::collection::vec(any::<u8>(), 0..64)) {
        decoder().decode_datum(writer, &datum);
    }

    #[test]
    fn damaged_valid_datums_never_panic(
        value in prop_oneof![small().prop_map(|v| (1, v)), union_value().prop_map(|v| (2, v))],
        ops in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..4),
    ) {
        let (writer, value) = value;
        let datum = damage(encode(writer, &value), &ops);
        decoder().decode_datum(writer, &datum);
    }

    #[test]
    fn raw_payloads_and_headers_never_panic(
        payload in prop::collection::vec(any::<u8>(), 0..48),
        header in prop::option::of(prop::collection::vec(any::<u8>(), 0..20)),
        id in 0usize..4,
        prefixed in any::<bool>(),
    ) {
        let mut bytes = payload;
        if prefixed {
            // A real id in front, so the payload reaches the decoder and not only framing.
            let mut framed = Vec::new();
            wire::write_id_prefix(&mut framed, decoder().ids[id]);
            framed.extend_from_slice(&bytes);
            bytes = framed;
        }
        decoder().decode_raw(&bytes, header.as_deref());
    }
}

/// The undamaged encodings decode: the harness really reaches the decoder (a registry or
/// framing mistake would otherwise turn every case above into a quick `Err`).
#[test]
fn valid_datums_decode() {
    let d = decoder();
    let small = Avro::Record(vec![
        ("id".into(), Avro::Long(-3)),
        ("name".into(), Avro::String("tea".into())),
    ]);
    let datum = encode(1, &small);
    let mut payload = Vec::new();
    wire::write_id_prefix(&mut payload, d.ids[1]);
    payload.extend_from_slice(&datum);
    let back = d.value(&payload).expect("decodes");
    assert_eq!(back, Some(small));
}
