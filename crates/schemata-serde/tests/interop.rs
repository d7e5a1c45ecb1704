//! Interop with an independent Avro implementation: bytes this crate frames are decoded by
//! Python's fastavro, and bytes fastavro frames are decoded by this crate (tests/interop.py).
//! Skips with a notice when python3 or fastavro is missing.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use common::Schemata;
use schemata_serde::{AvroSchema, Deserializer, ParsedSchema, Part, Serializer};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
enum Status {
    #[serde(rename = "NEW")]
    New,
    #[serde(rename = "SHIPPED")]
    Shipped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "com.acme")]
struct Shipment {
    id: i64,
    qty: i32,
    weight: f64,
    fragile: bool,
    carrier: String,
    note: Option<String>,
    tags: Vec<String>,
    status: Status,
    counts: HashMap<String, i64>,
}

fn python_with_fastavro() -> bool {
    Command::new("python3")
        .args(["-c", "import fastavro"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test]
async fn fastavro_reads_ours_and_we_read_fastavros() {
    if !python_with_fastavro() {
        println!("SKIPPED interop: python3 with fastavro not found (pip install fastavro)");
        return;
    }
    let sr = Schemata::start().await;
    let client = sr.client();
    let ser = Serializer::new(client.clone(), Part::Value);
    let de = Deserializer::new(client);
    let schema = ParsedSchema::of::<Shipment>().unwrap();

    let ours = Shipment {
        id: -9_000_000_000,
        qty: 12,
        weight: 2.5,
        fragile: true,
        carrier: "ünïcode ✓".into(),
        note: None,
        tags: vec!["x".into(), "y".into()],
        status: Status::Shipped,
        counts: HashMap::from([("a".into(), 1), ("b".into(), -2)]),
    };
    let theirs = Shipment {
        id: 7,
        qty: -1,
        weight: -0.125,
        fragile: false,
        carrier: "dhl".into(),
        note: Some("handle with care".into()),
        tags: vec![],
        status: Status::New,
        counts: HashMap::new(),
    };
    let bytes = ser.serialize("shipments", &schema, &ours).await.unwrap();
    let id = u32::from_be_bytes(bytes[1..5].try_into().unwrap());

    let request = serde_json::json!({
        "schema": schema.text(),
        "id": id,
        "payload_hex": hex(&bytes),
        "record": serde_json::to_value(&theirs).unwrap(),
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "interop.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    let decoded: Shipment = serde_json::from_value(reply["decoded"].clone()).unwrap();
    assert_eq!(decoded, ours, "fastavro read our bytes");

    let their_bytes = unhex(reply["payload_hex"].as_str().unwrap());
    let read: Shipment = de.deserialize_avro(&their_bytes).await.unwrap().unwrap();
    assert_eq!(read, theirs, "we read fastavro's bytes");
    // Same value, same bytes: both sides encode canonically.
    let again = ser.serialize("shipments", &schema, &theirs).await.unwrap();
    assert_eq!(again, their_bytes);
}
