//! A schema a client submits (register, lookup, compatibility check), on its way to being
//! compared with what the registry holds: [`SubmittedSchema`] as sent, [`ResolvedSchema`] once
//! its type and references are checked against the state, [`PreparedSchema`] once parsed.
//!
//! Resolving reads the state; parsing, the expensive part for a big schema, does not, so callers
//! can run it without the state's lock.

use std::sync::Arc;

use super::avro::{self, ParsedSchema};
use super::error::RegistryError;
use super::fingerprint::{self, Submission};
use super::ids::VersionSelector;
use super::query::{self, reference_texts};
use super::record::Reference;
use super::state::{ContentKey, State};

/// A schema as a client submitted it.
#[derive(Debug, Clone, Default)]
pub struct SubmittedSchema {
    pub schema: String,
    pub schema_type: Option<String>,
    pub references: Vec<Reference>,
}

/// A submitted schema's type and references, resolved against the state: everything parsing
/// it needs from the state. Copied out (the texts are shared, not copied) so that the parse
/// can run without the state's lock.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedSchema {
    schema_type: Option<String>,
    /// As stored: `-1` resolved to the concrete version.
    references: Vec<Reference>,
    /// The texts of every schema reachable through the references, dependencies first.
    ref_texts: Vec<Arc<str>>,
}

/// A submitted schema, parsed, with the key that identifies its content.
#[derive(Debug)]
pub struct PreparedSchema {
    pub parsed: ParsedSchema,
    pub key: ContentKey,
}

impl PreparedSchema {
    /// The references as stored: `-1` resolved to the concrete version.
    pub fn references(&self) -> &[Reference] {
        &self.key.references
    }
}

/// A submission parsed before its command was decided (so not under the writer), with what the
/// parse depended on. The command uses it only if the state still resolves the submission the
/// same way ([`prepare`]).
#[derive(Debug, Clone)]
pub struct Preparsed {
    resolved: ResolvedSchema,
    normalize: bool,
    prepared: Arc<PreparedSchema>,
}

impl Preparsed {
    pub fn new(resolved: ResolvedSchema, normalize: bool, prepared: Arc<PreparedSchema>) -> Self {
        Preparsed {
            resolved,
            normalize,
            prepared,
        }
    }

    /// Whether `state` still resolves `input` as this parse did, with the same `normalize`.
    pub fn holds(&self, state: &State, input: &SubmittedSchema, normalize: bool) -> bool {
        resolve(state, input).is_ok_and(|r| self.parsed_as(&r, normalize))
    }

    /// Whether this parse is the one `resolved` and `normalize` would give.
    fn parsed_as(&self, resolved: &ResolvedSchema, normalize: bool) -> bool {
        self.normalize == normalize && self.resolved == *resolved
    }
}

/// Resolves and parses a submitted schema in one go (when the state's lock is held anyway);
/// a submission parsed ahead (`preparsed`) or seen before is not parsed again. A new one is
/// not kept: the write path sees mostly schemas that are new, and keeping each would fill the
/// map with texts seen once (the next identical submission, a producer restarting, is kept by
/// the read-only paths).
pub fn prepare(
    state: &State,
    input: &SubmittedSchema,
    normalize: bool,
    preparsed: Option<&Preparsed>,
) -> Result<Arc<PreparedSchema>, RegistryError> {
    let resolved = resolve(state, input)?;
    if let Some(p) = preparsed.filter(|p| p.parsed_as(&resolved, normalize)) {
        return Ok(p.prepared.clone());
    }
    match resolved.parsed_before(&input.schema, normalize) {
        Some(prepared) => Ok(prepared),
        None => Ok(Arc::new(resolved.parse(&input.schema, normalize)?)),
    }
}

/// The state-reading half of [`prepare`]: the schema type checked and the references resolved.
pub fn resolve(state: &State, input: &SubmittedSchema) -> Result<ResolvedSchema, RegistryError> {
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
    let ref_texts = reference_texts(state, &references)?;
    Ok(ResolvedSchema {
        schema_type,
        references,
        ref_texts,
    })
}

impl ResolvedSchema {
    /// The pure half of [`prepare`]: parses `text`, the submitted schema, within the size limits
    /// of [`avro::parse_submitted`].
    pub fn parse(&self, text: &str, normalize: bool) -> Result<PreparedSchema, RegistryError> {
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
        Ok(PreparedSchema { parsed, key })
    }

    /// What parsing `text` produced the last time exactly this was submitted, if that is
    /// still known ([`fingerprint`]): no parse needed.
    pub fn parsed_before(&self, text: &str, normalize: bool) -> Option<Arc<PreparedSchema>> {
        fingerprint::shared().get(&self.submission(text, normalize))
    }

    /// Keeps `prepared`, the parse of `text`, for the next identical submission.
    pub fn keep(&self, text: &str, normalize: bool, prepared: Arc<PreparedSchema>) {
        fingerprint::shared().insert(&self.submission(text, normalize), prepared);
    }

    /// [`ResolvedSchema::parse`], kept for the next identical submission.
    pub fn parse_and_keep(
        &self,
        text: &str,
        normalize: bool,
    ) -> Result<Arc<PreparedSchema>, RegistryError> {
        let prepared = Arc::new(self.parse(text, normalize)?);
        fingerprint::shared().insert(&self.submission(text, normalize), prepared.clone());
        Ok(prepared)
    }

    fn submission<'a>(&'a self, text: &'a str, normalize: bool) -> Submission<'a> {
        Submission {
            text,
            schema_type: self.schema_type.as_deref(),
            references: &self.references,
            ref_texts: &self.ref_texts,
            normalize,
        }
    }
}

/// The references with `-1` (latest live version) replaced by the version it names now, as
/// Confluent stores them.
fn concrete_references(state: &State, refs: &[Reference]) -> Result<Vec<Reference>, RegistryError> {
    refs.iter()
        .map(|r| {
            if r.version != -1 && r.version < 1 {
                return Err(query::reference_not_found(r));
            }
            // `-1` resolves among live versions only; an explicit version may be soft-deleted.
            let deleted = r.version != -1;
            let selector = VersionSelector::of_reference(r.version);
            let v = query::find_version(state, &r.subject, selector, deleted)
                .map_err(|_| query::reference_not_found(r))?;
            Ok(Reference {
                version: v.version.get(),
                ..r.clone()
            })
        })
        .collect()
}
