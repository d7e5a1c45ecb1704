//! The HTTP side of auth (see [`crate::auth`]): a middleware that authenticates every request
//! but `/health` and authorizes it by role and subject grant, and the admin-only `/admin/users`
//! API. Applied by [`layer`] only when `[auth] enabled`, so nothing changes otherwise.
//!
//! Authorization is decided from the method and path alone, before routing, in [`requirement`]:
//!
//! | request                                                    | role  | grant checked      |
//! |------------------------------------------------------------|-------|--------------------|
//! | `/admin/…`, `PUT/DELETE /config`, `PUT/DELETE /mode[/{s}]`  | admin | —                  |
//! | `DELETE /subjects/{s}[/versions/{v}]?permanent=true`        | admin | —                  |
//! | `POST /subjects/{s}/versions`, soft `DELETE /subjects/{s}…` | write | `s`                |
//! | `PUT/DELETE /config/{s}`                                   | write | `s`                |
//! | `GET …/subjects/{s}…`, `POST /subjects/{s}` (lookup)        | read  | `s`                |
//! | `POST /compatibility/subjects/{s}/…`, `GET /config/{s}`…    | read  | `s`                |
//! | `GET /subjects`, `GET /schemas`, `/schemas/ids/{id}/…`      | read  | filtered: see below|
//! | `GET /schemas/ids/{id}[/schema]`, global config/mode, …     | read  | — (ids are opaque; |
//! |                                                            |       | deserializers need)|
//! | anything else: `GET` → read; other methods → admin          |       |                    |
//!
//! Responses that name subjects without the request naming one — the `/subjects` and `/schemas`
//! listings and `/schemas/ids/{id}/subjects|versions` — list only the subjects the user's
//! grants cover ([`Viewer`]), as Confluent's RBAC does, so a prefix-limited user is neither
//! refused a listing (which would break UIs) nor shown other teams' subjects in one. Schemas by
//! id stay readable to every reader (deserializers need them), and with them whatever subject
//! names their `references` carry. A schema sent to register, look up or test for compatibility
//! may reference only subjects the caller may read ([`Viewer::may_reference`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, put};
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::{ok, respond, JsonBody, PathParams};
use crate::auth::users::{check_grants, secrets, UserSummary};
use crate::auth::{Authenticator, Outcome, Principal, Role, User, REALM};
use crate::node::NodeError;
use crate::registry::record::Reference;
use crate::store::StoreError;
use crate::tls::ClientIdentity;

/// `router` with the `/admin/users` API, and — when `auth` is given (`[auth] enabled`) —
/// authentication and authorization in front of everything. Without auth the user API answers
/// 403: an open registry must not let anyone plant users that outlive turning auth on.
pub fn layer(router: Router, auth: Option<Arc<Authenticator>>) -> Router {
    let router = router.merge(admin_router(auth.clone()));
    match auth {
        Some(auth) => router.layer(middleware::from_fn_with_state(auth, guard)),
        None => router,
    }
}

/// What a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// No credentials (`/health`).
    Open,
    /// At least `role`, on `target`.
    Role(Role, Target),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Not tied to a subject.
    Any,
    /// One subject (percent-decoded from the path): the grants must cover it.
    Subject(String),
}

/// Decides what a request needs from its method, path (after trailing-slash trimming) and query.
pub fn requirement(method: &Method, path: &str, query: Option<&str>) -> Requirement {
    use Requirement::Role as Need;
    let read = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let subject = |s: &str| Target::Subject(percent_decode(s));
    let delete = |s: &str| {
        if permanent(query) {
            Need(Role::Admin, Target::Any)
        } else {
            Need(Role::Write, subject(s))
        }
    };
    let admin = Need(Role::Admin, Target::Any);
    match segments.as_slice() {
        ["health"] => Requirement::Open,
        ["admin", ..] => admin,
        ["subjects", s] if *method == Method::POST => Need(Role::Read, subject(s)),
        ["subjects", s] | ["subjects", s, "versions", _] if *method == Method::DELETE => delete(s),
        ["subjects", s, "versions"] if *method == Method::POST => Need(Role::Write, subject(s)),
        ["subjects", s, ..] if read => Need(Role::Read, subject(s)),
        ["compatibility", "subjects", s, ..] if read || *method == Method::POST => {
            Need(Role::Read, subject(s))
        }
        ["config" | "mode", s] if read => Need(Role::Read, subject(s)),
        ["config", s] if matches!(*method, Method::PUT | Method::DELETE) => {
            Need(Role::Write, subject(s))
        }
        // Modes are admin-only even per subject: IMPORT writes chosen ids (it could exhaust
        // the id space or reuse a deleted id) and purges soft-deleted versions for good.
        ["mode", _] => admin,
        // The root answers `{}` to a POST (a probe some clients send); it changes nothing.
        [""] if *method == Method::POST => Need(Role::Read, Target::Any),
        _ if read => Need(Role::Read, Target::Any),
        _ => admin,
    }
}

/// Whether `who` meets `role` on `target`.
pub fn allowed(who: &Principal, role: Role, target: &Target) -> bool {
    who.role >= role
        && match target {
            Target::Any => true,
            Target::Subject(s) => who.covers(s),
        }
}

/// `?permanent=true`, read as the handlers read it; an unreadable query counts as permanent,
/// so it needs the stronger role.
fn permanent(query: Option<&str>) -> bool {
    match serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or("")) {
        Ok(pairs) => pairs
            .iter()
            .any(|(k, v)| k == "permanent" && v.eq_ignore_ascii_case("true")),
        Err(_) => true,
    }
}

/// `%XX` decoding of one path segment with the crate axum's `Path` extractor uses, so the
/// subject authorized is the subject the handler sees. (A segment that is not UTF-8 is refused
/// by the handler with 400; lossy decoding here can only name a subject no one is granted.)
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

async fn guard(State(auth): State<Arc<Authenticator>>, mut req: Request, next: Next) -> Response {
    let Requirement::Role(role, target) =
        requirement(req.method(), req.uri().path(), req.uri().query())
    else {
        return next.run(req).await;
    };
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let certified = req
        .extensions()
        .get::<ClientIdentity>()
        .and_then(|c| c.0.clone());
    // A header, even an unreadable one, decides over the certificate.
    let has_header = req.headers().contains_key(header::AUTHORIZATION);
    let outcome = match certified {
        Some(name) if !has_header => auth.certificate(&name),
        _ => auth.authenticate(authorization.as_deref(), client).await,
    };
    match outcome {
        Outcome::Authenticated { principal, info } => {
            if !allowed(&principal, role, &target) {
                return respond(
                    StatusCode::FORBIDDEN,
                    &json!({"error_code": 403, "message": "Forbidden"}),
                );
            }
            req.extensions_mut().insert(principal);
            let mut response = next.run(req).await;
            if let Some(info) = info.and_then(|i| HeaderValue::from_str(&i).ok()) {
                response
                    .headers_mut()
                    .insert(header::HeaderName::from_static("authentication-info"), info);
            }
            response
        }
        Outcome::Unauthorized => unauthorized(None),
        Outcome::Continue(challenge) => unauthorized(Some(challenge)),
        Outcome::Limited(wait) => {
            let mut response = respond(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({"error_code": 429, "message": "Too many failed logins; try again later"}),
            );
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            response
        }
        Outcome::Unavailable => respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error_code": 50001, "message": "Credentials cannot be verified now"}),
        ),
    }
}

/// Who is asking, for handlers whose responses name subjects: with auth on, the authenticated
/// principal; with auth off, nobody in particular, and everything is visible.
pub struct Viewer(Option<Arc<Principal>>);

impl Viewer {
    /// Whether the response may name `subject`.
    pub fn sees(&self, subject: &str) -> bool {
        self.0.as_ref().is_none_or(|p| p.covers(subject))
    }

    /// Refuses a schema whose `references` name a subject the caller may not read, with the
    /// auth layer's 403. Checked before anything resolves them: a registered reference pins the
    /// version it names (its owners then cannot delete it: 42206), and how resolution fails
    /// tells whether a subject exists — neither may reach past the caller's grants.
    pub fn may_reference(&self, references: Option<&[Reference]>) -> Result<(), ApiError> {
        let references = references.unwrap_or_default();
        if references.iter().all(|r| self.sees(&r.subject)) {
            Ok(())
        } else {
            Err(ApiError::http(StatusCode::FORBIDDEN, "Forbidden"))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Viewer, Self::Rejection> {
        Ok(Viewer(parts.extensions.get::<Arc<Principal>>().cloned()))
    }
}

/// 401 with both challenges, or with the next step of a SCRAM exchange.
fn unauthorized(scram_step: Option<String>) -> Response {
    let mut response = respond(
        StatusCode::UNAUTHORIZED,
        &json!({"error_code": 401, "message": "Unauthorized"}),
    );
    let headers = response.headers_mut();
    match scram_step.and_then(|s| HeaderValue::from_str(&s).ok()) {
        Some(step) => {
            headers.append(header::WWW_AUTHENTICATE, step);
        }
        None => {
            for scheme in ["Basic", "SCRAM-SHA-256"] {
                let value = format!("{scheme} realm=\"{REALM}\"");
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.append(header::WWW_AUTHENTICATE, v);
                }
            }
        }
    }
    response
}

fn admin_router(auth: Option<Arc<Authenticator>>) -> Router {
    Router::new()
        .route("/admin/users", get(list_users).post(add_user))
        .route("/admin/users/{name}", get(get_user).delete(remove_user))
        .route("/admin/users/{name}/password", put(set_password))
        .route("/admin/users/{name}/grants", put(set_grants))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(auth)
}

type AuthState = State<Option<Arc<Authenticator>>>;

fn enabled(auth: &Option<Arc<Authenticator>>) -> Result<&Authenticator, ApiError> {
    auth.as_deref().ok_or_else(|| {
        ApiError::http(
            StatusCode::FORBIDDEN,
            "User management needs authentication: set [auth] enabled = true",
        )
    })
}

fn store_error(e: StoreError) -> ApiError {
    ApiError::Node(NodeError::Store(e))
}

fn invalid(message: String) -> ApiError {
    ApiError::http(StatusCode::UNPROCESSABLE_ENTITY, message)
}

fn no_user(name: &str) -> ApiError {
    ApiError::http(StatusCode::NOT_FOUND, format!("User '{name}' not found"))
}

fn existing(auth: &Authenticator, name: &str) -> Result<User, ApiError> {
    auth.users().get(name).ok_or_else(|| no_user(name))
}

/// Changes the user `name` as stored now (see `UserStore::modify`); 404 if there is none.
async fn modify(
    auth: &Authenticator,
    name: &str,
    change: impl FnOnce(&mut User),
) -> Result<User, ApiError> {
    auth.users()
        .modify(name, change)
        .await
        .map_err(store_error)?
        .ok_or_else(|| no_user(name))
}

/// Runs argon2 and PBKDF2 work — slow on purpose — off the request threads; a refused password
/// or name is a 422.
async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| ApiError::http(StatusCode::INTERNAL_SERVER_ERROR, "hashing failed"))?
        .map_err(invalid)
}

/// Refuses a change that would leave no admin: nobody could manage users over HTTP then.
fn keep_an_admin(auth: &Authenticator, changed: &str) -> Result<(), ApiError> {
    let users = auth.users().list();
    let others = users
        .iter()
        .filter(|u| u.role == Role::Admin && u.name != changed)
        .count();
    if others == 0 {
        return Err(invalid(
            "The last admin cannot be removed or demoted".into(),
        ));
    }
    Ok(())
}

async fn list_users(State(auth): AuthState) -> Result<Response, ApiError> {
    let auth = enabled(&auth)?;
    let users = auth.users().list();
    Ok(ok(&users.iter().map(User::summary).collect::<Vec<_>>()))
}

async fn get_user(
    State(auth): AuthState,
    PathParams(name): PathParams<String>,
) -> Result<Response, ApiError> {
    let auth = enabled(&auth)?;
    Ok(ok(&existing(auth, &name)?.summary()))
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
    let auth = enabled(&auth)?;
    let _writing = auth.user_writes().await;
    let user =
        hashing(move || User::new(&body.name, &body.password, body.role, body.grants)).await?;
    if !auth.users().insert(&user).await.map_err(store_error)? {
        return Err(ApiError::http(
            StatusCode::CONFLICT,
            format!("User '{}' already exists", user.name),
        ));
    }
    Ok(ok(&user.summary()))
}

async fn remove_user(
    State(auth): AuthState,
    PathParams(name): PathParams<String>,
) -> Result<Response, ApiError> {
    let auth = enabled(&auth)?;
    let _writing = auth.user_writes().await;
    let user = existing(auth, &name)?;
    if user.role == Role::Admin {
        keep_an_admin(auth, &name)?;
    }
    if !auth.users().delete(&name).await.map_err(store_error)? {
        return Err(no_user(&name));
    }
    Ok(ok(&user.summary()))
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
    let auth = enabled(&auth)?;
    let _writing = auth.user_writes().await;
    existing(auth, &name)?;
    let (phc, scram) = hashing(move || secrets(&body.password)).await?;
    let user = modify(auth, &name, |u| (u.password_phc, u.scram) = (phc, scram)).await?;
    Ok(ok(&user.summary()))
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
    let auth = enabled(&auth)?;
    let _writing = auth.user_writes().await;
    if body.role.is_none() && body.grants.is_none() {
        return Err(invalid("Give a role, grants, or both".into()));
    }
    let user = existing(auth, &name)?;
    if body.role.is_some_and(|r| r != Role::Admin) && user.role == Role::Admin {
        keep_an_admin(auth, &name)?;
    }
    if let Some(grants) = &body.grants {
        check_grants(grants).map_err(invalid)?;
    }
    let user = modify(auth, &name, |u| {
        if let Some(role) = body.role {
            u.role = role;
        }
        if let Some(grants) = body.grants {
            u.grants = grants;
        }
    })
    .await?;
    let summary: UserSummary = user.summary();
    Ok(ok(&summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(method: Method, path: &str) -> Requirement {
        let (path, query) = path
            .split_once('?')
            .map_or((path, None), |(p, q)| (p, Some(q)));
        requirement(&method, path, query)
    }

    fn subject(role: Role, s: &str) -> Requirement {
        Requirement::Role(role, Target::Subject(s.into()))
    }

    #[test]
    fn requirements_by_endpoint() {
        use Method as M;
        let any = |r| Requirement::Role(r, Target::Any);
        assert_eq!(need(M::GET, "/health"), Requirement::Open);
        assert_eq!(need(M::GET, "/admin/users"), any(Role::Admin));
        assert_eq!(need(M::GET, "/subjects"), any(Role::Read));
        assert_eq!(need(M::GET, "/schemas"), any(Role::Read));
        assert_eq!(need(M::GET, "/schemas/ids/1"), any(Role::Read));
        assert_eq!(need(M::POST, "/subjects/a%2Fb"), subject(Role::Read, "a/b"));
        assert_eq!(
            need(M::POST, "/subjects/a/versions"),
            subject(Role::Write, "a")
        );
        assert_eq!(
            need(M::GET, "/subjects/a/versions/latest"),
            subject(Role::Read, "a")
        );
        assert_eq!(need(M::DELETE, "/subjects/a"), subject(Role::Write, "a"));
        assert_eq!(
            need(M::DELETE, "/subjects/a/versions/1"),
            subject(Role::Write, "a")
        );
        assert_eq!(
            need(M::DELETE, "/subjects/a?permanent=true"),
            any(Role::Admin)
        );
        assert_eq!(
            need(M::DELETE, "/subjects/a/versions/1?permanent=TRUE"),
            any(Role::Admin)
        );
        assert_eq!(
            need(M::POST, "/compatibility/subjects/a/versions/1"),
            subject(Role::Read, "a")
        );
        assert_eq!(need(M::PUT, "/config/a"), subject(Role::Write, "a"));
        assert_eq!(need(M::DELETE, "/mode/a"), any(Role::Admin));
        assert_eq!(need(M::PUT, "/mode/a"), any(Role::Admin));
        assert_eq!(need(M::GET, "/mode/a"), subject(Role::Read, "a"));
        assert_eq!(need(M::GET, "/config/a"), subject(Role::Read, "a"));
        assert_eq!(need(M::PUT, "/config"), any(Role::Admin));
        assert_eq!(need(M::DELETE, "/config"), any(Role::Admin));
        assert_eq!(need(M::PUT, "/mode"), any(Role::Admin));
        assert_eq!(need(M::GET, "/mode"), any(Role::Read));
        assert_eq!(need(M::PATCH, "/subjects/a/versions"), any(Role::Admin));
        assert_eq!(need(M::POST, "/"), any(Role::Read));
    }

    #[test]
    fn grants_and_roles_decide() {
        let p = Principal {
            name: "w".into(),
            role: Role::Write,
            grants: vec!["team-a.".into()],
        };
        assert!(allowed(
            &p,
            Role::Write,
            &Target::Subject("team-a.x".into())
        ));
        assert!(!allowed(
            &p,
            Role::Read,
            &Target::Subject("team-b.x".into())
        ));
        assert!(!allowed(&p, Role::Admin, &Target::Any));
        assert!(allowed(&p, Role::Read, &Target::Any));
    }
}
