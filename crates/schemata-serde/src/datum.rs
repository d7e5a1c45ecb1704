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
//! (decimals, unions other than `null` and one type, tuples, …) compiles to no plan, and a
//! datum it cannot decode is a [`Mismatch`], without a message: the caller then decodes with
//! apache-avro, which either succeeds or says why. So the plan never has to be right about an
//! error, only about a value.

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
    /// What apache-avro tells serde types about human readability, so types that serialize
    /// differently either way (uuids, dates) decode as they would there.
    human_readable: bool,
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
    /// Also `uuid` on a string.
    String,
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

/// Containers nested deeper than this (only a recursive type allows it) are left to
/// apache-avro rather than risk the stack.
const MAX_DEPTH: u16 = 128;

/// A datum the plan does not decode; apache-avro is asked instead.
#[derive(Debug)]
pub(crate) struct Mismatch;

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the datum does not decode by its writer schema's plan")
    }
}

impl std::error::Error for Mismatch {}

impl de::Error for Mismatch {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Mismatch
    }
}

impl Plan {
    /// The plan for `schema`, whose references `names` resolves; `None` if the schema has a
    /// type the plan does not decode.
    pub(crate) fn compile(schema: &Schema, names: &NamesRef<'_>) -> Option<Plan> {
        let mut compiler = Compiler {
            nodes: vec![Node::String, Node::Null],
            named: HashMap::new(),
            names,
        };
        let root = compiler.node(schema, 0)?;
        Some(Plan {
            nodes: compiler.nodes,
            root,
            human_readable: apache_avro::util::set_serde_human_readable(
                apache_avro::util::DEFAULT_SERDE_HUMAN_READABLE,
            ),
        })
    }

    /// Decodes one datum from the front of `input`.
    pub(crate) fn decode<T: DeserializeOwned>(&self, input: &mut &[u8]) -> Result<T, Mismatch> {
        T::deserialize(Datum {
            plan: self,
            node: self.root,
            input,
            depth: 0,
        })
    }
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
            Schema::String | Schema::Uuid(UuidSchema::String) => STRING,
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
                if record.attributes.contains_key("org.apache.avro.rust.tuple") {
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

/// Zig-zag varint, at most ten bytes, as Avro writes `int` and `long`.
#[inline]
fn long(input: &mut &[u8]) -> Result<i64, Mismatch> {
    let mut raw: u64 = 0;
    for (i, &byte) in input.iter().enumerate().take(10) {
        if i == 9 && byte > 1 {
            return Err(Mismatch);
        }
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *input = &input[i + 1..];
            return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    Err(Mismatch)
}

#[inline]
fn int(input: &mut &[u8]) -> Result<i32, Mismatch> {
    i32::try_from(long(input)?).map_err(|_| Mismatch)
}

#[inline]
fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], Mismatch> {
    if n > input.len() {
        return Err(Mismatch);
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

#[inline]
fn array<const N: usize>(input: &mut &[u8]) -> Result<[u8; N], Mismatch> {
    Ok(take(input, N)?.try_into().expect("N bytes taken"))
}

/// A length-prefixed byte string.
#[inline]
fn bytes<'a>(input: &mut &'a [u8]) -> Result<&'a [u8], Mismatch> {
    let n = usize::try_from(long(input)?).map_err(|_| Mismatch)?;
    take(input, n)
}

#[inline]
fn string(input: &mut &[u8]) -> Result<String, Mismatch> {
    std::str::from_utf8(bytes(input)?)
        .map(str::to_owned)
        .map_err(|_| Mismatch)
}

/// One value of one node.
struct Datum<'p, 'i, 'a> {
    plan: &'p Plan,
    node: Index,
    input: &'i mut &'a [u8],
    depth: u16,
}

impl<'p, 'i, 'a> Datum<'p, 'i, 'a> {
    #[inline]
    fn of(&self) -> &'p Node {
        &self.plan.nodes[self.node as usize]
    }

    /// Where a union stands, the branch the datum took (every hint but `option` and `enum`
    /// looks through a union, as apache-avro's does).
    #[inline]
    fn branch(mut self) -> Result<Self, Mismatch> {
        if let Node::Nullable { null, some } = *self.of() {
            let taken = long(self.input)?;
            self.node = match taken {
                _ if taken == null => NULL,
                _ if taken == 1 - null => some,
                _ => return Err(Mismatch),
            };
        }
        Ok(self)
    }

    #[inline]
    fn nested(self, node: Index) -> Result<Self, Mismatch> {
        if self.depth >= MAX_DEPTH {
            return Err(Mismatch);
        }
        Ok(Datum {
            node,
            depth: self.depth + 1,
            ..self
        })
    }

    /// Reads past the value without building anything.
    fn skip(self) -> Result<(), Mismatch> {
        let this = self.branch()?;
        match this.of() {
            Node::Null => {}
            Node::Boolean => {
                take(this.input, 1)?;
            }
            Node::Int | Node::Long => {
                long(this.input)?;
            }
            Node::Float => {
                take(this.input, 4)?;
            }
            Node::Double => {
                take(this.input, 8)?;
            }
            Node::Bytes | Node::String => {
                bytes(this.input)?;
            }
            &Node::Fixed(n) => {
                take(this.input, n)?;
            }
            &Node::Array(items) => {
                let mut blocks = Blocks::new(this, items)?;
                while blocks.next_item()? {
                    blocks.item(blocks.items)?.skip()?;
                }
            }
            &Node::Map(values) => {
                let mut blocks = Blocks::new(this, values)?;
                while blocks.next_item()? {
                    bytes(blocks.input)?;
                    blocks.item(blocks.items)?.skip()?;
                }
            }
            Node::Record(fields) => {
                let (plan, input, depth) = (this.plan, this.input, this.depth);
                for field in fields.iter() {
                    Datum {
                        plan,
                        node: field.node,
                        input,
                        depth,
                    }
                    .nested(field.node)?
                    .skip()?;
                }
            }
            Node::Enum(symbols) => {
                symbol(this.input, symbols)?;
            }
            Node::Nullable { .. } => return Err(Mismatch),
        }
        Ok(())
    }
}

#[inline]
fn symbol<'s>(input: &mut &[u8], symbols: &'s [Box<str>]) -> Result<&'s str, Mismatch> {
    let index = usize::try_from(int(input)?).map_err(|_| Mismatch)?;
    symbols.get(index).map(|s| &**s).ok_or(Mismatch)
}

/// The integer hints narrower than `i64`: an `int` that fits.
macro_rules! narrow_int {
    ($method:ident, $visit:ident, $ty:ty) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
            let this = self.branch()?;
            match this.of() {
                Node::Int => {
                    visitor.$visit(<$ty>::try_from(int(this.input)?).map_err(|_| Mismatch)?)
                }
                _ => Err(Mismatch),
            }
        }
    };
}

/// Hints apache-avro serves only from types the plan leaves to it.
macro_rules! unsupported {
    ($($method:ident),*) => {
        $(fn $method<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Mismatch> {
            Err(Mismatch)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Datum<'_, '_, '_> {
    type Error = Mismatch;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let this = self.branch()?;
        match this.of() {
            Node::Null => visitor.visit_unit(),
            Node::Boolean => this.deserialize_bool(visitor),
            Node::Int => visitor.visit_i32(int(this.input)?),
            Node::Long => visitor.visit_i64(long(this.input)?),
            Node::Float => this.deserialize_f32(visitor),
            Node::Double => this.deserialize_f64(visitor),
            Node::Bytes | Node::Fixed(_) => this.deserialize_byte_buf(visitor),
            Node::String => visitor.visit_string(string(this.input)?),
            Node::Array(_) => this.deserialize_seq(visitor),
            Node::Map(_) | Node::Record(_) => this.deserialize_map(visitor),
            Node::Enum(_) => this.deserialize_enum("", &[], visitor),
            Node::Nullable { .. } => Err(Mismatch),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let this = self.branch()?;
        match this.of() {
            Node::Boolean => match take(this.input, 1)? {
                [0] => visitor.visit_bool(false),
                [1] => visitor.visit_bool(true),
                _ => Err(Mismatch),
            },
            _ => Err(Mismatch),
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
            Node::Long => visitor.visit_i64(long(this.input)?),
            _ => Err(Mismatch),
        }
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let this = self.branch()?;
        match this.of() {
            Node::Long => {
                visitor.visit_u32(u32::try_from(long(this.input)?).map_err(|_| Mismatch)?)
            }
            _ => Err(Mismatch),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let this = self.branch()?;
        match this.of() {
            Node::Float => visitor.visit_f32(f32::from_le_bytes(array(this.input)?)),
            _ => Err(Mismatch),
        }
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let this = self.branch()?;
        match this.of() {
            Node::Double => visitor.visit_f64(f64::from_le_bytes(array(this.input)?)),
            _ => Err(Mismatch),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let this = self.branch()?;
        match this.of() {
            Node::String => {
                let text = std::str::from_utf8(bytes(this.input)?).map_err(|_| Mismatch)?;
                let mut chars = text.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => visitor.visit_char(c),
                    _ => Err(Mismatch),
                }
            }
            _ => Err(Mismatch),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let this = self.branch()?;
        match this.of() {
            Node::String => visitor.visit_string(string(this.input)?),
            _ => Err(Mismatch),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let this = self.branch()?;
        match this.of() {
            Node::Bytes => visitor.visit_byte_buf(bytes(this.input)?.to_vec()),
            &Node::Fixed(n) => visitor.visit_byte_buf(take(this.input, n)?.to_vec()),
            _ => Err(Mismatch),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        match *self.of() {
            Node::Nullable { null, some } => {
                let taken = long(self.input)?;
                if taken == null {
                    visitor.visit_none()
                } else if taken == 1 - null {
                    visitor.visit_some(self.nested(some)?)
                } else {
                    Err(Mismatch)
                }
            }
            _ => Err(Mismatch),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let this = self.branch()?;
        match this.of() {
            Node::Null => visitor.visit_unit(),
            _ => Err(Mismatch),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let this = self.branch()?;
        match *this.of() {
            Node::Array(items) => visitor.visit_seq(Blocks::new(this, items)?),
            _ => Err(Mismatch),
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
            _ => Err(Mismatch),
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
            _ => Err(Mismatch),
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
            Node::Enum(symbols) => visitor.visit_enum(Symbol(symbol(self.input, symbols)?)),
            _ => Err(Mismatch),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        self.deserialize_string(visitor)
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
        Err(Mismatch)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _visitor: V,
    ) -> Result<V::Value, Mismatch> {
        Err(Mismatch)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, _: V) -> Result<V::Value, Mismatch> {
        Err(Mismatch)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, Mismatch> {
        Err(Mismatch)
    }

    unsupported!(deserialize_u64, deserialize_i128, deserialize_u128);

    fn is_human_readable(&self) -> bool {
        self.plan.human_readable
    }
}

/// An array's items or a map's entries, in blocks of counted items.
struct Blocks<'p, 'i, 'a> {
    plan: &'p Plan,
    items: Index,
    input: &'i mut &'a [u8],
    depth: u16,
    /// Items left in the current block.
    left: u64,
    /// Items the rest of the container may still have: never more than the bytes it started
    /// with, so blocks of empty items cannot spin for ever (apache-avro decides those).
    budget: u64,
}

impl<'p, 'i, 'a> Blocks<'p, 'i, 'a> {
    fn new(datum: Datum<'p, 'i, 'a>, items: Index) -> Result<Self, Mismatch> {
        if datum.depth >= MAX_DEPTH {
            return Err(Mismatch);
        }
        let budget = datum.input.len() as u64;
        Ok(Blocks {
            plan: datum.plan,
            items,
            input: datum.input,
            depth: datum.depth + 1,
            left: 0,
            budget,
        })
    }

    /// Whether another item follows, reading a block header first if the block is done.
    #[inline]
    fn next_item(&mut self) -> Result<bool, Mismatch> {
        if self.left == 0 {
            let count = long(self.input)?;
            if count < 0 {
                // A negative count is followed by the block's size in bytes.
                long(self.input)?;
            }
            self.left = count.unsigned_abs();
            if self.left > self.budget {
                return Err(Mismatch);
            }
            self.budget -= self.left;
            if self.left == 0 {
                return Ok(false);
            }
        }
        self.left -= 1;
        Ok(true)
    }

    #[inline]
    fn item(&mut self, node: Index) -> Result<Datum<'p, '_, 'a>, Mismatch> {
        Ok(Datum {
            plan: self.plan,
            node,
            input: self.input,
            depth: self.depth,
        })
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
        if !self.next_item()? {
            return Ok(None);
        }
        seed.deserialize(self.item(self.items)?).map(Some)
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
        if !self.next_item()? {
            return Ok(None);
        }
        seed.deserialize(self.item(STRING)?).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Mismatch> {
        seed.deserialize(self.item(self.items)?)
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
        let field = self.fields.get(self.next).ok_or(Mismatch)?;
        self.next += 1;
        let datum = Datum {
            plan: self.datum.plan,
            node: field.node,
            input: self.datum.input,
            depth: self.datum.depth,
        };
        seed.deserialize(datum.nested(field.node)?)
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
        Err(Mismatch)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Mismatch> {
        Err(Mismatch)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Mismatch> {
        Err(Mismatch)
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
        // Deeper than the plan goes: refused, for apache-avro to decide.
        let deep = *chain(MAX_DEPTH as i64 + 10).unwrap();
        let datum = encode(&schema, &deep);
        assert!(plan.decode::<Link>(&mut &datum[..]).is_err());
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
    fn blocks_of_empty_items_cannot_spin() {
        let schema = Schema::parse_str(r#"{"type":"array","items":"null"}"#).unwrap();
        let plan = plan_of(&schema).unwrap();
        // Three items of nothing: one byte of count for three items is more than the bytes.
        assert!(plan.decode::<Vec<()>>(&mut &[6u8, 0][..]).is_err());
        // A block of i64::MAX items, then another: refused at once.
        let mut huge = vec![0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        huge.extend_from_slice(&huge.clone());
        assert!(plan.decode::<Vec<()>>(&mut &huge[..]).is_err());
        // One item, one byte of datum: fine.
        assert_eq!(
            plan.decode::<Vec<()>>(&mut &[2u8, 0][..]).unwrap(),
            vec![()]
        );
    }
}
