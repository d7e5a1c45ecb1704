//! Standing fuzz tests (property tests, stable toolchain, part of every `cargo test`): schema
//! parsing and canonical form, compatibility of arbitrary pairs, and REST request bodies against
//! an in-process registry. The properties themselves live in `fuzz_props` and are shared with
//! the libFuzzer targets in `fuzz/` (`scripts/fuzz`), which run the same checks for longer.
//!
//! Inputs come from generators of structured Avro schemas (records, enums, unions, arrays, maps,
//! fixed, logical types, aliases, defaults, namespaces, named references and recursion), from
//! byte-level mutations of their text, and from arbitrary JSON built of Avro's vocabulary.
//! Default case counts keep this file within a few seconds in a debug build; set
//! `PROPTEST_CASES=N` to run every property N times instead. Failures are not persisted to
//! files: a failure prints its shrunk input, which becomes a plain `#[test]` below.

mod fuzz_props;

use fuzz_props::{self_compatible, Api};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use schemata::registry::{avro, canonical_scan};
use serde_json::{json, Map, Value};

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

// ---------------------------------------------------------------------------------------------
// Generators.

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

fn ident() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,5}"
}

/// No namespace, the explicit null namespace, or a dotted one.
fn namespace() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(String::new())),
        2 => "[a-z]{1,3}(\\.[a-z]{1,3}){0,2}".prop_map(Some),
    ]
}

fn aliases() -> impl Strategy<Value = Option<Vec<String>>> {
    prop::option::weighted(
        0.25,
        prop::collection::vec("[A-Za-z_][A-Za-z0-9_]{0,4}(\\.[A-Z][a-z]{0,3})?", 0..3),
    )
}

/// Sets the attributes every named type may carry; `name` is made unique later by [`finish`].
fn named(
    mut obj: Map<String, Value>,
    name: String,
    ns: Option<String>,
    aliases: Option<Vec<String>>,
    doc: Option<String>,
) -> Value {
    obj.insert("name".into(), name.into());
    if let Some(ns) = ns {
        obj.insert("namespace".into(), ns.into());
    }
    if let Some(a) = aliases {
        obj.insert("aliases".into(), json!(a));
    }
    if let Some(d) = doc {
        obj.insert("doc".into(), d.into());
    }
    Value::Object(obj)
}

/// Schemas without children: primitives (both spellings), logical types, custom properties,
/// enums and fixed.
fn leaf() -> impl Strategy<Value = Value> {
    let primitive = prop::sample::select(&PRIMITIVES[..]);
    prop_oneof![
        4 => primitive.clone().prop_map(|p| json!(p)),
        1 => primitive.clone().prop_map(|p| json!({ "type": p })),
        2 => prop_oneof![
            Just(json!({"type": "int", "logicalType": "date"})),
            Just(json!({"type": "int", "logicalType": "time-millis"})),
            Just(json!({"type": "long", "logicalType": "time-micros"})),
            Just(json!({"type": "long", "logicalType": "timestamp-millis"})),
            Just(json!({"type": "long", "logicalType": "local-timestamp-micros"})),
            Just(json!({"type": "string", "logicalType": "uuid"})),
            Just(json!({"type": "string", "logicalType": "not-a-logical-type"})),
            (1u32..40, 0u32..40).prop_map(|(p, s)| {
                json!({"type": "bytes", "logicalType": "decimal", "precision": p, "scale": s})
            }),
            (0u32..30).prop_map(|p| json!({"type": "bytes", "logicalType": "decimal", "precision": p})),
        ],
        1 => (primitive, "[a-z]{1,4}", any::<i32>()).prop_map(|(p, k, v)| {
            json!({"type": p, k: v, "connect.name": "x"})
        }),
        2 => (
            ident(),
            namespace(),
            prop::collection::btree_set("[A-Z][A-Z0-9_]{0,3}", 1..5),
            any::<bool>(),
            aliases(),
            prop::option::weighted(0.2, "[ -~]{0,8}"),
        )
            .prop_map(|(name, ns, symbols, with_default, aliases, doc)| {
                let symbols: Vec<String> = symbols.into_iter().collect();
                let mut obj = Map::new();
                obj.insert("type".into(), "enum".into());
                if with_default {
                    obj.insert("default".into(), symbols[0].clone().into());
                }
                obj.insert("symbols".into(), json!(symbols));
                named(obj, name, ns, aliases, doc)
            }),
        2 => (ident(), namespace(), 0u32..20, 0u8..4, aliases()).prop_map(
            |(name, ns, size, logical, aliases)| {
                let mut obj = Map::new();
                obj.insert("type".into(), "fixed".into());
                match logical {
                    0 => {
                        obj.insert("size".into(), 12.into());
                        obj.insert("logicalType".into(), "duration".into());
                    }
                    1 => {
                        obj.insert("size".into(), size.into());
                        obj.insert("logicalType".into(), "decimal".into());
                        obj.insert("precision".into(), (size + 1).into());
                    }
                    _ => {
                        obj.insert("size".into(), size.into());
                    }
                }
                named(obj, name, ns, aliases, None)
            }
        ),
    ]
}

/// A valid default for `schema` where one is easy to name (Avro: a union's is its first
/// branch's), else `None`.
fn default_for(schema: &Value) -> Option<Value> {
    match schema {
        Value::String(s) => match s.as_str() {
            "null" => Some(Value::Null),
            "boolean" => Some(json!(true)),
            "int" | "long" => Some(json!(7)),
            "float" | "double" => Some(json!(1.5)),
            "bytes" | "string" => Some(json!("\u{00ff}x")),
            _ => None,
        },
        Value::Array(branches) => branches.first().and_then(default_for),
        Value::Object(o) => match o.get("type")?.as_str()? {
            "enum" => o.get("symbols")?.get(0).cloned(),
            "fixed" => Some(json!("\u{0}".repeat(o.get("size")?.as_u64()? as usize))),
            "array" => Some(json!([])),
            "map" => Some(json!({})),
            "record" => o
                .get("fields")?
                .as_array()?
                .iter()
                .map(|f| Some((f["name"].as_str()?.to_string(), default_for(&f["type"])?)))
                .collect::<Option<Map<_, _>>>()
                .map(Value::Object),
            t => default_for(&json!(t)),
        },
        _ => None,
    }
}

/// Field attributes: default (valid, absent, or deliberately wrong), order, aliases, doc.
#[derive(Debug, Clone)]
struct FieldExtras {
    default: u8,
    order: u8,
    aliases: Option<Vec<String>>,
    doc: bool,
}

fn field_extras() -> impl Strategy<Value = FieldExtras> {
    (0u8..6, 0u8..8, aliases(), prop::bool::weighted(0.2)).prop_map(
        |(default, order, aliases, doc)| FieldExtras {
            default,
            order,
            aliases,
            doc,
        },
    )
}

fn field(name: String, schema: Value, x: FieldExtras) -> Value {
    let mut f = Map::new();
    f.insert("name".into(), name.into());
    match x.default {
        0 | 1 => {
            if let Some(d) = default_for(&schema) {
                f.insert("default".into(), d);
            }
        }
        2 => {
            f.insert("default".into(), json!({"wrong": [1]}));
        }
        _ => {}
    }
    f.insert("type".into(), schema);
    match x.order {
        0 => {
            f.insert("order".into(), "descending".into());
        }
        1 => {
            f.insert("order".into(), "ignore".into());
        }
        2 => {
            f.insert("order".into(), "ascending".into());
        }
        _ => {}
    }
    if let Some(a) = x.aliases {
        // Prefixed so an alias never names a sibling field (see `self_compatible`).
        let a: Vec<String> = a.into_iter().map(|a| format!("old_{a}")).collect();
        f.insert("aliases".into(), json!(a));
    }
    if x.doc {
        f.insert("doc".into(), "a field".into());
    }
    Value::Object(f)
}

/// Structured Avro schemas: a recursive tree of records, arrays, maps and unions over
/// [`leaf`], then [`finish`]ed (unique names, some types replaced by references).
fn schema() -> impl Strategy<Value = Value> {
    let tree = leaf().prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            2 => inner.clone().prop_map(|i| json!({"type": "array", "items": i})),
            2 => inner.clone().prop_map(|i| json!({"type": "map", "values": i})),
            2 => (
                prop::sample::subsequence(&PRIMITIVES[..], 0..3),
                prop::collection::vec(inner.clone(), 0..3),
                any::<bool>(),
            )
                .prop_map(|(prims, others, null_first)| {
                    let mut branches: Vec<Value> = Vec::new();
                    if null_first {
                        branches.push(json!("null"));
                    }
                    branches.extend(prims.into_iter().filter(|p| *p != "null").map(|p| json!(p)));
                    // A union may not hold a union.
                    branches.extend(others.into_iter().filter(|o| !o.is_array()));
                    Value::Array(branches)
                }),
            4 => (
                ident(),
                namespace(),
                prop::collection::vec((ident(), inner, field_extras()), 0..5),
                aliases(),
                prop::option::weighted(0.2, "[ -~]{0,8}"),
                prop::bool::weighted(0.1),
            )
                .prop_map(|(name, ns, fields, aliases, doc, error)| {
                    let fields: Vec<Value> = fields
                        .into_iter()
                        .enumerate()
                        .map(|(i, (n, t, x))| field(format!("{n}_{i}"), t, x))
                        .collect();
                    let mut obj = Map::new();
                    obj.insert("type".into(), if error { "error" } else { "record" }.into());
                    obj.insert("fields".into(), Value::Array(fields));
                    named(obj, name, ns, aliases, doc)
                }),
        ]
    });
    (tree, any::<u64>()).prop_map(|(mut tree, seed)| {
        finish(&mut tree, &mut Finisher::new(seed), None);
        tree
    })
}

/// Makes named types unique (Avro forbids redefining a name) and, driven by `seed`, replaces
/// some primitive leaves with references to named types already defined — including the
/// enclosing record itself (recursion) — spelled short or fully qualified.
struct Finisher {
    seed: u64,
    next: usize,
    defined: Vec<(Option<String>, String)>,
}

impl Finisher {
    fn new(seed: u64) -> Self {
        Finisher {
            seed: seed | 1,
            next: 0,
            defined: Vec::new(),
        }
    }

    fn roll(&mut self, n: u64) -> u64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed % n.max(1)
    }
}

fn finish(v: &mut Value, f: &mut Finisher, enclosing: Option<&str>) {
    match v {
        Value::String(s)
            if PRIMITIVES.contains(&s.as_str()) && !f.defined.is_empty() && f.roll(4) == 0 =>
        {
            let i = f.roll(f.defined.len() as u64) as usize;
            let (ns, name) = f.defined[i].clone();
            let full = match &ns {
                Some(ns) if !ns.is_empty() => format!("{ns}.{name}"),
                // `.Name`: the null namespace, from inside another one.
                _ if enclosing.is_some() => format!(".{name}"),
                _ => name.clone(),
            };
            *s = if ns.as_deref() == enclosing && f.roll(2) == 0 {
                name
            } else {
                full
            };
        }
        Value::Array(items) => items.iter_mut().for_each(|i| finish(i, f, enclosing)),
        Value::Object(obj) => {
            let ty = obj.get("type").and_then(Value::as_str).unwrap_or("");
            if matches!(ty, "record" | "error" | "enum" | "fixed") {
                let name = format!("{}{}", obj["name"].as_str().unwrap_or("N"), f.next);
                f.next += 1;
                obj.insert("name".into(), name.clone().into());
                let ns = match obj.get("namespace").and_then(Value::as_str) {
                    Some(ns) => Some(ns.to_string()),
                    None => enclosing.map(str::to_string),
                };
                f.defined.push((ns.clone(), name));
                if let Some(Value::Array(fields)) = obj.get_mut("fields") {
                    for field in fields {
                        if let Some(t) = field.get_mut("type") {
                            finish(t, f, ns.as_deref().filter(|n| !n.is_empty()));
                        }
                    }
                }
            } else {
                for key in ["items", "values"] {
                    if let Some(inner) = obj.get_mut(key) {
                        finish(inner, f, enclosing);
                    }
                }
            }
        }
        _ => {}
    }
}

/// A schema changed the ways schemas evolve (and break): fields dropped, added with and
/// without defaults, retyped or wrapped in a union; names, sizes and symbols changed.
fn evolve(v: &Value, f: &mut Finisher) -> Value {
    match v {
        Value::String(s) if f.roll(6) == 0 => match s.as_str() {
            "int" => json!("long"),
            "long" => json!("double"),
            "string" => json!("bytes"),
            "bytes" => json!("string"),
            other => json!(["null", other]),
        },
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(|i| evolve(i, f)).collect();
            match f.roll(5) {
                0 if items.len() > 1 => {
                    items.pop();
                }
                1 if !items.contains(&json!("float")) => items.push(json!("float")),
                _ => {}
            }
            Value::Array(items)
        }
        Value::Object(obj) => {
            let mut obj = obj.clone();
            for key in ["items", "values"] {
                if let Some(inner) = obj.get(key) {
                    let e = evolve(inner, f);
                    obj.insert(key.into(), e);
                }
            }
            if f.roll(8) == 0 && obj.contains_key("name") {
                let n = format!("{}X", obj["name"].as_str().unwrap_or(""));
                obj.insert("name".into(), n.into());
            }
            if let Some(Value::Number(size)) = obj.get("size") {
                if f.roll(4) == 0 {
                    let s = size.as_u64().unwrap_or(0) + 1;
                    obj.insert("size".into(), s.into());
                }
            }
            if let Some(Value::Array(symbols)) = obj.get("symbols") {
                let mut symbols = symbols.clone();
                match f.roll(4) {
                    0 => symbols.push(json!("NEWSYM")),
                    1 if symbols.len() > 1 => {
                        symbols.pop();
                    }
                    _ => {}
                }
                obj.insert("symbols".into(), Value::Array(symbols));
            }
            if let Some(Value::Array(fields)) = obj.get("fields") {
                let mut kept = Vec::new();
                for fl in fields {
                    if f.roll(6) == 0 {
                        continue;
                    }
                    let mut fl = fl.clone();
                    if let Some(t) = fl.get("type") {
                        let t = evolve(t, f);
                        fl["type"] = t;
                    }
                    kept.push(fl);
                }
                let mut fields = kept;
                match f.roll(3) {
                    0 => fields.push(json!({"name": "added", "type": "string", "default": ""})),
                    1 => fields.push(json!({"name": "added_nodefault", "type": "int"})),
                    _ => {}
                }
                obj.insert("fields".into(), Value::Array(fields));
            }
            Value::Object(obj)
        }
        other => other.clone(),
    }
}

/// Byte-level damage to a text: flips, deletions, insertions of JSON punctuation, duplication.
fn mutate(text: &str, ops: &[(usize, u8, u8)]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    const ALPHABET: &[u8] = b"{}[]\":,.0123456789-eE \\nulltrue\x00\xff";
    for &(at, kind, b) in ops {
        if bytes.is_empty() {
            bytes.push(b);
            continue;
        }
        let at = at % bytes.len();
        match kind % 4 {
            0 => bytes[at] ^= 1 << (b % 8),
            1 => {
                bytes.remove(at);
            }
            2 => bytes.insert(at, ALPHABET[usize::from(b) % ALPHABET.len()]),
            _ => {
                let end = (at + usize::from(b % 16)).min(bytes.len());
                let slice = bytes[at..end].to_vec();
                bytes.splice(at..at, slice);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Arbitrary JSON from Avro's vocabulary: schema-shaped nonsense that reaches deep into the
/// parser's and the canonicalizer's error paths.
fn avro_ish_json() -> impl Strategy<Value = Value> {
    let words = prop::sample::select(
        &[
            "record", "enum", "fixed", "array", "map", "error", "int", "string", "null", "long",
            "bytes", "R", "a.b.R", ".R", "", "decimal", "uuid", "date", "duration",
        ][..],
    );
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            Just(-1i64),
            Just(0),
            Just(12),
            Just(i64::from(i32::MAX) + 1)
        ]
        .prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        words.prop_map(Value::from),
        "[ -~]{0,6}".prop_map(Value::from),
    ];
    let keys = prop::sample::select(
        &[
            "type",
            "name",
            "namespace",
            "fields",
            "items",
            "values",
            "symbols",
            "size",
            "aliases",
            "default",
            "doc",
            "order",
            "logicalType",
            "precision",
            "scale",
            "x",
        ][..],
    );
    leaf.prop_recursive(5, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

// ---------------------------------------------------------------------------------------------
// (1) Parsing and canonical form.

/// The generators are only worth their cases if most schemas they make are valid: a generator
/// that drifted into producing junk would leave the canonical-form properties untested.
#[test]
fn schema_generator_mostly_makes_valid_schemas() {
    let mut runner = TestRunner::deterministic();
    let strategy = schema();
    let total = 300;
    let valid = (0..total)
        .filter(|_| {
            let v = strategy.new_tree(&mut runner).unwrap().current();
            avro::parse(&v.to_string(), &[]).is_ok()
        })
        .count();
    assert!(
        valid * 2 > total,
        "only {valid} of {total} generated schemas parse"
    );
}

proptest! {
    #![proptest_config(cases(1024))]

    #[test]
    fn structured_schemas_canonicalize(v in schema(), pretty in any::<bool>()) {
        let text = if pretty { serde_json::to_string_pretty(&v).unwrap() } else { v.to_string() };
        if let Some(parsed) = fuzz_props::parse_and_canonical(&text) {
            self_compatible(&parsed);
        }
    }

    #[test]
    fn mutated_schema_text_never_panics(
        v in schema(),
        ops in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6),
    ) {
        fuzz_props::parse_and_canonical(&mutate(&v.to_string(), &ops));
    }

    /// Replay indexes a text the one-pass scan vouches for under itself, unparsed: that is
    /// sound only if the full canonical walk would give the text back (or refuse it).
    #[test]
    fn a_text_vouched_canonical_is_its_own_canonical_text(
        v in schema(),
        ops in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
    ) {
        let text = v.to_string();
        let canonical = avro::canonical_text(&v).ok();
        let mutated = mutate(&text, &ops);
        for t in [Some(text), canonical, Some(mutated)].into_iter().flatten() {
            vouched_only_for_canonical(&t);
        }
    }

    #[test]
    fn avro_ish_json_vouched_canonical_is_canonical(v in avro_ish_json()) {
        vouched_only_for_canonical(&v.to_string());
    }

    #[test]
    fn avro_ish_json_never_panics(v in avro_ish_json()) {
        fuzz_props::parse_and_canonical(&v.to_string());
        let _ = avro::canonical_text(&v);
        let _ = avro::normalized_text(&v);
    }
}

/// [`canonical_scan::is_canonical`]'s promise.
fn vouched_only_for_canonical(text: &str) {
    if canonical_scan::is_canonical(text) {
        let again = serde_json::from_str(text)
            .ok()
            .and_then(|j| avro::canonical_text(&j).ok());
        assert!(
            again.as_deref().is_none_or(|c| c == text),
            "vouched for {text}, canonical {again:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// (2) Compatibility.

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn compat_of_evolved_pairs(v in schema(), seed in any::<u64>()) {
        let w = evolve(&v, &mut Finisher::new(seed));
        let (Ok(a), Ok(b)) = (avro::parse(&v.to_string(), &[]), avro::parse(&w.to_string(), &[])) else {
            return Ok(());
        };
        self_compatible(&b);
        fuzz_props::compat_pair(&a, &b);
    }

    #[test]
    fn compat_of_unrelated_pairs(v in schema(), w in schema()) {
        let (Ok(a), Ok(b)) = (avro::parse(&v.to_string(), &[]), avro::parse(&w.to_string(), &[])) else {
            return Ok(());
        };
        fuzz_props::compat_pair(&a, &b);
    }
}

// ---------------------------------------------------------------------------------------------
// (4) REST request bodies.

/// Bodies for the endpoints that read one: the right fields with right, wrong and hostile
/// values, arbitrary JSON, and raw bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let text = prop_oneof![
        schema().prop_map(|v| Value::String(v.to_string())),
        Just(json!("\"int\"")),
        "[ -~]{0,12}".prop_map(Value::from),
        avro_ish_json(),
    ];
    let reference = (
        "[a-z.]{0,4}",
        prop::sample::select(&["s", "orders-value", "", "missing"][..]),
        prop_oneof![Just(json!(1)), Just(json!(-1)), Just(json!(2)), any::<i64>().prop_map(Value::from), Just(json!("1"))],
    )
        .prop_map(|(name, subject, version)| json!({"name": name, "subject": subject, "version": version}));
    let level = prop::sample::select(
        &[
            "BACKWARD",
            "FULL_TRANSITIVE",
            "NONE",
            "forward",
            "BOGUS",
            "",
        ][..],
    );
    let mode = prop::sample::select(
        &[
            "READWRITE",
            "READONLY",
            "IMPORT",
            "READONLY_OVERRIDE",
            "nope",
        ][..],
    );
    let object = (
        prop::option::of(text),
        prop::option::of(prop_oneof![
            Just(json!("AVRO")),
            Just(json!("JSON")),
            Just(json!(3))
        ]),
        prop::option::of(prop::collection::vec(reference, 0..3)),
        prop::option::of(any::<i64>()),
        prop::option::of(prop_oneof![
            Just(json!(1)),
            Just(json!(-1)),
            Just(json!("latest")),
            any::<i32>().prop_map(Value::from)
        ]),
        prop::option::of(level),
        prop::option::of(prop_oneof![
            any::<bool>().prop_map(Value::from),
            Just(json!("yes"))
        ]),
        prop::option::of(mode),
        prop::option::of(avro_ish_json()),
    )
        .prop_map(
            |(schema, ty, refs, id, version, level, normalize, mode, extra)| {
                let mut o = Map::new();
                let mut put = |k: &str, v: Option<Value>| {
                    if let Some(v) = v {
                        o.insert(k.into(), v);
                    }
                };
                put("schema", schema);
                put("schemaType", ty);
                put("references", refs.map(Value::Array));
                put("id", id.map(Value::from));
                put("version", version);
                put("compatibility", level.map(Value::from));
                put("normalize", normalize);
                put("mode", mode.map(Value::from));
                put("metadata", extra.clone());
                put("name", extra.clone());
                put("password", extra);
                Value::Object(o).to_string().into_bytes()
            },
        );
    prop_oneof![
        6 => object,
        2 => avro_ish_json().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..32),
    ]
}

proptest! {
    #![proptest_config(cases(384))]

    #[test]
    fn rest_bodies_never_answer_5xx(
        requests in prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                prop::sample::select(fuzz_props::CONTENT_TYPES),
                prop_oneof![
                    4 => prop::sample::select(&["s", "orders-value"][..]).prop_map(String::from),
                    1 => any::<String>(),
                ],
                body(),
            ),
            1..6,
        ),
    ) {
        // One registry per case: the requests of a case meet each other's state.
        let api = Api::new();
        for (endpoint, ct, subject, body) in requests {
            let (method, path) = fuzz_props::endpoint_path(endpoint.index(fuzz_props::ENDPOINTS.len()), &subject);
            api.check(method, &path, ct, body);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions: inputs the fuzzers found, each a plain test.

/// A type in the null namespace nested in a namespaced record: its normalized text once wrote
/// the name bare (`"a1"`), which reads back as `a.a1`, another type.
#[test]
fn normalized_keeps_a_nested_null_namespace() {
    let text = r#"{"type":"record","fields":[{"name":"A_0","type":{"type":"enum","symbols":["A"],"name":"a1","namespace":""},"order":"descending"}],"name":"a0","namespace":"a"}"#;
    fuzz_props::parse_and_canonical(text).expect("valid");
}

/// A reference to a null-namespace type from inside a namespace (`.E`): canonical and
/// normalized texts once wrote it bare (`E`), which reads back as `a.E`, a type not defined.
#[test]
fn reference_to_the_null_namespace_stays_qualified() {
    let text = r#"{"type":"record","name":"R","namespace":"a","fields":[
        {"name":"f","type":{"type":"enum","name":"E","namespace":"","symbols":["X"]}},
        {"name":"g","type":".E"}]}"#;
    let parsed = fuzz_props::parse_and_canonical(text).expect("valid");
    self_compatible(&parsed);
}

/// libFuzzer (schema_parse): a custom property holding an integer too big for 64 bits becomes
/// an f64, and serde_json's default (fast, not correctly rounded) float parsing read the
/// shortest text of that f64 back as a neighbouring one, so canonical text changed on every
/// round. Fixed by serde_json's `float_roundtrip` feature.
#[test]
fn canonical_text_of_a_huge_number_is_stable() {
    for text in [
        r#"{"type":"bytes","x":55555555555500000000000000000000000000000000000000000000000000000000000000000600448626}"#,
        // The same, as a decimal's precision (the second libFuzzer crash).
        r#"{"type":"fixed","name":"M","size":4,"logicalType":"decimal","precision":1555555555555500000000000000000000000000000000000000000000000000000000000000000000000000008198552921648600000000000000000}"#,
    ] {
        fuzz_props::parse_and_canonical(text).expect("valid");
    }
}
