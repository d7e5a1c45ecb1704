//! The Confluent wire format: how a Kafka record says which schema wrote it.
//!
//! Three forms exist, and a consumer must accept all of them:
//!
//! - **Id prefix** (every Confluent client): `0x00`, a 4-byte big-endian schema id, then the
//!   Avro binary datum (no container header, no single-object header).
//! - **GUID prefix** (Confluent 8.x): `0x01`, the schema's 16-byte GUID, then the datum.
//! - **GUID header** (Confluent 8.x): the payload is the bare datum and the GUID, framed as in
//!   the GUID prefix, travels in the record header [`VALUE_SCHEMA_ID_HEADER`] or
//!   [`KEY_SCHEMA_ID_HEADER`]. A header wins over the payload, as in Confluent's
//!   `DualSchemaIdDeserializer`.
//!
//! Everything here is pure byte work: no registry, no Avro. Decoding never panics; malformed
//! input is a [`WireError`].

use uuid::Uuid;

/// Magic byte of the id-prefixed form.
pub const MAGIC_ID: u8 = 0x00;
/// Magic byte of the GUID form (prefix or header).
pub const MAGIC_GUID: u8 = 0x01;
/// Record header carrying the value schema's GUID in the header form.
pub const VALUE_SCHEMA_ID_HEADER: &str = "__value_schema_id";
/// Record header carrying the key schema's GUID in the header form.
pub const KEY_SCHEMA_ID_HEADER: &str = "__key_schema_id";

/// Length of the id prefix: magic byte plus a 4-byte id.
pub const ID_PREFIX_LEN: usize = 5;
/// Length of the GUID prefix: magic byte plus a 16-byte GUID.
pub const GUID_PREFIX_LEN: usize = 17;

/// How a record names its writer schema.
///
/// ```
/// use schemata_serde::wire::SchemaRef;
/// assert_eq!(SchemaRef::Id(7).to_string(), "id 7");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaRef {
    /// A registry-wide integer id (`GET /schemas/ids/{id}`).
    Id(u32),
    /// A schema GUID (`GET /schemas/guids/{guid}`).
    Guid(Uuid),
}

impl std::fmt::Display for SchemaRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SchemaRef::Id(id) => write!(f, "id {id}"),
            SchemaRef::Guid(g) => write!(f, "guid {g}"),
        }
    }
}

/// A framed payload, split into the schema reference and the Avro datum it frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framed<'a> {
    /// The writer schema.
    pub schema: SchemaRef,
    /// The Avro binary datum.
    pub datum: &'a [u8],
}

/// Why bytes are not a valid Confluent frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The payload (or header) is shorter than its frame requires.
    #[error("payload of {len} bytes is too short for the {needed}-byte schema prefix")]
    TooShort {
        /// Bytes present.
        len: usize,
        /// Bytes the frame needs.
        needed: usize,
    },
    /// The first byte is neither `0x00` nor `0x01` (Confluent: "Unknown magic byte!").
    #[error("unknown magic byte {0:#04x}")]
    UnknownMagic(u8),
    /// A schema-id header that is not a 17-byte GUID frame (an id header is 5 bytes).
    #[error("schema id header is {0} bytes; expected 17 (GUID) or 5 (id)")]
    BadHeader(usize),
}

/// Writes the id prefix for `id` followed by nothing; append the datum after it.
///
/// ```
/// let mut buf = Vec::new();
/// schemata_serde::wire::write_id_prefix(&mut buf, 258);
/// assert_eq!(buf, [0, 0, 0, 1, 2]);
/// ```
pub fn write_id_prefix(buf: &mut Vec<u8>, id: u32) {
    buf.push(MAGIC_ID);
    buf.extend_from_slice(&id.to_be_bytes());
}

/// Writes the GUID frame (`0x01` + 16 bytes). Used as a payload prefix, or alone as the value
/// of a schema-id header.
///
/// ```
/// let mut buf = Vec::new();
/// schemata_serde::wire::write_guid_prefix(&mut buf, uuid::Uuid::nil());
/// assert_eq!(buf.len(), 17);
/// assert_eq!(buf[0], 1);
/// ```
pub fn write_guid_prefix(buf: &mut Vec<u8>, guid: Uuid) {
    buf.push(MAGIC_GUID);
    buf.extend_from_slice(guid.as_bytes());
}

/// Splits a prefixed payload into its schema reference and datum.
///
/// ```
/// use schemata_serde::wire::{decode, SchemaRef, WireError};
/// let framed = decode(&[0, 0, 0, 0, 42, 2, b'h']).unwrap();
/// assert_eq!(framed.schema, SchemaRef::Id(42));
/// assert_eq!(framed.datum, &[2, b'h']);
/// assert_eq!(decode(&[7, 0]), Err(WireError::UnknownMagic(7)));
/// ```
pub fn decode(payload: &[u8]) -> Result<Framed<'_>, WireError> {
    let (schema, len) = read_ref(payload)?;
    Ok(Framed {
        schema,
        datum: &payload[len..],
    })
}

/// Decodes a record's schema-id header and pairs it with the raw datum in the payload. A header
/// normally holds the 17-byte GUID frame; a 5-byte id frame is accepted too.
///
/// ```
/// use schemata_serde::wire::{decode_with_header, write_guid_prefix, SchemaRef};
/// let guid = uuid::Uuid::from_u128(1);
/// let mut header = Vec::new();
/// write_guid_prefix(&mut header, guid);
/// let framed = decode_with_header(&header, &[2, b'h']).unwrap();
/// assert_eq!(framed.schema, SchemaRef::Guid(guid));
/// assert_eq!(framed.datum, &[2, b'h']);
/// ```
pub fn decode_with_header<'a>(header: &[u8], payload: &'a [u8]) -> Result<Framed<'a>, WireError> {
    let (schema, len) = read_ref(header)?;
    if len != header.len() {
        return Err(WireError::BadHeader(header.len()));
    }
    Ok(Framed {
        schema,
        datum: payload,
    })
}

fn read_ref(bytes: &[u8]) -> Result<(SchemaRef, usize), WireError> {
    let Some(&magic) = bytes.first() else {
        return Err(WireError::TooShort {
            len: 0,
            needed: ID_PREFIX_LEN,
        });
    };
    let needed = match magic {
        MAGIC_ID => ID_PREFIX_LEN,
        MAGIC_GUID => GUID_PREFIX_LEN,
        other => return Err(WireError::UnknownMagic(other)),
    };
    let Some(body) = bytes.get(1..needed) else {
        return Err(WireError::TooShort {
            len: bytes.len(),
            needed,
        });
    };
    let schema = match magic {
        MAGIC_ID => SchemaRef::Id(u32::from_be_bytes(body.try_into().expect("4 bytes"))),
        _ => SchemaRef::Guid(Uuid::from_slice(body).expect("16 bytes")),
    };
    Ok((schema, needed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_prefix_round_trips() {
        let mut buf = Vec::new();
        write_id_prefix(&mut buf, 0x0102_0304);
        buf.extend_from_slice(b"datum");
        assert_eq!(&buf[..5], &[0, 1, 2, 3, 4]);
        let f = decode(&buf).unwrap();
        assert_eq!(f.schema, SchemaRef::Id(0x0102_0304));
        assert_eq!(f.datum, b"datum");
    }

    #[test]
    fn empty_datum_is_valid() {
        // A record of no fields encodes to zero bytes.
        let f = decode(&[0, 0, 0, 0, 1]).unwrap();
        assert_eq!(f.datum, b"");
    }

    #[test]
    fn guid_prefix_round_trips() {
        let guid = Uuid::from_u128(0x0011_2233_4455_6677_8899_aabb_ccdd_eeff);
        let mut buf = Vec::new();
        write_guid_prefix(&mut buf, guid);
        buf.push(9);
        assert_eq!(buf[1], 0x00);
        assert_eq!(buf[16], 0xff, "GUID is msb-first");
        let f = decode(&buf).unwrap();
        assert_eq!(f.schema, SchemaRef::Guid(guid));
        assert_eq!(f.datum, &[9]);
    }

    #[test]
    fn short_and_unknown_inputs_are_errors() {
        assert_eq!(decode(&[]), Err(WireError::TooShort { len: 0, needed: 5 }));
        for n in 1..5 {
            let buf = vec![0u8; n];
            assert_eq!(decode(&buf), Err(WireError::TooShort { len: n, needed: 5 }));
        }
        assert_eq!(
            decode(&[1, 0, 0, 0, 0, 0]),
            Err(WireError::TooShort { len: 6, needed: 17 })
        );
        for magic in 2..=255u8 {
            assert_eq!(
                decode(&[magic, 0, 0, 0, 1]),
                Err(WireError::UnknownMagic(magic))
            );
        }
    }

    #[test]
    fn header_must_be_exactly_one_frame() {
        let mut header = Vec::new();
        write_guid_prefix(&mut header, Uuid::from_u128(5));
        assert!(decode_with_header(&header, b"x").is_ok());
        header.push(0);
        assert_eq!(
            decode_with_header(&header, b"x"),
            Err(WireError::BadHeader(18))
        );
        assert_eq!(
            decode_with_header(&[0, 0, 0, 0, 3], b"x").unwrap().schema,
            SchemaRef::Id(3)
        );
        assert!(matches!(
            decode_with_header(&[1, 2], b"x"),
            Err(WireError::TooShort { .. })
        ));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz over every short buffer shape.
        let mut seed = 0x9e37_79b9_u32;
        for len in 0..40 {
            for _ in 0..200 {
                let buf: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        (seed % 3) as u8
                    })
                    .collect();
                let _ = decode(&buf);
                let _ = decode_with_header(&buf, &buf);
            }
        }
    }
}
