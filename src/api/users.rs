//! `/admin/users`: user management over HTTP, admin-only (see `api::auth`). The operations and
//! their rules are `auth::admin`'s, shared with `schemata user …`. Without auth every route
//! answers 403: an open registry must not let anyone plant users that outlive turning auth on.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::response::Response;
use axum::routing::{get, put};
use axum::Router;
use serde::Deserialize;

use super::error::ApiError;
use super::{ok, JsonBody, PathParams};
use crate::auth::{Authenticator, Role, UserAdmin};

pub fn router(auth: Option<Arc<Authenticator>>) -> Router {
    Router::new()
        .route("/admin/users", get(list_users).post(add_user))
        .route("/admin/users/{name}", get(get_user).delete(remove_user))
        .route("/admin/users/{name}/password", put(set_password))
        .route("/admin/users/{name}/grants", put(set_grants))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(auth)
}

type AuthState = State<Option<Arc<Authenticator>>>;

fn admin(auth: &Option<Arc<Authenticator>>) -> Result<&UserAdmin, ApiError> {
    auth.as_deref()
        .map(Authenticator::admin)
        .ok_or(ApiError::UsersNeedAuth)
}

async fn list_users(State(auth): AuthState) -> Result<Response, ApiError> {
    Ok(ok(&admin(&auth)?.list()))
}

async fn get_user(
    State(auth): AuthState,
    PathParams(name): PathParams<String>,
) -> Result<Response, ApiError> {
    Ok(ok(&admin(&auth)?.get(&name)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    password: String,
    #[serde(default = "read_role")]
    role: Role,
    #[serde(default)]
    grants: Vec<String>,
}

fn read_role() -> Role {
    Role::Read
}

async fn add_user(
    State(auth): AuthState,
    JsonBody(body): JsonBody<NewUser>,
) -> Result<Response, ApiError> {
    let user = admin(&auth)?
        .add(body.name, body.password, body.role, body.grants)
        .await?;
    Ok(ok(&user))
}

async fn remove_user(
    State(auth): AuthState,
    PathParams(name): PathParams<String>,
) -> Result<Response, ApiError> {
    Ok(ok(&admin(&auth)?.remove(&name).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPassword {
    password: String,
}

async fn set_password(
    State(auth): AuthState,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<NewPassword>,
) -> Result<Response, ApiError> {
    let user = admin(&auth)?.set_password(&name, body.password).await?;
    Ok(ok(&user))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Access {
    role: Option<Role>,
    grants: Option<Vec<String>>,
}

async fn set_grants(
    State(auth): AuthState,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<Access>,
) -> Result<Response, ApiError> {
    let user = admin(&auth)?
        .set_access(&name, body.role, body.grants)
        .await?;
    Ok(ok(&user))
}
