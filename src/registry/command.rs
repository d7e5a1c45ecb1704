//! Write operations: each checks a request against the current [`State`] and returns the
//! records to append. Pure: no I/O, no clock. The caller appends the records and lets the state
//! apply them from the log, so a command never changes state directly.

use std::collections::HashSet;
use std::sync::Arc;

use super::avro::{self, ParsedSchema};
use super::compat::{self, AvroSchemaRef, CompatLevel};
use super::error::RegistryError;
use super::mode::Mode;
use super::record::{
    ClearSubjectValue, ConfigValue, DeleteSubjectValue, ModeValue, Record, Reference, SchemaValue,
};
use super::state::{ContentKey, SchemaEntry, State, SubjectEntry, VersionEntry};

/// References may nest; this bounds the chain so a cycle or a hostile chain cannot recurse
/// without end.
const MAX_REFERENCE_DEPTH: usize = 32;

/// `latest`/`-1` or a positive version number, as it appears in a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSelector {
    Latest,
    Number(i32),
}

impl VersionSelector {
    /// As Confluent (Java `Integer.parseInt` after trimming): `01` and `+1` are version 1,
    /// `LATEST` is latest; the error shows the segment as sent.
    pub fn parse(s: &str) -> Result<Self, RegistryError> {
        // Java's `String.trim()`: ASCII control characters and space only.
        let t = s.trim_matches(|c: char| c <= ' ');
        if t.eq_ignore_ascii_case("latest") {
            return Ok(VersionSelector::Latest);
        }
        match t.parse::<i32>() {
            Ok(-1) => Ok(VersionSelector::Latest),
            Ok(n) if n >= 1 => Ok(VersionSelector::Number(n)),
            _ => Err(RegistryError::InvalidVersion(s.to_string())),
        }
    }
}

/// A schema as submitted by a client (register, lookup, compatibility check).
#[derive(Debug, Clone, Default)]
pub struct SchemaInput {
    pub schema: String,
    pub schema_type: Option<String>,
    pub references: Vec<Reference>,
}

/// A submitted schema, parsed, with the key that identifies its content.
pub struct Prepared {
    pub parsed: ParsedSchema,
    pub key: ContentKey,
}

impl Prepared {
    /// The references as stored: `-1` resolved to the concrete version.
    pub fn references(&self) -> &[Reference] {
        &self.key.references
    }
}

/// A register request: `id` and `version` are only honoured in IMPORT mode.
#[derive(Debug, Clone, Default)]
pub struct Register {
    pub subject: String,
    pub input: SchemaInput,
    pub id: Option<i32>,
    pub version: Option<i32>,
    pub normalize: bool,
}

#[derive(Debug)]
pub struct Registered {
    pub id: i32,
    pub version: i32,
    pub records: Vec<Record>,
}

/// Finds a subject's version, hiding soft-deleted ones unless `deleted`.
pub fn find_version<'s>(
    state: &'s State,
    subject: &str,
    selector: VersionSelector,
    deleted: bool,
) -> Result<&'s VersionEntry, RegistryError> {
    let s = live_subject(state, subject, deleted)?;
    let found = match selector {
        // `latest` is the latest live version even with `deleted`, as Confluent resolves it: a
        // fully soft-deleted subject answers 40402 `Version -1 not found.`
        VersionSelector::Latest => s.versions.values().rev().find(|v| !v.deleted),
        VersionSelector::Number(n) => s.versions.get(&n).filter(|v| deleted || !v.deleted),
    };
    found.ok_or_else(|| {
        RegistryError::VersionNotFound(match selector {
            // Confluent prints the parsed number: `latest` is -1.
            VersionSelector::Latest => "-1".into(),
            VersionSelector::Number(n) => n.to_string(),
        })
    })
}

/// A subject with at least one visible version.
pub fn live_subject<'s>(
    state: &'s State,
    subject: &str,
    deleted: bool,
) -> Result<&'s SubjectEntry, RegistryError> {
    state
        .subject(subject)
        .filter(|s| deleted || !s.is_soft_deleted())
        .ok_or_else(|| RegistryError::SubjectNotFound(subject.to_string()))
}

/// Parses a submitted schema against the current state (resolving its references).
pub fn prepare(
    state: &State,
    input: &SchemaInput,
    normalize: bool,
) -> Result<Prepared, RegistryError> {
    resolve_input(state, input)?.parse(&input.schema, normalize)
}

/// A submitted schema's type and references, resolved against the state: everything parsing
/// it needs from the state. Copied out (the texts are shared, not copied) so that the parse,
/// the expensive part for a big schema, can run without the state's lock.
#[derive(Debug, Clone)]
pub struct ResolvedInput {
    schema_type: Option<String>,
    /// As stored: `-1` resolved to the concrete version.
    references: Vec<Reference>,
    /// The texts of every schema reachable through the references, dependencies first.
    ref_texts: Vec<Arc<str>>,
}

/// The state-reading half of [`prepare`]: the schema type checked and the references resolved.
pub fn resolve_input(state: &State, input: &SchemaInput) -> Result<ResolvedInput, RegistryError> {
    // Case-sensitive, as Confluent: `avro` is refused. Schemata registers Avro only.
    let schema_type = match input.schema_type.as_deref() {
        None | Some("AVRO") => None,
        Some(t) => {
            return Err(RegistryError::InvalidSchema(format!(
                "Invalid schema type {t}"
            )))
        }
    };
    let references = concrete_references(state, &input.references)?;
    let ref_texts = resolve_references(state, &references)?;
    Ok(ResolvedInput {
        schema_type,
        references,
        ref_texts,
    })
}

impl ResolvedInput {
    /// The pure half of [`prepare`]: parses `text`, the submitted schema, within the size limits
    /// of [`avro::parse_submitted`].
    pub fn parse(&self, text: &str, normalize: bool) -> Result<Prepared, RegistryError> {
        let ref_strs: Vec<&str> = self.ref_texts.iter().map(|t| &**t).collect();
        let mut parsed = avro::parse_submitted(text, &ref_strs)
            .map_err(|e| RegistryError::InvalidSchema(e.0))?;
        // The state indexes every stored text by its canonical spelling; key what we would
        // store the same way, so a normalized schema matches its stored normalized twin.
        let mut key_text = parsed.canonical.clone();
        if normalize {
            let invalid = |e: avro::InvalidSchema| RegistryError::InvalidSchema(e.0);
            let json: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| RegistryError::InvalidSchema(format!("Invalid schema: {e}")))?;
            parsed.canonical = avro::normalized_text(&json).map_err(invalid)?;
            let normalized: serde_json::Value = serde_json::from_str(&parsed.canonical)
                .map_err(|e| RegistryError::InvalidSchema(format!("Invalid schema: {e}")))?;
            key_text = avro::canonical_text(&normalized).map_err(invalid)?;
        }
        let key = ContentKey {
            canonical: Arc::from(key_text.as_str()),
            schema_type: self.schema_type.clone(),
            references: self.references.clone(),
        };
        Ok(Prepared { parsed, key })
    }
}

/// The references with `-1` (latest live version) replaced by the version it names now, as
/// Confluent stores them.
fn concrete_references(state: &State, refs: &[Reference]) -> Result<Vec<Reference>, RegistryError> {
    refs.iter()
        .map(|r| {
            let selector = match r.version {
                -1 => VersionSelector::Latest,
                v if v >= 1 => VersionSelector::Number(v),
                _ => return Err(reference_not_found(r)),
            };
            // `-1` resolves among live versions only; an explicit version may be soft-deleted.
            let deleted = r.version != -1;
            let v = find_version(state, &r.subject, selector, deleted)
                .map_err(|_| reference_not_found(r))?;
            Ok(Reference {
                version: v.version,
                ..r.clone()
            })
        })
        .collect()
}

fn reference_not_found(r: &Reference) -> RegistryError {
    RegistryError::InvalidSchema(format!(
        "Invalid schema: No schema reference found for subject \"{}\" and version {}",
        r.subject, r.version
    ))
}

/// The texts of every schema reachable through `refs`, dependencies first.
fn resolve_references(state: &State, refs: &[Reference]) -> Result<Vec<Arc<str>>, RegistryError> {
    fn visit(
        state: &State,
        refs: &[Reference],
        depth: usize,
        seen: &mut HashSet<i32>,
        out: &mut Vec<Arc<str>>,
    ) -> Result<(), RegistryError> {
        if depth > MAX_REFERENCE_DEPTH {
            return Err(RegistryError::InvalidSchema(format!(
                "Invalid schema: references nest deeper than {MAX_REFERENCE_DEPTH}"
            )));
        }
        for r in refs {
            let selector = match r.version {
                -1 => VersionSelector::Latest,
                v => VersionSelector::Number(v),
            };
            let v = find_version(state, &r.subject, selector, true)
                .map_err(|_| reference_not_found(r))?;
            if seen.insert(v.schema.id) {
                visit(state, &v.schema.references, depth + 1, seen, out)?;
                out.push(v.schema.text.clone());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    visit(state, refs, 0, &mut HashSet::new(), &mut out)?;
    Ok(out)
}

/// The parsed form of a stored schema, built once and cached on the entry.
pub fn parsed_entry(state: &State, entry: &SchemaEntry) -> Option<Arc<ParsedSchema>> {
    parsed_with(entry, || resolve_references(state, &entry.references).ok())
}

/// [`parsed_entry`] with the reference texts supplied by `refs` (`None`: they do not resolve),
/// so that it can run without the state.
fn parsed_with(
    entry: &SchemaEntry,
    refs: impl FnOnce() -> Option<Vec<Arc<str>>>,
) -> Option<Arc<ParsedSchema>> {
    entry
        .parsed
        .get_or_init(|| {
            let refs = refs()?;
            let refs: Vec<&str> = refs.iter().map(|t| &**t).collect();
            match avro::parse(&entry.text, &refs) {
                Ok(p) => Some(Arc::new(p)),
                Err(e) => {
                    tracing::warn!(id = entry.id, error = %e, "stored schema does not parse");
                    None
                }
            }
        })
        .clone()
}

/// A stored version a check compares with, copied out of the state: the shared entry, and the
/// texts of its references if it has yet to be parsed (then the parse needs no state).
pub struct StoredVersion {
    version: i32,
    entry: Arc<SchemaEntry>,
    ref_texts: Option<Vec<Arc<str>>>,
}

impl StoredVersion {
    fn of(state: &State, v: &VersionEntry) -> Self {
        let ref_texts = match v.schema.parsed.get() {
            Some(_) => None,
            None => resolve_references(state, &v.schema.references).ok(),
        };
        StoredVersion {
            version: v.version,
            entry: v.schema.clone(),
            ref_texts,
        }
    }

    fn parsed(&self) -> Option<Arc<ParsedSchema>> {
        parsed_with(&self.entry, || self.ref_texts.clone())
    }
}

/// The compatibility level in force for a subject: its own, else global, else BACKWARD.
pub fn effective_level(state: &State, subject: &str) -> CompatLevel {
    [Some(subject), None]
        .into_iter()
        .filter_map(|s| state.config(s))
        .find_map(|c| c.compatibility_level.as_deref()?.parse().ok())
        .unwrap_or_default()
}

fn effective_normalize(state: &State, subject: &str) -> bool {
    [Some(subject), None]
        .into_iter()
        .filter_map(|s| state.config(s))
        .find_map(|c| c.normalize)
        .unwrap_or(false)
}

/// Checks `new` against the subject's live versions under `level`; messages, empty if fine.
/// `against` limits the check to one version (the `/compatibility/.../versions/{v}` endpoint).
pub fn incompatibilities(
    state: &State,
    subject: &str,
    new: &ParsedSchema,
    level: CompatLevel,
    against: Option<&VersionEntry>,
) -> Result<Vec<String>, RegistryError> {
    compare(level, new, &versions_to_check(state, subject, against))
}

fn versions_to_check(
    state: &State,
    subject: &str,
    against: Option<&VersionEntry>,
) -> Vec<StoredVersion> {
    match against {
        Some(v) => vec![StoredVersion::of(state, v)],
        None => state
            .subject(subject)
            .map(|s| s.live().map(|v| StoredVersion::of(state, v)).collect())
            .unwrap_or_default(),
    }
}

/// Compares `new` with `previous` (oldest first; those that do not parse are left out) under
/// `level`. A check over [`compat::MAX_STEPS`] is refused as an invalid schema, for the
/// reasons given at [`compat::TooComplex`].
fn compare(
    level: CompatLevel,
    new: &ParsedSchema,
    previous: &[StoredVersion],
) -> Result<Vec<String>, RegistryError> {
    let parsed: Vec<(i32, &str, Arc<ParsedSchema>)> = previous
        .iter()
        .filter_map(|v| Some((v.version, &*v.entry.text, v.parsed()?)))
        .collect();
    let refs: Vec<(i32, AvroSchemaRef<'_>, &str)> = parsed
        .iter()
        .map(|(version, text, p)| {
            (
                *version,
                AvroSchemaRef {
                    root: &p.schema,
                    refs: &p.refs,
                },
                *text,
            )
        })
        .collect();
    let new = AvroSchemaRef {
        root: &new.schema,
        refs: &new.refs,
    };
    compat::check(level, new, &refs).map_err(|e| RegistryError::InvalidSchema(e.to_string()))
}

/// A compatibility check (the `/compatibility` endpoints), in two halves so that the expensive
/// one runs without the state's lock: [`compat_check`] copies out what the check needs, then
/// [`CompatCheck::parse`] and [`CompatCheck::compare`] need no state.
pub struct CompatCheck {
    input: ResolvedInput,
    level: CompatLevel,
    /// The versions to compare with, oldest first, or why the requested one does not exist:
    /// reported only if the schema parses, as Confluent does.
    previous: Result<Vec<StoredVersion>, RegistryError>,
}

/// What checking `input` against `subject` (all its live versions, or the one `against`
/// selects) needs from the state.
pub fn compat_check(
    state: &State,
    subject: &str,
    input: &SchemaInput,
    against: Option<VersionSelector>,
) -> Result<CompatCheck, RegistryError> {
    let input = resolve_input(state, input)?;
    let previous = match against {
        // Confluent: a numbered version must exist (40402, never 40401); `latest` with no live
        // version, like no version at all, compares against nothing and is compatible.
        Some(VersionSelector::Number(n)) => state
            .subject(subject)
            .and_then(|e| e.versions.get(&n))
            .filter(|v| !v.deleted)
            .map(|v| vec![StoredVersion::of(state, v)])
            .ok_or_else(|| RegistryError::VersionNotFound(n.to_string())),
        Some(VersionSelector::Latest) => Ok(state
            .subject(subject)
            .and_then(|e| e.live().next_back())
            .map(|v| vec![StoredVersion::of(state, v)])
            .unwrap_or_default()),
        None => Ok(versions_to_check(state, subject, None)),
    };
    Ok(CompatCheck {
        input,
        level: effective_level(state, subject),
        previous,
    })
}

impl CompatCheck {
    /// Parses the submitted schema `text`; its errors are about the schema itself.
    pub fn parse(&self, text: &str, normalize: bool) -> Result<Prepared, RegistryError> {
        self.input.parse(text, normalize)
    }

    /// Compares the parsed schema with the versions: Confluent's messages, empty if compatible.
    pub fn compare(self, new: &Prepared) -> Result<Vec<String>, RegistryError> {
        compare(self.level, &new.parsed, &self.previous?)
    }
}

/// Registers a schema under a subject, or returns the id it already has there.
///
/// Follows Confluent: an explicit `id` needs IMPORT mode (and IMPORT needs one); the same
/// content reuses its global id; a schema present here only as soft-deleted versions gets a new
/// version with the same id, and those soft-deleted versions are removed for good.
pub fn register(state: &State, req: Register) -> Result<Registered, RegistryError> {
    let subject = &req.subject;
    let mode = state.effective_mode(subject);
    if !mode.accepts_writes() {
        return Err(read_only(subject));
    }
    let importing = mode == Mode::Import;
    // Confluent treats a negative id as "no id".
    let wanted_id = req.id.filter(|id| *id >= 0);
    match (wanted_id, importing) {
        (Some(_), false) => {
            return Err(RegistryError::NotPermitted(format!(
                "Subject {subject} is not in import mode"
            )))
        }
        (None, true) => {
            return Err(RegistryError::NotPermitted(format!(
                "Subject {subject} is not in read-write mode"
            )))
        }
        _ => {}
    }
    let normalize = req.normalize || effective_normalize(state, subject);
    let prepared = prepare(state, &req.input, normalize)?;
    let existing = state.subject(subject);
    let known_id = state.id_for_content(&prepared.key);

    // Re-registering what the subject already has (live) creates nothing and checks nothing.
    if let Some(v) = existing.and_then(|s| s.live().find(|v| Some(v.schema.id) == known_id)) {
        if wanted_id.is_none_or(|id| id == v.schema.id) {
            return Ok(Registered {
                id: v.schema.id,
                version: v.version,
                records: vec![],
            });
        }
    }

    if !importing {
        let level = effective_level(state, subject);
        let messages = incompatibilities(state, subject, &prepared.parsed, level, None)?;
        if !messages.is_empty() {
            return Err(RegistryError::Incompatible {
                subject: subject.clone(),
                messages,
            });
        }
    }

    let id = match wanted_id {
        Some(id) => {
            if state.schema(id).is_some() && Some(id) != known_id {
                return Err(RegistryError::NotPermitted(format!(
                    "Overwrite new schema with id {id} is not permitted."
                )));
            }
            id
        }
        None => match known_id {
            Some(id) => id,
            // Imports (or a taken-over log) may have used the top of the range.
            None => state.max_id().checked_add(1).ok_or_else(|| {
                RegistryError::NotPermitted("No schema ids left: id 2147483647 is in use".into())
            })?,
        },
    };
    let latest = existing
        .and_then(|s| s.versions.keys().next_back().copied())
        .unwrap_or(0);
    let next = latest.checked_add(1).ok_or_else(|| {
        RegistryError::NotPermitted(format!("Subject {subject} has no versions left"))
    });
    let version = match req.version.filter(|v| *v != 0 && *v != -1) {
        None => next?,
        // IMPORT keeps the source registry's numbering, gaps and overwrites included.
        Some(v) if importing && v >= 1 => v,
        Some(v) if Ok(v) == next => v,
        Some(v) if importing => return Err(RegistryError::InvalidVersion(v.to_string())),
        Some(_) => {
            return Err(RegistryError::InvalidSchema(
                "Version is not one more than previous version".into(),
            ))
        }
    };
    let mut records: Vec<Record> = existing
        .into_iter()
        .flat_map(|s| s.versions.values())
        .filter(|v| v.deleted && v.schema.id == id && v.version != version)
        .map(|v| Record::Schema {
            subject: subject.clone(),
            version: v.version,
            value: None,
        })
        .collect();
    let value = SchemaValue {
        subject: subject.clone(),
        version,
        id,
        schema_type: prepared.key.schema_type.clone(),
        references: prepared.references().to_vec(),
        schema: prepared.parsed.canonical,
        deleted: false,
        extra: Default::default(),
    };
    records.push(Record::Schema {
        subject: subject.clone(),
        version,
        value: Some(value),
    });
    Ok(Registered {
        id,
        version,
        records,
    })
}

fn read_only(subject: &str) -> RegistryError {
    RegistryError::NotPermitted(format!("Subject {subject} is in read-only mode"))
}

/// The lookup endpoint's first step: the subject must exist (with `deleted`, soft-deleted
/// counts); returns the submitted schema resolved and whether to normalize it. The parse
/// ([`ResolvedInput::parse`]) then needs no state, and [`lookup`] finds the version.
pub fn lookup_input(
    state: &State,
    subject: &str,
    input: &SchemaInput,
    normalize: bool,
    deleted: bool,
) -> Result<(ResolvedInput, bool), RegistryError> {
    live_subject(state, subject, deleted)?;
    let normalize = normalize || effective_normalize(state, subject);
    Ok((resolve_input(state, input)?, normalize))
}

/// Finds the version of `subject` holding this schema (the lookup endpoint).
pub fn lookup<'s>(
    state: &'s State,
    subject: &str,
    prepared: &Prepared,
    deleted: bool,
) -> Result<&'s VersionEntry, RegistryError> {
    let s = live_subject(state, subject, deleted)?;
    let id = state.id_for_content(&prepared.key);
    s.versions
        .values()
        .rev()
        .find(|v| (deleted || !v.deleted) && Some(v.schema.id) == id)
        .ok_or(RegistryError::SchemaNotFound(None))
}

fn check_writable(state: &State, subject: &str) -> Result<(), RegistryError> {
    if state.effective_mode(subject).accepts_writes() {
        Ok(())
    } else {
        Err(read_only(subject))
    }
}

fn check_unreferenced(state: &State, subject: &str, version: i32) -> Result<(), RegistryError> {
    if state.referenced_by(subject, version).is_empty() {
        Ok(())
    } else {
        Err(RegistryError::ReferenceExists {
            subject: subject.to_string(),
            version,
        })
    }
}

/// Deletes one version: soft first, then permanently (`permanent`) once soft-deleted.
pub fn delete_version(
    state: &State,
    subject: &str,
    selector: VersionSelector,
    permanent: bool,
) -> Result<(i32, Vec<Record>), RegistryError> {
    check_writable(state, subject)?;
    if let (false, VersionSelector::Number(n)) = (permanent, selector) {
        if state
            .subject(subject)
            .and_then(|s| s.versions.get(&n))
            .is_some_and(|v| v.deleted)
        {
            return Err(RegistryError::VersionSoftDeleted {
                subject: subject.to_string(),
                version: n,
            });
        }
    }
    // Confluent: 40401 only when the subject has no versions at all; a soft-deleted subject
    // answers 40402 for the version it cannot find.
    let s = state
        .subject(subject)
        .ok_or_else(|| RegistryError::SubjectNotFound(subject.to_string()))?;
    let v = match selector {
        VersionSelector::Latest => s.versions.values().rev().find(|v| permanent || !v.deleted),
        VersionSelector::Number(n) => s.versions.get(&n).filter(|v| permanent || !v.deleted),
    }
    .ok_or_else(|| {
        RegistryError::VersionNotFound(match selector {
            VersionSelector::Latest => "-1".into(),
            VersionSelector::Number(n) => n.to_string(),
        })
    })?;
    check_unreferenced(state, subject, v.version)?;
    let record = if permanent {
        if !v.deleted {
            return Err(RegistryError::VersionNotSoftDeleted {
                subject: subject.to_string(),
                version: v.version,
            });
        }
        Record::Schema {
            subject: subject.to_string(),
            version: v.version,
            value: None,
        }
    } else {
        soft_deleted(v, subject)
    };
    let mut records = vec![record];
    // The subject is gone with its last version: so are its own config and mode, as when the
    // whole subject is deleted permanently.
    if permanent && s.versions.len() == 1 {
        records.extend(subject_settings_tombstones(state, subject));
    }
    Ok((v.version, records))
}

/// Tombstones for a subject's own config and mode, where it has them.
fn subject_settings_tombstones(state: &State, subject: &str) -> Vec<Record> {
    let mut records = Vec::new();
    if state.config(Some(subject)).is_some() {
        records.push(Record::Config {
            subject: Some(subject.to_string()),
            value: None,
        });
    }
    if state.mode(Some(subject)).is_some() {
        records.push(Record::Mode {
            subject: Some(subject.to_string()),
            value: None,
        });
    }
    records
}

fn soft_deleted(v: &VersionEntry, subject: &str) -> Record {
    let mut value = v.record_value(subject);
    value.deleted = true;
    Record::Schema {
        subject: subject.to_string(),
        version: v.version,
        value: Some(value),
    }
}

/// Deletes a whole subject: soft first, then permanently once every version is soft-deleted.
/// Returns the versions deleted.
pub fn delete_subject(
    state: &State,
    subject: &str,
    permanent: bool,
) -> Result<(Vec<i32>, Vec<Record>), RegistryError> {
    check_writable(state, subject)?;
    let s = state
        .subject(subject)
        .ok_or_else(|| RegistryError::SubjectNotFound(subject.to_string()))?;
    for v in s.versions.values() {
        check_unreferenced(state, subject, v.version)?;
    }
    if permanent {
        if s.live().next().is_some() {
            return Err(RegistryError::SubjectNotSoftDeleted(subject.to_string()));
        }
        let versions: Vec<i32> = s.versions.keys().copied().collect();
        let mut records: Vec<Record> = versions
            .iter()
            .map(|&version| Record::Schema {
                subject: subject.to_string(),
                version,
                value: None,
            })
            .collect();
        records.extend(subject_settings_tombstones(state, subject));
        records.push(Record::ClearSubject {
            subject: subject.to_string(),
            value: Some(ClearSubjectValue {
                subject: subject.to_string(),
            }),
        });
        return Ok((versions, records));
    }
    if s.is_soft_deleted() {
        return Err(RegistryError::SubjectSoftDeleted(subject.to_string()));
    }
    let live: Vec<&VersionEntry> = s.live().collect();
    let mut records: Vec<Record> = live.iter().map(|v| soft_deleted(v, subject)).collect();
    let last = s.versions.keys().next_back().copied().unwrap_or(0);
    records.push(Record::DeleteSubject {
        subject: subject.to_string(),
        value: Some(DeleteSubjectValue {
            subject: subject.to_string(),
            version: last,
        }),
    });
    Ok((live.iter().map(|v| v.version).collect(), records))
}

/// Sets the compatibility level (and optionally `normalize`) globally or for one subject.
pub fn set_config(
    state: &State,
    subject: Option<&str>,
    level: Option<&str>,
    normalize: Option<bool>,
) -> Result<(ConfigValue, Vec<Record>), RegistryError> {
    let level = level
        .map(|l| {
            l.parse::<CompatLevel>()
                .map_err(|_| RegistryError::InvalidCompatibility)
        })
        .transpose()?;
    check_config_writable(state, subject)?;
    let mut value = state.config(subject).cloned().unwrap_or_default();
    if let Some(l) = level {
        value.compatibility_level = Some(l.to_string());
    }
    if normalize.is_some() {
        value.normalize = normalize;
    }
    let record = Record::Config {
        subject: subject.map(str::to_string),
        value: Some(value.clone()),
    };
    Ok((value, vec![record]))
}

/// Config writes follow the mode of their scope; the global config follows the global mode
/// (Confluent names the scope `null` then).
fn check_config_writable(state: &State, subject: Option<&str>) -> Result<(), RegistryError> {
    match subject {
        Some(s) => check_writable(state, s),
        None if state.mode(None).unwrap_or_default().accepts_writes() => Ok(()),
        None => Err(read_only("null")),
    }
}

/// Removes a subject's (or the global) config; returns what it was.
pub fn delete_config(
    state: &State,
    subject: Option<&str>,
) -> Result<(ConfigValue, Vec<Record>), RegistryError> {
    check_config_writable(state, subject)?;
    let old = match (state.config(subject), subject) {
        (Some(c), _) => c.clone(),
        // Confluent answers "subject not found" here, not 40408.
        (None, Some(s)) => return Err(RegistryError::SubjectNotFound(s.to_string())),
        (None, None) => ConfigValue::default(),
    };
    let record = Record::Config {
        subject: subject.map(str::to_string),
        value: None,
    };
    Ok((old, vec![record]))
}

/// Sets the mode globally or for one subject.
///
/// Entering IMPORT needs a scope without live subjects unless `force`; as Confluent does, the
/// soft-deleted versions in that scope are then removed for good, so imported ids and
/// versions cannot collide with leftovers.
pub fn set_mode(
    state: &State,
    subject: Option<&str>,
    mode: &str,
    force: bool,
) -> Result<(Mode, Vec<Record>), RegistryError> {
    let mode: Mode = mode.parse().map_err(|_| RegistryError::InvalidMode)?;
    let mut records = Vec::new();
    let entering_import = mode == Mode::Import
        && match subject {
            Some(s) => state.effective_mode(s) != Mode::Import,
            None => state.mode(None) != Some(Mode::Import),
        };
    if entering_import && !force {
        let in_scope: Vec<(&String, &SubjectEntry)> = state
            .subjects()
            .filter(|(name, _)| subject.is_none_or(|s| s == name.as_str()))
            .collect();
        if in_scope.iter().any(|(_, e)| !e.is_soft_deleted()) {
            return Err(RegistryError::NotPermitted(
                "Cannot import since found existing subjects".to_string(),
            ));
        }
        for (name, entry) in in_scope {
            for v in entry.versions.values() {
                check_unreferenced(state, name, v.version)?;
                records.push(Record::Schema {
                    subject: name.clone(),
                    version: v.version,
                    value: None,
                });
            }
        }
    }
    records.push(Record::Mode {
        subject: subject.map(str::to_string),
        value: Some(ModeValue {
            mode: mode.to_string(),
        }),
    });
    Ok((mode, records))
}

/// Removes a subject's mode; returns what it was.
pub fn delete_mode(state: &State, subject: &str) -> Result<(Mode, Vec<Record>), RegistryError> {
    // Confluent answers "subject not found" here, not 40409.
    let old = state
        .mode(Some(subject))
        .ok_or_else(|| RegistryError::SubjectNotFound(subject.to_string()))?;
    let record = Record::Mode {
        subject: Some(subject.to_string()),
        value: None,
    };
    Ok((old, vec![record]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::record::{GlobalKeyForm, RawRecord};

    #[test]
    fn soft_delete_keeps_fields_another_registry_wrote() {
        let mut state = State::default();
        state.apply_raw(
            1,
            &RawRecord {
                key: br#"{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}"#.to_vec(),
                value: Some(
                    br#"{"subject":"s","version":1,"id":7,"md5":"abc","metadata":{"k":1},"schema":"\"int\"","deleted":false}"#
                        .to_vec(),
                ),
            },
        );
        let (version, records) =
            delete_version(&state, "s", VersionSelector::Number(1), false).unwrap();
        assert_eq!(version, 1);
        let raw = records[0].encode(GlobalKeyForm::Omitted);
        let value: serde_json::Value = serde_json::from_slice(&raw.value.unwrap()).unwrap();
        assert_eq!(value["deleted"], true);
        assert_eq!(value["md5"], "abc");
        assert_eq!(value["metadata"]["k"], 1);
        assert_eq!(value["id"], 7);
    }

    #[test]
    fn version_selectors_parse_like_confluent() {
        for (s, want) in [
            ("latest", VersionSelector::Latest),
            ("LATEST", VersionSelector::Latest),
            ("-1", VersionSelector::Latest),
            ("01", VersionSelector::Number(1)),
            ("+2", VersionSelector::Number(2)),
            (" 3", VersionSelector::Number(3)),
        ] {
            assert_eq!(VersionSelector::parse(s), Ok(want), "{s}");
        }
        for s in ["0", "-2", "abc", "1.0", "2147483648", ""] {
            assert!(VersionSelector::parse(s).is_err(), "{s}");
        }
    }

    fn input(schema: &str) -> SchemaInput {
        SchemaInput {
            schema: schema.to_string(),
            ..Default::default()
        }
    }

    #[test]
    fn a_compat_check_works_from_its_snapshot_alone() {
        let mut state = State::default();
        let v1 = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
        state.apply(Record::schema(SchemaValue::new("s", 1, 1, v1.to_string())));
        let adds_b = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}]}"#;

        let check = compat_check(&state, "s", &input(adds_b), None).unwrap();
        // The state may change (here: go away) once the snapshot is taken.
        drop(state);
        let new = check.parse(adds_b, false).unwrap();
        let messages = check.compare(&new).unwrap();
        assert!(
            messages[0].contains("READER_FIELD_MISSING_DEFAULT_VALUE"),
            "{messages:?}"
        );

        // A missing version is reported only once the schema parses, as before the split.
        let state = State::default();
        let missing = Some(VersionSelector::Number(7));
        let check = compat_check(&state, "s", &input("{"), missing).unwrap();
        assert!(matches!(
            check.parse("{", false),
            Err(RegistryError::InvalidSchema(_))
        ));
        let check = compat_check(&state, "s", &input(v1), missing).unwrap();
        let new = check.parse(v1, false).unwrap();
        assert_eq!(
            check.compare(&new).unwrap_err(),
            RegistryError::VersionNotFound("7".into())
        );
    }
}
