//! The HTTP side of auth (see [`crate::auth`]): a middleware that authenticates every request
//! but `/health`, `GET /metrics` and `GET /openapi.yaml` and authorizes it by role and subject grant. Applied by [`layer`] only when
//! `[auth] enabled`, so nothing changes otherwise; refusals are [`ApiError`]s, rendered (with
//! their challenges) in `api::error`. The admin-only `/admin/users` resource is `api::users`.
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

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::{Layer, Service};

use super::error::ApiError;
use super::metrics::{AuthFailure, Recorder};
use crate::auth::{Authenticator, Outcome, Principal, Role};
use crate::registry::record::Reference;
use crate::tls::ClientIdentity;

/// `router` with the `/admin/users` API, and — when `auth` is given (`[auth] enabled`) —
/// authentication and authorization in front of everything. Without auth the user API answers
/// 403: an open registry must not let anyone plant users that outlive turning auth on.
pub fn layer(router: Router, auth: Option<Arc<Authenticator>>) -> Router {
    let router = router.merge(super::users::router(auth.clone()));
    match auth {
        Some(auth) => router.layer(GuardLayer(auth)),
        None => router,
    }
}

/// What a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement<'a> {
    /// No credentials (`/health`).
    Open,
    /// At least `role`, on `target`.
    Role(Role, Target<'a>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    /// Not tied to a subject.
    Any,
    /// One subject (percent-decoded from the path, borrowed from it when there was nothing to
    /// decode): the grants must cover it.
    Subject(Cow<'a, str>),
}

impl Target<'_> {
    fn into_owned(self) -> Target<'static> {
        match self {
            Target::Any => Target::Any,
            Target::Subject(s) => Target::Subject(Cow::Owned(s.into_owned())),
        }
    }
}

/// The most path segments [`requirement`] looks at: more than any rule names, so a longer path
/// matches the same rules when cut there.
const SEGMENTS: usize = 8;

/// Decides what a request needs from its method, path (after trailing-slash trimming) and query.
pub fn requirement<'a>(method: &Method, path: &'a str, query: Option<&str>) -> Requirement<'a> {
    use Requirement::Role as Need;
    let read = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    // On the stack: this runs for every request.
    let mut parts = [""; SEGMENTS];
    let mut n = 0;
    for (slot, segment) in parts
        .iter_mut()
        .zip(path.trim_start_matches('/').split('/'))
    {
        *slot = segment;
        n += 1;
    }
    let segments = &parts[..n];
    // Segments are matched by reference (`&&str`); what they borrow is the path's.
    let subject = |s: &&'a str| Target::Subject(percent_decode(s));
    let delete = |s: &&'a str| {
        if permanent(query) {
            Need(Role::Admin, Target::Any)
        } else {
            Need(Role::Write, subject(s))
        }
    };
    let admin = Need(Role::Admin, Target::Any);
    match segments {
        ["health"] => Requirement::Open,
        // Readiness, for load balancers and orchestrators, like `/health`.
        ["ready"] if read => Requirement::Open,
        // Counts and route templates only — no subject names, no schema content — and
        // scrapers rarely carry credentials (see `api::metrics`).
        ["metrics"] if read => Requirement::Open,
        // The API's description is public knowledge (it is in the repository).
        ["openapi.yaml"] if read => Requirement::Open,
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
fn percent_decode<'a>(s: &&'a str) -> Cow<'a, str> {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy()
}

/// Puts [`Guard`] in front of each route.
#[derive(Clone)]
struct GuardLayer(Arc<Authenticator>);

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            auth: self.0.clone(),
            inner,
        }
    }
}

/// Authenticates and authorizes each request before `inner` sees it. A hand-written service
/// rather than `middleware::from_fn`, for the common case: a request whose Basic credentials
/// are cached is settled in `call` and handed straight to the route, with no boxed future and
/// no boxed copy of the route. Anything that has to wait (a password to hash, SCRAM, a client
/// certificate's user) takes the general path, `guard`.
#[derive(Clone)]
pub struct Guard<S> {
    auth: Arc<Authenticator>,
    inner: S,
}

impl<S> Service<Request> for Guard<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + Unpin + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let Requirement::Role(role, target) =
            requirement(req.method(), req.uri().path(), req.uri().query())
        else {
            return GuardFuture::Route(self.inner.call(req));
        };
        let now = match req.extensions().get::<ClientIdentity>() {
            // A certificate's user is looked up in `guard`, unless a header decides.
            Some(ClientIdentity(Some(_))) if !req.headers().contains_key(header::AUTHORIZATION) => {
                None
            }
            _ => self.auth.authenticate_now(authorization(&req)),
        };
        match now {
            Some(Outcome::Authenticated {
                principal,
                info: None,
            }) => {
                let ok = allowed(&principal, role, &target);
                match admit(&mut req, ok, principal) {
                    Ok(()) => GuardFuture::Route(self.inner.call(req)),
                    Err(refused) => GuardFuture::Refused(Some(refused.into_response())),
                }
            }
            Some(Outcome::Unauthorized) => {
                Recorder::of(req.extensions()).auth_failure(AuthFailure::BadCredentials);
                let refused = ApiError::Unauthorized { challenge: None };
                GuardFuture::Refused(Some(refused.into_response()))
            }
            _ => {
                // The ready service goes with the request; this one gets a fresh clone.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                let auth = self.auth.clone();
                let target = target.into_owned();
                GuardFuture::Waiting(Box::pin(async move {
                    Ok(guard(auth, role, target, req, inner)
                        .await
                        .unwrap_or_else(IntoResponse::into_response))
                }))
            }
        }
    }
}

/// What [`Guard`] answers with: the route's own future, a refusal, or the general path.
pub enum GuardFuture<F> {
    Route(F),
    Refused(Option<Response>),
    Waiting(Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>),
}

impl<F> Future for GuardFuture<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            GuardFuture::Route(f) => Pin::new(f).poll(cx),
            GuardFuture::Refused(response) => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
            GuardFuture::Waiting(f) => f.as_mut().poll(cx),
        }
    }
}

fn authorization(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
}

/// Lets a request by `principal` through if it is `allowed` (see [`allowed`]), leaving the
/// principal for [`Viewer`] when it does not see every subject.
fn admit(req: &mut Request, allowed: bool, principal: Arc<Principal>) -> Result<(), ApiError> {
    if !allowed {
        Recorder::of(req.extensions()).auth_failure(AuthFailure::Forbidden);
        return Err(ApiError::Forbidden);
    }
    // Without one, a Viewer sees everything: so only a user limited by grants needs it.
    if !principal.covers_all() {
        req.extensions_mut().insert(principal);
    }
    Ok(())
}

/// The general path: credentials that need waiting for (a password to hash, a SCRAM exchange),
/// a client certificate, or none.
async fn guard<S>(
    auth: Arc<Authenticator>,
    role: Role,
    target: Target<'static>,
    mut req: Request,
    mut inner: S,
) -> Result<Response, ApiError>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let certified = req
        .extensions()
        .get::<ClientIdentity>()
        .and_then(|c| c.0.clone());
    // A header, even an unreadable one, decides over the certificate.
    let has_header = req.headers().contains_key(header::AUTHORIZATION);
    let recorder = Recorder::of(req.extensions());
    let refused = |why| recorder.auth_failure(why);
    let sent_credentials = has_header || certified.is_some();
    let outcome = match certified {
        Some(name) if !has_header => auth.certificate(&name),
        _ => auth.authenticate(authorization(&req), client).await,
    };
    match outcome {
        Outcome::Authenticated { principal, info } => {
            let ok = allowed(&principal, role, &target);
            admit(&mut req, ok, principal)?;
            let Ok(mut response) = inner.call(req).await;
            if let Some(info) = info.and_then(|i| HeaderValue::from_str(&i).ok()) {
                response
                    .headers_mut()
                    .insert(header::HeaderName::from_static("authentication-info"), info);
            }
            Ok(response)
        }
        Outcome::Unauthorized => {
            refused(if sent_credentials {
                AuthFailure::BadCredentials
            } else {
                AuthFailure::MissingCredentials
            });
            Err(ApiError::Unauthorized { challenge: None })
        }
        // The first leg of a SCRAM exchange: not a failure.
        Outcome::Continue(step) => Err(ApiError::Unauthorized {
            challenge: Some(step),
        }),
        Outcome::Limited(wait) => {
            refused(AuthFailure::RateLimited);
            Err(ApiError::TooManyRequests { retry_after: wait })
        }
        Outcome::Unavailable => {
            refused(AuthFailure::Unavailable);
            Err(ApiError::CredentialsUnavailable)
        }
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
            Err(ApiError::Forbidden)
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Viewer, Self::Rejection> {
        Ok(Viewer(parts.extensions.get::<Arc<Principal>>().cloned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(method: Method, path: &str) -> Requirement<'_> {
        let (path, query) = path
            .split_once('?')
            .map_or((path, None), |(p, q)| (p, Some(q)));
        requirement(&method, path, query)
    }

    fn subject(role: Role, s: &str) -> Requirement<'_> {
        Requirement::Role(role, Target::Subject(s.into()))
    }

    #[test]
    fn requirements_by_endpoint() {
        use Method as M;
        let any = |r| Requirement::Role(r, Target::Any);
        assert_eq!(need(M::GET, "/health"), Requirement::Open);
        assert_eq!(need(M::GET, "/ready"), Requirement::Open);
        assert_eq!(need(M::GET, "/metrics"), Requirement::Open);
        assert_eq!(need(M::GET, "/openapi.yaml"), Requirement::Open);
        assert_eq!(need(M::DELETE, "/metrics"), any(Role::Admin));
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
