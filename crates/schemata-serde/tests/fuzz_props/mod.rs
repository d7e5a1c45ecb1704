//! The decoder property both fuzz harnesses check — the proptest suite in `tests/fuzz.rs` and the
//! libFuzzer target `wire_decode` in the repository's `fuzz/` — written once: whatever bytes a
//! consumer is handed, framing and decoding answer `Ok` or `Err`, never panic.
//!
//! Decoding goes through the real [`Deserializer`] against a real in-process Schemata (memory
//! store): the writer schemas below are registered once, so after the first fetch each decode
//! is pure CPU (the client caches schemas by id).
#![allow(dead_code)]

use schemata_serde::wire::{self, SchemaRef};
use schemata_serde::{Deserializer, Incoming, ParsedSchema, RegistryClient};
use serde::Deserialize;

/// Writer schemas covering every Avro type and the logical types apache-avro decodes specially,
/// plus recursion (a named type used by name) and a union-rooted schema.
pub const WRITERS: &[&str] = &[
    r#"{"type":"record","name":"Rich","namespace":"fuzz","fields":[
        {"name":"b","type":"boolean"},{"name":"i","type":"int"},{"name":"l","type":"long"},
        {"name":"f","type":"float"},{"name":"d","type":"double"},{"name":"by","type":"bytes"},
        {"name":"s","type":"string"},{"name":"u","type":["null","string","long"]},
        {"name":"a","type":{"type":"array","items":"int"}},
        {"name":"m","type":{"type":"map","values":"string"}},
        {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}},
        {"name":"x","type":{"type":"fixed","name":"F","size":4}},
        {"name":"dec","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
        {"name":"fdec","type":{"type":"fixed","name":"FD","size":8,"logicalType":"decimal","precision":18,"scale":3}},
        {"name":"date","type":{"type":"int","logicalType":"date"}},
        {"name":"tm","type":{"type":"int","logicalType":"time-millis"}},
        {"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
        {"name":"uuid","type":{"type":"string","logicalType":"uuid"}},
        {"name":"dur","type":{"type":"fixed","name":"D","size":12,"logicalType":"duration"}},
        {"name":"next","type":["null","Rich"],"default":null}]}"#,
    r#"{"type":"record","name":"Small","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"}]}"#,
    r#"["null","string",{"type":"array","items":{"type":"map","values":"double"}}]"#,
    r#""string""#,
];

/// A reader for each writer above (same index): fields dropped, added with defaults, promoted
/// (int to long, float to double, string to bytes) and an enum with a default, so decoding also
/// runs Avro's schema resolution.
pub const READERS: &[&str] = &[
    r#"{"type":"record","name":"Rich","namespace":"fuzz","fields":[
        {"name":"i","type":"long"},{"name":"f","type":"double"},{"name":"s","type":"bytes"},
        {"name":"u","type":["null","string","long","double"]},
        {"name":"a","type":{"type":"array","items":"double"}},
        {"name":"e","type":{"type":"enum","name":"E","symbols":["A","Z"],"default":"Z"}},
        {"name":"x","type":{"type":"fixed","name":"F","size":4}},
        {"name":"added","type":"string","default":"n/a"},
        {"name":"next","type":["null","Rich"],"default":null}]}"#,
    r#"{"type":"record","name":"Small","fields":[{"name":"id","type":"double"},{"name":"extra","type":["null","int"],"default":null}]}"#,
    r#"["null","bytes",{"type":"array","items":{"type":"map","values":"double"}}]"#,
    r#"["null","string"]"#,
];

/// A Rust type matching `Small`, for the serde (typed) decode path.
#[derive(Debug, Deserialize)]
pub struct Small {
    pub id: i64,
    pub name: String,
}

/// A running registry with [`WRITERS`] registered, and a deserializer talking to it.
pub struct Decoder {
    rt: tokio::runtime::Runtime,
    deserializer: Deserializer,
    /// The registry ids of [`WRITERS`], in order.
    pub ids: Vec<u32>,
    readers: Vec<ParsedSchema>,
    /// [`WRITERS`] parsed once: caches key on a schema's identity, so a fresh parse per call
    /// would grow the deserializer's fast-path table without bound.
    own: Vec<ParsedSchema>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (deserializer, ids) = rt.block_on(async move {
            let config = schemata::Config {
                listen: "127.0.0.1:0".parse().unwrap(),
                store: "memory://".into(),
                ..Default::default()
            };
            let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move {
                schemata::serve(&config, listener, async {
                    let _ = rx.await;
                })
                .await
            });
            let client =
                RegistryClient::new(schemata_serde::Config::builder(&url).build()).unwrap();
            let mut ids = Vec::new();
            for (i, text) in WRITERS.iter().enumerate() {
                let schema = ParsedSchema::parse(text).expect("writer schema");
                let mut tries = 0;
                let id = loop {
                    match client.register(&format!("fuzz-{i}"), &schema).await {
                        Ok(id) => break id,
                        // The server may still be binding its routes.
                        Err(e) if tries < 100 => {
                            tries += 1;
                            let _ = e;
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        }
                        Err(e) => panic!("register writer {i}: {e}"),
                    }
                };
                ids.push(id);
            }
            (Deserializer::new(client), ids)
        });
        let parse_all = |texts: &[&str]| -> Vec<ParsedSchema> {
            texts
                .iter()
                .map(|t| ParsedSchema::parse(t).expect("schema"))
                .collect()
        };
        Decoder {
            rt,
            deserializer,
            ids,
            readers: parse_all(READERS),
            own: parse_all(WRITERS),
            _shutdown: tx,
        }
    }

    /// The property for a datum framed with writer `writer` (an index into [`WRITERS`]): every
    /// decode path answers without panicking — generic, resolved into the reader, and typed.
    pub fn decode_datum(&self, writer: usize, datum: &[u8]) {
        let writer = writer % WRITERS.len();
        let mut payload = Vec::with_capacity(datum.len() + wire::ID_PREFIX_LEN);
        wire::write_id_prefix(&mut payload, self.ids[writer]);
        payload.extend_from_slice(datum);
        self.decode_payload(&payload, writer);
    }

    /// The property for a raw payload (and optional schema-id header): framing never panics and
    /// agrees with itself; when it names a registered schema, decoding never panics either.
    pub fn decode_raw(&self, payload: &[u8], header: Option<&[u8]>) {
        check_framing(payload);
        if let Some(h) = header {
            let _ = wire::decode_with_header(h, payload);
        }
        let incoming = Incoming::new(Some(payload)).header(header);
        let Ok(Some(framed)) = incoming.framed() else {
            return;
        };
        // Only registered ids: anything else is one 404 over HTTP, which tests nothing of ours.
        if let SchemaRef::Id(id) = framed.schema {
            if let Some(writer) = self.ids.iter().position(|&i| i == id) {
                if header.is_none() {
                    self.decode_payload(payload, writer);
                }
            }
        }
    }

    /// Decodes `payload` with its writer's schema: for checks that the harness reaches the
    /// decoder at all.
    pub fn value(&self, payload: &[u8]) -> schemata_serde::Result<Option<schemata_serde::Value>> {
        self.rt
            .block_on(self.deserializer.deserialize_value(payload))
    }

    fn decode_payload(&self, payload: &[u8], writer: usize) {
        let reader = &self.readers[writer];
        self.rt.block_on(async {
            let d = &self.deserializer;
            let _ = d.deserialize_value(payload).await;
            let _ = d.deserialize_value_with(payload, reader).await;
            if writer == 1 {
                let _ = d.deserialize::<Small>(payload, reader).await;
                let _ = d.deserialize::<Small>(payload, &self.own[1]).await;
            }
            if writer == 3 {
                let _ = d.deserialize::<String>(payload, &self.own[3]).await;
            }
        });
    }
}

/// `wire::decode` either refuses the bytes or splits them exactly at its prefix length.
pub fn check_framing(payload: &[u8]) {
    if let Ok(framed) = wire::decode(payload) {
        let prefix = match framed.schema {
            SchemaRef::Id(id) => {
                assert_eq!(payload[1..5], id.to_be_bytes());
                wire::ID_PREFIX_LEN
            }
            SchemaRef::Guid(g) => {
                assert_eq!(&payload[1..17], g.as_bytes());
                wire::GUID_PREFIX_LEN
            }
        };
        assert_eq!(framed.datum, &payload[prefix..]);
    }
}
