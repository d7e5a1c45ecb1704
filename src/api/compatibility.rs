//! `/compatibility`: would this schema be accepted? What CI pipelines call before a deploy.

use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::json;

use super::auth::Viewer;
use super::error::ApiError;
use super::metrics::{Compatibility, Recorder};
use super::subjects::SchemaBody;
use super::{off_the_runtime, ok, AppState, JsonBody, Params, PathParams};
use crate::registry::error::RegistryError;
use crate::registry::ids::VersionSelector;
use crate::registry::query;

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

/// [`verdict`], counted by result.
async fn check(
    node: &AppState,
    recorder: &Recorder,
    subject: &str,
    version: Option<&str>,
    params: &Params,
    body: SchemaBody,
) -> Result<Response, ApiError> {
    let verdict = verdict(node, subject, version, params, body).await;
    recorder.compatibility(match &verdict {
        Ok(v) if v["is_compatible"] == true => Compatibility::Compatible,
        Ok(_) => Compatibility::Incompatible,
        Err(_) => Compatibility::Error,
    });
    Ok(ok(&verdict?))
}

/// Under the state's read lock only the snapshot is taken ([`query::compatibility_check`]); parsing
/// the schema and comparing, the parts a big schema makes expensive, run off the async
/// workers and without the lock.
async fn verdict(
    node: &AppState,
    subject: &str,
    version: Option<&str>,
    params: &Params,
    body: SchemaBody,
) -> Result<serde_json::Value, ApiError> {
    let selector = version.map(VersionSelector::parse).transpose()?;
    let input = body.input()?;
    let normalize = params.flag("normalize");
    let verbose = params.flag("verbose");
    let snapshot = node.read(|s| query::compatibility_check(s, subject, &input, selector));
    // A schema submitted before needs no parse; compared with a few versions already parsed,
    // the check is then quick enough to run right here.
    let known = snapshot
        .as_ref()
        .ok()
        .and_then(|c| c.parsed_before(&input.schema, normalize));
    let quick = known
        .as_ref()
        .is_some_and(|new| snapshot.as_ref().is_ok_and(|c| c.is_quick(new)));
    let work = move || {
        let parsed = snapshot.and_then(|c| {
            let new = match known {
                Some(new) => new,
                None => c.parse_and_keep(&input.schema, normalize)?,
            };
            Ok((c, new))
        });
        match parsed {
            Ok((check, new)) => Ok(check.compare(&new)?),
            // Verbose callers get the schema's error as the verdict, as Confluent answers.
            Err(e @ RegistryError::InvalidSchema(_)) if verbose => Ok(vec![e.to_string()]),
            Err(e) => Err(e.into()),
        }
    };
    let messages = if quick {
        work()?
    } else {
        off_the_runtime(work).await?
    };
    let mut body = json!({ "is_compatible": messages.is_empty() });
    if verbose {
        body["messages"] = json!(messages);
    }
    Ok(body)
}

async fn against_all(
    State(node): State<AppState>,
    recorder: Recorder,
    viewer: Viewer,
    PathParams(subject): PathParams<String>,
    params: Params,
    JsonBody(body): JsonBody<SchemaBody>,
) -> Result<Response, ApiError> {
    viewer.may_reference(body.references.as_deref())?;
    check(&node, &recorder, &subject, None, &params, body).await
}

async fn against_one(
    State(node): State<AppState>,
    recorder: Recorder,
    viewer: Viewer,
    PathParams((subject, version)): PathParams<(String, String)>,
    params: Params,
    JsonBody(body): JsonBody<SchemaBody>,
) -> Result<Response, ApiError> {
    viewer.may_reference(body.references.as_deref())?;
    check(&node, &recorder, &subject, Some(&version), &params, body).await
}
