//! `/schemas`: schemas by global id, and the cross-subject listing.

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use serde_json::json;

use super::auth::Viewer;
use super::error::ApiError;
use super::{ok, raw_schema, AppState, Params, PathParams, VersionBody};
use crate::registry::error::RegistryError;
use crate::registry::record::Reference;
use crate::registry::state::{SchemaEntry, State as RegistryState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/schemas", get(list))
        .route("/schemas/types", get(|| async { ok(&["AVRO"]) }))
        .route("/schemas/ids/{id}", get(by_id))
        .route("/schemas/ids/{id}/schema", get(text_by_id))
        .route("/schemas/ids/{id}/subjects", get(subjects_by_id))
        .route("/schemas/ids/{id}/versions", get(versions_by_id))
}

/// `/schemas/ids/{id}` takes an integer; anything else matches no resource, as in Jersey.
fn parse_id(id: &str) -> Result<i32, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

/// The schema for `id`. Soft-deleted schemas still resolve: consumers must read old data.
fn visible(s: &RegistryState, id: i32) -> Result<&SchemaEntry, ApiError> {
    s.schema(id)
        .map(|e| &**e)
        .ok_or_else(|| RegistryError::SchemaNotFound(Some(id)).into())
}

#[derive(Serialize)]
struct SchemaById<'a> {
    #[serde(rename = "schemaType", skip_serializing_if = "Option::is_none")]
    schema_type: Option<&'a str>,
    schema: &'a str,
    #[serde(skip_serializing_if = "<[Reference]>::is_empty")]
    references: &'a [Reference],
    #[serde(rename = "maxId", skip_serializing_if = "Option::is_none")]
    max_id: Option<i32>,
}

async fn by_id(
    State(node): State<AppState>,
    PathParams(id): PathParams<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let fetch_max = params.flag("fetchMaxId");
    node.read(|s| {
        let e = visible(s, id)?;
        Ok(ok(&SchemaById {
            schema_type: e.schema_type.as_deref(),
            schema: &e.text,
            references: &e.references,
            max_id: fetch_max.then(|| s.max_id()),
        }))
    })
}

async fn text_by_id(
    State(node): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    node.read(|s| Ok(raw_schema(&visible(s, id)?.text)))
}

/// Subject versions using `id`, hiding soft-deleted ones unless `deleted`. An unknown id is
/// "Schema not found" without the id, as Confluent words it on these endpoints.
fn uses(s: &RegistryState, id: i32, deleted: bool) -> Result<Vec<(String, i32)>, ApiError> {
    s.schema(id).ok_or(RegistryError::SchemaNotFound(None))?;
    Ok(s.usages(id)
        .filter(|(subject, version)| {
            deleted
                || s.subject(subject)
                    .and_then(|e| e.versions.get(version))
                    .is_some_and(|v| !v.deleted)
        })
        .cloned()
        .collect())
}

async fn subjects_by_id(
    State(node): State<AppState>,
    viewer: Viewer,
    PathParams(id): PathParams<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let deleted = params.flag("deleted");
    node.read(|s| {
        let mut subjects: Vec<String> = uses(s, id, deleted)?
            .into_iter()
            .map(|(s, _)| s)
            .filter(|s| viewer.sees(s))
            .collect();
        subjects.dedup();
        Ok(ok(&subjects))
    })
}

async fn versions_by_id(
    State(node): State<AppState>,
    viewer: Viewer,
    PathParams(id): PathParams<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let deleted = params.flag("deleted");
    node.read(|s| {
        let body: Vec<_> = uses(s, id, deleted)?
            .into_iter()
            .filter(|(subject, _)| viewer.sees(subject))
            .map(|(subject, version)| json!({ "subject": subject, "version": version }))
            .collect();
        Ok(ok(&body))
    })
}

async fn list(
    State(node): State<AppState>,
    viewer: Viewer,
    params: Params,
) -> Result<Response, ApiError> {
    let prefix = params.get("subjectPrefix").unwrap_or("").to_string();
    let deleted = params.flag("deleted");
    let latest_only = params.flag("latestOnly");
    let (offset, limit) = params.page()?;
    // Page first, render only the page: the read lock is held for what is returned, not for
    // every version in the registry.
    Ok(node.read(|s| {
        let page: Vec<VersionBody> = s
            .subjects()
            .filter(|(name, _)| name.starts_with(&prefix) && viewer.sees(name))
            .flat_map(|(subject, entry)| {
                let mut visible = entry.versions.values().filter(|v| deleted || !v.deleted);
                let chosen: Box<dyn Iterator<Item = _>> = if latest_only {
                    Box::new(visible.next_back().into_iter())
                } else {
                    Box::new(visible)
                };
                chosen.map(move |v| VersionBody::new(subject, v))
            })
            .skip(offset)
            .take(limit)
            .collect();
        ok(&page)
    }))
}
