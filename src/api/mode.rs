//! `/mode`: READWRITE, READONLY, READONLY_OVERRIDE and IMPORT, globally and per subject.

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::{ok, AppState, JsonBody, Params, PathParams};
use crate::registry::command;
use crate::registry::error::RegistryError;
use crate::registry::ids::Subject;
use crate::registry::mode::Mode;
use crate::registry::query;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mode", get(get_global).put(put_global))
        .route(
            "/mode/{subject}",
            get(get_subject).put(put_subject).delete(delete_subject),
        )
}

#[derive(Deserialize)]
struct ModeBody {
    mode: Option<String>,
}

async fn get_global(State(node): State<AppState>) -> Response {
    let mode = node.read(query::global_mode);
    ok(&json!({ "mode": mode.as_str() }))
}

async fn put(
    node: &AppState,
    subject: Option<Subject>,
    body: ModeBody,
    force: bool,
) -> Result<Response, ApiError> {
    let mode: Mode = body
        .mode
        .and_then(|m| m.parse().ok())
        .ok_or(RegistryError::InvalidMode)?;
    let mode = node
        .write(move |s| command::set_mode(s, subject.as_ref(), mode, force))
        .await?;
    Ok(ok(&json!({ "mode": mode.as_str() })))
}

async fn put_global(
    State(node): State<AppState>,
    params: Params,
    JsonBody(body): JsonBody<ModeBody>,
) -> Result<Response, ApiError> {
    put(&node, None, body, params.flag("force")).await
}

async fn get_subject(
    State(node): State<AppState>,
    PathParams(subject): PathParams<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let default_to_global = params.flag("defaultToGlobal");
    let mode = node.read(|s| query::subject_mode(s, &subject, default_to_global))?;
    Ok(ok(&json!({ "mode": mode.as_str() })))
}

async fn put_subject(
    State(node): State<AppState>,
    PathParams(subject): PathParams<String>,
    params: Params,
    JsonBody(body): JsonBody<ModeBody>,
) -> Result<Response, ApiError> {
    let subject = Subject::new(subject)?;
    put(&node, Some(subject), body, params.flag("force")).await
}

async fn delete_subject(
    State(node): State<AppState>,
    PathParams(subject): PathParams<String>,
) -> Result<Response, ApiError> {
    let old = node
        .write(move |s| command::delete_mode(s, &subject))
        .await?;
    Ok(ok(&json!({ "mode": old.as_str() })))
}
