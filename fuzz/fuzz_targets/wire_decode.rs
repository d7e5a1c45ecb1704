//! The serializer crate's consumer side: arbitrary bytes through the wire-format decoder and the
//! real `Deserializer` (generic, schema-resolving and typed paths) against an in-process
//! registry. The first byte picks the shape: a datum framed with a registered writer's id, a raw
//! payload, or a raw payload with a schema-id header. Must never panic.
#![no_main]

#[path = "../../crates/schemata-serde/tests/fuzz_props/mod.rs"]
mod props;

use std::sync::OnceLock;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    static DECODER: OnceLock<props::Decoder> = OnceLock::new();
    let decoder = DECODER.get_or_init(props::Decoder::new);
    let [shape, rest @ ..] = data else {
        return;
    };
    match shape % 4 {
        0 | 1 => {
            if let [writer, datum @ ..] = rest {
                decoder.decode_datum(usize::from(*writer), datum);
            }
        }
        2 => decoder.decode_raw(rest, None),
        _ => {
            let cut = rest.len().min(17);
            decoder.decode_raw(&rest[cut..], Some(&rest[..cut]));
        }
    }
});
