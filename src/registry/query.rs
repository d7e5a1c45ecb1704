//! Reads: what a request asks of the [`State`] without changing it. Which versions a request
//! sees (soft-deleted or not), which level and mode are in force, where a schema is used, what
//! a compatibility check compares with. Pure: the HTTP layer only renders what these return.

use std::collections::HashSet;
use std::sync::Arc;

use super::avro::{self, ParsedSchema};
use super::compat::{self, AvroSchemaRef, CompatibilityLevel};
use super::error::RegistryError;
use super::ids::{SchemaId, Subject, Version, VersionSelector};
use super::mode::Mode;
use super::record::{ConfigValue, RecordedLevel, Reference};
use super::state::{SchemaEntry, State, SubjectEntry, VersionEntry};
use super::submitted::{self, PreparedSchema, ResolvedSchema, SubmittedSchema};

/// References may nest; this bounds the chain so a cycle or a hostile chain cannot recurse
/// without end.
const MAX_REFERENCE_DEPTH: usize = 32;

/// Which subjects or versions a listing shows, from Confluent's `deleted` and `deletedOnly`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Live ones only (the default).
    Live,
    /// Soft-deleted ones too (`deleted=true`).
    All,
    /// Soft-deleted ones only (`deletedOnly=true`, which wins over `deleted`).
    DeletedOnly,
}

impl Visibility {
    pub fn of(deleted: bool, deleted_only: bool) -> Visibility {
        match (deleted_only, deleted) {
            (true, _) => Visibility::DeletedOnly,
            (false, true) => Visibility::All,
            (false, false) => Visibility::Live,
        }
    }

    fn shows(self, soft_deleted: bool) -> bool {
        match self {
            Visibility::Live => !soft_deleted,
            Visibility::All => true,
            Visibility::DeletedOnly => soft_deleted,
        }
    }
}

// ----- subjects and versions -----

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
    found.ok_or_else(|| selector.not_found())
}

/// Subject names starting with `prefix`, in order, as `visibility` shows them.
pub fn subjects<'s>(
    state: &'s State,
    prefix: &'s str,
    visibility: Visibility,
) -> impl Iterator<Item = &'s Subject> + 's {
    state
        .subjects()
        .filter(move |(name, e)| name.starts_with(prefix) && visibility.shows(e.is_soft_deleted()))
        .map(|(name, _)| name)
}

/// A subject's version numbers, in order, as `visibility` shows them. The subject must have a
/// live version unless soft-deleted ones are asked for.
pub fn versions<'s>(
    state: &'s State,
    subject: &str,
    visibility: Visibility,
) -> Result<impl Iterator<Item = Version> + 's, RegistryError> {
    let entry = live_subject(state, subject, visibility != Visibility::Live)?;
    Ok(entry
        .versions
        .values()
        .filter(move |v| visibility.shows(v.deleted))
        .map(|v| v.version))
}

/// Every subject version whose subject starts with `prefix` (the `/schemas` listing), in
/// subject then version order: soft-deleted ones only if `deleted`, and only each subject's
/// latest if `latest_only`.
pub fn versions_by_prefix<'s>(
    state: &'s State,
    prefix: &'s str,
    deleted: bool,
    latest_only: bool,
) -> impl Iterator<Item = (&'s Subject, &'s VersionEntry)> + 's {
    state
        .subjects()
        .filter(move |(name, _)| name.starts_with(prefix))
        .flat_map(move |(subject, entry)| {
            let mut visible = entry
                .versions
                .values()
                .filter(move |v| deleted || !v.deleted);
            let chosen: Box<dyn Iterator<Item = &VersionEntry>> = if latest_only {
                Box::new(visible.next_back().into_iter())
            } else {
                Box::new(visible)
            };
            chosen.map(move |v| (subject, v))
        })
}

/// Ids of the live schemas referencing the selected version (soft-deleted versions can be
/// selected: they may still be referenced).
pub fn referenced_by(
    state: &State,
    subject: &str,
    selector: VersionSelector,
) -> Result<Vec<SchemaId>, RegistryError> {
    let v = find_version(state, subject, selector, true)?;
    Ok(state.referenced_by(subject, v.version))
}

// ----- schemas by id -----

/// The schema for `id`. Soft-deleted schemas still resolve: consumers must read old data.
pub fn schema_by_id(state: &State, id: SchemaId) -> Result<&SchemaEntry, RegistryError> {
    state
        .schema(id)
        .map(|e| &**e)
        .ok_or(RegistryError::SchemaNotFound(Some(id)))
}

/// Subject versions using `id`, in (subject, version) order, hiding soft-deleted ones unless
/// `deleted`. An unknown id is "Schema not found" without the id, as Confluent words it here.
pub fn versions_using(
    state: &State,
    id: SchemaId,
    deleted: bool,
) -> Result<impl Iterator<Item = (&Subject, Version)>, RegistryError> {
    state
        .schema(id)
        .ok_or(RegistryError::SchemaNotFound(None))?;
    Ok(state
        .usages(id)
        .filter(move |(subject, version)| {
            deleted
                || state
                    .subject(subject)
                    .and_then(|e| e.versions.get(version))
                    .is_some_and(|v| !v.deleted)
        })
        .map(|(subject, version)| (subject, *version)))
}

/// The subjects using `id`, each once, as [`versions_using`] finds them.
pub fn subjects_using(
    state: &State,
    id: SchemaId,
    deleted: bool,
) -> Result<Vec<&Subject>, RegistryError> {
    let mut subjects: Vec<&Subject> = versions_using(state, id, deleted)?
        .map(|(s, _)| s)
        .collect();
    subjects.dedup();
    Ok(subjects)
}

// ----- lookup -----

/// The lookup endpoint's first step: the subject must exist (with `deleted`, soft-deleted
/// counts); returns the submitted schema resolved and whether to normalize it. The parse
/// ([`ResolvedSchema::parse`]) then needs no state, and [`lookup`] finds the version.
pub fn resolve_for_lookup(
    state: &State,
    subject: &str,
    input: &SubmittedSchema,
    normalize: bool,
    deleted: bool,
) -> Result<(ResolvedSchema, bool), RegistryError> {
    live_subject(state, subject, deleted)?;
    let normalize = normalize || effective_normalize(state, subject);
    Ok((submitted::resolve(state, input)?, normalize))
}

/// Finds the version of `subject` holding this schema (the lookup endpoint).
pub fn lookup<'s>(
    state: &'s State,
    subject: &str,
    prepared: &PreparedSchema,
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

// ----- config and mode in force -----

/// The compatibility level in force for a subject: its own, else global, else BACKWARD. A
/// level the registry does not know is passed over.
pub fn effective_level(state: &State, subject: &str) -> CompatibilityLevel {
    [Some(subject), None]
        .into_iter()
        .filter_map(|s| state.config(s))
        .find_map(|c| c.compatibility_level.as_ref()?.known())
        .unwrap_or_default()
}

/// Whether registrations and lookups normalize by default: the subject's setting, else the
/// global one, else not.
pub fn effective_normalize(state: &State, subject: &str) -> bool {
    [Some(subject), None]
        .into_iter()
        .filter_map(|s| state.config(s))
        .find_map(|c| c.normalize)
        .unwrap_or(false)
}

/// A config as `/config` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigView {
    /// As recorded (an unknown level is shown as written).
    pub level: RecordedLevel,
    pub normalize: Option<bool>,
}

impl ConfigView {
    /// The level of `own`, else of `fallback`, else the default; `normalize` of `own` only.
    pub fn of(own: Option<&ConfigValue>, fallback: Option<&ConfigValue>) -> ConfigView {
        let level = [own, fallback]
            .into_iter()
            .flatten()
            .find_map(|c| c.compatibility_level.clone())
            .unwrap_or_else(|| CompatibilityLevel::default().into());
        ConfigView {
            level,
            normalize: own.and_then(|c| c.normalize),
        }
    }
}

/// The global config.
pub fn global_config(state: &State) -> ConfigView {
    ConfigView::of(state.config(None), None)
}

/// A subject's own config; without one, the global config if `default_to_global`.
pub fn subject_config(
    state: &State,
    subject: &str,
    default_to_global: bool,
) -> Result<ConfigView, RegistryError> {
    match (state.config(Some(subject)), default_to_global) {
        (Some(c), _) => Ok(ConfigView::of(Some(c), state.config(None))),
        (None, true) => Ok(global_config(state)),
        (None, false) => Err(RegistryError::SubjectConfigNotFound(subject.to_string())),
    }
}

/// The global mode.
pub fn global_mode(state: &State) -> Mode {
    state.mode(None).unwrap_or_default()
}

/// A subject's mode: a global READONLY_OVERRIDE (in force for every subject), else its own,
/// else the global mode if `default_to_global`.
pub fn subject_mode(
    state: &State,
    subject: &str,
    default_to_global: bool,
) -> Result<Mode, RegistryError> {
    match (state.mode(Some(subject)), default_to_global) {
        _ if state.mode(None) == Some(Mode::ReadOnlyOverride) => Ok(Mode::ReadOnlyOverride),
        (Some(m), _) => Ok(m),
        (None, true) => Ok(global_mode(state)),
        (None, false) => Err(RegistryError::SubjectModeNotFound(subject.to_string())),
    }
}

// ----- references -----

pub(super) fn reference_not_found(r: &Reference) -> RegistryError {
    RegistryError::InvalidSchema(format!(
        "Invalid schema: No schema reference found for subject \"{}\" and version {}",
        r.subject, r.version
    ))
}

/// The texts of every schema reachable through `refs`, dependencies first.
pub(super) fn reference_texts(
    state: &State,
    refs: &[Reference],
) -> Result<Vec<Arc<str>>, RegistryError> {
    fn visit(
        state: &State,
        refs: &[Reference],
        depth: usize,
        seen: &mut HashSet<SchemaId>,
        out: &mut Vec<Arc<str>>,
    ) -> Result<(), RegistryError> {
        if depth > MAX_REFERENCE_DEPTH {
            return Err(RegistryError::InvalidSchema(format!(
                "Invalid schema: references nest deeper than {MAX_REFERENCE_DEPTH}"
            )));
        }
        for r in refs {
            let selector = VersionSelector::of_reference(r.version);
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

// ----- compatibility -----

/// A stored version a check compares with, copied out of the state: the shared entry, and the
/// texts of its references if it has yet to be parsed (then the parse needs no state).
pub struct StoredVersion {
    version: Version,
    entry: Arc<SchemaEntry>,
    ref_texts: Option<Vec<Arc<str>>>,
}

impl StoredVersion {
    fn of(state: &State, v: &VersionEntry) -> Self {
        let ref_texts = match v.schema.parsed.get() {
            Some(_) => None,
            None => reference_texts(state, &v.schema.references).ok(),
        };
        StoredVersion {
            version: v.version,
            entry: v.schema.clone(),
            ref_texts,
        }
    }

    /// The parsed form, built once and cached on the shared entry; `None` if it does not parse
    /// (or its references no longer resolve).
    fn parsed(&self) -> Option<Arc<ParsedSchema>> {
        self.entry
            .parsed
            .get_or_init(|| {
                let refs: Vec<&str> = self.ref_texts.as_ref()?.iter().map(|t| &**t).collect();
                match avro::parse(&self.entry.text, &refs) {
                    // Checks use the schema only; the entry keeps the text. Held for as long as
                    // the entry lives, a second copy of it is memory for nothing.
                    Ok(p) => Some(Arc::new(ParsedSchema {
                        canonical: String::new(),
                        ..p
                    })),
                    Err(e) => {
                        tracing::warn!(id = self.entry.id.get(), error = %e, "stored schema does not parse");
                        None
                    }
                }
            })
            .clone()
    }
}

/// The subject's live versions, oldest first, as a check compares with them.
fn live_versions(state: &State, subject: &str) -> Vec<StoredVersion> {
    state
        .subject(subject)
        .map(|s| s.live().map(|v| StoredVersion::of(state, v)).collect())
        .unwrap_or_default()
}

/// Checks `new` against the subject's live versions under `level`; messages, empty if fine.
pub fn incompatibilities(
    state: &State,
    subject: &str,
    new: &ParsedSchema,
    level: CompatibilityLevel,
) -> Result<Vec<String>, RegistryError> {
    compare(level, new, &live_versions(state, subject))
}

/// Compares `new` with `previous` (oldest first; those that do not parse are left out) under
/// `level`. A check over [`compat::MAX_STEPS`] is refused as an invalid schema, for the
/// reasons given at [`compat::TooComplex`].
fn compare(
    level: CompatibilityLevel,
    new: &ParsedSchema,
    previous: &[StoredVersion],
) -> Result<Vec<String>, RegistryError> {
    let parsed: Vec<(i32, &str, Arc<ParsedSchema>)> = previous
        .iter()
        .filter_map(|v| Some((v.version.get(), &*v.entry.text, v.parsed()?)))
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
/// one runs without the state's lock: [`compatibility_check`] copies out what the check needs,
/// then [`CompatibilityCheck::parse`] and [`CompatibilityCheck::compare`] need no state.
pub struct CompatibilityCheck {
    input: ResolvedSchema,
    level: CompatibilityLevel,
    /// The versions to compare with, oldest first, or why the requested one does not exist:
    /// reported only if the schema parses, as Confluent does.
    previous: Result<Vec<StoredVersion>, RegistryError>,
}

/// What checking `input` against `subject` (all its live versions, or the one `against`
/// selects) needs from the state.
pub fn compatibility_check(
    state: &State,
    subject: &str,
    input: &SubmittedSchema,
    against: Option<VersionSelector>,
) -> Result<CompatibilityCheck, RegistryError> {
    let input = submitted::resolve(state, input)?;
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
        None => Ok(live_versions(state, subject)),
    };
    Ok(CompatibilityCheck {
        input,
        level: effective_level(state, subject),
        previous,
    })
}

impl CompatibilityCheck {
    /// Parses the submitted schema `text`; its errors are about the schema itself.
    pub fn parse(&self, text: &str, normalize: bool) -> Result<PreparedSchema, RegistryError> {
        self.input.parse(text, normalize)
    }

    /// [`ResolvedSchema::parsed_before`]: the submitted schema's parse, if it was seen before.
    pub fn parsed_before(&self, text: &str, normalize: bool) -> Option<Arc<PreparedSchema>> {
        self.input.parsed_before(text, normalize)
    }

    /// [`CompatibilityCheck::parse`], kept for the next identical submission.
    pub fn parse_and_keep(
        &self,
        text: &str,
        normalize: bool,
    ) -> Result<Arc<PreparedSchema>, RegistryError> {
        self.input.parse_and_keep(text, normalize)
    }

    /// Whether comparing `new` is quick enough for an async worker: a small schema against a
    /// few versions, all parsed already.
    pub fn is_quick(&self, new: &PreparedSchema) -> bool {
        const FEW: usize = 4;
        const SMALL: usize = 16 * 1024;
        new.parsed.canonical.len() <= SMALL
            && self.previous.as_ref().is_ok_and(|p| {
                p.len() <= FEW
                    && p.iter().all(|v| {
                        v.entry.text.len() <= SMALL
                            && v.entry.parsed.get().is_some_and(Option::is_some)
                    })
            })
    }

    /// Compares the parsed schema with the versions: Confluent's messages, empty if compatible.
    pub fn compare(self, new: &PreparedSchema) -> Result<Vec<String>, RegistryError> {
        compare(self.level, &new.parsed, &self.previous?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::record::{Record, SchemaValue};

    fn input(schema: &str) -> SubmittedSchema {
        SubmittedSchema {
            schema: schema.to_string(),
            ..Default::default()
        }
    }

    #[test]
    fn a_compatibility_check_works_from_its_snapshot_alone() {
        let mut state = State::default();
        let v1 = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
        state.apply(Record::schema(SchemaValue::new("s", 1, 1, v1.to_string())));
        let adds_b = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}]}"#;

        let check = compatibility_check(&state, "s", &input(adds_b), None).unwrap();
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
        let missing = Some(VersionSelector::Number(Version(7)));
        let check = compatibility_check(&state, "s", &input("{"), missing).unwrap();
        assert!(matches!(
            check.parse("{", false),
            Err(RegistryError::InvalidSchema(_))
        ));
        let check = compatibility_check(&state, "s", &input(v1), missing).unwrap();
        let new = check.parse(v1, false).unwrap();
        assert_eq!(
            check.compare(&new).unwrap_err(),
            RegistryError::VersionNotFound("7".into())
        );
    }

    #[test]
    fn an_unknown_recorded_level_gives_way_to_the_next_scope_and_is_shown_as_written() {
        let mut state = State::default();
        let config = |level: &str| {
            Some(
                serde_json::from_value::<ConfigValue>(
                    serde_json::json!({"compatibilityLevel": level}),
                )
                .unwrap(),
            )
        };
        state.apply(Record::Config {
            subject: None,
            value: config("FULL"),
        });
        state.apply(Record::Config {
            subject: Some(Subject::unchecked("s")),
            value: config("SOMEDAY"),
        });
        assert_eq!(effective_level(&state, "s"), CompatibilityLevel::Full);
        let shown = subject_config(&state, "s", false).unwrap();
        assert_eq!(shown.level.as_str(), "SOMEDAY");
        // Rewritten, the record keeps it.
        let stored = serde_json::to_string(state.config(Some("s")).unwrap()).unwrap();
        assert_eq!(stored, r#"{"compatibilityLevel":"SOMEDAY"}"#);
    }
}
