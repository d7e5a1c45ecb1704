//! `/mode`: READWRITE, READONLY, READONLY_OVERRIDE and IMPORT, globally and per subject.

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::{check_subject, ok, AppState, JsonBody, Params, PathParams};
use crate::registry::command;
use crate::registry::error::RegistryError;
use crate::registry::mode::Mode;

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
    let mode = node.read(|s| s.mode(None).unwrap_or_default());
    ok(&json!({ "mode": mode.as_str() }))
}

async fn put(
    node: &AppState,
    subject: Option<&str>,
    body: ModeBody,
    force: bool,
) -> Result<Response, ApiError> {
    let mode = body.mode.ok_or(RegistryError::InvalidMode)?;
    let subject = subject.map(str::to_owned);
    let mode = node
        .write(move |s| command::set_mode(s, subject.as_deref(), &mode, force))
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
    let mode = node.read(|s| match (s.mode(Some(&subject)), default_to_global) {
        // A global READONLY_OVERRIDE is what is in force for every subject.
        _ if s.mode(None) == Some(Mode::ReadOnlyOverride) => Ok(Mode::ReadOnlyOverride),
        (Some(m), _) => Ok(m),
        (None, true) => Ok(s.mode(None).unwrap_or_default()),
        (None, false) => Err(RegistryError::SubjectModeNotFound(subject.clone())),
    })?;
    Ok(ok(&json!({ "mode": mode.as_str() })))
}

async fn put_subject(
    State(node): State<AppState>,
    PathParams(subject): PathParams<String>,
    params: Params,
    JsonBody(body): JsonBody<ModeBody>,
) -> Result<Response, ApiError> {
    check_subject(&subject)?;
    put(&node, Some(&subject), body, params.flag("force")).await
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
