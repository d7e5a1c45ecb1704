//! Avro binary decoded straight into serde types by a plan compiled once per writer schema.
//!
//! apache-avro's schema-aware deserializer reads through `std::io::Read`, zero-fills a buffer
//! for every string before copying the string into it, and looks named types up by name as it
//! goes; on a small record that is a good part of the decode. A [`Plan`] is the writer schema
//! flattened into a table, named types resolved to indices once (so a recursive type costs
//! nothing more), and it reads from the byte slice itself.
//!
//! For each serde hint it accepts the schema types apache-avro's deserializer accepts and
//! decodes the same values; it knows fewer shapes. A schema with a type it does not know
//! (decimals, unions other than `null` and one type, tuples, …) compiles to no plan. A decode
//! it does not finish says why ([`Mismatch`]): a shape it leaves to apache-avro, data it reads
//! as invalid (apache-avro then decides, and may read more leniently), or data no real record
//! has — nested deeper than [`MAX_DEPTH`], or more items than its bytes allow for — which is
//! refused outright: apache-avro would recurse until the stack overflows, or count empty items
//! for ever.

use std::collections::HashMap;
use std::fmt;

use apache_avro::schema::{Name, NamesRef, Schema, UuidSchema};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

/// A writer schema, compiled for decoding.
pub(crate) struct Plan {
    nodes: Vec<Node>,
    root: Index,
    /// How deep a value may nest: [`MAX_DEPTH`] for a recursive type, unbounded otherwise
    /// (the schema bounds it, and a schema nested deeper than [`MAX_DEPTH`] has no plan).
    max_depth: u16,
    /// Whether the schema bounds every datum's depth and its items by its bytes (not
    /// recursive, no arrays of items that take no bytes): then no datum is [`Hostile`].
    bounded: bool,
}

type Index = u32;

enum Node {
    Null,
    Boolean,
    /// Also `date` and `time-millis`.
    Int,
    /// Also the `time-micros` and timestamp logical types.
    Long,
    Float,
    Double,
    Bytes,
    String,
    /// `uuid` on a string: a string to every hint but `char` and identifiers, as in apache-avro.
    Uuid,
    Fixed(usize),
    Array(Index),
    Map(Index),
    /// A union of `null` and one other type: the `null` branch's index (0 or 1), and the other.
    Nullable {
        null: i64,
        some: Index,
    },
    Record(Box<[Field]>),
    Enum(Box<[Box<str>]>),
}

struct Field {
    name: Box<str>,
    node: Index,
}

/// Nodes every plan has at these indices: map keys are strings, and a union's `null` branch
/// needs a node to go to.
const STRING: Index = 0;
const NULL: Index = 1;

/// A value of a recursive type nested deeper than this (a linked list of half as many links)
/// is refused, and a schema whose values nest deeper gets no plan: the plan's own recursion
/// then stays well within a thread's stack.
pub(crate) const MAX_DEPTH: u16 = 512;

/// Items (of arrays and maps, all together) a datum may have beyond one per byte: items of
/// `null` or of empty records take no bytes, and blocks of them must not spin for ever.
const EMPTY_ITEMS: u64 = 1 << 20;

/// Why a decode did not finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// The Rust type asks for a shape the plan leaves to apache-avro, whatever the data.
    Unsupported,
    /// The datum is not valid as the plan reads it; apache-avro decides.
    Invalid,
    /// Nested deeper than [`MAX_DEPTH`] or with more items than its bytes allow for.
    Hostile,
}

use Mismatch::{Hostile, Invalid, Unsupported};

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unsupported => "a shape the decoding plan leaves to apache-avro",
            Invalid => "invalid data for the writer schema",
            Hostile => "data nested deeper, or with more items, than any record has",
        })
    }
}

impl std::error::Error for Mismatch {}

impl de::Error for Mismatch {
    /// Raised by the Rust type's own `Deserialize` (a missing field, an unknown variant, a
    /// value of a type it does not take): a matter of the type and the schema.
    fn custom<T: fmt::Display>(_: T) -> Self {
        Unsupported
    }
}

impl Plan {
    /// The plan for `schema`, whose references `names` resolves; `None` if the schema has a
    /// type the plan does not decode.
    pub(crate) fn compile<'s>(schema: &'s Schema, names: &NamesRef<'s>) -> Option<Plan> {
        let mut compiler = Compiler {
            nodes: vec![Node::String, Node::Null],
            named: HashMap::new(),
            names,
        };
        let root = compiler.node(schema, 0)?;
        let nodes = compiler.nodes;
        let mut marks = vec![Mark::New; nodes.len()];
        let max_depth = match nesting(&nodes, root, 0, &mut marks) {
            Ok(_) => u16::MAX,
            Err(Shape::Recursive) => MAX_DEPTH,
            Err(Shape::TooDeep) => return None,
        };
        let bounded = max_depth == u16::MAX
            && !nodes
                .iter()
                .any(|n| matches!(*n, Node::Array(items) if takes_no_bytes(&nodes, items, 0)));
        Some(Plan {
            nodes,
            root,
            max_depth,
            bounded,
        })
    }

    /// Whether no datum of the schema can be [`Hostile`].
    pub(crate) fn is_bounded(&self) -> bool {
        self.bounded
    }

    /// Whether the datum at the front of `bytes` must be kept from apache-avro's reader, which
    /// would recurse or count through it without bound ([`Hostile`]); read through only where
    /// the schema allows such a datum at all.
    pub(crate) fn refuses(&self, bytes: &[u8]) -> bool {
        !self.bounded && self.check(bytes) == Err(Hostile)
    }

    /// Reads the datum at the front of `bytes` through, checking it, building nothing: a
    /// [`Hostile`] one is kept from apache-avro's reader, which has no bound on either.
    pub(crate) fn check(&self, bytes: &[u8]) -> Result<(), Mismatch> {
        let mut input = Input {
            bytes,
            items: bytes.len() as u64 + EMPTY_ITEMS,
        };
        Datum {
            plan: self,
            node: self.root,
            input: &mut input,
            depth: 0,
        }
        .skip()
    }

    /// Decodes one datum from the front of `bytes`.
    pub(crate) fn decode<T: DeserializeOwned>(&self, bytes: &mut &[u8]) -> Result<T, Mismatch> {
        let mut input = Input {
            bytes,
            items: bytes.len() as u64 + EMPTY_ITEMS,
        };
        let value = T::deserialize(Datum {
            plan: self,
            node: self.root,
            input: &mut input,
            depth: 0,
        })?;
        *bytes = input.bytes;
        Ok(value)
    }
}

/// Whether values of node `i` can take no bytes at all (`null`, an empty fixed, records of
/// such), so that an array of them holds as many as its counts say, whatever its length.
fn takes_no_bytes(nodes: &[Node], i: Index, level: u16) -> bool {
    level <= MAX_DEPTH
        && match &nodes[i as usize] {
            Node::Null | Node::Fixed(0) => true,
            Node::Record(fields) => fields
                .iter()
                .all(|f| takes_no_bytes(nodes, f.node, level + 1)),
            _ => false,
        }
}

#[derive(Clone, Copy)]
enum Mark {
    New,
    Open,
    /// How deep values of the node nest.
    Done(u16),
}

/// Why a schema's values have no fixed nesting depth within [`MAX_DEPTH`].
enum Shape {
    Recursive,
    TooDeep,
}

/// How deep values of node `i` nest, counting each level as the decoder does; `level` is how
/// far down the walk is (it stops past [`MAX_DEPTH`], so it cannot take the stack either).
fn nesting(nodes: &[Node], i: Index, level: u16, marks: &mut [Mark]) -> Result<u16, Shape> {
    if level > MAX_DEPTH {
        return Err(Shape::TooDeep);
    }
    match marks[i as usize] {
        Mark::Done(depth) => return Ok(depth),
        Mark::Open => return Err(Shape::Recursive),
        Mark::New => marks[i as usize] = Mark::Open,
    }
    let mut inner = |j: Index| nesting(nodes, j, level + 1, marks);
    let depth = match &nodes[i as usize] {
        &Node::Array(j) | &Node::Map(j) | &Node::Nullable { some: j, .. } => 1 + inner(j)?,
        Node::Record(fields) => {
            let mut deepest = 0;
            for f in fields.iter() {
                deepest = deepest.max(inner(f.node)?);
            }
            1 + deepest
        }
        _ => 1,
    };
    if depth > MAX_DEPTH {
        return Err(Shape::TooDeep);
    }
    marks[i as usize] = Mark::Done(depth);
    Ok(depth)
}

struct Compiler<'s, 'n> {
    nodes: Vec<Node>,
    /// Named types compiled so far, by full name.
    named: HashMap<&'s Name, Index>,
    names: &'n NamesRef<'s>,
}

impl<'s> Compiler<'s, '_> {
    fn push(&mut self, node: Node) -> Index {
        self.nodes.push(node);
        (self.nodes.len() - 1) as Index
    }

    fn node(&mut self, schema: &'s Schema, depth: u16) -> Option<Index> {
        if depth > MAX_DEPTH {
            return None;
        }
        let depth = depth + 1;
        Some(match schema {
            Schema::Null => NULL,
            Schema::String => STRING,
            Schema::Uuid(UuidSchema::String) => self.push(Node::Uuid),
            Schema::Boolean => self.push(Node::Boolean),
            Schema::Int | Schema::Date | Schema::TimeMillis => self.push(Node::Int),
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => self.push(Node::Long),
            Schema::Float => self.push(Node::Float),
            Schema::Double => self.push(Node::Double),
            Schema::Bytes => self.push(Node::Bytes),
            Schema::Fixed(fixed) => {
                let index = self.push(Node::Fixed(fixed.size));
                self.named.insert(&fixed.name, index);
                index
            }
            Schema::Array(array) => {
                let items = self.node(&array.items, depth)?;
                self.push(Node::Array(items))
            }
            Schema::Map(map) => {
                let values = self.node(&map.types, depth)?;
                self.push(Node::Map(values))
            }
            Schema::Union(union) => match union.variants() {
                [a, b] if matches!(a, Schema::Null) != matches!(b, Schema::Null) => {
                    let (null, some) = if matches!(a, Schema::Null) {
                        (0, b)
                    } else {
                        (1, a)
                    };
                    let some = self.node(some, depth)?;
                    self.push(Node::Nullable { null, some })
                }
                _ => return None,
            },
            Schema::Record(record) => {
                // apache-avro reads records it marked itself (tuples, unions of records)
                // otherwise than as a record.
                if record
                    .attributes
                    .keys()
                    .any(|k| k.starts_with("org.apache.avro.rust."))
                {
                    return None;
                }
                // Registered before its fields, which may refer to it.
                let index = self.push(Node::Null);
                self.named.insert(&record.name, index);
                let fields = record
                    .fields
                    .iter()
                    .map(|f| {
                        Some(Field {
                            name: f.name.as_str().into(),
                            node: self.node(&f.schema, depth)?,
                        })
                    })
                    .collect::<Option<Box<[Field]>>>()?;
                self.nodes[index as usize] = Node::Record(fields);
                index
            }
            Schema::Enum(e) => {
                let index = self.push(Node::Enum(
                    e.symbols.iter().map(|s| s.as_str().into()).collect(),
                ));
                self.named.insert(&e.name, index);
                index
            }
            Schema::Ref { name } => match self.named.get(name) {
                Some(&index) => index,
                None => {
                    let schema = *self.names.get(name)?;
                    self.node(schema, depth)?
                }
            },
            Schema::Decimal(_) | Schema::BigDecimal | Schema::Uuid(_) | Schema::Duration(_) => {
                return None
            }
        })
    }
}

/// What is left of the datum, and how many more items it may have.
struct Input<'a> {
    bytes: &'a [u8],
    items: u64,
}

impl<'a> Input<'a> {
    /// Zig-zag varint, at most ten bytes, as Avro writes `int` and `long`.
    #[inline]
    fn long(&mut self) -> Result<i64, Mismatch> {
        let mut raw: u64 = 0;
        // As apache-avro reads them: the tenth byte's bits beyond 64 are dropped, not refused
        // (a refusal here would send a datum apache-avro reads to apache-avro unchecked).
        for (i, &byte) in self.bytes.iter().enumerate().take(10) {
            raw |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.bytes = &self.bytes[i + 1..];
                return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        Err(Invalid)
    }

    #[inline]
    fn int(&mut self) -> Result<i32, Mismatch> {
        i32::try_from(self.long()?).map_err(|_| Invalid)
    }

    #[inline]
    fn boolean(&mut self) -> Result<bool, Mismatch> {
        match self.take(1)? {
            [0] => Ok(false),
            [1] => Ok(true),
            _ => Err(Invalid),
        }
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], Mismatch> {
        if n > self.bytes.len() {
            return Err(Invalid);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Mismatch> {
        Ok(self.take(N)?.try_into().expect("N bytes taken"))
    }

    /// A length-prefixed byte string.
    #[inline]
    fn bytes(&mut self) -> Result<&'a [u8], Mismatch> {
        let n = usize::try_from(self.long()?).map_err(|_| Invalid)?;
        self.take(n)
    }

    #[inline]
    fn str(&mut self) -> Result<&'a str, Mismatch> {
        std::str::from_utf8(self.bytes()?).map_err(|_| Invalid)
    }

    #[inline]
    fn symbol<'s>(&mut self, symbols: &'s [Box<str>]) -> Result<&'s str, Mismatch> {
        let index = usize::try_from(self.int()?).map_err(|_| Invalid)?;
        symbols.get(index).map(|s| &**s).ok_or(Invalid)
    }
}

/// One value of one node.
struct Datum<'p, 'i, 'a> {
    plan: &'p Plan,
    node: Index,
    input: &'i mut Input<'a>,
    depth: u16,
}

impl<'p, 'i, 'a> Datum<'p, 'i, 'a> {
    #[inline]
    fn of(&self) -> &'p Node {
        &self.plan.nodes[self.node as usize]
    }

    /// Where a union stands, the branch the datum took (every hint but `option`, `enum` and
    /// identifiers looks through a union, as apache-avro's does).
    #[inline]
    fn branch(mut self) -> Result<Self, Mismatch> {
        if let Node::Nullable { null, some } = *self.of() {
            let taken = self.input.long()?;
            self.node = match taken {
                _ if taken == null => NULL,
                _ if taken == 1 - null => some,
                _ => return Err(Invalid),
            };
        }
        Ok(self)
    }

    /// The value of `node` inside this one.
    #[inline]
    fn inner(&mut self, node: Index) -> Result<Datum<'p, '_, 'a>, Mismatch> {
        if self.depth >= self.plan.max_depth {
            return Err(Hostile);
        }
        Ok(Datum {
            plan: self.plan,
            node,
            input: self.input,
            depth: self.depth + 1,
        })
    }

    /// Reads past the value, checking it as a decode would, without building anything.
    fn skip(self) -> Result<(), Mismatch> {
        let mut this = self.branch()?;
        match this.of() {
            Node::Null => {}
            Node::Boolean => {
                this.input.boolean()?;
            }
            Node::Int => {
                this.input.int()?;
            }
            Node::Long => {
                this.input.long()?;
            }
            Node::Float => {
                this.input.take(4)?;
            }
            Node::Double => {
                this.input.take(8)?;
            }
            Node::Bytes => {
                this.input.bytes()?;
            }
            Node::String | Node::Uuid => {
                this.input.str()?;
            }
            &Node::Fixed(n) => {
                this.input.take(n)?;
            }
            &Node::Array(items) => {
                let mut blocks = Blocks::new(this, items)?;
                while blocks.left > 0 {
                    blocks.item(items).skip()?;
                    blocks.read_one()?;
                }
            }
            &Node::Map(values) => {
                let mut blocks = Blocks::new(this, values)?;
                while blocks.left > 0 {
                    blocks.item(STRING).skip()?;
                    blocks.item(values).skip()?;
                    blocks.read_one()?;
                }
            }
            Node::Record(fields) => {
                for field in fields.iter() {
                    this.inner(field.node)?.skip()?;
                }
            }
            Node::Enum(symbols) => {
                this.input.symbol(symbols)?;
            }
            Node::Nullable { .. } => return Err(Invalid),
        }
        Ok(())
    }
}

/// The integer hints narrower than `i64`: an `int` that fits.
macro_rules! narrow_int {
    ($method:ident, $visit:ident, $ty:ty) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
            let this = self.branch()?;
            match this.of() {
                Node::Int => {
                    visitor.$visit(<$ty>::try_from(this.input.int()?).map_err(|_| Invalid)?)
                }
                _ => Err(Unsupported),
            }
        }
    };
}

/// Hints apache-avro serves only from schema types the plan leaves to it.
macro_rules! unsupported {
    ($($method:ident),*) => {
        $(fn $method<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Mismatch> {
            Err(Unsupported)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Datum<'_, '_, '_> {
    type Error = Mismatch;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let this = self.branch()?;
        match this.of() {
            Node::Null => visitor.visit_unit(),
            Node::Boolean => visitor.visit_bool(this.input.boolean()?),
            Node::Int => visitor.visit_i32(this.input.int()?),
            Node::Long => visitor.visit_i64(this.input.long()?),
            Node::Float => this.deserialize_f32(visitor),
            Node::Double => this.deserialize_f64(visitor),
            Node::Bytes | Node::Fixed(_) => this.deserialize_byte_buf(visitor),
            Node::String | Node::Uuid => visitor.visit_string(this.input.str()?.to_owned()),
            Node::Array(_) => this.deserialize_seq(visitor),
            Node::Map(_) | Node::Record(_) => this.deserialize_map(visitor),
            Node::Enum(_) => this.deserialize_enum("", &[], visitor),
            Node::Nullable { .. } => Err(Invalid),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let this = self.branch()?;
        match this.of() {
            Node::Boolean => visitor.visit_bool(this.input.boolean()?),
            _ => Err(Unsupported),
        }
    }

    narrow_int!(deserialize_i8, visit_i8, i8);
    narrow_int!(deserialize_i16, visit_i16, i16);
    narrow_int!(deserialize_i32, visit_i32, i32);
    narrow_int!(deserialize_u8, visit_u8, u8);
    narrow_int!(deserialize_u16, visit_u16, u16);

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let this = self.branch()?;
        match this.of() {
            Node::Long => visitor.visit_i64(this.input.long()?),
            _ => Err(Unsupported),
        }
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let this = self.branch()?;
        match this.of() {
            Node::Long => {
                visitor.visit_u32(u32::try_from(this.input.long()?).map_err(|_| Invalid)?)
            }
            _ => Err(Unsupported),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let this = self.branch()?;
        match this.of() {
            Node::Float => visitor.visit_f32(f32::from_le_bytes(this.input.array()?)),
            _ => Err(Unsupported),
        }
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let this = self.branch()?;
        match this.of() {
            Node::Double => visitor.visit_f64(f64::from_le_bytes(this.input.array()?)),
            _ => Err(Unsupported),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let this = self.branch()?;
        match this.of() {
            Node::String => {
                let mut chars = this.input.str()?.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => visitor.visit_char(c),
                    _ => Err(Invalid),
                }
            }
            _ => Err(Unsupported),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let this = self.branch()?;
        match this.of() {
            Node::String | Node::Uuid => visitor.visit_string(this.input.str()?.to_owned()),
            _ => Err(Unsupported),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let this = self.branch()?;
        match this.of() {
            Node::Bytes => visitor.visit_byte_buf(this.input.bytes()?.to_vec()),
            &Node::Fixed(n) => visitor.visit_byte_buf(this.input.take(n)?.to_vec()),
            _ => Err(Unsupported),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Mismatch> {
        match *self.of() {
            Node::Nullable { null, some } => {
                let taken = self.input.long()?;
                if taken == null {
                    visitor.visit_none()
                } else if taken == 1 - null {
                    visitor.visit_some(self.inner(some)?)
                } else {
                    Err(Invalid)
                }
            }
            _ => Err(Unsupported),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let this = self.branch()?;
        match this.of() {
            Node::Null => visitor.visit_unit(),
            _ => Err(Unsupported),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let this = self.branch()?;
        match *this.of() {
            Node::Array(items) => visitor.visit_seq(Blocks::new(this, items)?),
            _ => Err(Unsupported),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let this = self.branch()?;
        match this.of() {
            &Node::Map(values) => visitor.visit_map(Blocks::new(this, values)?),
            Node::Record(fields) => visitor.visit_map(Fields {
                fields,
                next: 0,
                datum: this,
            }),
            _ => Err(Unsupported),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Mismatch> {
        // Fields are matched by name, as apache-avro matches them; the record's own name is
        // not compared (apache-avro refuses another, and the caller then resolves the datum
        // by value, which does not compare it either).
        let this = self.branch()?;
        match this.of() {
            Node::Record(fields) => visitor.visit_map(Fields {
                fields,
                next: 0,
                datum: this,
            }),
            _ => Err(Unsupported),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Mismatch> {
        // No look through a union: apache-avro reads a union under this hint as a Rust enum
        // of its branches, which is its to decode.
        match self.of() {
            Node::Enum(symbols) => visitor.visit_enum(Symbol(self.input.symbol(symbols)?)),
            _ => Err(Unsupported),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        // A plain string, no union, as apache-avro takes identifiers.
        match self.of() {
            Node::String => visitor.visit_string(self.input.str()?.to_owned()),
            _ => Err(Unsupported),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        self.skip()?;
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _visitor: V,
    ) -> Result<V::Value, Mismatch> {
        Err(Unsupported)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _visitor: V,
    ) -> Result<V::Value, Mismatch> {
        Err(Unsupported)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, _: V) -> Result<V::Value, Mismatch> {
        Err(Unsupported)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, Mismatch> {
        Err(Unsupported)
    }

    unsupported!(deserialize_u64, deserialize_i128, deserialize_u128);

    /// apache-avro's setting, so types that serialize differently either way (uuids, dates)
    /// decode as they would there. Reading it settles it at its default if nothing has, as
    /// building any apache-avro reader or writer does.
    fn is_human_readable(&self) -> bool {
        apache_avro::util::set_serde_human_readable(apache_avro::util::DEFAULT_SERDE_HUMAN_READABLE)
    }
}

/// An array's items or a map's entries, in blocks of counted items. A block's header is read
/// before its first item and right after its last, as apache-avro reads them (a visitor that
/// stops at the item it wanted leaves nothing unread behind).
struct Blocks<'p, 'i, 'a> {
    datum: Datum<'p, 'i, 'a>,
    items: Index,
    /// Items left in the current block; none once the closing empty block is read.
    left: u64,
}

impl<'p, 'i, 'a> Blocks<'p, 'i, 'a> {
    fn new(datum: Datum<'p, 'i, 'a>, items: Index) -> Result<Self, Mismatch> {
        if datum.depth >= datum.plan.max_depth {
            return Err(Hostile);
        }
        let mut blocks = Blocks {
            datum,
            items,
            left: 0,
        };
        blocks.header()?;
        Ok(blocks)
    }

    #[inline]
    fn header(&mut self) -> Result<(), Mismatch> {
        let input = &mut *self.datum.input;
        let count = input.long()?;
        if count < 0 {
            // A negative count is followed by the block's size in bytes.
            input.long()?;
        }
        self.left = count.unsigned_abs();
        input.items = input.items.checked_sub(self.left).ok_or(Hostile)?;
        Ok(())
    }

    /// One item read: the next block's header if it was the block's last.
    #[inline]
    fn read_one(&mut self) -> Result<(), Mismatch> {
        self.left -= 1;
        if self.left == 0 {
            self.header()?;
        }
        Ok(())
    }

    #[inline]
    fn item(&mut self, node: Index) -> Datum<'p, '_, 'a> {
        Datum {
            plan: self.datum.plan,
            node,
            input: self.datum.input,
            depth: self.datum.depth + 1,
        }
    }

    fn hint(&self) -> Option<usize> {
        Some(self.left.min(1024) as usize)
    }
}

impl<'de> SeqAccess<'de> for Blocks<'_, '_, '_> {
    type Error = Mismatch;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Mismatch> {
        if self.left == 0 {
            return Ok(None);
        }
        let item = seed.deserialize(self.item(self.items))?;
        self.read_one()?;
        Ok(Some(item))
    }

    fn size_hint(&self) -> Option<usize> {
        self.hint()
    }
}

impl<'de> MapAccess<'de> for Blocks<'_, '_, '_> {
    type Error = Mismatch;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Mismatch> {
        if self.left == 0 {
            return Ok(None);
        }
        seed.deserialize(self.item(STRING)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Mismatch> {
        let value = seed.deserialize(self.item(self.items))?;
        self.read_one()?;
        Ok(value)
    }

    fn size_hint(&self) -> Option<usize> {
        self.hint()
    }
}

/// A record's fields, in the writer's order, by name.
struct Fields<'p, 'i, 'a> {
    fields: &'p [Field],
    next: usize,
    datum: Datum<'p, 'i, 'a>,
}

impl<'de> MapAccess<'de> for Fields<'_, '_, '_> {
    type Error = Mismatch;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Mismatch> {
        let Some(field) = self.fields.get(self.next) else {
            return Ok(None);
        };
        let name: &str = &field.name;
        seed.deserialize(name.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Mismatch> {
        let field = self.fields.get(self.next).ok_or(Unsupported)?;
        self.next += 1;
        seed.deserialize(self.datum.inner(field.node)?)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.fields.len() - self.next)
    }
}

/// An enum's symbol, read: a unit variant of that name.
struct Symbol<'s>(&'s str);

impl<'de, 's> EnumAccess<'de> for Symbol<'s> {
    type Error = Mismatch;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Mismatch> {
        let name: &str = self.0;
        Ok((seed.deserialize(name.into_deserializer())?, self))
    }
}

impl<'de> VariantAccess<'de> for Symbol<'_> {
    type Error = Mismatch;

    fn unit_variant(self) -> Result<(), Mismatch> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _: T) -> Result<T::Value, Mismatch> {
        Err(Unsupported)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Mismatch> {
        Err(Unsupported)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Mismatch> {
        Err(Unsupported)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use apache_avro::reader::datum::GenericDatumReader;
    use apache_avro::schema::ResolvedSchema;
    use apache_avro::writer::datum::GenericDatumWriter;
    use apache_avro::AvroSchema;
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
    enum Colour {
        Red,
        Green,
        Blue,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
    struct Inner {
        name: String,
        tags: Vec<String>,
        next: Option<i64>,
    }

    /// Every shape the plan decodes; `Inner` a second time by reference.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
    struct Everything {
        flag: bool,
        small: i32,
        big: i64,
        ratio: f32,
        amount: f64,
        text: String,
        maybe: Option<String>,
        numbers: Vec<i64>,
        counts: HashMap<String, i32>,
        colour: Colour,
        inner: Option<Inner>,
        inners: Vec<Inner>,
        byte: u8,
        word: u16,
        wide: u32,
    }

    /// Only two of [`Everything`]'s fields: the plan must read past all the others.
    #[derive(Debug, PartialEq, Deserialize)]
    struct Sparse {
        colour: Colour,
        wide: u32,
    }

    fn plan_of(schema: &Schema) -> Option<Plan> {
        let resolved = ResolvedSchema::try_from(schema).unwrap();
        Plan::compile(schema, resolved.get_names())
    }

    fn encode<T: Serialize>(schema: &Schema, value: &T) -> Vec<u8> {
        GenericDatumWriter::builder(schema)
            .build()
            .unwrap()
            .write_ser_to_vec(value)
            .unwrap()
    }

    /// What apache-avro's own schema-aware deserializer makes of `datum`.
    fn by_apache<T: DeserializeOwned>(schema: &Schema, mut datum: &[u8]) -> Option<T> {
        let reader = GenericDatumReader::builder(schema).build().unwrap();
        reader.read_deser(&mut datum).ok()
    }

    fn inner() -> impl Strategy<Value = Inner> {
        (
            ".{0,6}",
            prop::collection::vec(".{0,4}", 0..3),
            any::<Option<i64>>(),
        )
            .prop_map(|(name, tags, next)| Inner { name, tags, next })
    }

    fn everything() -> impl Strategy<Value = Everything> {
        let colour = prop_oneof![Just(Colour::Red), Just(Colour::Green), Just(Colour::Blue)];
        (
            (any::<bool>(), any::<i32>(), any::<i64>(), -1e6f32..1e6f32),
            (-1e12f64..1e12f64, ".{0,12}", proptest::option::of(".{0,6}")),
            (
                prop::collection::vec(any::<i64>(), 0..6),
                prop::collection::hash_map(".{0,4}", any::<i32>(), 0..4),
                colour,
            ),
            (
                proptest::option::of(inner()),
                prop::collection::vec(inner(), 0..3),
            ),
            (any::<u8>(), any::<u16>(), any::<u32>()),
        )
            .prop_map(
                |(
                    (flag, small, big, ratio),
                    (amount, text, maybe),
                    (numbers, counts, colour),
                    (inner, inners),
                    (byte, word, wide),
                )| Everything {
                    flag,
                    small,
                    big,
                    ratio,
                    amount,
                    text,
                    maybe,
                    numbers,
                    counts,
                    colour,
                    inner,
                    inners,
                    byte,
                    word,
                    wide,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn decodes_what_apache_avro_encodes(value in everything()) {
            let schema = Everything::get_schema();
            let plan = plan_of(&schema).expect("every shape of Everything has a plan");
            let datum = encode(&schema, &value);
            let mut rest = &datum[..];
            let decoded: Everything = plan.decode(&mut rest).unwrap();
            prop_assert_eq!(&decoded, &value);
            prop_assert!(rest.is_empty(), "the whole datum read");
            prop_assert_eq!(by_apache::<Everything>(&schema, &datum), Some(value.clone()));

            let mut rest = &datum[..];
            let sparse: Sparse = plan.decode(&mut rest).unwrap();
            prop_assert_eq!(sparse, Sparse { colour: value.colour, wide: value.wide });
            prop_assert!(rest.is_empty(), "skipped fields read past, not left behind");
        }

        /// The plan may refuse what apache-avro decodes, never decode it otherwise: on damaged
        /// data (truncated, bytes changed), whatever the plan decodes apache-avro decodes alike.
        #[test]
        fn never_decodes_otherwise_than_apache_avro(
            value in everything(),
            cut in any::<prop::sample::Index>(),
            damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        ) {
            let schema = Everything::get_schema();
            let plan = plan_of(&schema).unwrap();
            let mut datum = encode(&schema, &value);
            for (at, byte) in damage {
                let at = at.index(datum.len());
                datum[at] = byte;
            }
            datum.truncate(cut.index(datum.len() + 1));
            if let Ok(ours) = plan.decode::<Everything>(&mut &datum[..]) {
                let theirs = by_apache::<Everything>(&schema, &datum);
                prop_assert_eq!(Some(text(&ours)), theirs.as_ref().map(text));
            }
            // Most fields read past rather than read: apache-avro's deserializer refuses the
            // type's name, so its answer is the datum read as a value, then into the type.
            if let Ok(ours) = plan.decode::<Sparse>(&mut &datum[..]) {
                let theirs = GenericDatumReader::builder(&schema)
                    .build()
                    .unwrap()
                    .read_value(&mut &datum[..])
                    .ok()
                    .and_then(|v| apache_avro::from_value::<Sparse>(&v).ok());
                prop_assert_eq!(Some(ours), theirs);
            }
        }
    }

    /// Debug text with the map's entries in order: a NaN that damage made is then equal to
    /// itself, and two maps of the same entries are equal whatever their iteration order.
    fn text(e: &Everything) -> String {
        let counts: std::collections::BTreeMap<_, _> = e.counts.iter().collect();
        let rest = Everything {
            counts: HashMap::new(),
            ..e.clone()
        };
        format!("{rest:?} {counts:?}")
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Link {
        value: i64,
        next: Option<Box<Link>>,
    }

    #[test]
    fn a_recursive_type_decodes_and_nesting_is_bounded() {
        let schema = Schema::parse_str(
            r#"{"type":"record","name":"Link","fields":[
                {"name":"value","type":"long"},{"name":"next","type":["null","Link"]}]}"#,
        )
        .unwrap();
        let plan = plan_of(&schema).unwrap();
        let chain = |n: i64| {
            (0..n)
                .rev()
                .fold(None, |next, value| Some(Box::new(Link { value, next })))
        };
        let short = *chain(5).unwrap();
        let datum = encode(&schema, &short);
        assert_eq!(plan.decode::<Link>(&mut &datum[..]).unwrap(), short);

        // n links of value 0, written by hand (apache-avro's writer recurses as deep): each
        // link's value, then the union branch of `next`, `Link` or at last `null`.
        let links = |n: usize| {
            let mut datum = [0u8, 2].repeat(n);
            *datum.last_mut().unwrap() = 0;
            datum
        };
        // Each link is two levels (the record, then the union in its `next`): 256 links are
        // as deep as the plan goes, and decode within a tokio worker's 2 MiB of stack even
        // unoptimised; one more is refused outright.
        let limit = usize::from(MAX_DEPTH) / 2;
        let decoded = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let plan = plan_of(&schema).unwrap();
                let ok = plan.decode::<Link>(&mut &links(limit)[..]).map(|_| ());
                let deeper = plan.decode::<Link>(&mut &links(limit + 1)[..]).map(|_| ());
                (ok, deeper)
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(decoded, (Ok(()), Err(Hostile)));
    }

    #[test]
    fn shapes_without_a_plan_are_left_to_apache_avro() {
        for text in [
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":["null","int","string"]}]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}}]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"fixed","name":"D","size":12,"logicalType":"duration"}}]}"#,
            r#"["int","string"]"#,
        ] {
            let schema = Schema::parse_str(text).unwrap();
            assert!(plan_of(&schema).is_none(), "{text}");
        }
    }

    #[test]
    fn blocks_of_empty_items_are_bounded_for_the_whole_datum() {
        let nulls = Schema::parse_str(r#"{"type":"array","items":"null"}"#).unwrap();
        let plan = plan_of(&nulls).unwrap();
        // Three items of nothing in two bytes: a real array of nulls.
        assert_eq!(plan.decode::<Vec<()>>(&mut &[6u8, 0][..]), Ok(vec![(); 3]));
        // A block of i64::MAX items: refused at once, not counted out.
        let huge = [
            0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0,
        ];
        assert_eq!(plan.decode::<Vec<()>>(&mut &huge[..]), Err(Hostile));

        // Blocks within blocks share the one budget: three arrays of 2^19 + 1 nulls each are
        // more than a few bytes may hold, though each array alone would pass.
        let nested =
            Schema::parse_str(r#"{"type":"array","items":{"type":"array","items":"null"}}"#)
                .unwrap();
        let plan = plan_of(&nested).unwrap();
        let mut inner = Vec::new();
        let mut n = ((1u64 << 19) + 1) << 1; // zig-zag
        while n >= 0x80 {
            inner.push((n as u8) | 0x80);
            n >>= 7;
        }
        inner.extend([n as u8, 0]);
        let one = [&[2u8][..], &inner, &[0]].concat();
        assert_eq!(
            plan.decode::<Vec<Vec<()>>>(&mut &one[..])
                .map(|v| v[0].len()),
            Ok((1 << 19) + 1)
        );
        let three = [&[6u8][..], &inner, &inner, &inner, &[0]].concat();
        assert_eq!(plan.decode::<Vec<Vec<()>>>(&mut &three[..]), Err(Hostile));
    }

    /// A visitor that takes exactly the items it wants (as tuple visitors do) leaves nothing
    /// unread: the block that closes the array is read with the last item, as apache-avro does.
    #[test]
    fn an_array_read_to_its_last_item_is_read_to_its_end() {
        #[derive(Debug, PartialEq)]
        struct Two(i64, i64);
        impl<'de> Deserialize<'de> for Two {
            fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = Two;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("two longs")
                    }
                    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Two, A::Error> {
                        let a = seq
                            .next_element()?
                            .ok_or_else(|| de::Error::custom("short"))?;
                        let b = seq
                            .next_element()?
                            .ok_or_else(|| de::Error::custom("short"))?;
                        Ok(Two(a, b))
                    }
                }
                d.deserialize_seq(V)
            }
        }
        #[derive(Debug, PartialEq, Deserialize)]
        struct HasTwo {
            xs: Two,
            y: i64,
        }
        let schema = Schema::parse_str(
            r#"{"type":"record","name":"HasTwo","fields":[
                {"name":"xs","type":{"type":"array","items":"long"}},{"name":"y","type":"long"}]}"#,
        )
        .unwrap();
        let datum = [4u8, 2, 4, 0, 14];
        let expected = HasTwo {
            xs: Two(1, 2),
            y: 7,
        };
        assert_eq!(
            plan_of(&schema).unwrap().decode::<HasTwo>(&mut &datum[..]),
            Ok(expected)
        );
        assert_eq!(
            by_apache::<HasTwo>(&schema, &datum),
            Some(HasTwo {
                xs: Two(1, 2),
                y: 7
            })
        );
    }

    /// Only a recursive type is held to [`MAX_DEPTH`] as it decodes; any other schema's values
    /// nest as deep as the schema does, which is within it or the schema gets no plan (types
    /// used again by name nest deeper than the schema's text).
    #[test]
    fn nesting_is_bounded_by_the_schema_or_for_recursive_types_by_the_limit() {
        // Field f{i} is a record R{i} holding an R{i-1}: f{n} nests n + 1 deep, in a schema
        // text nested three deep.
        let chain = |n: usize| {
            let mut fields = vec![r#"{"name":"f0","type":{"type":"record","name":"R0","fields":[{"name":"v","type":"long"}]}}"#.to_string()];
            for i in 1..=n {
                fields.push(format!(
                    r#"{{"name":"f{i}","type":{{"type":"record","name":"R{i}","fields":[{{"name":"inner","type":"R{}"}}]}}}}"#,
                    i - 1
                ));
            }
            Schema::parse_str(&format!(
                r#"{{"type":"record","name":"Top","fields":[{}]}}"#,
                fields.join(",")
            ))
            .unwrap()
        };
        let shallow = plan_of(&chain(100)).unwrap();
        assert_eq!(shallow.max_depth, u16::MAX);
        assert!(
            plan_of(&chain(600)).is_none(),
            "601 levels: left to apache-avro"
        );
        let link = Schema::parse_str(
            r#"{"type":"record","name":"Link","fields":[
                {"name":"value","type":"long"},{"name":"next","type":["null","Link"]}]}"#,
        )
        .unwrap();
        assert_eq!(plan_of(&link).unwrap().max_depth, MAX_DEPTH);
    }

    /// A varint's tenth byte is read as apache-avro reads it, its bits past 64 dropped: data it
    /// reads is never refused as invalid and handed to it unchecked.
    #[test]
    fn overlong_varints_read_as_apache_avro_reads_them() {
        let long = Schema::parse_str(r#""long""#).unwrap();
        let plan = plan_of(&long).unwrap();
        for tenth in [0x00u8, 0x01, 0x7e, 0x7f] {
            let datum = [&[0x80u8; 9][..], &[tenth]].concat();
            assert_eq!(
                plan.decode::<i64>(&mut &datum[..]).ok(),
                by_apache::<i64>(&long, &datum),
                "{tenth:#x}"
            );
        }
        // Eleven bytes: refused by both.
        let datum = [&[0x80u8; 10][..], &[0]].concat();
        assert_eq!(plan.decode::<i64>(&mut &datum[..]), Err(Invalid));
        assert_eq!(by_apache::<i64>(&long, &datum), None);
    }

    /// Only a schema that allows a hostile datum has its datums read through before
    /// apache-avro gets them: a recursive one, or one with arrays of items of no bytes.
    #[test]
    fn only_schemas_that_allow_hostile_datums_are_checked() {
        let parsed = |text: &str| plan_of(&Schema::parse_str(text).unwrap()).unwrap();
        assert!(plan_of(&Everything::get_schema()).unwrap().is_bounded());
        let link = parsed(
            r#"{"type":"record","name":"Link","fields":[
                {"name":"value","type":"long"},{"name":"next","type":["null","Link"]}]}"#,
        );
        assert!(!link.is_bounded());
        let deep = [[0u8, 2].repeat(1000), vec![0, 0]].concat();
        assert!(link.refuses(&deep));
        assert!(!link.refuses(&[0, 2, 0, 0]));
        // Not even invalid data is refused here: that is apache-avro's to say.
        assert!(!link.refuses(&[0, 9]));
        let empties = parsed(
            r#"{"type":"array","items":{"type":"record","name":"E","fields":[{"name":"n","type":"null"}]}}"#,
        );
        assert!(!empties.is_bounded());
        assert!(parsed(r#"{"type":"array","items":"int"}"#).is_bounded());
    }

    /// Reading past a field the Rust type does not have checks it as reading it would: corrupt
    /// data there is not accepted for the sake of the other fields.
    #[test]
    fn skipped_fields_are_checked() {
        #[derive(Debug, PartialEq, Deserialize)]
        struct OnlyB {
            b: i32,
        }
        for (a, bytes) in [
            ("\"string\"", &[0x04, 0xff, 0xfe, 0x02][..]),
            ("\"int\"", &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x02][..]),
            ("\"boolean\"", &[0x07, 0x02][..]),
            (
                r#"{"type":"map","values":"int"}"#,
                &[0x02, 0x02, 0xc3, 0x28, 0x00, 0x00][..],
            ),
            (
                r#"{"type":"enum","name":"E","symbols":["X"]}"#,
                &[0x02, 0x02][..],
            ),
        ] {
            let schema = Schema::parse_str(&format!(
                r#"{{"type":"record","name":"R","fields":[{{"name":"a","type":{a}}},{{"name":"b","type":"int"}}]}}"#
            ))
            .unwrap();
            let plan = plan_of(&schema).unwrap();
            assert_eq!(plan.decode::<OnlyB>(&mut &bytes[..]), Err(Invalid), "{a}");
        }
    }

    /// Hints apache-avro refuses for a schema type are refused too, even where the bytes would
    /// make sense: a `char` or an identifier from a uuid, an identifier through a union.
    #[test]
    fn hints_refused_as_apache_avro_refuses_them() {
        let uuid = Schema::parse_str(r#"{"type":"string","logicalType":"uuid"}"#).unwrap();
        let plan = plan_of(&uuid).unwrap();
        assert_eq!(
            plan.decode::<char>(&mut &[0x02, b'x'][..]),
            Err(Unsupported)
        );
        assert_eq!(
            plan.decode::<String>(&mut &[0x02, b'x'][..]),
            Ok("x".into())
        );

        #[derive(Debug, PartialEq, Deserialize)]
        #[serde(field_identifier)]
        enum Key {
            X,
        }
        let nullable = Schema::parse_str(r#"["null","string"]"#).unwrap();
        let plan = plan_of(&nullable).unwrap();
        assert_eq!(
            plan.decode::<Key>(&mut &[0x02, 0x02, b'X'][..]),
            Err(Unsupported)
        );
        let string = Schema::parse_str(r#""string""#).unwrap();
        let plan = plan_of(&string).unwrap();
        assert_eq!(plan.decode::<Key>(&mut &[0x02, b'X'][..]), Ok(Key::X));

        // A record apache-avro marked as its own union of records: its to read.
        let marked = Schema::parse_str(
            r#"{"type":"record","name":"W","org.apache.avro.rust.union_of_records":true,
                "fields":[{"name":"inner","type":"long"}]}"#,
        )
        .unwrap();
        assert!(plan_of(&marked).is_none());
    }
}
