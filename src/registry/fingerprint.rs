//! Submissions seen before: producers send the same schema text on every start (and some on
//! every message batch), so lookups, registrations of known schemas and compatibility checks
//! mostly parse a text already parsed. Parsing and canonicalising is most of their cost; this
//! keeps what a parse produced, keyed by exactly what it depended on.
//!
//! A parse ([`super::submitted::ResolvedSchema::parse`]) is a pure function of the submitted
//! text, its resolved type and references, the texts those references name, and `normalize`:
//! an entry is returned only when all of them are equal — the text compared in full, never
//! trusted to its hash — so a collision or a reference that now names other content is a miss,
//! never a wrong schema. Being pure, the map serves every registry in the process.
//!
//! Bounded by entries and by bytes; over either bound, arbitrary entries go (a submission
//! that matters comes back and is parsed once more).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use super::record::Reference;
use super::submitted::PreparedSchema;

/// Entries kept at most.
const MAX_ENTRIES: usize = 10_000;
/// Bytes (estimated: text, canonical forms, parsed form) kept at most.
const MAX_BYTES: usize = 16 * 1024 * 1024;
/// A text longer than this is not kept: one would crowd out hundreds of usual ones.
const MAX_TEXT: usize = 1024 * 1024;

/// What a parse depends on, as submitted and resolved.
#[derive(Debug, Clone, Copy)]
pub struct Submission<'a> {
    pub text: &'a str,
    pub schema_type: Option<&'a str>,
    /// Resolved: concrete versions.
    pub references: &'a [Reference],
    /// The texts of every schema the references reach, as the parse read them.
    pub ref_texts: &'a [Arc<str>],
    pub normalize: bool,
}

impl Submission<'_> {
    fn hash(&self, hasher: &RandomState) -> u64 {
        hasher.hash_one((self.text, self.schema_type, self.references, self.normalize))
    }
}

struct Entry {
    text: Box<str>,
    schema_type: Option<String>,
    references: Vec<Reference>,
    /// Held, so that a pointer seen equal is still this text (never a reused allocation).
    ref_texts: Vec<Arc<str>>,
    normalize: bool,
    prepared: Arc<PreparedSchema>,
}

impl Entry {
    fn matches(&self, s: &Submission) -> bool {
        *self.text == *s.text
            && self.schema_type.as_deref() == s.schema_type
            && self.references == s.references
            && self.normalize == s.normalize
            && self.ref_texts.len() == s.ref_texts.len()
            && self
                .ref_texts
                .iter()
                .zip(s.ref_texts)
                .all(|(a, b)| Arc::ptr_eq(a, b) || **a == **b)
    }

    fn bytes(&self) -> usize {
        // The text, the canonical text twice (parsed and key), the parsed form (about as big).
        256 + self.text.len() + 3 * self.prepared.parsed.canonical.len()
    }
}

/// The map of submissions seen, with its bounds.
pub struct Fingerprints {
    hasher: RandomState,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
    max_entries: usize,
    max_bytes: usize,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<u64, Entry>,
    bytes: usize,
}

/// The process's map.
pub fn shared() -> &'static Fingerprints {
    static SHARED: LazyLock<Fingerprints> =
        LazyLock::new(|| Fingerprints::new(MAX_ENTRIES, MAX_BYTES));
    &SHARED
}

impl Fingerprints {
    pub fn new(max_entries: usize, max_bytes: usize) -> Fingerprints {
        Fingerprints {
            hasher: RandomState::new(),
            inner: Mutex::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            max_entries,
            max_bytes,
        }
    }

    /// What the parse of `s` produced, if `s` was seen (and kept).
    pub fn get(&self, s: &Submission) -> Option<Arc<PreparedSchema>> {
        self.get_hashed(s.hash(&self.hasher), s)
    }

    fn get_hashed(&self, hash: u64, s: &Submission) -> Option<Arc<PreparedSchema>> {
        let found = self
            .lock()
            .entries
            .get(&hash)
            .filter(|e| e.matches(s))
            .map(|e| e.prepared.clone());
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keeps what parsing `s` produced.
    pub fn insert(&self, s: &Submission, prepared: Arc<PreparedSchema>) {
        self.insert_hashed(s.hash(&self.hasher), s, prepared)
    }

    fn insert_hashed(&self, hash: u64, s: &Submission, prepared: Arc<PreparedSchema>) {
        if s.text.len() > MAX_TEXT {
            return;
        }
        let entry = Entry {
            text: s.text.into(),
            schema_type: s.schema_type.map(str::to_owned),
            references: s.references.to_vec(),
            ref_texts: s.ref_texts.to_vec(),
            normalize: s.normalize,
            prepared,
        };
        let mut inner = self.lock();
        inner.bytes += entry.bytes();
        if let Some(old) = inner.entries.insert(hash, entry) {
            inner.bytes -= old.bytes();
        }
        while inner.entries.len() > self.max_entries || inner.bytes > self.max_bytes {
            let Some(&victim) = inner.entries.keys().find(|k| **k != hash) else {
                break;
            };
            if let Some(old) = inner.entries.remove(&victim) {
                inner.bytes -= old.bytes();
            }
        }
    }

    /// Submissions found and not found so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::state::ContentKey;

    fn prepared(text: &str) -> Arc<PreparedSchema> {
        let parsed = crate::registry::avro::parse_submitted(text, &[]).unwrap();
        let key = ContentKey {
            canonical: Arc::from(parsed.canonical.as_str()),
            schema_type: None,
            references: vec![],
        };
        Arc::new(PreparedSchema { parsed, key })
    }

    fn plain(text: &str) -> Submission<'_> {
        Submission {
            text,
            schema_type: None,
            references: &[],
            ref_texts: &[],
            normalize: false,
        }
    }

    #[test]
    fn only_exactly_the_same_submission_finds_its_parse() {
        let f = Fingerprints::new(100, 1 << 20);
        let text = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
        assert!(f.get(&plain(text)).is_none());
        f.insert(&plain(text), prepared(text));
        let hit = f.get(&plain(text)).unwrap();
        assert!(hit.key.canonical.starts_with(r#"{"type":"record""#));

        let spaced = text.replace(':', ": ");
        assert!(f.get(&plain(&spaced)).is_none());
        let normalized = Submission {
            normalize: true,
            ..plain(text)
        };
        assert!(f.get(&normalized).is_none());
        let reference = Reference {
            name: "X".into(),
            subject: "x".into(),
            version: 1,
        };
        let other_text: Arc<str> = Arc::from("\"int\"");
        let with_ref = Submission {
            references: std::slice::from_ref(&reference),
            ref_texts: std::slice::from_ref(&other_text),
            ..plain(text)
        };
        assert!(f.get(&with_ref).is_none());
        f.insert(&with_ref, prepared(text));
        assert!(f.get(&with_ref).is_some());
        // The same reference now naming other content (deleted and registered anew).
        let changed: Arc<str> = Arc::from("\"long\"");
        let moved = Submission {
            ref_texts: std::slice::from_ref(&changed),
            ..with_ref
        };
        assert!(f.get(&moved).is_none());
        // Equal content in another allocation is the same submission.
        let copy: Arc<str> = Arc::from("\"int\"");
        let copied = Submission {
            ref_texts: std::slice::from_ref(&copy),
            ..with_ref
        };
        assert!(f.get(&copied).is_some());
        assert_eq!(f.counts(), (3, 5));
    }

    #[test]
    fn a_hash_collision_is_a_miss_never_another_schema() {
        let f = Fingerprints::new(100, 1 << 20);
        let (a, b) = ("\"int\"", "\"long\"");
        f.insert_hashed(42, &plain(a), prepared(a));
        assert!(f.get_hashed(42, &plain(b)).is_none());
        assert_eq!(
            &*f.get_hashed(42, &plain(a)).unwrap().key.canonical,
            "\"int\""
        );
        // The newer submission takes the slot.
        f.insert_hashed(42, &plain(b), prepared(b));
        assert!(f.get_hashed(42, &plain(a)).is_none());
        assert_eq!(
            &*f.get_hashed(42, &plain(b)).unwrap().key.canonical,
            "\"long\""
        );
    }

    #[test]
    fn the_map_stays_within_its_bounds() {
        let texts: Vec<String> = (0..50)
            .map(|i| format!(r#"{{"type":"enum","name":"E{i}","symbols":["A"]}}"#))
            .collect();
        let f = Fingerprints::new(10, 1 << 20);
        for t in &texts {
            f.insert(&plain(t), prepared(t));
            assert!(f.len() <= 10);
            // The newest is always kept.
            assert!(f.get(&plain(t)).is_some());
        }
        let small = Fingerprints::new(100, 2_000);
        for t in &texts {
            small.insert(&plain(t), prepared(t));
            assert!(small.lock().bytes <= 2_000);
        }
        assert!(small.len() < 10);
        let bytes: usize = small.lock().entries.values().map(Entry::bytes).sum();
        assert_eq!(bytes, small.lock().bytes);
    }
}
