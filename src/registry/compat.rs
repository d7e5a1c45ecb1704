//! Avro compatibility: whether a reader schema can decode what a writer schema wrote, and whether
//! a new schema passes a subject's compatibility level against the versions before it.
//!
//! Clients judge us against Confluent, and Confluent's verdicts are Apache Avro's Java
//! `SchemaCompatibility`. So [`reader_can_read`] follows that checker rule for rule, quirks
//! included: named types match on their *unqualified* names or the reader's aliases, a
//! reader/writer pair already being checked counts as compatible (that is how recursive types
//! terminate), finished pairs are memoised, and locations restart where Java's do. [`check`] then
//! words the outcome the way Confluent's REST API does. Pure and synchronous: no I/O.
//!
//! Java's checker is quadratic in places (every reader union branch is tried against every
//! writer branch; symbols and aliases are found by scanning lists), and a 4 MiB request can make
//! such a check run for minutes. So: reader union branches are indexed by kind and name and only
//! the branches that can possibly read a writer branch are tried (the others cannot succeed,
//! so the first branch that reads it is the one Java finds); symbols and aliases go through
//! hash sets; messages are worded only for the incompatibilities a caller receives; and every
//! check has a [`MAX_STEPS`] budget, beyond which it stops with [`TooComplex`] instead of
//! running on.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;
use std::str::FromStr;

use apache_avro::schema::{
    Aliases, EnumSchema, FixedSchema, InnerDecimalSchema, Name, RecordField, RecordSchema,
    UuidSchema,
};
use apache_avro::Schema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Confluent's seven compatibility levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CompatibilityLevel {
    None,
    #[default]
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl CompatibilityLevel {
    pub const ALL: [CompatibilityLevel; 7] = [
        CompatibilityLevel::None,
        CompatibilityLevel::Backward,
        CompatibilityLevel::BackwardTransitive,
        CompatibilityLevel::Forward,
        CompatibilityLevel::ForwardTransitive,
        CompatibilityLevel::Full,
        CompatibilityLevel::FullTransitive,
    ];

    /// The upper-case name Confluent uses on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            CompatibilityLevel::None => "NONE",
            CompatibilityLevel::Backward => "BACKWARD",
            CompatibilityLevel::BackwardTransitive => "BACKWARD_TRANSITIVE",
            CompatibilityLevel::Forward => "FORWARD",
            CompatibilityLevel::ForwardTransitive => "FORWARD_TRANSITIVE",
            CompatibilityLevel::Full => "FULL",
            CompatibilityLevel::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// (new must read old, old must read new, against every version rather than the latest)
    fn directions(self) -> (bool, bool, bool) {
        match self {
            CompatibilityLevel::None => (false, false, false),
            CompatibilityLevel::Backward => (true, false, false),
            CompatibilityLevel::BackwardTransitive => (true, false, true),
            CompatibilityLevel::Forward => (false, true, false),
            CompatibilityLevel::ForwardTransitive => (false, true, true),
            CompatibilityLevel::Full => (true, true, false),
            CompatibilityLevel::FullTransitive => (true, true, true),
        }
    }
}

impl fmt::Display for CompatibilityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A compatibility level name that is not one of the seven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCompatibilityLevel(pub String);

impl fmt::Display for UnknownCompatibilityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Invalid compatibility level: {}", self.0)
    }
}

impl std::error::Error for UnknownCompatibilityLevel {}

impl FromStr for CompatibilityLevel {
    type Err = UnknownCompatibilityLevel;

    /// Case-insensitive, as Confluent's `CompatibilityLevel.forName` is.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CompatibilityLevel::ALL
            .into_iter()
            .find(|level| level.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownCompatibilityLevel(s.to_string()))
    }
}

impl Serialize for CompatibilityLevel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CompatibilityLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// A schema plus the named schemas it references (Confluent schema references), already parsed
/// by the caller with apache_avro. `Schema::Ref`s in `root` resolve against names defined in
/// `root` itself or in `refs`.
#[derive(Debug, Clone, Copy)]
pub struct AvroSchemaRef<'a> {
    pub root: &'a Schema,
    pub refs: &'a [Schema],
}

impl<'a> AvroSchemaRef<'a> {
    /// A schema without references.
    pub fn new(root: &'a Schema) -> Self {
        AvroSchemaRef { root, refs: &[] }
    }
}

// Avro's `SchemaIncompatibilityType` names, the values of `Incompatibility::error_type`.
/// Named types whose unqualified names differ and no reader alias names the writer.
pub const NAME_MISMATCH: &str = "NAME_MISMATCH";
/// Two fixed types of different sizes.
pub const FIXED_SIZE_MISMATCH: &str = "FIXED_SIZE_MISMATCH";
/// The writer enum has symbols the reader lacks, and the reader enum has no default.
pub const MISSING_ENUM_SYMBOLS: &str = "MISSING_ENUM_SYMBOLS";
/// A reader field the writer does not have, without a default.
pub const READER_FIELD_MISSING_DEFAULT_VALUE: &str = "READER_FIELD_MISSING_DEFAULT_VALUE";
/// Types that neither match nor promote.
pub const TYPE_MISMATCH: &str = "TYPE_MISMATCH";
/// A writer type (or writer union branch) that no reader union branch can read.
pub const MISSING_UNION_BRANCH: &str = "MISSING_UNION_BRANCH";
/// Not one of Avro's types: the check could not finish. Java throws where a reader field matches
/// two writer fields (by name and alias) and Confluent then answers "Unexpected exception during
/// compatibility check"; we do the same there, for a name that resolves to nothing, and for
/// schemas nested deeper than [`MAX_DEPTH`]. When present it is the only incompatibility.
pub const UNEXPECTED_EXCEPTION: &str = "UNEXPECTED_EXCEPTION";

/// How deep reader/writer pairs may nest before we give up rather than risk the stack. JSON that
/// serde_json parses with its default limit (128 levels) stays well under it.
pub const MAX_DEPTH: usize = 256;

/// The most work one [`check`] (or [`reader_can_read`]) may do before it stops with
/// [`TooComplex`]. A step is one reader/writer pair compared, or one field, alias, enum symbol
/// or union branch looked at; wording a finding costs about a step per byte of its message.
/// Checking a 2,000-field record against its previous version takes about twenty thousand
/// steps, so even FULL_TRANSITIVE against a hundred such versions (some four million) stays
/// well below. Schemas that would keep Java's algorithm busy for minutes stop here instead:
/// about two seconds of an unoptimised build, a fraction of that in release.
pub const MAX_STEPS: u64 = 20_000_000;

/// A check that needs more than [`MAX_STEPS`] steps.
///
/// The registry answers it as an invalid schema (422, error_code 42201, "Invalid schema: …"),
/// as Confluent answers any schema it will not process: the request is well-formed and fits the
/// body limit, so 400 and 413 would be wrong, 409 would claim an incompatibility nobody found,
/// and nothing failed on the server, so not 500. Retrying cannot help; a smaller schema does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooComplex {
    /// The budget the check ran out of.
    pub steps: u64,
}

impl fmt::Display for TooComplex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Invalid schema: checking its compatibility takes more than {} steps, the most Schemata spends on one check",
            self.steps
        )
    }
}

impl std::error::Error for TooComplex {}

/// What is left of one check's step budget; shared by every comparison the check makes.
#[derive(Debug, Clone, Copy)]
struct Budget {
    limit: u64,
    left: u64,
}

impl Budget {
    fn new(limit: u64) -> Self {
        Budget { limit, left: limit }
    }

    fn spend(&mut self, steps: usize) -> Result<(), Stop> {
        match self.left.checked_sub(steps as u64) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => {
                self.left = 0;
                Err(Stop::OverBudget)
            }
        }
    }

    fn exhausted(&self) -> TooComplex {
        TooComplex { steps: self.limit }
    }
}

/// One reason a reader cannot read a writer's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatibility {
    /// Avro's `SchemaIncompatibilityType` name (one of the constants above).
    pub error_type: &'static str,
    /// JSON-pointer-ish path into the reader schema, as Java reports it, e.g. `/fields/3/type`.
    pub location: String,
    /// Confluent's description, naming the sides "reader" and "writer", and the cause.
    pub message: String,
    /// Java's message: the field name, the missing symbols, "expected: …", and so on.
    pub additional_info: String,
}

impl Incompatibility {
    fn new(error_type: &'static str, location: String, additional_info: String) -> Self {
        let mut message = describe(error_type, &location, &additional_info, "reader", "writer");
        if error_type != READER_FIELD_MISSING_DEFAULT_VALUE
            && error_type != MISSING_ENUM_SYMBOLS
            && error_type != UNEXPECTED_EXCEPTION
        {
            message = format!("{message} ({additional_info})");
        }
        Incompatibility {
            error_type,
            location,
            message,
            additional_info,
        }
    }

    /// Confluent's one-line rendering, with the two schemas called `reader` and `writer`.
    fn confluent(&self, reader: &str, writer: &str) -> String {
        if self.error_type == UNEXPECTED_EXCEPTION {
            return self.message.clone();
        }
        format!(
            "{{errorType:'{}', description:'{}', additionalInfo:'{}'}}",
            self.error_type,
            describe(
                self.error_type,
                &self.location,
                &self.additional_info,
                reader,
                writer
            ),
            self.additional_info
        )
    }
}

/// Confluent's `Difference` descriptions, with its `%s` placeholders filled.
fn describe(error_type: &str, path: &str, info: &str, reader: &str, writer: &str) -> String {
    match error_type {
        FIXED_SIZE_MISMATCH => format!(
            "The size of FIXED type field at path '{path}' in the {reader} schema does not match with the {writer} schema"
        ),
        TYPE_MISMATCH => format!(
            "The type (path '{path}') of a field in the {reader} schema does not match with the {writer} schema"
        ),
        NAME_MISMATCH => format!("The name of the schema has changed (path '{path}')"),
        MISSING_ENUM_SYMBOLS => format!(
            "The {reader} schema is missing enum symbols '{info}' at path '{path}' in the {writer} schema"
        ),
        MISSING_UNION_BRANCH => format!(
            "The {reader} schema is missing a type inside a union field at path '{path}' in the {writer} schema"
        ),
        READER_FIELD_MISSING_DEFAULT_VALUE => format!(
            "The field '{info}' at path '{path}' in the {reader} schema has no default value and is missing in the {writer} schema"
        ),
        UNEXPECTED_EXCEPTION => format!("Unexpected exception during compatibility check: {info}"),
        _ => String::new(),
    }
}

/// Can `reader` read data written with `writer`? Empty = yes. Apache Avro Java's
/// `SchemaCompatibility.checkReaderWriterCompatibility`, incompatibilities in its order.
pub fn reader_can_read(
    reader: AvroSchemaRef<'_>,
    writer: AvroSchemaRef<'_>,
) -> Result<Vec<Incompatibility>, TooComplex> {
    reader_can_read_within(reader, writer, &mut Budget::new(MAX_STEPS))
}

fn reader_can_read_within(
    reader: AvroSchemaRef<'_>,
    writer: AvroSchemaRef<'_>,
    budget: &mut Budget,
) -> Result<Vec<Incompatibility>, TooComplex> {
    let (reader, writer) = (Side::new(reader), Side::new(writer));
    let found = compare(&reader, &writer, &mut Scratch::default(), budget);
    worded(found, budget)
}

/// A comparison's findings as the caller receives them.
fn worded(found: Found<'_>, budget: &mut Budget) -> Result<Vec<Incompatibility>, TooComplex> {
    let found = match found {
        Ok(found) => found,
        Err(Stop::Exception(why)) => {
            return Ok(vec![Incompatibility::new(
                UNEXPECTED_EXCEPTION,
                "/".to_string(),
                why,
            )])
        }
        Err(Stop::OverBudget) => return Err(budget.exhausted()),
    };
    match found.flatten(budget) {
        Ok(found) => Ok(found.into_iter().map(Finding::word).collect()),
        Err(_) => Err(budget.exhausted()),
    }
}

/// One side of a comparison: a schema and the named types it can refer to, collected (if
/// ever) once however many versions a check compares it with.
struct Side<'a> {
    schema: AvroSchemaRef<'a>,
    names: Rc<NamedTypes<'a>>,
}

impl<'a> Side<'a> {
    fn new(schema: AvroSchemaRef<'a>) -> Self {
        Side {
            schema,
            names: Rc::new(NamedTypes::new(schema)),
        }
    }
}

/// What one check carries from a comparison to the next: its tables' room (emptied), and the
/// writer records' field-name indexes, which depend on nothing but the record.
#[derive(Default)]
struct Scratch<'a> {
    memo: Addresses<(*const Schema, *const Schema), Memo<'a>>,
    under_way: Vec<(*const Schema, *const Schema)>,
    unions: Addresses<*const Schema, UnionIndex<'a>>,
    field_names: Addresses<*const RecordSchema, HashMap<&'a str, usize>>,
}

fn compare<'a>(
    reader: &Side<'a>,
    writer: &Side<'a>,
    scratch: &mut Scratch<'a>,
    budget: &mut Budget,
) -> Found<'a> {
    let mut tables = std::mem::take(scratch);
    tables.memo.clear();
    tables.under_way.clear();
    // A union's index is built from its side's named types, which differ between comparisons.
    tables.unions.clear();
    let mut checker = Checker {
        empty: Rc::default(),
        reader: reader.names.clone(),
        writer: writer.names.clone(),
        memo: tables.memo,
        under_way: tables.under_way,
        unions: tables.unions,
        field_names: tables.field_names,
        budget: *budget,
    };
    let found = checker.compatibility(
        Step::Root,
        reader.schema.root,
        writer.schema.root,
        &mut Vec::new(),
    );
    *budget = checker.budget;
    *scratch = Scratch {
        memo: checker.memo,
        under_way: checker.under_way,
        unions: checker.unions,
        field_names: checker.field_names,
    };
    found
}

/// Checks `new` against a subject's live versions under `level`, the way Confluent does, and
/// returns its verbose messages; empty = compatible. All of it within one [`MAX_STEPS`] budget.
///
/// `previous` is oldest first: (version number, parsed schema, the stored schema text that
/// Confluent quotes as `oldSchema`). BACKWARD: new reads the latest; FORWARD: the latest reads
/// new; FULL: both; `*_TRANSITIVE`: every version, newest first, stopping at the first that
/// fails (as Confluent does); NONE: nothing.
pub fn check(
    level: CompatibilityLevel,
    new: AvroSchemaRef<'_>,
    previous: &[(i32, AvroSchemaRef<'_>, &str)],
) -> Result<Vec<String>, TooComplex> {
    check_within(level, new, previous, &mut Budget::new(MAX_STEPS))
}

fn check_within(
    level: CompatibilityLevel,
    new: AvroSchemaRef<'_>,
    previous: &[(i32, AvroSchemaRef<'_>, &str)],
    budget: &mut Budget,
) -> Result<Vec<String>, TooComplex> {
    let (new_reads_old, old_reads_new, transitive) = level.directions();
    if !new_reads_old && !old_reads_new {
        return Ok(Vec::new());
    }
    let count = if transitive { previous.len() } else { 1 };
    if previous.is_empty() {
        return Ok(Vec::new());
    }
    // The new schema's named types are the same against every version.
    let new = Side::new(new);
    let mut scratch = Scratch::default();
    for (version, old, old_text) in previous.iter().rev().take(count) {
        let mut compare_with = |reader_is_new: bool, budget: &mut Budget| {
            let old = Side::new(*old);
            let found = match reader_is_new {
                true => compare(&new, &old, &mut scratch, budget),
                false => compare(&old, &new, &mut scratch, budget),
            };
            worded(found, budget)
        };
        let mut messages = Vec::new();
        if old_reads_new {
            let found = compare_with(false, budget)?;
            messages.extend(found.iter().map(|i| i.confluent("old", "new")));
            // Under FULL, Confluent names the old schema only after the backward half.
            if !new_reads_old && !found.is_empty() {
                messages.extend(old_schema_lines(*version, old_text));
            }
        }
        if new_reads_old {
            let found = compare_with(true, budget)?;
            messages.extend(found.iter().map(|i| i.confluent("new", "old")));
            if !found.is_empty() {
                messages.extend(old_schema_lines(*version, old_text));
            }
        }
        if !messages.is_empty() {
            messages.push(format!(
                "{{validateFields: 'false', compatibility: '{level}'}}"
            ));
            return Ok(messages);
        }
    }
    Ok(Vec::new())
}

/// Confluent quotes at most this many UTF-16 units of the old schema.
const MAX_SCHEMA_SIZE_FOR_LOGGING: usize = 10 * 1024;

fn old_schema_lines(version: i32, text: &str) -> [String; 2] {
    let mut units = 0;
    let cut = text.char_indices().find_map(|(at, c)| {
        units += c.len_utf16();
        (units > MAX_SCHEMA_SIZE_FOR_LOGGING).then_some(at)
    });
    let quoted = match cut {
        None => format!("{{oldSchema: '{text}'}}"),
        Some(at) => format!("{{oldSchema: <truncated> '{}...'}}", &text[..at]),
    };
    [format!("{{oldSchemaVersion: {version}}}"), quoted]
}

/// Why a check stopped before reaching its verdict.
enum Stop {
    /// A Java exception: the check reports only this, as [`UNEXPECTED_EXCEPTION`].
    Exception(String),
    /// The check ran out of [`MAX_STEPS`].
    OverBudget,
}

/// About how many steps (bytes, roughly) wording one finding takes, its symbol list aside.
const WORDING_STEPS: usize = 200;

/// A pair's findings, in Java's order. A memoised pair's findings recur wherever the pair does;
/// they are shared there, not copied, since copying is how a few kilobytes of nested records
/// made a hundred million findings. They are copied out only for the caller
/// ([`Findings::flatten`]), which is paid for by the step.
#[derive(Default)]
struct Findings<'a> {
    /// How many findings, counting those in shared parts (saturating: it can grow
    /// exponentially with the nesting).
    len: usize,
    parts: Vec<Part<'a>>,
}

enum Part<'a> {
    One(Finding<'a>),
    Shared(Rc<Findings<'a>>),
}

impl<'a> Findings<'a> {
    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push(&mut self, finding: Finding<'a>) {
        self.len = self.len.saturating_add(1);
        self.parts.push(Part::One(finding));
    }

    /// Adds another pair's findings.
    fn append(&mut self, shared: Rc<Findings<'a>>) {
        if !shared.is_empty() {
            self.len = self.len.saturating_add(shared.len);
            self.parts.push(Part::Shared(shared));
        }
    }

    /// Every finding, in order, once the wording of them all has been paid for.
    fn flatten(&self, budget: &mut Budget) -> Result<Vec<&Finding<'a>>, Stop> {
        budget.spend(self.len.saturating_mul(WORDING_STEPS))?;
        let mut out = Vec::new();
        let mut todo = vec![self.parts.iter()];
        while let Some(parts) = todo.last_mut() {
            match parts.next() {
                None => {
                    todo.pop();
                }
                Some(Part::One(finding)) => {
                    budget.spend(finding.extra_wording_steps())?;
                    out.push(finding);
                }
                Some(Part::Shared(shared)) => todo.push(shared.parts.iter()),
            }
        }
        Ok(out)
    }
}

impl<'a> Extend<Finding<'a>> for Findings<'a> {
    fn extend<I: IntoIterator<Item = Finding<'a>>>(&mut self, findings: I) {
        for finding in findings {
            self.push(finding);
        }
    }
}

/// An incompatibility as the checker records it: what it takes to word it, not the words.
/// Most findings are never shown (those of union branches that were only tried, or of pairs
/// memoised along the way), and wording them up front (a list of thousands of enum symbols,
/// say) was most of what a hostile check cost.
struct Finding<'a> {
    error_type: &'static str,
    location: Rc<str>,
    info: Info<'a>,
}

/// The makings of a [`Finding`]'s `additional_info`.
#[derive(Clone, Copy)]
enum Info<'a> {
    /// `expected: <the writer's full name>`.
    Name(&'a Name),
    FixedSize {
        expected: usize,
        found: usize,
    },
    /// The writer symbols the reader lacks, `bytes` long once listed.
    MissingSymbols {
        reader: &'a EnumSchema,
        writer: &'a EnumSchema,
        bytes: usize,
    },
    /// The reader field that has no default.
    Field(&'a str),
    TypeMismatch {
        reader: &'static str,
        writer: &'static str,
    },
    /// The writer type no reader branch reads.
    UnionBranch(&'static str),
}

impl<'a> Finding<'a> {
    fn new(
        error_type: &'static str,
        at: &[Step],
        last: Option<&'static str>,
        info: Info<'a>,
    ) -> Self {
        Finding {
            error_type,
            location: Rc::from(location(at, last)),
            info,
        }
    }

    /// Steps it takes to word beyond [`WORDING_STEPS`]: a symbol list's length.
    fn extra_wording_steps(&self) -> usize {
        match self.info {
            Info::MissingSymbols { bytes, .. } => bytes,
            _ => 0,
        }
    }

    fn word(&self) -> Incompatibility {
        let info = match self.info {
            Info::Name(writer) => format!("expected: {}", writer.fullname(None)),
            Info::FixedSize { expected, found } => format!("expected: {expected}, found: {found}"),
            Info::MissingSymbols { reader, writer, .. } => {
                // Java lists them sorted (a `TreeSet`).
                let missing: BTreeSet<&str> = missing_symbols(reader, writer).into_iter().collect();
                let listed: Vec<&str> = missing.into_iter().collect();
                format!("[{}]", listed.join(", "))
            }
            Info::Field(name) => name.to_string(),
            Info::TypeMismatch { reader, writer } => {
                format!("reader type: {reader} not compatible with writer type: {writer}")
            }
            Info::UnionBranch(writer) => format!("reader union lacking writer type: {writer}"),
        };
        Incompatibility::new(self.error_type, self.location.to_string(), info)
    }
}

/// One token of a location; the first of every location is the root, which Java leaves out.
#[derive(Clone, Copy)]
enum Step {
    Root,
    Key(&'static str),
    Index(usize),
}

fn location(steps: &[Step], last: Option<&'static str>) -> String {
    let mut out = String::new();
    let tokens = steps.iter().skip(1).copied().chain(last.map(Step::Key));
    for step in tokens {
        out.push('/');
        match step {
            Step::Root => {}
            Step::Key(key) => out.push_str(key),
            Step::Index(i) => out.push_str(&i.to_string()),
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// The named types one side can refer to, by full name: Java resolves a name to the very
/// object that defines it, and we key memo entries on that definition's address. Collected
/// the first time a name needs resolving: most schemas define each named type where they use
/// it and never refer to one by name, and collecting every version's names was a fifth of a
/// transitive check.
struct NamedTypes<'a> {
    schema: AvroSchemaRef<'a>,
    by_name: std::cell::OnceCell<HashMap<&'a Name, &'a Schema>>,
}

impl<'a> NamedTypes<'a> {
    fn new(schema: AvroSchemaRef<'a>) -> Self {
        NamedTypes {
            schema,
            by_name: std::cell::OnceCell::new(),
        }
    }

    fn collect(
        schema: AvroSchemaRef<'a>,
        budget: &mut Budget,
    ) -> Result<HashMap<&'a Name, &'a Schema>, Stop> {
        let mut by_name = HashMap::new();
        let mut nodes = 0;
        let mut aliases = Vec::new();
        // A worklist, not recursion: a hostile schema must not be able to overflow the stack.
        let mut todo: Vec<&'a Schema> = vec![schema.root];
        todo.extend(schema.refs.iter());
        while let Some(node) = todo.pop() {
            nodes += 1;
            let (name, node_aliases): (&'a Name, &'a Aliases) = match node {
                Schema::Array(a) => {
                    todo.push(&a.items);
                    continue;
                }
                Schema::Map(m) => {
                    todo.push(&m.types);
                    continue;
                }
                Schema::Union(u) => {
                    todo.extend(u.variants());
                    continue;
                }
                Schema::Record(r) => {
                    todo.extend(r.fields.iter().map(|f| &f.schema));
                    (&r.name, &r.aliases)
                }
                Schema::Enum(e) => (&e.name, &e.aliases),
                Schema::Fixed(f) | Schema::Duration(f) => (&f.name, &f.aliases),
                Schema::Decimal(d) => match &d.inner {
                    InnerDecimalSchema::Fixed(f) => (&f.name, &f.aliases),
                    InnerDecimalSchema::Bytes => continue,
                },
                Schema::Uuid(UuidSchema::Fixed(f)) => (&f.name, &f.aliases),
                _ => continue,
            };
            by_name.entry(name).or_insert(node);
            for alias in node_aliases.iter().flatten() {
                aliases.push((alias.fully_qualified_name(None), node));
            }
        }
        // apache_avro also lets a reference name a type by one of its aliases; Java would not
        // parse such a schema, so resolving it is a courtesy and real names win.
        budget.spend(nodes + aliases.len())?;
        for (alias, node) in aliases {
            if let std::borrow::Cow::Borrowed(alias) = alias {
                by_name.entry(alias).or_insert(node);
            }
        }
        Ok(by_name)
    }

    fn resolve(&self, schema: &'a Schema, budget: &mut Budget) -> Result<&'a Schema, Stop> {
        match schema {
            Schema::Ref { name } => {
                let by_name = match self.by_name.get() {
                    Some(by_name) => by_name,
                    None => {
                        let by_name = Self::collect(self.schema, budget)?;
                        self.by_name.get_or_init(|| by_name)
                    }
                };
                by_name.get(name).copied().ok_or_else(|| {
                    Stop::Exception(format!("Undefined name: {}", name.fullname(None)))
                })
            }
            _ => Ok(schema),
        }
    }
}

/// A resolved schema seen as Java sees it: logical types are their underlying type.
#[derive(Clone, Copy)]
enum Shape<'a> {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Array(&'a Schema),
    Map(&'a Schema),
    Union(&'a [Schema]),
    Record(&'a RecordSchema),
    Enum(&'a EnumSchema),
    Fixed(&'a FixedSchema),
}

impl<'a> Shape<'a> {
    /// `schema` must already be resolved; a stray `Ref` is reported as unresolvable.
    fn of(schema: &'a Schema) -> Result<Self, Stop> {
        Ok(match schema {
            Schema::Null => Shape::Null,
            Schema::Boolean => Shape::Boolean,
            Schema::Int | Schema::Date | Schema::TimeMillis => Shape::Int,
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => Shape::Long,
            Schema::Float => Shape::Float,
            Schema::Double => Shape::Double,
            Schema::Bytes | Schema::BigDecimal | Schema::Uuid(UuidSchema::Bytes) => Shape::Bytes,
            Schema::String | Schema::Uuid(UuidSchema::String) => Shape::String,
            Schema::Array(a) => Shape::Array(&a.items),
            Schema::Map(m) => Shape::Map(&m.types),
            Schema::Union(u) => Shape::Union(u.variants()),
            Schema::Record(r) => Shape::Record(r),
            Schema::Enum(e) => Shape::Enum(e),
            Schema::Fixed(f) | Schema::Duration(f) | Schema::Uuid(UuidSchema::Fixed(f)) => {
                Shape::Fixed(f)
            }
            Schema::Decimal(d) => match &d.inner {
                InnerDecimalSchema::Bytes => Shape::Bytes,
                InnerDecimalSchema::Fixed(f) => Shape::Fixed(f),
            },
            Schema::Ref { name } => {
                return Err(Stop::Exception(format!(
                    "Undefined name: {}",
                    name.fullname(None)
                )))
            }
        })
    }

    /// Java's `Schema.Type` name, as it appears in messages.
    fn type_name(self) -> &'static str {
        match self.kind() {
            Kind::Null => "NULL",
            Kind::Boolean => "BOOLEAN",
            Kind::Int => "INT",
            Kind::Long => "LONG",
            Kind::Float => "FLOAT",
            Kind::Double => "DOUBLE",
            Kind::Bytes => "BYTES",
            Kind::String => "STRING",
            Kind::Array => "ARRAY",
            Kind::Map => "MAP",
            Kind::Union => "UNION",
            Kind::Record => "RECORD",
            Kind::Enum => "ENUM",
            Kind::Fixed => "FIXED",
        }
    }

    fn kind(self) -> Kind {
        match self {
            Shape::Null => Kind::Null,
            Shape::Boolean => Kind::Boolean,
            Shape::Int => Kind::Int,
            Shape::Long => Kind::Long,
            Shape::Float => Kind::Float,
            Shape::Double => Kind::Double,
            Shape::Bytes => Kind::Bytes,
            Shape::String => Kind::String,
            Shape::Array(_) => Kind::Array,
            Shape::Map(_) => Kind::Map,
            Shape::Union(_) => Kind::Union,
            Shape::Record(_) => Kind::Record,
            Shape::Enum(_) => Kind::Enum,
            Shape::Fixed(_) => Kind::Fixed,
        }
    }

    /// A named shape's kind, name and aliases.
    fn named(self) -> Option<(Kind, &'a Name, &'a Aliases)> {
        match self {
            Shape::Record(r) => Some((Kind::Record, &r.name, &r.aliases)),
            Shape::Enum(e) => Some((Kind::Enum, &e.name, &e.aliases)),
            Shape::Fixed(f) => Some((Kind::Fixed, &f.name, &f.aliases)),
            _ => None,
        }
    }
}

/// A [`Shape`] without its contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Array,
    Map,
    Union,
    Record,
    Enum,
    Fixed,
}

impl Kind {
    /// The unnamed reader kinds that can read a writer of this kind: itself and the spec's
    /// promotions (see [`Checker::calculate`]). Named kinds also need a matching name.
    fn read_by(self) -> &'static [Kind] {
        match self {
            Kind::Int => &[Kind::Int, Kind::Long, Kind::Float, Kind::Double],
            Kind::Long => &[Kind::Long, Kind::Float, Kind::Double],
            Kind::Float => &[Kind::Float, Kind::Double],
            Kind::Double => &[Kind::Double],
            Kind::Bytes => &[Kind::Bytes, Kind::String],
            Kind::String => &[Kind::String, Kind::Bytes],
            Kind::Null => &[Kind::Null],
            Kind::Boolean => &[Kind::Boolean],
            Kind::Array => &[Kind::Array],
            Kind::Map => &[Kind::Map],
            Kind::Union | Kind::Record | Kind::Enum | Kind::Fixed => &[],
        }
    }
}

/// What the memo knows about a (reader, writer) pair.
enum Memo<'a> {
    InProgress,
    Done(Rc<Findings<'a>>),
}

type Found<'a> = Result<Rc<Findings<'a>>, Stop>;

/// Memo keys are two addresses; SipHash's resistance to chosen keys buys nothing there and
/// costs a third of a check's time. This is FxHash's mixing step.
#[derive(Default)]
struct PairHasher(u64);

impl Hasher for PairHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Addresses<K, V> = HashMap<K, V, BuildHasherDefault<PairHasher>>;

/// Java's `ReaderWriterCompatibilityChecker`: one per top-level check, memo shared by all the
/// nested checks, including those Java starts with a fresh location.
struct Checker<'a> {
    /// What most pairs find, shared rather than allocated per pair.
    empty: Rc<Findings<'a>>,
    reader: Rc<NamedTypes<'a>>,
    writer: Rc<NamedTypes<'a>>,
    /// Every pair, not just named ones, exactly as Java: which pairs are under way when a
    /// result is first computed can change later verdicts, so reusing results the way Java
    /// does is part of matching it.
    memo: Addresses<(*const Schema, *const Schema), Memo<'a>>,
    /// The pairs under way (the memo's `InProgress` ones), innermost last; its length is the
    /// nesting depth.
    under_way: Vec<(*const Schema, *const Schema)>,
    /// Reader unions' branches by kind and name, indexed the first time each union is met.
    unions: Addresses<*const Schema, UnionIndex<'a>>,
    /// Writer records' fields by name, for the rare record whose `lookup` cannot be trusted.
    field_names: Addresses<*const RecordSchema, HashMap<&'a str, usize>>,
    budget: Budget,
}

impl<'a> Checker<'a> {
    fn compatibility(
        &mut self,
        step: Step,
        reader: &'a Schema,
        writer: &'a Schema,
        at: &mut Vec<Step>,
    ) -> Found<'a> {
        at.push(step);
        let found = self.memoised(reader, writer, at);
        at.pop();
        found
    }

    /// Java's two-argument `getCompatibility`: same memo, location starting over at the root.
    fn compatibility_afresh(&mut self, reader: &'a Schema, writer: &'a Schema) -> Found<'a> {
        self.compatibility(Step::Root, reader, writer, &mut Vec::new())
    }

    fn memoised(
        &mut self,
        reader: &'a Schema,
        writer: &'a Schema,
        at: &mut Vec<Step>,
    ) -> Found<'a> {
        self.budget.spend(1)?;
        // Two primitives one reads the other of: no parts, no finding, nothing for the memo
        // to keep (no pair can be under way within it). Most pairs of a check are these.
        if let (Some(r), Some(w)) = (unnamed_primitive(reader), unnamed_primitive(writer)) {
            if w.read_by().contains(&r) && self.under_way.len() < MAX_DEPTH {
                return Ok(self.empty.clone());
            }
        }
        let reader = self.reader.resolve(reader, &mut self.budget)?;
        let writer = self.writer.resolve(writer, &mut self.budget)?;
        let pair = (reader as *const Schema, writer as *const Schema);
        if self.under_way.len() >= MAX_DEPTH {
            return Err(Stop::Exception(format!(
                "schemas nest deeper than {MAX_DEPTH} levels"
            )));
        }
        match self.memo.entry(pair) {
            // A pair already under way: compatible unless proven otherwise elsewhere.
            Entry::Occupied(seen) => match seen.get() {
                Memo::InProgress => return Ok(self.empty.clone()),
                Memo::Done(found) => return Ok(found.clone()),
            },
            Entry::Vacant(slot) => {
                slot.insert(Memo::InProgress);
            }
        }
        self.under_way.push(pair);
        let found = self.calculate(reader, writer, at);
        self.under_way.pop();
        let found = found?;
        self.memo.insert(pair, Memo::Done(found.clone()));
        Ok(found)
    }

    fn calculate(
        &mut self,
        reader: &'a Schema,
        writer: &'a Schema,
        at: &mut Vec<Step>,
    ) -> Found<'a> {
        if matches!(reader, Schema::Union(_) | Schema::Array(_) | Schema::Map(_))
            && self.same_unnamed(reader, writer)?
        {
            return Ok(self.empty.clone());
        }
        let r = Shape::of(reader)?;
        let w = Shape::of(writer)?;
        let mut found = Findings::default();
        match (r, w) {
            (Shape::Null, Shape::Null)
            | (Shape::Boolean, Shape::Boolean)
            | (Shape::Int, Shape::Int)
            | (Shape::Long, Shape::Long)
            | (Shape::Float, Shape::Float)
            | (Shape::Double, Shape::Double)
            | (Shape::Bytes, Shape::Bytes)
            | (Shape::String, Shape::String) => {}
            (Shape::Array(r_items), Shape::Array(w_items)) => {
                return self.compatibility(Step::Key("items"), r_items, w_items, at);
            }
            (Shape::Map(r_values), Shape::Map(w_values)) => {
                return self.compatibility(Step::Key("values"), r_values, w_values, at);
            }
            (Shape::Fixed(rf), Shape::Fixed(wf)) => {
                found.extend(self.names_match(&rf.name, &rf.aliases, &wf.name, at)?);
                if rf.size != wf.size {
                    found.push(Finding::new(
                        FIXED_SIZE_MISMATCH,
                        at,
                        Some("size"),
                        Info::FixedSize {
                            expected: wf.size,
                            found: rf.size,
                        },
                    ));
                }
            }
            (Shape::Enum(re), Shape::Enum(we)) => {
                found.extend(self.names_match(&re.name, &re.aliases, &we.name, at)?);
                found.extend(self.enum_symbols(re, we, at)?);
            }
            (Shape::Record(rr), Shape::Record(wr)) => {
                found.extend(self.names_match(&rr.name, &rr.aliases, &wr.name, at)?);
                self.record_fields(rr, wr, writer, at, &mut found)?;
            }
            (Shape::Union(_), Shape::Union(w_branches)) => {
                // Every branch the writer may have used must be readable.
                for (i, branch) in w_branches.iter().enumerate() {
                    at.push(Step::Index(i));
                    if !self.compatibility_afresh(reader, branch)?.is_empty() {
                        let branch_type =
                            Shape::of(self.writer.resolve(branch, &mut self.budget)?)?.type_name();
                        found.push(Finding::new(
                            MISSING_UNION_BRANCH,
                            at,
                            None,
                            Info::UnionBranch(branch_type),
                        ));
                    }
                    at.pop();
                }
            }
            (_, Shape::Union(w_branches)) => {
                for (i, branch) in w_branches.iter().enumerate() {
                    found.append(self.compatibility(Step::Index(i), reader, branch, at)?);
                }
            }
            (Shape::Union(r_branches), _) => {
                // The first readable branch will do; what the others say is discarded.
                for i in self.candidates(reader, r_branches, writer, w)? {
                    if self
                        .compatibility_afresh(&r_branches[i], writer)?
                        .is_empty()
                    {
                        return Ok(self.empty.clone());
                    }
                }
                found.push(Finding::new(
                    MISSING_UNION_BRANCH,
                    at,
                    None,
                    Info::UnionBranch(w.type_name()),
                ));
            }
            // The spec's promotions.
            (Shape::Long, Shape::Int)
            | (Shape::Float, Shape::Int | Shape::Long)
            | (Shape::Double, Shape::Int | Shape::Long | Shape::Float)
            | (Shape::Bytes, Shape::String)
            | (Shape::String, Shape::Bytes) => {}
            _ => found.push(Finding::new(
                TYPE_MISMATCH,
                at,
                None,
                Info::TypeMismatch {
                    reader: r.type_name(),
                    writer: w.type_name(),
                },
            )),
        }
        Ok(if found.is_empty() {
            self.empty.clone()
        } else {
            Rc::new(found)
        })
    }

    /// Whether `reader` and `writer` are alike and built of unnamed types only (primitives,
    /// their logical types, arrays, maps, unions of those), which makes them compatible
    /// without comparing their parts pair by pair. No named type means no recursion and no
    /// name, alias or field rule, so Java's memo of those parts could not change a later
    /// verdict: their pairs are only reachable through this one, and all find nothing. `false`
    /// where the parts would nest past [`MAX_DEPTH`], so that the check still stops there.
    fn same_unnamed(&mut self, reader: &'a Schema, writer: &'a Schema) -> Result<bool, Stop> {
        // A union pair nests two levels (union, then branch), an array or map pair one.
        let room = MAX_DEPTH.saturating_sub(self.under_way.len() + 2);
        let mut todo = vec![(reader, writer, 0)];
        let mut steps = 0;
        let same = loop {
            let Some((r, w, depth)) = todo.pop() else {
                break true;
            };
            steps += 1;
            if depth + 2 > room {
                break false;
            }
            match (r, w) {
                (Schema::Array(r), Schema::Array(w)) => todo.push((&r.items, &w.items, depth + 1)),
                (Schema::Map(r), Schema::Map(w)) => todo.push((&r.types, &w.types, depth + 1)),
                (Schema::Union(r), Schema::Union(w))
                    if r.variants().len() == w.variants().len() =>
                {
                    let branches = r.variants().iter().zip(w.variants());
                    todo.extend(branches.map(|(r, w)| (r, w, depth + 2)));
                }
                (Schema::Array(_) | Schema::Map(_) | Schema::Union(_), _) => break false,
                (r, w) => match (unnamed_primitive(r), unnamed_primitive(w)) {
                    (Some(r), Some(w)) if r == w => {}
                    _ => break false,
                },
            }
        };
        self.budget.spend(steps)?;
        Ok(same)
    }

    /// The branches of the reader union `union` worth trying against `writer`, in union order.
    ///
    /// Java tries every branch until one reads the writer. A branch of another kind (bar the
    /// spec's promotions), or a named branch whose name and aliases miss the writer's name, is
    /// certain to fail, unless its pair with `writer` is under way, which counts as
    /// compatible. So trying only the others, plus any such pair under way, plus branches that
    /// do not resolve (trying those throws, as in Java), finds the same first readable branch
    /// Java finds, in time that does not grow with the union. What Java's hopeless tries would
    /// have left in its memo is not there; that can only move where a later report of the same
    /// hopeless pair points, never whether a branch reads the writer.
    fn candidates(
        &mut self,
        union: &'a Schema,
        branches: &'a [Schema],
        writer: &'a Schema,
        w: Shape<'a>,
    ) -> Result<Vec<usize>, Stop> {
        if self.under_way.len() >= MAX_DEPTH {
            // Trying any branch throws here, as Java's first try does.
            return Ok((0..branches.len().min(1)).collect());
        }
        let key = union as *const Schema;
        if !self.unions.contains_key(&key) {
            let index = UnionIndex::new(&self.reader, branches, &mut self.budget)?;
            self.budget.spend(branches.len() + index.aliases)?;
            self.unions.insert(key, index);
        }
        let index = &self.unions[&key];
        let mut out = index.readers_of(w);
        let writer = writer as *const Schema;
        out.extend(
            self.under_way
                .iter()
                .filter(|(_, w)| *w == writer)
                .filter_map(|(r, _)| index.positions.get(r).copied()),
        );
        self.budget.spend(out.len() + self.under_way.len())?;
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    fn record_fields(
        &mut self,
        reader: &'a RecordSchema,
        writer: &'a RecordSchema,
        writer_node: &'a Schema,
        at: &mut Vec<Step>,
        found: &mut Findings<'a>,
    ) -> Result<(), Stop> {
        at.push(Step::Key("fields"));
        for (pos, field) in reader.fields.iter().enumerate() {
            at.push(Step::Index(pos));
            match self.writer_field(writer, writer_node, field, pos)? {
                Some(theirs) => {
                    found.append(self.compatibility(
                        Step::Key("type"),
                        &field.schema,
                        &theirs.schema,
                        at,
                    )?);
                }
                None if field.default.is_some() => {}
                None => {
                    let enum_with_default = matches!(
                        self.reader.resolve(&field.schema, &mut self.budget)?,
                        Schema::Enum(EnumSchema {
                            default: Some(_),
                            ..
                        })
                    );
                    if enum_with_default {
                        // Java's special case: it compares the enum with the writer *record*,
                        // which can only fail, as a type mismatch.
                        found.append(self.compatibility(
                            Step::Key("type"),
                            &field.schema,
                            writer_node,
                            at,
                        )?);
                    } else {
                        found.push(Finding::new(
                            READER_FIELD_MISSING_DEFAULT_VALUE,
                            at,
                            None,
                            Info::Field(&field.name),
                        ));
                    }
                }
            }
            at.pop();
        }
        at.pop();
        Ok(())
    }

    /// Java's `schemaNameEquals`: unqualified names equal, or the writer's full name is one of
    /// the reader's (namespace-qualified) aliases.
    fn names_match(
        &mut self,
        reader: &'a Name,
        reader_aliases: &'a Aliases,
        writer: &'a Name,
        at: &[Step],
    ) -> Result<Option<Finding<'a>>, Stop> {
        if reader.name() == writer.name() {
            return Ok(None);
        }
        let aliases = reader_aliases.as_deref().unwrap_or_default();
        self.budget.spend(aliases.len())?;
        if aliases
            .iter()
            .any(|alias| alias.fully_qualified_name(None).as_ref() == writer)
        {
            return Ok(None);
        }
        Ok(Some(Finding::new(
            NAME_MISMATCH,
            at,
            Some("name"),
            Info::Name(writer),
        )))
    }

    /// Writer symbols the reader lacks are fine only if the reader enum has a default it knows.
    fn enum_symbols(
        &mut self,
        reader: &'a EnumSchema,
        writer: &'a EnumSchema,
        at: &[Step],
    ) -> Result<Option<Finding<'a>>, Stop> {
        self.budget
            .spend(reader.symbols.len() + writer.symbols.len())?;
        let default_known = reader
            .default
            .as_ref()
            .is_some_and(|d| reader.symbols.contains(d));
        if default_known {
            return Ok(None);
        }
        let missing = missing_symbols(reader, writer);
        if missing.is_empty() {
            return Ok(None);
        }
        let bytes = missing.iter().map(|s| s.len() + 2).sum();
        Ok(Some(Finding::new(
            MISSING_ENUM_SYMBOLS,
            at,
            Some("symbols"),
            Info::MissingSymbols {
                reader,
                writer,
                bytes,
            },
        )))
    }

    /// Java's `lookupWriterField`: the writer field named like the reader field or like one of
    /// its aliases (writer aliases do not count); more than one is an error, not a choice.
    fn writer_field(
        &mut self,
        writer: &'a RecordSchema,
        writer_node: &Schema,
        field: &'a RecordField,
        pos: usize,
    ) -> Result<Option<&'a RecordField>, Stop> {
        self.budget.spend(1 + field.aliases.len())?;
        // Fields mostly keep their places from version to version: the writer field at the
        // reader field's position is the one named like it, if its name matches (names are
        // unique in a record), without a search.
        let mut first = match writer.fields.get(pos) {
            Some(same) if same.name == field.name => Some(same),
            _ => self.field_named(writer, &field.name)?,
        };
        let mut second = None;
        if !field.aliases.is_empty() {
            // Java keeps aliases in a set.
            let mut seen = HashSet::with_capacity(field.aliases.len());
            for alias in &field.aliases {
                if !seen.insert(alias.as_str()) {
                    continue;
                }
                match (first, self.field_named(writer, alias)?) {
                    (_, None) => {}
                    (None, found) => first = found,
                    (Some(_), found) => {
                        second = found;
                        break;
                    }
                }
            }
        }
        match (first, second) {
            (first, None) => Ok(first),
            (Some(_), Some(_)) => {
                let field_type = self
                    .reader
                    .resolve(&field.schema, &mut self.budget)
                    .and_then(Shape::of)
                    .map_or("NULL", Shape::type_name);
                let writer_json = serde_json::to_string(writer_node).unwrap_or_default();
                Err(Stop::Exception(format!(
                    "Reader record field {} type:{field_type} pos:{pos} matches multiple fields in writer record schema {writer_json}",
                    field.name
                )))
            }
            (None, Some(_)) => unreachable!("a second match implies a first"),
        }
    }

    fn field_named(
        &mut self,
        record: &'a RecordSchema,
        name: &str,
    ) -> Result<Option<&'a RecordField>, Stop> {
        match record.lookup.get(name).and_then(|&i| record.fields.get(i)) {
            Some(field) if field.name == name => return Ok(Some(field)),
            // apache_avro's parser puts every field's name in `lookup`: no entry, no field.
            None if record.lookup.len() >= record.fields.len() => return Ok(None),
            // A later field's alias shadows this name in `lookup`, or `lookup` is incomplete.
            _ => {}
        }
        let key = record as *const RecordSchema;
        if !self.field_names.contains_key(&key) {
            self.budget.spend(record.fields.len())?;
            let mut names = HashMap::with_capacity(record.fields.len());
            for (i, f) in record.fields.iter().enumerate() {
                names.entry(f.name.as_str()).or_insert(i);
            }
            self.field_names.insert(key, names);
        }
        Ok(self.field_names[&key].get(name).map(|&i| &record.fields[i]))
    }
}

/// The kind of a primitive (or a logical type over one), as Java compares it; `None` for
/// anything else.
fn unnamed_primitive(schema: &Schema) -> Option<Kind> {
    if matches!(schema, Schema::Ref { .. }) {
        return None;
    }
    match Shape::of(schema).ok()?.kind() {
        kind @ (Kind::Null
        | Kind::Boolean
        | Kind::Int
        | Kind::Long
        | Kind::Float
        | Kind::Double
        | Kind::Bytes
        | Kind::String) => Some(kind),
        _ => None,
    }
}

/// The writer symbols the reader lacks, in the writer's order.
fn missing_symbols<'e>(reader: &'e EnumSchema, writer: &'e EnumSchema) -> Vec<&'e str> {
    // Most enums are short: scanning beats hashing them.
    if reader.symbols.len() <= 16 {
        return writer
            .symbols
            .iter()
            .map(String::as_str)
            .filter(|s| !reader.symbols.iter().any(|r| r == s))
            .collect();
    }
    let known: HashSet<&str> = reader.symbols.iter().map(String::as_str).collect();
    writer
        .symbols
        .iter()
        .map(String::as_str)
        .filter(|s| !known.contains(s))
        .collect()
}

/// A reader union's branches by what they can read, so a writer type finds the branches worth
/// trying without looking at every branch.
struct UnionIndex<'a> {
    /// Unnamed branches by kind.
    by_kind: HashMap<Kind, Vec<usize>>,
    /// Named branches by kind and unqualified name (Java compares names unqualified)…
    by_name: HashMap<(Kind, &'a str), Vec<usize>>,
    /// …and by kind and alias (full names).
    by_alias: HashMap<(Kind, &'a Name), Vec<usize>>,
    /// Branches that do not resolve: tried against every writer, so that they throw as in Java.
    unresolved: Vec<usize>,
    /// Each resolved branch's position.
    positions: Addresses<*const Schema, usize>,
    /// How many aliases the named branches have, for the budget.
    aliases: usize,
}

impl<'a> UnionIndex<'a> {
    fn new(
        names: &NamedTypes<'a>,
        branches: &'a [Schema],
        budget: &mut Budget,
    ) -> Result<Self, Stop> {
        let mut index = UnionIndex {
            by_kind: HashMap::new(),
            by_name: HashMap::new(),
            by_alias: HashMap::new(),
            unresolved: Vec::new(),
            positions: HashMap::default(),
            aliases: 0,
        };
        for (i, branch) in branches.iter().enumerate() {
            let resolved = match names.resolve(branch, budget) {
                Err(Stop::OverBudget) => return Err(Stop::OverBudget),
                resolved => resolved.and_then(|s| Ok((s, Shape::of(s)?))),
            };
            let Ok((resolved, shape)) = resolved else {
                index.unresolved.push(i);
                continue;
            };
            index.positions.entry(resolved).or_insert(i);
            let Some((kind, name, aliases)) = shape.named() else {
                index.by_kind.entry(shape.kind()).or_default().push(i);
                continue;
            };
            index
                .by_name
                .entry((kind, name.name()))
                .or_default()
                .push(i);
            for alias in aliases.iter().flatten() {
                index.aliases += 1;
                // Always borrowed without a default namespace.
                if let std::borrow::Cow::Borrowed(alias) = alias.fully_qualified_name(None) {
                    index.by_alias.entry((kind, alias)).or_default().push(i);
                }
            }
        }
        Ok(index)
    }

    /// The branches that can read a writer of shape `w`, by kind and name; unsorted.
    fn readers_of(&self, w: Shape<'a>) -> Vec<usize> {
        let mut out = self.unresolved.clone();
        match w.named() {
            Some((kind, name, _)) => {
                out.extend(self.by_name.get(&(kind, name.name())).into_iter().flatten());
                out.extend(self.by_alias.get(&(kind, name)).into_iter().flatten());
            }
            None => {
                for kind in w.kind().read_by() {
                    out.extend(self.by_kind.get(kind).into_iter().flatten());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Schema {
        Schema::parse_str(json).unwrap()
    }

    fn record(fields: &str) -> Schema {
        parse(&format!(
            r#"{{"type":"record","name":"R","namespace":"ns","fields":[{fields}]}}"#
        ))
    }

    fn can_read(reader: &Schema, writer: &Schema) -> Vec<Incompatibility> {
        reader_can_read(AvroSchemaRef::new(reader), AvroSchemaRef::new(writer)).unwrap()
    }

    fn run(level: CompatibilityLevel, new: &Schema, previous: &[&Schema]) -> Vec<String> {
        let texts: Vec<String> = previous
            .iter()
            .map(|s| serde_json::to_string(s).unwrap())
            .collect();
        let previous: Vec<(i32, AvroSchemaRef<'_>, &str)> = previous
            .iter()
            .zip(&texts)
            .enumerate()
            .map(|(i, (s, t))| (i as i32 + 1, AvroSchemaRef::new(s), t.as_str()))
            .collect();
        check(level, AvroSchemaRef::new(new), &previous).unwrap()
    }

    #[test]
    fn level_names_round_trip() {
        for level in CompatibilityLevel::ALL {
            assert_eq!(
                level.to_string().parse::<CompatibilityLevel>().unwrap(),
                level
            );
            assert_eq!(
                level
                    .as_str()
                    .to_lowercase()
                    .parse::<CompatibilityLevel>()
                    .unwrap(),
                level
            );
            let json = serde_json::to_string(&level).unwrap();
            assert_eq!(json, format!("\"{}\"", level.as_str()));
            assert_eq!(
                serde_json::from_str::<CompatibilityLevel>(&json).unwrap(),
                level
            );
        }
        assert_eq!(CompatibilityLevel::default(), CompatibilityLevel::Backward);
        assert!("SIDEWAYS".parse::<CompatibilityLevel>().is_err());
        assert!(serde_json::from_str::<CompatibilityLevel>("\"full_transitive\"").is_ok());
    }

    #[test]
    fn missing_default_is_reported_like_java() {
        let old = record(r#"{"name":"f1","type":"string"}"#);
        let new = record(r#"{"name":"f1","type":"string"},{"name":"f2","type":"int"}"#);
        let found = can_read(&new, &old);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].error_type, READER_FIELD_MISSING_DEFAULT_VALUE);
        assert_eq!(found[0].location, "/fields/1");
        assert_eq!(found[0].additional_info, "f2");
        assert!(can_read(&old, &new).is_empty());
    }

    #[test]
    fn locations_follow_java() {
        let old = record(r#"{"name":"a","type":{"type":"array","items":"string"}}"#);
        let new = record(r#"{"name":"a","type":{"type":"array","items":"int"}}"#);
        let found = can_read(&new, &old);
        assert_eq!(found[0].location, "/fields/0/type/items");
        assert_eq!(
            found[0].additional_info,
            "reader type: INT not compatible with writer type: STRING"
        );

        let writer = record(r#"{"name":"a","type":["null","string"]}"#);
        let reader = record(r#"{"name":"a","type":["null","int"]}"#);
        let found = can_read(&reader, &writer);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].error_type, MISSING_UNION_BRANCH);
        assert_eq!(found[0].location, "/fields/0/type/1");
        assert_eq!(
            found[0].additional_info,
            "reader union lacking writer type: STRING"
        );

        let e1 = parse(r#"{"type":"enum","name":"E","symbols":["A","B","C"]}"#);
        let e2 = parse(r#"{"type":"enum","name":"E","symbols":["A"]}"#);
        let found = can_read(&e2, &e1);
        assert_eq!(found[0].location, "/symbols");
        assert_eq!(found[0].additional_info, "[B, C]");

        let f1 = parse(r#"{"type":"fixed","name":"F","size":4}"#);
        let f2 = parse(r#"{"type":"fixed","name":"G","size":8}"#);
        let found = can_read(&f2, &f1);
        assert_eq!(found.len(), 2);
        assert_eq!(
            (
                found[0].location.as_str(),
                found[0].additional_info.as_str()
            ),
            ("/name", "expected: F")
        );
        assert_eq!(
            (
                found[1].location.as_str(),
                found[1].additional_info.as_str()
            ),
            ("/size", "expected: 4, found: 8")
        );
        assert_eq!(can_read(&Schema::Int, &Schema::String)[0].location, "/");
    }

    #[test]
    fn recursive_types_terminate() {
        let list = |extra: &str| {
            parse(&format!(
                r#"{{"type":"record","name":"Node","fields":[{{"name":"v","type":"int"}},{{"name":"next","type":["null","Node"]}}{extra}]}}"#
            ))
        };
        let v1 = list("");
        let v2 = list(r#",{"name":"w","type":"long","default":0}"#);
        let v3 = list(r#",{"name":"w","type":"long"}"#);
        assert!(can_read(&v1, &v2).is_empty());
        assert!(can_read(&v2, &v1).is_empty());
        assert_eq!(can_read(&v3, &v1).len(), 1);
    }

    #[test]
    fn depth_is_bounded() {
        // Deeper than serde_json would parse from text, so built as a value.
        let mut value = serde_json::json!("int");
        for _ in 0..300 {
            value = serde_json::json!({"type": "array", "items": value});
        }
        let deep = Schema::parse(&value).unwrap();
        let found = can_read(&deep, &deep);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].error_type, UNEXPECTED_EXCEPTION);

        // Records in optional fields take the most stack per level; still fine on the 2 MiB a
        // test (or tokio worker) thread has, in a debug build.
        let mut value = serde_json::json!("int");
        for i in 0..200 {
            value = serde_json::json!({"type": "record", "name": format!("R{i}"),
                "fields": [{"name": "f", "type": ["null", value]}]});
        }
        let deep = Schema::parse(&value).unwrap();
        let found = can_read(&deep, &deep);
        assert_eq!(found[0].error_type, UNEXPECTED_EXCEPTION);
    }

    #[test]
    fn ambiguous_field_is_javas_exception() {
        let writer = record(r#"{"name":"a","type":"int"},{"name":"b","type":"int"}"#);
        let reader = record(r#"{"name":"a","type":"int","aliases":["b"]}"#);
        let found = can_read(&reader, &writer);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].error_type, UNEXPECTED_EXCEPTION);
        assert!(found[0]
            .additional_info
            .starts_with("Reader record field a type:INT pos:0 matches multiple fields"));
    }

    #[test]
    fn references_resolve_against_refs() {
        let (root, refs) = Schema::parse_str_with_list(
            r#"{"type":"record","name":"Outer","fields":[{"name":"in","type":"ns.Inner"}]}"#,
            [r#"{"type":"record","name":"Inner","namespace":"ns","fields":[{"name":"x","type":"int"}]}"#],
        )
        .unwrap();
        let (root2, refs2) = Schema::parse_str_with_list(
            r#"{"type":"record","name":"Outer","fields":[{"name":"in","type":"ns.Inner"}]}"#,
            [r#"{"type":"record","name":"Inner","namespace":"ns","fields":[{"name":"x","type":"int"},{"name":"y","type":"int"}]}"#],
        )
        .unwrap();
        let v1 = AvroSchemaRef {
            root: &root,
            refs: &refs,
        };
        let v2 = AvroSchemaRef {
            root: &root2,
            refs: &refs2,
        };
        assert!(reader_can_read(v1, v2).unwrap().is_empty());
        let found = reader_can_read(v2, v1).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].location, "/fields/0/type/fields/1");
    }

    // Three versions where v3 drops a defaulted field that v1 lacks and v2 had, and adds one
    // without a default: BACKWARD against v2 passes, against v1 it does not.
    fn history() -> (Schema, Schema, Schema) {
        let v1 = record(r#"{"name":"a","type":"int"}"#);
        let v2 = record(r#"{"name":"a","type":"int"},{"name":"b","type":"int","default":1}"#);
        let v3 = record(r#"{"name":"a","type":"int"},{"name":"b","type":"int"}"#);
        (v1, v2, v3)
    }

    #[test]
    fn none_checks_nothing() {
        let (v1, _, _) = history();
        assert!(run(CompatibilityLevel::None, &Schema::String, &[&v1]).is_empty());
        assert!(run(CompatibilityLevel::Backward, &v1, &[]).is_empty());
    }

    #[test]
    fn backward_checks_latest_and_transitive_checks_all() {
        let (v1, v2, v3) = history();
        assert!(run(CompatibilityLevel::Backward, &v3, &[&v1, &v2]).is_empty());
        let messages = run(CompatibilityLevel::BackwardTransitive, &v3, &[&v1, &v2]);
        let v1_text = serde_json::to_string(&v1).unwrap();
        assert_eq!(
            messages,
            vec![
                "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'b' at path '/fields/1' in the new schema has no default value and is missing in the old schema', additionalInfo:'b'}".to_string(),
                "{oldSchemaVersion: 1}".to_string(),
                format!("{{oldSchema: '{v1_text}'}}"),
                "{validateFields: 'false', compatibility: 'BACKWARD_TRANSITIVE'}".to_string(),
            ]
        );
    }

    #[test]
    fn forward_checks_that_old_reads_new() {
        let (v1, v2, v3) = history();
        // v1 reads anything with an int `a`; v3 cannot read v1 but v1 can read v3.
        assert!(run(CompatibilityLevel::Forward, &v3, &[&v1]).is_empty());
        assert!(run(CompatibilityLevel::ForwardTransitive, &v1, &[&v3, &v2]).len() > 1);
        assert!(run(CompatibilityLevel::Forward, &v1, &[&v3, &v2]).is_empty());
        let messages = run(CompatibilityLevel::Forward, &v1, &[&v3]);
        assert!(messages[0]
            .contains("in the old schema has no default value and is missing in the new schema"));
        assert_eq!(messages[1], "{oldSchemaVersion: 1}");
    }

    #[test]
    fn full_needs_both_directions() {
        let (v1, v2, v3) = history();
        assert!(run(CompatibilityLevel::Full, &v2, &[&v1]).is_empty());
        // v3 reads v2 and v2 reads v3, but v1 cannot be read by v3.
        assert!(run(CompatibilityLevel::Full, &v3, &[&v1, &v2]).is_empty());
        assert!(!run(CompatibilityLevel::FullTransitive, &v3, &[&v1, &v2]).is_empty());
        // Forward half only: old (v3) cannot read new (v1); no oldSchema lines then.
        let messages = run(CompatibilityLevel::Full, &v1, &[&v3]);
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].contains("in the old schema has no default value"));
        assert_eq!(
            messages[1],
            "{validateFields: 'false', compatibility: 'FULL'}"
        );
        // Both halves failing: forward first, then backward with the old schema named.
        let messages = run(CompatibilityLevel::Full, &Schema::String, &[&v1]);
        assert_eq!(messages.len(), 5, "{messages:?}");
        assert!(messages[0].contains("in the old schema does not match with the new schema"));
        assert!(messages[1].contains("in the new schema does not match with the old schema"));
        assert_eq!(messages[2], "{oldSchemaVersion: 1}");
    }

    #[test]
    fn transitive_stops_at_newest_failure() {
        let (v1, v2, _) = history();
        let messages = run(
            CompatibilityLevel::BackwardTransitive,
            &Schema::String,
            &[&v1, &v2],
        );
        assert_eq!(messages[1], "{oldSchemaVersion: 2}");
        assert_eq!(messages.len(), 4);
    }

    /// Steps a check of `reader` against `writer` takes, and what it finds.
    fn measured(reader: &Schema, writer: &Schema) -> (u64, Vec<Incompatibility>) {
        let mut budget = Budget::new(u64::MAX);
        let found = reader_can_read_within(
            AvroSchemaRef::new(reader),
            AvroSchemaRef::new(writer),
            &mut budget,
        )
        .unwrap();
        (u64::MAX - budget.left, found)
    }

    fn named_union(prefix: &str, n: usize) -> Schema {
        let branches: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                serde_json::json!({"type": "record", "name": format!("{prefix}{i}"),
                    "fields": [{"name": "a", "type": "int"}]})
            })
            .collect();
        Schema::parse(&serde_json::Value::Array(branches)).unwrap()
    }

    /// Records nested `depth` deep, `width` fields of the next level each, `leaf` at the
    /// bottom: a string leaf against an int one makes width^depth findings from a tiny schema.
    fn fan_out(width: usize, depth: usize, leaf: &str) -> Schema {
        let mut ty = serde_json::json!(leaf);
        for level in 0..depth {
            // The first field defines the level below; the others name it.
            let fields: Vec<serde_json::Value> = (0..width)
                .map(|i| match (i, level) {
                    (0, _) | (_, 0) => serde_json::json!({"name": format!("f{i}"), "type": ty.clone()}),
                    _ => serde_json::json!({"name": format!("f{i}"), "type": format!("L{}", level - 1)}),
                })
                .collect();
            ty = serde_json::json!({"type": "record", "name": format!("L{level}"), "fields": fields});
        }
        Schema::parse(&ty).unwrap()
    }

    #[test]
    fn exponential_findings_stop_at_the_budget() {
        let (reader, writer) = (fan_out(10, 8, "int"), fan_out(10, 8, "string"));
        let too_complex = reader_can_read(AvroSchemaRef::new(&reader), AvroSchemaRef::new(&writer));
        assert_eq!(too_complex, Err(TooComplex { steps: MAX_STEPS }));
        let message = too_complex.unwrap_err().to_string();
        assert!(message.starts_with("Invalid schema: "), "{message}");

        // Small enough to finish: every finding is there, and the steps are counted.
        let (reader, writer) = (fan_out(10, 3, "int"), fan_out(10, 3, "string"));
        let (steps, found) = measured(&reader, &writer);
        assert_eq!(found.len(), 1000);
        assert_eq!(
            found[0].location,
            "/fields/0/type/fields/0/type/fields/0/type"
        );
        let mut budget = Budget::new(steps - 1);
        let cut_short = reader_can_read_within(
            AvroSchemaRef::new(&reader),
            AvroSchemaRef::new(&writer),
            &mut budget,
        );
        assert_eq!(cut_short, Err(TooComplex { steps: steps - 1 }));
    }

    #[test]
    fn one_budget_covers_every_version_of_a_transitive_check() {
        let (v1, v2, v3) = history();
        let texts = ["v1", "v2"];
        let previous = [
            (1, AvroSchemaRef::new(&v1), texts[0]),
            (2, AvroSchemaRef::new(&v2), texts[1]),
        ];
        let (one, _) = measured(&v3, &v2);
        // Enough for the latest version, not for both.
        let mut budget = Budget::new(one + 1);
        let level = CompatibilityLevel::BackwardTransitive;
        assert!(check_within(level, AvroSchemaRef::new(&v3), &previous, &mut budget).is_err());
        let mut budget = Budget::new(one + 1);
        let latest_only = check_within(
            CompatibilityLevel::Backward,
            AvroSchemaRef::new(&v3),
            &previous,
            &mut budget,
        );
        assert_eq!(latest_only, Ok(vec![]));
    }

    #[test]
    fn disjoint_unions_cost_linear_steps() {
        let (reader, writer) = (named_union("R", 5000), named_union("W", 5000));
        let (steps, found) = measured(&reader, &writer);
        assert_eq!(found.len(), 5000);
        assert_eq!(found[4999].location, "/4999");
        assert_eq!(
            found[0].additional_info,
            "reader union lacking writer type: RECORD"
        );
        // Trying every pair, as Java does, would take 25 million pairs; here the wording of
        // the 5000 findings is most of the cost.
        assert!(
            steps < 5000 * WORDING_STEPS as u64 + 100_000,
            "{steps} steps"
        );

        // The branch found is the one Java finds: the first that reads the writer, promotions
        // and aliases included.
        let reader = parse(r#"["null", "string", "long", "int"]"#);
        assert!(can_read(&reader, &Schema::Int).is_empty());
        assert!(can_read(&reader, &Schema::Bytes).is_empty());
        assert_eq!(can_read(&reader, &Schema::Boolean).len(), 1);
        let reader = parse(
            r#"[{"type":"record","name":"a.New","aliases":["b.Old"],"fields":[]},
                {"type":"enum","name":"Old","symbols":["X"]}]"#,
        );
        let record = parse(r#"{"type":"record","name":"b.Old","fields":[]}"#);
        assert!(can_read(&reader, &record).is_empty());
        let enumeration = parse(r#"{"type":"enum","name":"c.Old","symbols":["X"]}"#);
        assert!(can_read(&reader, &enumeration).is_empty());
        let fixed = parse(r#"{"type":"fixed","name":"Old","size":1}"#);
        assert_eq!(can_read(&reader, &fixed).len(), 1);
    }

    #[test]
    fn a_union_branch_under_way_still_counts_as_compatible() {
        // Java: reading B's `next` tries A against B, already under way, so compatible; the
        // only finding is the name. Skipping hopeless branches must not change that.
        let a =
            parse(r#"{"type":"record","name":"A","fields":[{"name":"next","type":["null","A"]}]}"#);
        let b =
            parse(r#"{"type":"record","name":"B","fields":[{"name":"next","type":["null","B"]}]}"#);
        let found = can_read(&a, &b);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].error_type, NAME_MISMATCH);
    }

    #[test]
    fn big_alias_and_symbol_lists_cost_linear_steps() {
        let aliases: Vec<String> = (0..100_000).map(|i| format!("a{i}")).collect();
        let reader = parse(
            &serde_json::json!({"type": "record", "name": "R", "fields": [
                {"name": "f", "type": "int", "aliases": aliases}]})
            .to_string(),
        );
        let writer =
            parse(r#"{"type":"record","name":"R","fields":[{"name":"a99999","type":"int"}]}"#);
        let (steps, found) = measured(&reader, &writer);
        assert!(found.is_empty(), "{found:?}");
        assert!(steps < 200_000, "{steps} steps");

        let symbols = |p: &str| (0..100_000).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
        let enumeration = |p: &str| {
            Schema::parse(&serde_json::json!({"type": "enum", "name": "E", "symbols": symbols(p)}))
                .unwrap()
        };
        let (steps, found) = measured(&enumeration("A"), &enumeration("B"));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].error_type, MISSING_ENUM_SYMBOLS);
        assert!(found[0].additional_info.starts_with("[B0, B1, B10, B100, "));
        assert!(steps < 1_500_000, "{steps} steps");
    }

    #[test]
    fn a_shadowed_field_name_is_still_found() {
        // apache_avro's `lookup` maps `a` to field 1 (its alias); field 0 is the one named `a`.
        let writer =
            record(r#"{"name":"a","type":"int"},{"name":"b","type":"string","aliases":["a"]}"#);
        let reader = record(r#"{"name":"a","type":"int"}"#);
        assert!(can_read(&reader, &writer).is_empty());
    }
}
