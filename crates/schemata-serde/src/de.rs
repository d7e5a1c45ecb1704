//! [`Deserializer`]: Confluent-framed bytes in, values out.
//!
//! The writer's schema comes from the record (a schema-id header if present, else the payload
//! prefix) and the registry (cached, parsed once). Data is then resolved into the caller's
//! reader schema by Avro's resolution rules, so a consumer on schema v2 reads v1 data.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use arc_swap::ArcSwap;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use serde::de::DeserializeOwned;

use crate::client::RegistryClient;
use crate::datum::{Mismatch, Plan};
use crate::error::Result;
use crate::schema::ParsedSchema;
use crate::wire::{self, Framed, SchemaRef};

/// One side of a consumed record: the payload (`None` for a tombstone) and, if the record has
/// one, the value of its `__value_schema_id` / `__key_schema_id` header.
///
/// ```
/// use schemata_serde::Incoming;
/// let payload: &[u8] = &[0, 0, 0, 0, 1, 6];
/// let plain: Incoming = payload.into();
/// let tombstone: Incoming = None.into();
/// let with_header = Incoming::new(Some(payload)).header(Some(&[1u8; 17][..]));
/// # let _ = (plain, tombstone, with_header);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Incoming<'a> {
    /// The record's key or value bytes.
    pub payload: Option<&'a [u8]>,
    /// The schema-id header's bytes, if the record carries one.
    pub schema_id_header: Option<&'a [u8]>,
}

impl<'a> Incoming<'a> {
    /// A payload with no schema-id header.
    pub fn new(payload: Option<&'a [u8]>) -> Self {
        Incoming {
            payload,
            schema_id_header: None,
        }
    }

    /// Adds the schema-id header (see [`Part::header`](crate::Part::header) for its name).
    pub fn header(mut self, schema_id_header: Option<&'a [u8]>) -> Self {
        self.schema_id_header = schema_id_header;
        self
    }

    /// Splits into schema reference and datum: header first, then the payload prefix, as
    /// Confluent's `DualSchemaIdDeserializer` does. `None` for a tombstone.
    ///
    /// ```
    /// use schemata_serde::{wire::SchemaRef, Incoming};
    /// let framed = Incoming::from(&[0u8, 0, 0, 0, 9, 2][..]).framed().unwrap().unwrap();
    /// assert_eq!(framed.schema, SchemaRef::Id(9));
    /// assert!(Incoming::from(None).framed().unwrap().is_none());
    /// ```
    pub fn framed(&self) -> Result<Option<Framed<'a>>> {
        let Some(payload) = self.payload else {
            return Ok(None);
        };
        Ok(Some(match self.schema_id_header {
            Some(h) => wire::decode_with_header(h, payload)?,
            None => wire::decode(payload)?,
        }))
    }
}

impl<'a> From<&'a [u8]> for Incoming<'a> {
    fn from(payload: &'a [u8]) -> Self {
        Incoming::new(Some(payload))
    }
}

impl<'a> From<Option<&'a [u8]>> for Incoming<'a> {
    fn from(payload: Option<&'a [u8]>) -> Self {
        Incoming::new(payload)
    }
}

impl<'a> From<&'a Vec<u8>> for Incoming<'a> {
    fn from(payload: &'a Vec<u8>) -> Self {
        Incoming::new(Some(payload))
    }
}

/// Decodes keys or values written in any Confluent wire form.
///
/// ```no_run
/// # async fn run(bytes: Vec<u8>) -> schemata_serde::Result<()> {
/// use schemata_serde::{AvroSchema, Config, Deserializer, RegistryClient};
///
/// #[derive(serde::Deserialize, AvroSchema)]
/// struct Order { id: i64, item: String }
///
/// let client = RegistryClient::new(Config::builder("http://localhost:8081").build())?;
/// let deserializer = Deserializer::new(client);
/// let order: Option<Order> = deserializer.deserialize_avro(&bytes).await?;
/// # Ok(()) }
/// ```
pub struct Deserializer {
    client: RegistryClient,
    /// Whether a (writer, reader, Rust type) triple decodes directly into the type, decided
    /// once so the hot path neither compares schemas nor retries; with a reader built for the
    /// writer schema when it does, so the hot path makes this one lookup and builds nothing.
    fast: ArcSwap<FastPaths>,
    /// Per writer schema, the plan that checks its datums before apache-avro reads them by
    /// value (`None`: no plan, or none needed).
    guards: ArcSwap<Guards>,
}

impl Deserializer {
    /// A deserializer fetching writer schemas through `client`.
    pub fn new(client: RegistryClient) -> Self {
        Deserializer {
            client,
            fast: ArcSwap::default(),
            guards: ArcSwap::default(),
        }
    }

    /// The client this deserializer talks through.
    pub fn client(&self) -> &RegistryClient {
        &self.client
    }

    /// The writer schema of a record (`None` for a tombstone).
    pub async fn writer_schema<'a>(
        &self,
        incoming: impl Into<Incoming<'a>>,
    ) -> Result<Option<(SchemaRef, ParsedSchema)>> {
        let Some(framed) = incoming.into().framed()? else {
            return Ok(None);
        };
        let schema = self.client.schema(framed.schema).await?;
        Ok(Some((framed.schema, schema)))
    }

    /// Decodes into a generic `Value` shaped by the writer's schema.
    pub async fn deserialize_value<'a>(
        &self,
        incoming: impl Into<Incoming<'a>>,
    ) -> Result<Option<Value>> {
        let Some(framed) = incoming.into().framed()? else {
            return Ok(None);
        };
        let writer = self.client.schema(framed.schema).await?;
        self.guard(&framed, &writer)?;
        let mut datum = framed.datum;
        Ok(Some(
            GenericDatumReader::builder(writer.schema())
                .resolved_writer_schemata(writer.borrowed_names()?)
                .build()?
                .read_value(&mut datum)?,
        ))
    }

    /// Decodes into a generic `Value` shaped by `reader`: the writer's data resolved into the
    /// reader's schema (added fields take their defaults, removed fields are skipped, …).
    pub async fn deserialize_value_with<'a>(
        &self,
        incoming: impl Into<Incoming<'a>>,
        reader: &ParsedSchema,
    ) -> Result<Option<Value>> {
        let Some(framed) = incoming.into().framed()? else {
            return Ok(None);
        };
        let writer = self.client.schema(framed.schema).await?;
        self.guard(&framed, &writer)?;
        resolve_value(&writer, reader, framed.datum).map(Some)
    }

    /// Decodes into a `serde::Deserialize` type through `reader`, its Avro schema.
    pub async fn deserialize<'a, T: DeserializeOwned>(
        &self,
        incoming: impl Into<Incoming<'a>>,
        reader: &ParsedSchema,
    ) -> Result<Option<T>> {
        let Some(framed) = incoming.into().framed()? else {
            return Ok(None);
        };
        let key = (framed.schema, reader.key(), type_key::<T>());
        if let Some(done) = self.direct(key, framed.datum) {
            return done.map(Some);
        }
        Box::pin(self.decode(key, framed, reader)).await.map(Some)
    }

    /// Decodes into a type deriving `apache_avro::AvroSchema`; its schema is the reader schema.
    pub async fn deserialize_avro<'a, T: DeserializeOwned + apache_avro::AvroSchema + 'static>(
        &self,
        incoming: impl Into<Incoming<'a>>,
    ) -> Result<Option<T>> {
        let Some(framed) = incoming.into().framed()? else {
            return Ok(None);
        };
        // T's own schema, known by T: no need to look it up on the hot path.
        let key = (framed.schema, OWN_SCHEMA, type_key::<T>());
        if let Some(done) = self.direct(key, framed.datum) {
            return done.map(Some);
        }
        let reader = ParsedSchema::of::<T>()?;
        Box::pin(self.decode(key, framed, &reader)).await.map(Some)
    }

    /// The hot path: `datum` decoded straight into T, if `key` is known to allow that. `None`
    /// sends the datum the general way, which decides what the direct decoder did not.
    fn direct<T: DeserializeOwned>(&self, key: FastKey, datum: &[u8]) -> Option<Result<T>> {
        let fast = self.fast.load();
        let direct = fast.get(&key)?.as_ref()?;
        match (&direct.plan, direct.by_plan) {
            (Some(plan), true) => match plan.decode(&mut { datum }) {
                Ok(v) => Some(Ok(v)),
                Err(Mismatch::Hostile) => Some(Err(hostile())),
                Err(_) => None,
            },
            (plan, _) => {
                if plan.as_ref().is_some_and(|p| p.refuses(datum)) {
                    return Some(Err(hostile()));
                }
                direct.avro.read_deser(&mut { datum }).ok().map(Ok)
            }
        }
    }

    /// The general path: fetch the writer schema, decide (once) whether T decodes directly, and
    /// resolve into `reader` where it does not.
    async fn decode<T: DeserializeOwned>(
        &self,
        key: FastKey,
        framed: Framed<'_>,
        reader: &ParsedSchema,
    ) -> Result<T> {
        let writer = self.client.schema(framed.schema).await?;
        let direct = self.fast_path(key, &writer, reader);
        // Whether the direct decoders failed for a reason of T's rather than of this datum's.
        let mut of_the_type = false;
        if let Some(direct) = &direct {
            let refused = match (&direct.plan, direct.by_plan) {
                (Some(plan), true) => match plan.decode(&mut { framed.datum }) {
                    Ok(v) => return Ok(v),
                    Err(Mismatch::Hostile) => return Err(hostile()),
                    Err(why) => Some(why),
                },
                _ => None,
            };
            // Nothing apache-avro reads below is nested or counted beyond bounds.
            if direct
                .plan
                .as_ref()
                .is_some_and(|p| p.refuses(framed.datum))
            {
                return Err(hostile());
            }
            if let Ok(v) = direct.avro.read_deser(&mut { framed.datum }) {
                // apache-avro's reader decodes a shape the plan leaves to it: for this type,
                // whatever the data, so it decodes this key from now on. (Data the plan read
                // as invalid and apache-avro did not, it decides this once.)
                if refused == Some(Mismatch::Unsupported) {
                    self.set_fast_path(key, Some(Arc::new(direct.without_plan())));
                }
                return Ok(v);
            }
            of_the_type = refused.is_none_or(|why| why == Mismatch::Unsupported);
        }
        // A direct decoder's plan has read the datum through already.
        if direct.as_ref().is_none_or(|d| d.plan.is_none()) {
            self.guard(&framed, &writer)?;
        }
        let value = resolve_value(&writer, reader, framed.datum)?;
        let v = apache_avro::from_value(&value)?;
        // Decoded by value where no direct decoder could, for a reason of T's: apache-avro's
        // schema-aware deserializer insists that T's name match the record's, so a type named
        // otherwise with a shape the plan leaves to it goes this way from now on. (A datum no
        // path decodes says nothing about the key, and changes nothing.)
        if of_the_type {
            self.set_fast_path(key, None);
        }
        Ok(v)
    }

    /// The decoder that decodes `key`'s data straight into T, if there is one.
    fn fast_path(
        &self,
        key: FastKey,
        writer: &ParsedSchema,
        reader: &ParsedSchema,
    ) -> Option<Arc<Direct>> {
        if let Some(fast) = self.fast.load().get(&key) {
            return fast.clone();
        }
        // Equal by Parsing Canonical Form: same binary layout, nothing to resolve.
        let same = writer.key() == reader.key() || writer.schema() == reader.schema();
        // A reader that cannot be built sends this key the general way, which reports why.
        let direct = same
            .then(|| Direct::of(writer).ok().map(Arc::new))
            .flatten();
        self.set_fast_path(key, direct.clone());
        direct
    }

    /// Refuses a datum of `writer` that apache-avro's reader would recurse or count through
    /// without bound (see `datum`), before a path that reads it by value.
    fn guard(&self, framed: &Framed<'_>, writer: &ParsedSchema) -> Result<()> {
        let key = framed.schema;
        let plan = match self.guards.load().get(&key) {
            Some(plan) => plan.clone(),
            None => {
                let plan = plan_of(writer)
                    .filter(|plan| !plan.is_bounded())
                    .map(Arc::new);
                self.guards.rcu(|guards| {
                    let mut guards = Guards::clone(guards);
                    guards.insert(key, plan.clone());
                    guards
                });
                plan
            }
        };
        match plan {
            Some(plan) if plan.refuses(framed.datum) => Err(hostile()),
            _ => Ok(()),
        }
    }

    fn set_fast_path(&self, key: FastKey, writer: Option<Arc<Direct>>) {
        // Copied on write: a key is written once (or twice), read for every record after.
        self.fast.rcu(|paths| {
            let mut paths = FastPaths::clone(paths);
            paths.insert(key, writer.clone());
            paths
        });
    }
}

/// A datum refused outright (see `datum`): nested deeper, or with more items, than any
/// record has, which apache-avro's reader would recurse or count through without end.
fn hostile() -> crate::Error {
    let why = Mismatch::Hostile.to_string();
    apache_avro::Error::new(apache_avro::error::Details::DeserializeValue(why)).into()
}

/// The crate's own decoding plan for `writer`, if its schema has one (see `datum`).
fn plan_of(writer: &ParsedSchema) -> Option<Plan> {
    let names = writer.borrowed_names().ok()?;
    Plan::compile(writer.schema(), names.get_names())
}

/// How data of one writer schema decodes straight into a Rust type: by the crate's own plan
/// where the schema has one (see `datum`) and it decodes the type, else by apache-avro's reader,
/// with the plan checking each datum first where there is one.
struct Direct {
    plan: Option<Arc<Plan>>,
    /// Whether the plan decodes (rather than only checks).
    by_plan: bool,
    avro: Arc<WriterReader>,
}

impl Direct {
    fn of(writer: &ParsedSchema) -> Result<Self> {
        let avro = Arc::new(WriterReader::of(writer)?);
        let plan = plan_of(writer).map(Arc::new);
        Ok(Direct {
            by_plan: plan.is_some(),
            plan,
            avro,
        })
    }

    /// The same, decoding by apache-avro's reader.
    fn without_plan(&self) -> Direct {
        Direct {
            plan: self.plan.clone(),
            by_plan: false,
            avro: self.avro.clone(),
        }
    }
}

/// apache-avro's reader for one writer schema, built once: building it per record (name table,
/// builder) cost about a seventh of a small record's decode.
#[ouroboros::self_referencing]
struct WriterReader {
    writer: ParsedSchema,
    #[borrows(writer)]
    #[covariant]
    reader: GenericDatumReader<'this>,
}

impl WriterReader {
    fn of(writer: &ParsedSchema) -> Result<Self> {
        WriterReader::try_new(writer.clone(), |writer| {
            Ok(GenericDatumReader::builder(writer.schema())
                .resolved_writer_schemata(writer.borrowed_names()?)
                .build()?)
        })
    }

    fn read_deser<T: DeserializeOwned>(&self, datum: &mut &[u8]) -> Result<T> {
        Ok(self.with_reader(|r| r.read_deser::<T>(datum))?)
    }
}

/// The reader-schema part of a [`FastKey`] for "the Rust type's own schema"
/// ([`Deserializer::deserialize_avro`]); [`ParsedSchema`] keys start at 1.
const OWN_SCHEMA: u64 = 0;

/// The type name's address stands for T (hashing it is cheaper than hashing the name; two
/// addresses for one type only cost a second entry).
fn type_key<T>() -> usize {
    std::any::type_name::<T>().as_ptr() as usize
}

/// [`FastKey`]s are a few integers the process chose or the registry vouched for (an entry
/// exists only for a schema the registry returned): SipHash's protection buys nothing on the
/// hot path. This is FxHash's mixing step.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// (writer schema, reader schema key, address of the Rust type's name).
type FastKey = (SchemaRef, u64, usize);

/// The decision per [`FastKey`]: the reader to decode with directly, or `None` to resolve.
type FastPaths = HashMap<FastKey, Option<Arc<Direct>>, BuildHasherDefault<KeyHasher>>;

/// [`Deserializer::guard`]'s plans, by the writer schema's id.
type Guards = HashMap<SchemaRef, Option<Arc<Plan>>, BuildHasherDefault<KeyHasher>>;

fn resolve_value(writer: &ParsedSchema, reader: &ParsedSchema, mut datum: &[u8]) -> Result<Value> {
    Ok(GenericDatumReader::builder(writer.schema())
        .resolved_writer_schemata(writer.borrowed_names()?)
        .reader_schema(reader.schema())
        .resolved_reader_schemata(reader.borrowed_names()?)
        .build()?
        .read_value(&mut datum)?)
}
