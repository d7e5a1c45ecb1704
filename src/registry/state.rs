//! The registry's state, folded from `_schemas` records by [`State::apply`] and nothing else.
//!
//! Everything a read needs is here, in memory, indexed for the requests clients repeat: id →
//! schema, subject → versions, canonical content → id. One [`SchemaEntry`] (and one copy of its
//! text) is shared by every subject and version that uses the same id.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

use super::avro::{self, ParsedSchema};
use super::canonical_scan;
use super::ids::{SchemaId, Subject, Version};
use super::mode::Mode;
use super::record::{
    ConfigValue, DecodeOutcome, GlobalKeyForm, RawRecord, Record, Reference, SchemaValue,
};

/// A distinct schema: one per global id.
#[derive(Debug)]
pub struct SchemaEntry {
    pub id: SchemaId,
    pub text: Arc<str>,
    /// `None` means AVRO, as in the record format.
    pub schema_type: Option<String>,
    pub references: Vec<Reference>,
    /// The key this entry is indexed under in `content_ids`, so removal is O(1).
    content: ContentKey,
    /// The parsed form, built the first time a compatibility check needs it.
    pub parsed: OnceLock<Option<Arc<ParsedSchema>>>,
    /// The entry rendered as a response body (`GET /schemas/ids/{id}`), built the first time
    /// it is asked for by the API layer and then served as is.
    pub rendered: OnceLock<Arc<[u8]>>,
}

/// What identifies a schema's content for id reuse: same canonical text and references.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContentKey {
    pub canonical: Arc<str>,
    pub schema_type: Option<String>,
    pub references: Vec<Reference>,
}

/// One version of a subject.
#[derive(Debug, Clone)]
pub struct VersionEntry {
    pub version: Version,
    pub schema: Arc<SchemaEntry>,
    pub deleted: bool,
    /// Fields of the record value we do not interpret (`md5`, `metadata`, …), so a soft delete
    /// rewrites the record without losing what another registry wrote. Usually empty.
    pub extra: Option<Arc<serde_json::Map<String, serde_json::Value>>>,
    /// The version rendered as a response body (`GET /subjects/{s}/versions/{v}`), built the
    /// first time it is asked for by the API layer. A changed version (soft-deleted,
    /// rewritten) is a new entry, rendered anew.
    pub rendered: Arc<OnceLock<Arc<[u8]>>>,
}

impl VersionEntry {
    /// The SCHEMA record value for this version, as it would be written now.
    pub fn record_value(&self, subject: &Subject) -> SchemaValue {
        SchemaValue {
            subject: subject.clone(),
            version: self.version,
            id: self.schema.id,
            schema_type: self.schema.schema_type.clone(),
            references: self.schema.references.clone(),
            schema: self.schema.text.to_string(),
            deleted: self.deleted,
            extra: self.extra.as_deref().cloned().unwrap_or_default(),
        }
    }
}

/// A subject's versions, soft-deleted ones included.
#[derive(Debug, Default)]
pub struct SubjectEntry {
    pub versions: Versions,
}

/// A subject's versions in ascending order, in a `Vec` sized to fit: most subjects hold a few
/// versions, and a B-tree's smallest node has room for eleven (about 500 bytes for one).
#[derive(Debug, Default)]
pub struct Versions(Vec<VersionEntry>);

impl Versions {
    pub fn get(&self, version: &Version) -> Option<&VersionEntry> {
        self.position(*version).ok().map(|i| &self.0[i])
    }

    pub fn values(&self) -> std::slice::Iter<'_, VersionEntry> {
        self.0.iter()
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Version> {
        self.0.iter().map(|v| &v.version)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds `entry`, or replaces the entry of the same version.
    fn insert(&mut self, entry: VersionEntry) {
        match self.position(entry.version) {
            Ok(i) => self.0[i] = entry,
            Err(i) => {
                // Room for one more, or an eighth more for a long list: a subject's usual one
                // or few versions take no spare room, and a long history grows geometrically.
                self.0.reserve_exact((self.0.len() / 8).max(1));
                self.0.insert(i, entry);
            }
        }
    }

    fn remove(&mut self, version: &Version) -> Option<VersionEntry> {
        let removed = self.position(*version).ok().map(|i| self.0.remove(i));
        if self.0.len() <= self.0.capacity() / 2 {
            self.0.shrink_to_fit();
        }
        removed
    }

    /// The versions up to and including `last`.
    fn up_to_mut(&mut self, last: Version) -> impl Iterator<Item = &mut VersionEntry> {
        self.0.iter_mut().take_while(move |v| v.version <= last)
    }

    fn position(&self, version: Version) -> Result<usize, usize> {
        self.0.binary_search_by_key(&version, |v| v.version)
    }
}

impl SubjectEntry {
    pub fn live(&self) -> impl DoubleEndedIterator<Item = &VersionEntry> {
        self.versions.values().filter(|v| !v.deleted)
    }
    /// Has versions, all soft-deleted.
    pub fn is_soft_deleted(&self) -> bool {
        !self.versions.is_empty() && self.live().next().is_none()
    }
}

#[derive(Debug, Default)]
pub struct State {
    schemas: HashMap<SchemaId, Arc<SchemaEntry>>,
    /// Every id holding each content (IMPORT can give one content several); the lowest wins,
    /// and removing one leaves the others findable.
    content_ids: HashMap<ContentKey, SmallSet<SchemaId>>,
    /// Which subject versions use each id (including soft-deleted ones).
    usages: HashMap<SchemaId, SmallSet<(Subject, Version)>>,
    /// Ids whose schema has references, for `referencedby` and delete checks.
    with_refs: BTreeSet<SchemaId>,
    subjects: BTreeMap<Subject, SubjectEntry>,
    configs: HashMap<Option<Subject>, ConfigValue>,
    modes: HashMap<Option<Subject>, Mode>,
    max_id: SchemaId,
    global_key_form: Option<GlobalKeyForm>,
    /// Offset of the last record applied.
    pub offset: i64,
    /// Records that could not be decoded or applied, skipped and logged.
    pub skipped: u64,
}

/// An ordered set kept as a sorted `Vec` while small. Nearly every id has one usage and nearly
/// every content one id, where a `BTreeSet` would allocate a node with room for eleven (some
/// 400 bytes for a usage); past [`SmallSet::FEW`] items it becomes one, so a schema shared by
/// thousands of subjects still inserts and removes in log time.
#[derive(Debug)]
enum SmallSet<T: Ord> {
    Few(Vec<T>),
    Many(BTreeSet<T>),
}

impl<T: Ord> Default for SmallSet<T> {
    fn default() -> Self {
        SmallSet::Few(Vec::new())
    }
}

impl<T: Ord> SmallSet<T> {
    const FEW: usize = 16;

    fn insert(&mut self, item: T) -> bool {
        match self {
            SmallSet::Few(items) => match items.binary_search(&item) {
                Ok(_) => false,
                Err(at) if items.len() < Self::FEW => {
                    // Exactly the room needed: most sets never grow past one item.
                    items.reserve_exact(1);
                    items.insert(at, item);
                    true
                }
                Err(_) => {
                    let mut set: BTreeSet<T> = std::mem::take(items).into_iter().collect();
                    set.insert(item);
                    *self = SmallSet::Many(set);
                    true
                }
            },
            SmallSet::Many(set) => set.insert(item),
        }
    }

    fn remove(&mut self, item: &T) -> bool {
        match self {
            SmallSet::Few(items) => match items.binary_search(item) {
                Ok(at) => {
                    items.remove(at);
                    true
                }
                Err(_) => false,
            },
            SmallSet::Many(set) => set.remove(item),
        }
    }

    fn first(&self) -> Option<&T> {
        match self {
            SmallSet::Few(items) => items.first(),
            SmallSet::Many(set) => set.first(),
        }
    }

    fn len(&self) -> usize {
        match self {
            SmallSet::Few(items) => items.len(),
            SmallSet::Many(set) => set.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        let (few, many) = match self {
            SmallSet::Few(items) => (Some(items.iter()), None),
            SmallSet::Many(set) => (None, Some(set.iter())),
        };
        few.into_iter().flatten().chain(many.into_iter().flatten())
    }
}

/// The text a stored schema is indexed by: our canonical form, because foreign registries
/// may store text as sent, and lookups and id reuse must still match it. `None` when that is
/// the stored text itself (the usual case) or the text does not parse.
#[derive(Debug)]
pub struct CanonicalText(Option<String>);

impl CanonicalText {
    /// A text that [`canonical_scan`] proves canonical costs one pass over its bytes; any
    /// other takes a JSON parse and a canonical walk (once most of replay's time).
    fn of(text: &str) -> CanonicalText {
        if canonical_scan::is_canonical(text) {
            return CanonicalText(None);
        }
        CanonicalText(
            serde_json::from_str(text)
                .ok()
                .and_then(|j| avro::canonical_text(&j).ok())
                .filter(|c: &String| c != text),
        )
    }
}

/// A record decoded, with its schema's canonical text, ready to apply. Pure work that needs no
/// state, so replay does it for a whole batch on every core before taking the state's lock.
#[derive(Debug)]
pub struct DecodedRecord {
    outcome: DecodeOutcome,
    canonical: Option<CanonicalText>,
}

impl DecodedRecord {
    pub fn of(raw: &RawRecord) -> DecodedRecord {
        let outcome = Record::decode(raw);
        let canonical = match &outcome {
            DecodeOutcome::Record(Record::Schema { value: Some(v), .. }) => {
                Some(CanonicalText::of(&v.schema))
            }
            _ => None,
        };
        DecodedRecord { outcome, canonical }
    }

    /// [`DecodedRecord::of`] the record of every item, in order, spread over the machine's
    /// cores. Blocks: call it off the async threads.
    pub fn all<T: Sync>(
        items: &[T],
        record: impl Fn(&T) -> &RawRecord + Sync,
    ) -> Vec<DecodedRecord> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = items.len().div_ceil(threads).max(1);
        let record = &record;
        std::thread::scope(|scope| {
            let parts: Vec<_> = items
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|i| DecodedRecord::of(record(i)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            parts
                .into_iter()
                .flat_map(|p| p.join().expect("decoding records does not panic"))
                .collect()
        })
    }
}

impl State {
    /// Applies one raw record at `offset`. Never fails: a record we cannot use is skipped,
    /// counted and logged, because one bad record must not stop a registry.
    pub fn apply_raw(&mut self, offset: i64, raw: &RawRecord) {
        self.apply_decoded(offset, raw, DecodedRecord::of(raw));
    }

    /// Applies a record decoded ahead (replay decodes a batch on every core first).
    pub fn apply_decoded(&mut self, offset: i64, raw: &RawRecord, decoded: DecodedRecord) {
        self.offset = self.offset.max(offset);
        match decoded.outcome {
            DecodeOutcome::Record(r) => {
                let global = matches!(
                    r,
                    Record::Config { subject: None, .. } | Record::Mode { subject: None, .. }
                );
                if global && self.global_key_form.is_none() {
                    self.global_key_form = Record::global_key_form(&raw.key);
                }
                self.apply_with(r, decoded.canonical)
            }
            DecodeOutcome::Ignored(why) => tracing::debug!(offset, %why, "ignored record"),
            DecodeOutcome::Skipped(why) => {
                self.skipped += 1;
                tracing::warn!(offset, %why, key = %String::from_utf8_lossy(&raw.key), "skipped bad record");
            }
        }
    }

    pub fn apply(&mut self, record: Record) {
        self.apply_with(record, None)
    }

    /// `canonical`: the content text of a SCHEMA record's schema, if computed ahead.
    fn apply_with(&mut self, record: Record, canonical: Option<CanonicalText>) {
        match record {
            Record::Schema {
                subject,
                version,
                value,
            } => {
                self.remove_version(&subject, version);
                if let Some(v) = value {
                    if v.subject != subject || v.version != version {
                        self.skipped += 1;
                        tracing::warn!(%subject, %version, "SCHEMA value disagrees with its key; skipped");
                        return;
                    }
                    self.insert_version(v, canonical);
                }
            }
            Record::Config { subject, value } => match value {
                Some(v) => {
                    self.configs.insert(subject, v);
                }
                None => {
                    self.configs.remove(&subject);
                }
            },
            Record::Mode { subject, value } => match value.map(|v| v.mode.parse::<Mode>()) {
                Some(Ok(m)) => {
                    self.modes.insert(subject, m);
                }
                Some(Err(_)) => {
                    self.skipped += 1;
                    tracing::warn!(?subject, "MODE record with an unknown mode; skipped");
                }
                None => {
                    self.modes.remove(&subject);
                }
            },
            Record::DeleteSubject { subject, value } => {
                let Some(v) = value else { return };
                if let Some(s) = self.subjects.get_mut(&subject) {
                    for entry in s.versions.up_to_mut(v.version) {
                        entry.deleted = true;
                    }
                }
            }
            Record::ClearSubject { subject, value } => {
                if value.is_some() {
                    let versions: Vec<Version> = self
                        .subjects
                        .get(&subject)
                        .map(|s| s.versions.keys().copied().collect())
                        .unwrap_or_default();
                    // Newest first: each removal is then the list's last entry.
                    for v in versions.into_iter().rev() {
                        self.remove_version(&subject, v);
                    }
                }
            }
            Record::Noop => {}
        }
    }

    fn insert_version(&mut self, v: SchemaValue, canonical: Option<CanonicalText>) {
        let entry = match self.schemas.get(&v.id) {
            Some(e) if *e.text == *v.schema => e.clone(),
            existing => {
                if existing.is_some() {
                    tracing::warn!(
                        id = v.id.get(),
                        "id reused with different schema text; latest wins"
                    );
                }
                let text: Arc<str> = Arc::from(v.schema.as_str());
                let canonical = canonical
                    .unwrap_or_else(|| CanonicalText::of(&v.schema))
                    .0
                    .map(Arc::from)
                    // Usually the stored text is canonical already: share it, one copy.
                    .unwrap_or_else(|| text.clone());
                let schema_type = v.schema_type.clone().filter(|t| t != "AVRO");
                let content = ContentKey {
                    canonical,
                    schema_type: schema_type.clone(),
                    references: v.references.clone(),
                };
                self.content_ids
                    .entry(content.clone())
                    .or_default()
                    .insert(v.id);
                let e = Arc::new(SchemaEntry {
                    id: v.id,
                    text,
                    schema_type,
                    references: v.references.clone(),
                    content,
                    parsed: OnceLock::new(),
                    rendered: OnceLock::new(),
                });
                if !e.references.is_empty() {
                    self.with_refs.insert(v.id);
                }
                self.schemas.insert(v.id, e.clone());
                e
            }
        };
        self.max_id = self.max_id.max(v.id);
        self.usages
            .entry(v.id)
            .or_default()
            .insert((v.subject.clone(), v.version));
        let subject = self.subjects.entry(v.subject.clone()).or_default();
        subject.versions.insert(VersionEntry {
            version: v.version,
            schema: entry,
            deleted: v.deleted,
            extra: (!v.extra.is_empty()).then(|| Arc::new(v.extra)),
            rendered: Arc::default(),
        });
    }

    fn remove_version(&mut self, subject: &str, version: Version) {
        let Some(s) = self.subjects.get_mut(subject) else {
            return;
        };
        let Some(old) = s.versions.remove(&version) else {
            return;
        };
        if s.versions.is_empty() {
            self.subjects.remove(subject);
        }
        let id = old.schema.id;
        let unused = match self.usages.get_mut(&id) {
            Some(users) => {
                users.remove(&(Subject::unchecked(subject), version));
                users.is_empty()
            }
            None => true,
        };
        if unused {
            self.usages.remove(&id);
            self.with_refs.remove(&id);
            if let Some(e) = self.schemas.remove(&id) {
                if let Some(ids) = self.content_ids.get_mut(&e.content) {
                    ids.remove(&id);
                    if ids.is_empty() {
                        self.content_ids.remove(&e.content);
                    }
                }
            }
        }
    }

    // ----- reads -----

    pub fn schema(&self, id: SchemaId) -> Option<&Arc<SchemaEntry>> {
        self.schemas.get(&id)
    }

    pub fn id_for_content(&self, key: &ContentKey) -> Option<SchemaId> {
        self.content_ids.get(key)?.first().copied()
    }

    /// The highest id allocated (or reserved by the store's watermark) so far.
    pub fn max_id(&self) -> SchemaId {
        self.max_id
    }

    /// Never allocate at or below `watermark`, the store's (which survives compaction).
    pub fn raise_max_id(&mut self, watermark: i32) {
        self.max_id = self.max_id.max(SchemaId(watermark));
    }

    pub fn subject(&self, name: &str) -> Option<&SubjectEntry> {
        self.subjects.get(name)
    }

    pub fn subjects(&self) -> impl Iterator<Item = (&Subject, &SubjectEntry)> {
        self.subjects.iter()
    }

    /// Subject versions using `id`, in (subject, version) order.
    pub fn usages(&self, id: SchemaId) -> impl Iterator<Item = &(Subject, Version)> {
        self.usages.get(&id).into_iter().flat_map(SmallSet::iter)
    }

    /// Ids of live schemas whose references point at `subject` `version`.
    pub fn referenced_by(&self, subject: &str, version: Version) -> Vec<SchemaId> {
        self.with_refs
            .iter()
            .filter(|id| {
                let refs = &self.schemas[id].references;
                refs.iter()
                    .any(|r| r.subject == subject && r.version == version.get())
                    && self.usages(**id).any(|(s, v)| {
                        self.subjects
                            .get(s.as_str())
                            .and_then(|e| e.versions.get(v))
                            .is_some_and(|e| !e.deleted)
                    })
            })
            .copied()
            .collect()
    }

    pub fn config(&self, subject: Option<&str>) -> Option<&ConfigValue> {
        self.configs.get(&subject.map(Subject::unchecked))
    }

    pub fn mode(&self, subject: Option<&str>) -> Option<Mode> {
        self.modes.get(&subject.map(Subject::unchecked)).copied()
    }

    /// The mode in force for a subject: a global READONLY_OVERRIDE, else its own, else the
    /// global one, else READWRITE.
    pub fn effective_mode(&self, subject: &str) -> Mode {
        let global = self.mode(None);
        if global == Some(Mode::ReadOnlyOverride) {
            return Mode::ReadOnlyOverride;
        }
        self.mode(Some(subject)).or(global).unwrap_or_default()
    }

    /// The global-key spelling already in the log, so our writes compact against it.
    pub fn global_key_form(&self) -> GlobalKeyForm {
        self.global_key_form.unwrap_or_default()
    }

    pub fn schema_count(&self) -> usize {
        self.schemas.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::record::GlobalKeyForm;

    /// SCHEMA records whose texts are spelled as Karapace may store them (spaces, key order),
    /// so each has a canonical text of its own to compute.
    fn records(n: usize) -> Vec<RawRecord> {
        (0..n)
            .map(|i| {
                let subject = format!("s{}", i % 7);
                let version = (i / 7 + 1) as i32;
                let schema = format!(
                    r#"{{ "fields": [{{"type": "int", "name": "f{i}"}}], "name": "R{i}", "type": "record" }}"#
                );
                Record::schema(SchemaValue::new(&subject, version, i as i32 + 1, schema))
                .encode(GlobalKeyForm::Omitted)
            })
            .collect()
    }

    #[test]
    fn small_sets_stay_ordered_past_their_vec_stage() {
        let mut set = SmallSet::default();
        let order = [
            7, 3, 19, 11, 1, 30, 2, 25, 14, 5, 9, 28, 17, 22, 4, 13, 8, 26, 0,
        ];
        for (n, i) in order.into_iter().enumerate() {
            assert!(set.insert(i));
            assert!(!set.insert(i));
            assert_eq!(set.len(), n + 1);
            assert!(matches!(set, SmallSet::Few(_)) == (n < SmallSet::<i32>::FEW));
        }
        let mut sorted = order.to_vec();
        sorted.sort();
        assert!(set.iter().copied().eq(sorted.iter().copied()));
        assert_eq!(set.first(), Some(&0));
        for i in order {
            assert!(set.remove(&i));
            assert!(!set.remove(&i));
        }
        assert!(set.is_empty());
    }

    #[test]
    fn records_decoded_on_every_core_are_the_records_decoded_one_by_one() {
        let raw = records(1000);
        let parallel = DecodedRecord::all(&raw, |r| r);
        let serial: Vec<_> = raw.iter().map(DecodedRecord::of).collect();
        assert_eq!(format!("{parallel:?}"), format!("{serial:?}"));
        assert!(parallel
            .iter()
            .all(|p| matches!(&p.canonical, Some(CanonicalText(Some(c))) if c.starts_with(r#"{"type":"record""#))));

        // Applied, they index every schema under its canonical text.
        let mut state = State::default();
        for (i, (r, p)) in raw.iter().zip(parallel).enumerate() {
            state.apply_decoded(i as i64 + 1, r, p);
        }
        assert_eq!(state.schema_count(), 1000);
        assert_eq!(state.offset, 1000);
        let key = ContentKey {
            canonical: Arc::from(
                r#"{"type":"record","name":"R999","fields":[{"name":"f999","type":"int"}]}"#,
            ),
            schema_type: None,
            references: vec![],
        };
        assert_eq!(state.content_ids.get(&key).map(|ids| ids.len()), Some(1));
    }
}
