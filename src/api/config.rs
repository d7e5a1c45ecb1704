//! `/config`: compatibility level, globally and per subject.

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::ApiError;
use super::{ok, AppState, JsonBody, Params, PathParams};
use crate::registry::command;
use crate::registry::compat::CompatibilityLevel;
use crate::registry::error::RegistryError;
use crate::registry::ids::Subject;
use crate::registry::query::{self, ConfigView};
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

/// A config as GET renders it: `compatibilityLevel`, plus `normalize` if set.
fn render(c: &ConfigView) -> Value {
    let mut out = Map::new();
    out.insert("compatibilityLevel".into(), c.level.as_str().into());
    if let Some(n) = c.normalize {
        out.insert("normalize".into(), n.into());
    }
    Value::Object(out)
}

/// The PUT response: the merged stored config in the request's field names (Confluent 7.9.2+).
fn merged(stored: &ConfigValue) -> Value {
    let mut out = Map::new();
    if let Some(level) = &stored.compatibility_level {
        out.insert("compatibility".into(), level.as_str().into());
    }
    if let Some(n) = stored.normalize {
        out.insert("normalize".into(), n.into());
    }
    Value::Object(out)
}

async fn get_global(State(node): State<AppState>) -> Response {
    ok(&render(&node.read(query::global_config)))
}

async fn put(
    node: &AppState,
    subject: Option<Subject>,
    body: ConfigBody,
) -> Result<Response, ApiError> {
    let level = body
        .compatibility
        .map(|l| {
            l.parse::<CompatibilityLevel>()
                .map_err(|_| RegistryError::InvalidCompatibility)
        })
        .transpose()?;
    let stored = node
        .write(move |s| command::set_config(s, subject.as_ref(), level, body.normalize))
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
    Ok(ok(&render(&ConfigView::of(Some(&old), None))))
}

async fn get_subject(
    State(node): State<AppState>,
    PathParams(subject): PathParams<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let default_to_global = params.flag("defaultToGlobal");
    let config = node.read(|s| query::subject_config(s, &subject, default_to_global))?;
    Ok(ok(&render(&config)))
}

async fn put_subject(
    State(node): State<AppState>,
    PathParams(subject): PathParams<String>,
    JsonBody(body): JsonBody<ConfigBody>,
) -> Result<Response, ApiError> {
    let subject = Subject::new(subject)?;
    put(&node, Some(subject), body).await
}

async fn delete_subject(
    State(node): State<AppState>,
    PathParams(subject): PathParams<String>,
) -> Result<Response, ApiError> {
    let old = node
        .write(move |s| command::delete_config(s, Some(&subject)))
        .await?;
    Ok(ok(&render(&ConfigView::of(Some(&old), None))))
}
