//! `/subjects`: registering, looking up, listing and deleting subject versions.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Viewer;
use super::error::ApiError;
use super::metrics::{Recorder, Registration};
use super::{off_the_runtime, ok, AppState, JsonBody, Params, PathParams, VersionBody};
use crate::node::Node;
use crate::registry::command::{self, Register};
use crate::registry::error::RegistryError;
use crate::registry::ids::{SchemaId, Subject, Version, VersionSelector};
use crate::registry::query::{self, Visibility};
use crate::registry::record::Reference;
use crate::registry::state::VersionEntry;
use crate::registry::submitted::{Preparsed, SubmittedSchema};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/subjects", get(list_subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route(
            "/subjects/{subject}/versions",
            get(list_versions).post(register),
        )
        .route(
            "/subjects/{subject}/versions/{version}",
            get(get_version).delete(delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(get_version_schema),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            get(referenced_by),
        )
}

/// A schema in a request body (register, lookup, compatibility). `metadata` and `ruleSet`
/// (Confluent data contracts) are accepted and ignored: Schemata does not implement them.
#[derive(Debug, Deserialize)]
pub struct SchemaBody {
    pub schema: Option<String>,
    #[serde(rename = "schemaType")]
    pub schema_type: Option<String>,
    #[serde(default)]
    pub references: Option<Vec<Reference>>,
    pub id: Option<i32>,
    pub version: Option<i32>,
    #[allow(dead_code)]
    pub metadata: Option<Value>,
    #[allow(dead_code)]
    #[serde(rename = "ruleSet")]
    pub rule_set: Option<Value>,
}

impl SchemaBody {
    pub fn input(self) -> Result<SubmittedSchema, ApiError> {
        let schema = self
            .schema
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| RegistryError::InvalidSchema("Empty schema".into()))?;
        Ok(SubmittedSchema {
            schema,
            schema_type: self.schema_type,
            references: self.references.unwrap_or_default(),
        })
    }
}

async fn list_subjects(
    State(node): State<AppState>,
    viewer: Viewer,
    params: Params,
) -> Result<Response, ApiError> {
    let visibility = Visibility::of(params.flag("deleted"), params.flag("deletedOnly"));
    let prefix = params.get("subjectPrefix").unwrap_or("");
    let (offset, limit) = params.page()?;
    Ok(node.read(|s| {
        let subjects: Vec<&Subject> = query::subjects(s, prefix, visibility)
            .filter(|name| viewer.sees(name))
            .skip(offset)
            .take(limit)
            .collect();
        ok(&subjects)
    }))
}

async fn list_versions(
    State(node): State<AppState>,
    PathParams(subject): PathParams<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let visibility = Visibility::of(params.flag("deleted"), params.flag("deletedOnly"));
    let (offset, limit) = params.page()?;
    let versions: Vec<Version> = node.read(|s| {
        query::versions(s, &subject, visibility)
            .map(|versions| versions.skip(offset).take(limit).collect())
    })?;
    Ok(ok(&versions))
}

async fn register(
    State(node): State<AppState>,
    recorder: Recorder,
    viewer: Viewer,
    PathParams(subject): PathParams<String>,
    params: Params,
    JsonBody(body): JsonBody<SchemaBody>,
) -> Result<Response, ApiError> {
    let subject = Subject::new(subject)?;
    viewer.may_reference(body.references.as_deref())?;
    let (id, version) = (body.id, body.version);
    let mut req = Register {
        subject,
        input: body.input()?,
        id,
        version,
        normalize: params.flag("normalize"),
        preparsed: None,
    };
    match before_writing(&node, &req).await {
        BeforeWriting::Registered(id) => {
            recorder.registration(Registration::Existing);
            return Ok(ok(&json!({ "id": id })));
        }
        BeforeWriting::Parsed(preparsed) => req.preparsed = Some(preparsed),
        BeforeWriting::Unparsed => {}
    }
    let quick = req.clone();
    let (id, registration) = node
        .write_quick_if(
            move |state| command::is_quick(state, &quick),
            move |state| {
                command::register(state, req.clone()).map(|r| {
                    let registration = if r.records.is_empty() {
                        Registration::Existing
                    } else if state.schema(r.id).is_none() {
                        Registration::NewId
                    } else {
                        Registration::NewVersion
                    };
                    ((r.id, registration), r.records)
                })
            },
        )
        .await?;
    recorder.registration(registration);
    Ok(ok(&json!({ "id": id })))
}

/// What a registration found out without the writer.
enum BeforeWriting {
    /// The id the subject already has for the schema: nothing to write.
    Registered(SchemaId),
    /// The schema parsed, for the writer to decide with.
    Parsed(Preparsed),
    /// Not parsed (the leader decides, or the submission does not resolve or parse): the writer
    /// parses, and reports what is wrong in its turn.
    Unparsed,
}

/// The read-only half of a registration, under the state's read lock alone and with the parse
/// off the async workers. Producers register their schema on every start, so most
/// registrations end here with the id the subject already has ([`command::resolve_ahead`]),
/// and the writer, with the round trip to the store it makes before deciding, is left to those
/// that may write. Those get the parse done here, in parallel, rather than by the one writer.
/// Only where this node writes the log itself: elsewhere the leader answers, as for any write.
async fn before_writing(node: &AppState, req: &Register) -> BeforeWriting {
    if !Node::decides_locally(node) {
        return BeforeWriting::Unparsed;
    }
    let Some(ahead) = node.read(|s| command::resolve_ahead(s, req)) else {
        return BeforeWriting::Unparsed;
    };
    let (resolved, normalize) = (ahead.resolved, ahead.normalize);
    let prepared = match resolved.parsed_before(&req.input.schema, normalize) {
        Some(prepared) => prepared,
        None => {
            let (text, resolved) = (req.input.schema.clone(), resolved.clone());
            match off_the_runtime(move || Ok(Arc::new(resolved.parse(&text, normalize)?))).await {
                Ok(prepared) => prepared,
                // Reported by the writer, after what it checks first (mode, ids).
                Err(_) => return BeforeWriting::Unparsed,
            }
        }
    };
    if ahead.plain {
        if let Some(id) = node.read(|s| command::registered_id(s, &req.subject, &prepared.key)) {
            // Kept for the next identical submission (a producer's restart), unlike a schema
            // about to become a new version.
            resolved.keep(&req.input.schema, normalize, prepared);
            return BeforeWriting::Registered(id);
        }
    }
    BeforeWriting::Parsed(Preparsed::new(resolved, normalize, prepared))
}

async fn lookup(
    State(node): State<AppState>,
    viewer: Viewer,
    PathParams(subject): PathParams<String>,
    params: Params,
    JsonBody(body): JsonBody<SchemaBody>,
) -> Result<Response, ApiError> {
    viewer.may_reference(body.references.as_deref())?;
    let input = body.input()?;
    let (normalize, deleted) = (params.flag("normalize"), params.flag("deleted"));
    // Parse without the state's lock and off the async workers; then find the version.
    let (resolved, normalize) =
        node.read(|s| query::resolve_for_lookup(s, &subject, &input, normalize, deleted))?;
    let prepared = match resolved.parsed_before(&input.schema, normalize) {
        Some(p) => p,
        None => {
            off_the_runtime(move || Ok(resolved.parse_and_keep(&input.schema, normalize)?)).await?
        }
    };
    node.read(|s| {
        let v = query::lookup(s, &subject, &prepared, deleted)?;
        Ok(VersionBody::rendered(&subject, v))
    })
}

/// Resolves `{subject}/versions/{version}` (honouring `?deleted`) and renders what it finds.
fn render_version(
    node: &AppState,
    (subject, version): (String, String),
    params: &Params,
    render: impl FnOnce(&str, &VersionEntry) -> Response,
) -> Result<Response, ApiError> {
    let selector = VersionSelector::parse(&version)?;
    let deleted = params.flag("deleted");
    node.read(|s| {
        let v = query::find_version(s, &subject, selector, deleted)?;
        Ok(render(&subject, v))
    })
}

async fn get_version(
    State(node): State<AppState>,
    PathParams(path): PathParams<(String, String)>,
    params: Params,
) -> Result<Response, ApiError> {
    render_version(&node, path, &params, VersionBody::rendered)
}

async fn get_version_schema(
    State(node): State<AppState>,
    PathParams(path): PathParams<(String, String)>,
    params: Params,
) -> Result<Response, ApiError> {
    render_version(&node, path, &params, |_, v| {
        super::raw_schema(&v.schema.text)
    })
}

async fn referenced_by(
    State(node): State<AppState>,
    PathParams((subject, version)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    let selector = VersionSelector::parse(&version)?;
    node.read(|s| Ok(ok(&query::referenced_by(s, &subject, selector)?)))
}

async fn delete_version(
    State(node): State<AppState>,
    recorder: Recorder,
    PathParams((subject, version)): PathParams<(String, String)>,
    params: Params,
) -> Result<Response, ApiError> {
    let selector = VersionSelector::parse(&version)?;
    let permanent = params.flag("permanent");
    let deleted = node
        .write(move |s| command::delete_version(s, &subject, selector, permanent))
        .await?;
    // A permanent delete follows a soft one: counting both would count the version twice.
    if !permanent {
        recorder.deleted(1);
    }
    Ok(ok(&deleted))
}

async fn delete_subject(
    State(node): State<AppState>,
    recorder: Recorder,
    PathParams(subject): PathParams<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let permanent = params.flag("permanent");
    let versions = node
        .write(move |s| command::delete_subject(s, &subject, permanent))
        .await?;
    if !permanent {
        recorder.deleted(versions.len());
    }
    Ok(ok(&versions))
}
