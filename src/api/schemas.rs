//! `/schemas`: schemas by global id, and the cross-subject listing.

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use serde_json::json;

use super::auth::Viewer;
use super::error::ApiError;
use super::{json_bytes, ok, raw_schema, render, AppState, Params, PathParams, VersionBody};
use crate::registry::ids::{SchemaId, Subject};
use crate::registry::query;
use crate::registry::record::Reference;
use axum::body::Bytes;

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
fn parse_id(id: &str) -> Result<SchemaId, ApiError> {
    id.parse().map(SchemaId).map_err(|_| ApiError::NotFound)
}

#[derive(Serialize)]
struct SchemaById<'a> {
    #[serde(rename = "schemaType", skip_serializing_if = "Option::is_none")]
    schema_type: Option<&'a str>,
    schema: &'a str,
    #[serde(skip_serializing_if = "<[Reference]>::is_empty")]
    references: &'a [Reference],
    #[serde(rename = "maxId", skip_serializing_if = "Option::is_none")]
    max_id: Option<SchemaId>,
}

async fn by_id(
    State(node): State<AppState>,
    PathParams(id): PathParams<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let fetch_max = params.flag("fetchMaxId");
    node.read(|s| {
        let e = query::schema_by_id(s, id)?;
        let body = |max_id| SchemaById {
            schema_type: e.schema_type.as_deref(),
            schema: &e.text,
            references: &e.references,
            max_id,
        };
        if fetch_max {
            return Ok(ok(&body(Some(s.max_id()))));
        }
        // Without `maxId` the body is the entry's alone: rendered once, kept with it.
        let bytes = e.rendered.get_or_init(|| render(&body(None))).clone();
        Ok(json_bytes(Bytes::from_owner(bytes)))
    })
}

async fn text_by_id(
    State(node): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    node.read(|s| Ok(raw_schema(&query::schema_by_id(s, id)?.text)))
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
        let subjects: Vec<&Subject> = query::subjects_using(s, id, deleted)?
            .into_iter()
            .filter(|s| viewer.sees(s))
            .collect();
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
        let body: Vec<_> = query::versions_using(s, id, deleted)?
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
        let page: Vec<VersionBody> = query::versions_by_prefix(s, &prefix, deleted, latest_only)
            .filter(|(subject, _)| viewer.sees(subject))
            .skip(offset)
            .take(limit)
            .map(|(subject, v)| VersionBody::new(subject, v))
            .collect();
        ok(&page)
    }))
}
