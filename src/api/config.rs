//! `/config`: compatibility level, globally and per subject.

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::ApiError;
use super::{check_subject, ok, AppState, JsonBody, Params, PathParams};
use crate::registry::command;
use crate::registry::compat::CompatLevel;
use crate::registry::error::RegistryError;
use crate::registry::record::ConfigValue;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/config",
            get(get_global).put(put_global).delete(delete_global),
        )
        .route(
            "/config/{subject}",
            get(get_subject).put(put_subject).delete(delete_subject),
        )
}

#[derive(Deserialize)]
struct ConfigBody {
    compatibility: Option<String>,
    normalize: Option<bool>,
}

/// A stored config as GET renders it: `compatibilityLevel` (from `fallback`, then the default,
/// when the record has none), plus `normalize` if set.
fn render(c: Option<&ConfigValue>, fallback: Option<&ConfigValue>) -> Value {
    let mut out = Map::new();
    let level = [c, fallback]
        .into_iter()
        .flatten()
        .find_map(|c| c.compatibility_level.clone())
        .unwrap_or_else(|| CompatLevel::default().to_string());
    out.insert("compatibilityLevel".into(), level.into());
    if let Some(n) = c.and_then(|c| c.normalize) {
        out.insert("normalize".into(), n.into());
    }
    Value::Object(out)
}

/// The PUT response: the merged stored config in the request's field names (Confluent 7.9.2+).
fn merged(stored: &ConfigValue) -> Value {
    let mut out = Map::new();
    if let Some(level) = &stored.compatibility_level {
        out.insert("compatibility".into(), level.clone().into());
    }
    if let Some(n) = stored.normalize {
        out.insert("normalize".into(), n.into());
    }
    Value::Object(out)
}

async fn get_global(State(node): State<AppState>) -> Response {
    ok(&node.read(|s| render(s.config(None), None)))
}

async fn put(
    node: &AppState,
    subject: Option<&str>,
    body: ConfigBody,
) -> Result<Response, ApiError> {
    let subject = subject.map(str::to_owned);
    let stored = node
        .write(move |s| {
            command::set_config(
                s,
                subject.as_deref(),
                body.compatibility.as_deref(),
                body.normalize,
            )
        })
        .await?;
    Ok(ok(&merged(&stored)))
}

async fn put_global(
    State(node): State<AppState>,
    JsonBody(body): JsonBody<ConfigBody>,
) -> Result<Response, ApiError> {
    put(&node, None, body).await
}

async fn delete_global(State(node): State<AppState>) -> Result<Response, ApiError> {
    let old = node.write(|s| command::delete_config(s, None)).await?;
    Ok(ok(&render(Some(&old), None)))
}

async fn get_subject(
    State(node): State<AppState>,
    PathParams(subject): PathParams<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let default_to_global = params.flag("defaultToGlobal");
    node.read(|s| match (s.config(Some(&subject)), default_to_global) {
        (Some(c), _) => Ok(ok(&render(Some(c), s.config(None)))),
        (None, true) => Ok(ok(&render(s.config(None), None))),
        (None, false) => Err(RegistryError::SubjectConfigNotFound(subject.clone()).into()),
    })
}

async fn put_subject(
    State(node): State<AppState>,
    PathParams(subject): PathParams<String>,
    JsonBody(body): JsonBody<ConfigBody>,
) -> Result<Response, ApiError> {
    check_subject(&subject)?;
    put(&node, Some(&subject), body).await
}

async fn delete_subject(
    State(node): State<AppState>,
    PathParams(subject): PathParams<String>,
) -> Result<Response, ApiError> {
    let old = node
        .write(move |s| command::delete_config(s, Some(&subject)))
        .await?;
    Ok(ok(&render(Some(&old), None)))
}
