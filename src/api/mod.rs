//! The HTTP layer: Confluent's Schema Registry REST API over axum.
//!
//! One module per resource, each exporting `router()`. Handlers parse the request, call the
//! registry core through [`Node`], and render Confluent's response shapes; every refusal goes
//! through [`error::ApiError`]. Bodies are read by [`JsonBody`], which enforces Confluent's
//! content types and answers malformed JSON the way Confluent's framework does.

mod around;
pub mod auth;
mod compatibility;
mod config;
pub mod error;
mod forward;
pub mod metrics;
mod mode;
pub mod request_id;
mod schemas;
mod settle;
mod subjects;
mod users;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use tower::Layer;
use tower_http::normalize_path::{NormalizePath, NormalizePathLayer};

use crate::auth::Authenticator;
use crate::node::Node;
use crate::registry::record::Reference;
use crate::registry::state::VersionEntry;
use error::ApiError;

/// `openapi.yaml`, served at `/openapi.yaml`: built in, so the description always matches the
/// binary answering.
const OPENAPI: &str = include_str!("../../openapi.yaml");

/// The content type of every response, as Confluent sends it.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// Request content types Confluent accepts (all carry JSON).
const ACCEPTED_TYPES: [&str; 4] = [
    "application/vnd.schemaregistry.v1+json",
    "application/vnd.schemaregistry+json",
    "application/json",
    "application/octet-stream",
];

pub type AppState = Arc<Node>;

/// The service as served: the API and `/metrics`, auth in front of them when `auth` is given
/// (see [`auth::layer`]), request metrics around that ([`metrics::Track`]), request ids and
/// spans outermost ([`request_id::RequestIds`]), and Confluent's tolerance of a trailing slash
/// (`/subjects/`), which must be trimmed before routing. Writes on a follower are forwarded to
/// the leader inside auth (`forward`), trusting the certificates of `tls` too.
pub fn app(
    node: Arc<Node>,
    auth: Option<Arc<Authenticator>>,
    max_body_bytes: usize,
    tls: Option<&crate::tls::TlsFiles>,
) -> NormalizePath<Router> {
    let metrics = Arc::new(metrics::Metrics::new());
    let mut api = router(node.clone(), max_body_bytes);
    // Only a node on a shared log (Kafka) ever has a leader elsewhere to forward to; elsewhere
    // the layer would only cost every request a boxed future.
    if node.shares_log() {
        api = api.layer(axum::middleware::from_fn_with_state(
            forward::Forwarder::new(node.clone(), tls, auth.is_some()),
            forward::layer,
        ));
    }
    let api = api.merge(metrics::router(node, metrics.clone()));
    let app = auth::layer(api, auth)
        .layer(around::AroundLayer(metrics::Track(metrics)))
        .layer(around::AroundLayer(request_id::RequestIds));
    NormalizePathLayer::trim_trailing_slash().layer(app)
}

/// The whole API, with the request body limit applied.
pub fn router(node: Arc<Node>, max_body_bytes: usize) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { ok(&json!({})) }).post(
                |_: JsonBody<serde_json::Map<String, serde_json::Value>>| async { ok(&json!({})) },
            ),
        )
        .route(
            "/health",
            get(|| async { respond(StatusCode::OK, &json!({"status": "UP"})) }),
        )
        // The API's own description, for client generators and API tools (Schemata extension).
        .route(
            "/openapi.yaml",
            get(|| async { ([(header::CONTENT_TYPE, "application/yaml")], OPENAPI) }),
        )
        .route("/v1/metadata/id", get(metadata_id))
        .route("/ready", get(ready))
        // Contexts are a Confluent multi-tenancy feature; Schemata has only the default one,
        // which UIs list.
        .route("/contexts", get(|| async { ok(&["."]) }))
        .route(
            "/v1/metadata/version",
            get(|| async { ok(&json!({"version": env!("CARGO_PKG_VERSION"), "commitId": ""})) }),
        )
        .merge(subjects::router())
        .merge(schemas::router())
        .merge(config::router())
        .merge(mode::router())
        .merge(compatibility::router())
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(settle::SettleLayer(node.clone()))
        .with_state(node)
}

/// 200 once the node has replayed its log (it serves only then) and knows who writes it;
/// 503 while a shared log has no known leader.
async fn ready(State(node): State<Arc<Node>>) -> Response {
    let l = node.leadership();
    let body = json!({"ready": l.known, "leader": l.leading, "leaderUrl": l.leader_url});
    let status = if l.known {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    respond(status, &body)
}

/// Cluster identity, as kafka-ui and Confluent's tooling ask for it. Without a Kafka cluster the
/// kafka id is the registry's own name.
async fn metadata_id() -> Response {
    ok(&json!({"scope": {"path": [], "clusters": {
        "kafka-cluster": "schemata",
        "schema-registry-cluster": "schema-registry",
    }}}))
}

/// A JSON response with Confluent's content type.
pub fn respond(status: StatusCode, body: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        bytes,
    )
        .into_response()
}

pub fn ok(body: &impl Serialize) -> Response {
    respond(StatusCode::OK, body)
}

/// A JSON request body: Confluent's content types only, bounded in size, errors as Confluent
/// answers them (400 malformed, 422 missing).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        // Confluent refuses a body without one of its content types, missing included.
        let essence = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|ct| ct.to_str().ok())
            .and_then(|ct| ct.split(';').next())
            .map(str::trim)
            .unwrap_or_default();
        if !ACCEPTED_TYPES
            .iter()
            .any(|t| t.eq_ignore_ascii_case(essence))
        {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| match e {
            BytesRejection::FailedToBufferBody(f)
                if f.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                ApiError::BodyTooLarge
            }
            // `body_read_timeout` (the server): the client was too slow sending it.
            BytesRejection::FailedToBufferBody(f) if body_timed_out(&f) => ApiError::BodyTimeout,
            other => ApiError::Malformed(other.body_text()),
        })?;
        let trimmed = bytes.trim_ascii();
        if trimmed.is_empty() || trimmed == b"null" {
            return Err(ApiError::BodyRequired);
        }
        // Every body Confluent reads is a JSON object; serde would also fill a struct from an
        // array (`[null, null]`), which Jackson refuses with 400.
        if trimmed.first() != Some(&b'{') {
            let what = match serde_json::from_slice::<serde_json::Value>(trimmed) {
                Err(e) => return Err(ApiError::Malformed(e.to_string())),
                Ok(serde_json::Value::Array(_)) => "an array",
                Ok(serde_json::Value::String(_)) => "a string",
                Ok(serde_json::Value::Number(_)) => "a number",
                Ok(_) => "a boolean",
            };
            return Err(ApiError::Malformed(format!(
                "Cannot deserialize the request body from {what}: an object is expected"
            )));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::Malformed(e.to_string()))
    }
}

/// Query parameters, read leniently as Jersey does (`?deleted=yes` is simply not `true`).
pub struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let map =
            serde_urlencoded::from_str(query).map_err(|e| ApiError::InvalidQuery(e.to_string()))?;
        Ok(Params(map))
    }
}

impl Params {
    pub fn flag(&self, name: &str) -> bool {
        self.0
            .get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `offset` and `limit` for listings; a non-positive limit means no limit, as Confluent.
    pub fn page(&self) -> Result<(usize, usize), ApiError> {
        let offset = self.int("offset")?.unwrap_or(0);
        if offset < 0 {
            return Err(ApiError::NegativeOffset);
        }
        let limit = self
            .int("limit")?
            .filter(|l| *l > 0)
            .map_or(usize::MAX, |l| l as usize);
        Ok((offset as usize, limit))
    }

    /// An integer parameter; a malformed one matches no resource, as in Jersey (404).
    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| v.parse().map_err(|_| ApiError::NotFound))
            .transpose()
    }
}

/// Path parameters, percent-decoded; a segment that is not UTF-8 is a 400, never a panic.
pub struct PathParams<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| PathParams(p.0))
            .map_err(|e| ApiError::Malformed(e.body_text()))
    }
}

/// A subject version as Confluent renders it.
#[derive(Serialize)]
pub struct VersionBody<'a> {
    pub subject: &'a str,
    pub version: i32,
    pub id: i32,
    #[serde(rename = "schemaType", skip_serializing_if = "Option::is_none")]
    pub schema_type: Option<&'a str>,
    #[serde(skip_serializing_if = "<[Reference]>::is_empty")]
    pub references: &'a [Reference],
    pub schema: &'a str,
}

impl<'a> VersionBody<'a> {
    pub fn new(subject: &'a str, v: &'a VersionEntry) -> Self {
        VersionBody {
            subject,
            version: v.version.get(),
            id: v.schema.id.get(),
            schema_type: v.schema.schema_type.as_deref(),
            references: &v.schema.references,
            schema: &v.schema.text,
        }
    }
}

impl VersionBody<'_> {
    /// `v` of `subject` rendered as [`VersionBody`], once per version: the bytes are kept
    /// with the entry and served as they are to every later request.
    pub fn rendered(subject: &str, v: &VersionEntry) -> Response {
        let bytes = v
            .rendered
            .get_or_init(|| render(&VersionBody::new(subject, v)))
            .clone();
        json_bytes(Bytes::from_owner(bytes))
    }
}

/// `body` as JSON bytes, to keep.
pub fn render(body: &impl Serialize) -> Arc<[u8]> {
    serde_json::to_vec(body)
        .unwrap_or_else(|_| b"{}".to_vec())
        .into()
}

/// A 200 whose body is JSON already.
pub fn json_bytes(body: Bytes) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        body,
    )
        .into_response()
}

/// A schema's text as the whole body (`…/schema` endpoints): it is JSON already, and shared,
/// not copied.
pub fn raw_schema(text: &Arc<str>) -> Response {
    struct Text(Arc<str>);
    impl AsRef<[u8]> for Text {
        fn as_ref(&self) -> &[u8] {
            self.0.as_bytes()
        }
    }
    json_bytes(Bytes::from_owner(Text(text.clone())))
}

/// Runs `work` (parsing a submitted schema, checking compatibility) on tokio's blocking pool:
/// a 4 MiB schema can take a while, and the async workers must stay free for other requests
/// (`/health` included) meanwhile.
pub async fn off_the_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    // Parsing and checking are CPU work: more at once than a few per core only queues them on
    // the blocking pool (whose queue has no bound) while their bodies stay in memory. Requests
    // beyond that wait here, where their connections' timeouts and caps still apply.
    static SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(4 * cores)
    });
    let _slot = SLOTS.acquire().await.map_err(|_| ApiError::Busy)?;
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        tracing::error!(error = %e, "schema work failed");
        ApiError::SchemaWork
    })?
}

/// A request body did not arrive within the server's `body_read_timeout`: the server fails the
/// body with it, and [`JsonBody`] answers 408.
#[derive(Debug, thiserror::Error)]
#[error("request body not received within the time allowed")]
pub struct BodyTimedOut;

/// Whether `error` (or anything it wraps) is a [`BodyTimedOut`]: handlers answer 408 then.
fn body_timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<BodyTimedOut>() {
            return true;
        }
        cause = e.source();
    }
    false
}
