//! `/compatibility`: would this schema be accepted? What CI pipelines call before a deploy.

use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::json;

use super::auth::Viewer;
use super::error::ApiError;
use super::subjects::SchemaBody;
use super::{ok, AppState, JsonBody, Params, PathParams};
use crate::registry::command::{self, VersionSelector};
use crate::registry::error::RegistryError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(against_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(against_one),
        )
}

async fn check(
    node: &AppState,
    subject: &str,
    version: Option<&str>,
    params: &Params,
    body: SchemaBody,
) -> Result<Response, ApiError> {
    let selector = version.map(VersionSelector::parse).transpose()?;
    let input = body.input()?;
    let normalize = params.flag("normalize");
    let verbose = params.flag("verbose");
    let messages = node.read(|s| -> Result<Vec<String>, ApiError> {
        let prepared = match command::prepare(s, &input, normalize) {
            Ok(p) => p,
            // Verbose callers get the parse error as the verdict, as Confluent answers.
            Err(e @ RegistryError::InvalidSchema(_)) if verbose => return Ok(vec![e.to_string()]),
            Err(e) => return Err(e.into()),
        };
        // Confluent: a numbered version must exist (40402, never 40401); `latest` with no live
        // version, like no version at all, compares against nothing and is compatible.
        let against = match selector {
            Some(VersionSelector::Number(n)) => Some(
                s.subject(subject)
                    .and_then(|e| e.versions.get(&n))
                    .filter(|v| !v.deleted)
                    .ok_or_else(|| RegistryError::VersionNotFound(n.to_string()))?,
            ),
            Some(VersionSelector::Latest) => {
                match s.subject(subject).and_then(|e| e.live().next_back()) {
                    Some(v) => Some(v),
                    None => return Ok(vec![]),
                }
            }
            None => None,
        };
        let level = command::effective_level(s, subject);
        Ok(command::incompatibilities(
            s,
            subject,
            &prepared.parsed,
            level,
            against,
        ))
    })?;
    let mut body = json!({ "is_compatible": messages.is_empty() });
    if verbose {
        body["messages"] = json!(messages);
    }
    Ok(ok(&body))
}

async fn against_all(
    State(node): State<AppState>,
    viewer: Viewer,
    PathParams(subject): PathParams<String>,
    params: Params,
    JsonBody(body): JsonBody<SchemaBody>,
) -> Result<Response, ApiError> {
    viewer.may_reference(body.references.as_deref())?;
    check(&node, &subject, None, &params, body).await
}

async fn against_one(
    State(node): State<AppState>,
    viewer: Viewer,
    PathParams((subject, version)): PathParams<(String, String)>,
    params: Params,
    JsonBody(body): JsonBody<SchemaBody>,
) -> Result<Response, ApiError> {
    viewer.may_reference(body.references.as_deref())?;
    check(&node, &subject, Some(&version), &params, body).await
}
