//! Commands: each checks a request against the current [`State`] and returns the records to
//! append (registering, deleting versions and subjects, setting and removing config and mode).
//! Pure: no I/O, no clock. The caller appends the records and lets the state apply them from the
//! log, so a command never changes state directly. What commands read to decide is in
//! [`super::query`].

use super::compat::CompatibilityLevel;
use super::error::RegistryError;
use super::ids::{SchemaId, Subject, Version, VersionSelector};
use super::mode::Mode;
use super::query::{effective_level, effective_normalize, incompatibilities};
use super::record::{
    ClearSubjectValue, ConfigValue, DecodeOutcome, DeleteSubjectValue, ModeValue, RawRecord,
    Record, SchemaValue,
};
use super::state::{ContentKey, State, SubjectEntry, VersionEntry};
use super::submitted::{prepare, resolve, Preparsed, ResolvedSchema, SubmittedSchema};

/// A register request. `id` and `version` are as the client sent them, honoured only in IMPORT
/// mode (a negative id, and version 0 or -1, mean none).
#[derive(Debug, Clone)]
pub struct Register {
    pub subject: Subject,
    pub input: SubmittedSchema,
    pub id: Option<i32>,
    pub version: Option<i32>,
    pub normalize: bool,
    /// The schema parsed before the writer was taken, if it was ([`resolve_ahead`]).
    pub preparsed: Option<Preparsed>,
}

#[derive(Debug)]
pub struct Registered {
    pub id: SchemaId,
    pub version: Version,
    pub records: Vec<Record>,
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
    let wanted_id = req.id.filter(|id| *id >= 0).map(SchemaId);
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
    let prepared = prepare(state, &req.input, normalize, req.preparsed.as_ref())?;
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
        let messages = incompatibilities(state, subject, &prepared.parsed, level)?;
        if !messages.is_empty() {
            return Err(RegistryError::Incompatible {
                subject: subject.to_string(),
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
            None => state
                .max_id()
                .get()
                .checked_add(1)
                .map(SchemaId)
                .ok_or_else(|| {
                    RegistryError::NotPermitted(
                        "No schema ids left: id 2147483647 is in use".into(),
                    )
                })?,
        },
    };
    let latest = existing
        .and_then(|s| s.versions.keys().next_back().copied())
        .unwrap_or_default();
    let next = latest.get().checked_add(1).ok_or_else(|| {
        RegistryError::NotPermitted(format!("Subject {subject} has no versions left"))
    });
    let version = match req.version.filter(|v| *v != 0 && *v != -1) {
        None => Version(next?),
        // IMPORT keeps the source registry's numbering, gaps and overwrites included.
        Some(v) if importing && v >= 1 => Version(v),
        Some(v) if Ok(v) == next => Version(v),
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
        schema: prepared.parsed.canonical.clone(),
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

/// A registration resolved against the state before the writer is taken ([`resolve_ahead`]).
#[derive(Debug)]
pub struct Ahead {
    /// What [`register`] would parse the submission with.
    pub resolved: ResolvedSchema,
    pub normalize: bool,
    /// The plain case — READWRITE mode, no explicit `id` or `version`, live versions — in
    /// which [`register`] answers a schema that is a live version of the subject with its id,
    /// checking nothing and writing nothing ([`registered_id`]).
    pub plain: bool,
}

/// The state-reading half of a registration, done ahead of the writer so that the parse can
/// run without it (and be handed over in [`Register::preparsed`]), and a schema the subject
/// already has be answered without it. `None` if the submission does not resolve, which
/// [`register`] then reports in its turn.
pub fn resolve_ahead(state: &State, req: &Register) -> Option<Ahead> {
    let subject = &req.subject;
    let plain = has_live_versions(state, subject)
        && state.effective_mode(subject) == Mode::ReadWrite
        && req.id.is_none_or(|id| id < 0)
        && req.version.is_none_or(|v| v == 0 || v == -1);
    Some(Ahead {
        resolved: resolve(state, &req.input).ok()?,
        normalize: req.normalize || effective_normalize(state, subject),
        plain,
    })
}

/// Whether [`register`] decides `req` with lookups alone: the parse handed over still holds,
/// and the subject has no live versions to check the schema against.
pub fn is_quick(state: &State, req: &Register) -> bool {
    let Some(preparsed) = &req.preparsed else {
        return false;
    };
    let normalize = req.normalize || effective_normalize(state, &req.subject);
    !has_live_versions(state, &req.subject) && preparsed.holds(state, &req.input, normalize)
}

fn has_live_versions(state: &State, subject: &str) -> bool {
    state
        .subject(subject)
        .is_some_and(|s| s.live().next().is_some())
}

/// The id of `key`'s content if it is a live version of `subject`: what [`register`] answers
/// for it without writing anything.
pub fn registered_id(state: &State, subject: &str, key: &ContentKey) -> Option<SchemaId> {
    let id = state.id_for_content(key)?;
    state
        .subject(subject)?
        .live()
        .any(|v| v.schema.id == id)
        .then_some(id)
}

fn read_only(subject: &str) -> RegistryError {
    RegistryError::NotPermitted(format!("Subject {subject} is in read-only mode"))
}

fn check_writable(state: &State, subject: &str) -> Result<(), RegistryError> {
    if state.effective_mode(subject).accepts_writes() {
        Ok(())
    } else {
        Err(read_only(subject))
    }
}

fn check_unreferenced(state: &State, subject: &str, version: Version) -> Result<(), RegistryError> {
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
) -> Result<(Version, Vec<Record>), RegistryError> {
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
    .ok_or_else(|| selector.not_found())?;
    check_unreferenced(state, subject, v.version)?;
    let record = if permanent {
        if !v.deleted {
            return Err(RegistryError::VersionNotSoftDeleted {
                subject: subject.to_string(),
                version: v.version,
            });
        }
        Record::Schema {
            subject: Subject::unchecked(subject),
            version: v.version,
            value: None,
        }
    } else {
        soft_deleted(v, &Subject::unchecked(subject))
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
            subject: Some(Subject::unchecked(subject)),
            value: None,
        });
    }
    if state.mode(Some(subject)).is_some() {
        records.push(Record::Mode {
            subject: Some(Subject::unchecked(subject)),
            value: None,
        });
    }
    records
}

fn soft_deleted(v: &VersionEntry, subject: &Subject) -> Record {
    let mut value = v.record_value(subject);
    value.deleted = true;
    Record::Schema {
        subject: subject.clone(),
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
) -> Result<(Vec<Version>, Vec<Record>), RegistryError> {
    check_writable(state, subject)?;
    let s = state
        .subject(subject)
        .ok_or_else(|| RegistryError::SubjectNotFound(subject.to_string()))?;
    let name = Subject::unchecked(subject);
    for v in s.versions.values() {
        check_unreferenced(state, subject, v.version)?;
    }
    if permanent {
        if s.live().next().is_some() {
            return Err(RegistryError::SubjectNotSoftDeleted(subject.to_string()));
        }
        let versions: Vec<Version> = s.versions.keys().copied().collect();
        let mut records: Vec<Record> = versions
            .iter()
            .map(|&version| Record::Schema {
                subject: name.clone(),
                version,
                value: None,
            })
            .collect();
        records.extend(subject_settings_tombstones(state, subject));
        records.push(Record::ClearSubject {
            subject: name.clone(),
            value: Some(ClearSubjectValue { subject: name }),
        });
        return Ok((versions, records));
    }
    if s.is_soft_deleted() {
        return Err(RegistryError::SubjectSoftDeleted(subject.to_string()));
    }
    let live: Vec<&VersionEntry> = s.live().collect();
    let mut records: Vec<Record> = live.iter().map(|v| soft_deleted(v, &name)).collect();
    let last = s.versions.keys().next_back().copied().unwrap_or_default();
    records.push(Record::DeleteSubject {
        subject: name.clone(),
        value: Some(DeleteSubjectValue {
            subject: name,
            version: last,
        }),
    });
    Ok((live.iter().map(|v| v.version).collect(), records))
}

/// Sets the compatibility level (and optionally `normalize`) globally or for one subject.
pub fn set_config(
    state: &State,
    subject: Option<&Subject>,
    level: Option<CompatibilityLevel>,
    normalize: Option<bool>,
) -> Result<(ConfigValue, Vec<Record>), RegistryError> {
    let name = subject.map(Subject::as_str);
    check_config_writable(state, name)?;
    let mut value = state.config(name).cloned().unwrap_or_default();
    if let Some(l) = level {
        value.compatibility_level = Some(l.into());
    }
    if normalize.is_some() {
        value.normalize = normalize;
    }
    let record = Record::Config {
        subject: subject.cloned(),
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
        subject: subject.map(Subject::unchecked),
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
    subject: Option<&Subject>,
    mode: Mode,
    force: bool,
) -> Result<(Mode, Vec<Record>), RegistryError> {
    let mut records = Vec::new();
    let entering_import = mode == Mode::Import
        && match subject {
            Some(s) => state.effective_mode(s) != Mode::Import,
            None => state.mode(None) != Some(Mode::Import),
        };
    if entering_import && !force {
        let in_scope: Vec<(&Subject, &SubjectEntry)> = state
            .subjects()
            .filter(|(name, _)| subject.is_none_or(|s| s == *name))
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
        subject: subject.cloned(),
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
        subject: Some(Subject::unchecked(subject)),
        value: None,
    };
    Ok((old, vec![record]))
}

/// Records that say again what the state holds for each raw `_schemas` key in `keys`.
///
/// A leader re-appends them after reading a fenced record with one of those keys, because
/// compaction keeps a key's last record whether it counts or not: without a fresh counted
/// record behind it, a reader replaying the compacted log would lose the key's value. Keys the
/// state holds nothing for need nothing (a fenced record is read as nothing too), nor do keys
/// of events (DELETE_SUBJECT and CLEAR_SUBJECT: their effect is in the SCHEMA records).
pub fn restate(state: &State, keys: &[Vec<u8>]) -> Vec<Record> {
    keys.iter()
        .filter_map(|key| {
            let raw = RawRecord {
                key: key.clone(),
                value: None,
            };
            let DecodeOutcome::Record(record) = Record::decode(&raw) else {
                return None;
            };
            match record {
                Record::Schema {
                    subject, version, ..
                } => {
                    let entry = state.subject(&subject)?.versions.get(&version)?;
                    Some(Record::Schema {
                        value: Some(entry.record_value(&subject)),
                        subject,
                        version,
                    })
                }
                Record::Config { subject, .. } => {
                    let value = state.config(subject.as_deref())?.clone();
                    Some(Record::Config {
                        subject,
                        value: Some(value),
                    })
                }
                Record::Mode { subject, .. } => {
                    let mode = state.mode(subject.as_deref())?;
                    Some(Record::Mode {
                        subject,
                        value: Some(ModeValue {
                            mode: mode.to_string(),
                        }),
                    })
                }
                Record::DeleteSubject { .. } | Record::ClearSubject { .. } | Record::Noop => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::registry::record::{GlobalKeyForm, RawRecord, Reference};

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
            delete_version(&state, "s", VersionSelector::Number(Version(1)), false).unwrap();
        assert_eq!(version, Version(1));
        let raw = records[0].encode(GlobalKeyForm::Omitted);
        let value: serde_json::Value = serde_json::from_slice(&raw.value.unwrap()).unwrap();
        assert_eq!(value["deleted"], true);
        assert_eq!(value["md5"], "abc");
        assert_eq!(value["metadata"]["k"], 1);
        assert_eq!(value["id"], 7);
    }

    fn put(state: &mut State, offset: i64, subject: &str, version: i32, id: i32, schema: &str) {
        let key = format!(
            r#"{{"keytype":"SCHEMA","subject":"{subject}","version":{version},"magic":1}}"#
        );
        let value = serde_json::json!({
            "subject": subject, "version": version, "id": id, "schema": schema, "deleted": false
        });
        state.apply_raw(
            offset,
            &RawRecord {
                key: key.into_bytes(),
                value: Some(value.to_string().into_bytes()),
            },
        );
    }

    fn registration(schema: &str, references: Vec<Reference>) -> Register {
        Register {
            subject: Subject::new("orders".to_string()).unwrap(),
            input: SubmittedSchema {
                schema: schema.to_string(),
                schema_type: None,
                references,
            },
            id: None,
            version: None,
            normalize: false,
            preparsed: None,
        }
    }

    /// A parse made before the writer decides is used only while the state resolves the
    /// submission as it did then: here the referenced subject gained a version meanwhile.
    #[test]
    fn a_schema_parsed_ahead_is_used_only_if_it_still_resolves_the_same() {
        let address = |extra: &str| {
            format!(
                r#"{{"type":"record","name":"Address","fields":[{{"name":"city","type":"string"}}{extra}]}}"#
            )
        };
        let mut state = State::default();
        put(&mut state, 1, "address", 1, 1, &address(""));
        let order = r#"{"type":"record","name":"Order","fields":[{"name":"to","type":"Address"}]}"#;
        let refs = vec![Reference {
            name: "Address".into(),
            subject: "address".into(),
            version: -1,
        }];
        let ahead_of = |state: &State, text: &str| {
            let ahead = resolve_ahead(state, &registration(text, refs.clone())).unwrap();
            let prepared = ahead.resolved.parse(text, ahead.normalize).unwrap();
            Preparsed::new(ahead.resolved, ahead.normalize, Arc::new(prepared))
        };
        let stored = |registered: Registered| match registered.records.last() {
            Some(Record::Schema { value: Some(v), .. }) => v.clone(),
            other => panic!("no schema record: {other:?}"),
        };

        // Same state: the parse ahead is what gets registered (shown by handing over the parse
        // of another text, which only a used hand-over can register).
        let other =
            r#"{"type":"record","name":"Order","fields":[{"name":"from","type":"Address"}]}"#;
        let mut req = registration(order, refs.clone());
        req.preparsed = Some(ahead_of(&state, other));
        let v = stored(register(&state, req).unwrap());
        assert!(v.schema.contains(r#""from""#), "{}", v.schema);

        // `address` gains version 2: the reference now resolves to it, so the writer parses
        // again rather than register what was resolved against version 1.
        let ahead = ahead_of(&state, order);
        put(
            &mut state,
            2,
            "address",
            2,
            2,
            &address(r#",{"name":"zip","type":"string","default":""}"#),
        );
        let mut req = registration(order, refs);
        req.preparsed = Some(ahead);
        let v = stored(register(&state, req).unwrap());
        assert_eq!(v.references[0].version, 2);
    }

    /// Decided on the writer's task only while that is lookups alone: the parse handed over
    /// holds, and there are no versions to check the schema against.
    #[test]
    fn a_registration_is_quick_only_with_a_valid_parse_and_nothing_to_check() {
        let schema = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}"#;
        let mut state = State::default();
        let mut req = registration(schema, vec![]);
        assert!(!is_quick(&state, &req), "nothing parsed ahead");

        let ahead = resolve_ahead(&state, &req).unwrap();
        let prepared = Arc::new(ahead.resolved.parse(schema, ahead.normalize).unwrap());
        req.preparsed = Some(Preparsed::new(ahead.resolved, ahead.normalize, prepared));
        assert!(is_quick(&state, &req));

        let mut normalizing = registration(schema, vec![]);
        normalizing.normalize = true;
        normalizing.preparsed = req.preparsed.clone();
        assert!(
            !is_quick(&state, &normalizing),
            "parsed without normalizing"
        );

        put(&mut state, 1, "orders", 1, 1, schema);
        assert!(!is_quick(&state, &req), "a version to check against");
    }
}
