//! `/metrics`: what operators scrape with Prometheus.
//!
//! Counters are kept per served app (one [`Metrics`] per [`super::app`]); gauges describing the
//! registry (schemas, subjects, log offset, replay) are read from the node's state at scrape
//! time, so they always equal what the API answers. Every label value comes from a fixed set —
//! route templates, never raw paths or subject names — so the number of series is bounded
//! whatever clients send, and nothing here reveals schema content (hence served, like
//! `/health`, without credentials: see `api::auth::requirement`).
//!
//! Where Confluent's Schema Registry has a metric (JMX, as Confluent's own JMX exporter rules
//! name it), the same name is exported too, so existing dashboards and alerts keep working:
//! `kafka_schema_registry_{api_success_count, api_failure_count, registered_count,
//! deleted_count, schemas_created, schemas_deleted, master_slave_role, node_count}`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{header, Extensions, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

use super::around::Around;
use super::request_id::{route, route_name};
use crate::node::Node;
use crate::registry::query::{self, Visibility};

/// The only schema type Schemata registers, as Confluent labels it.
const AVRO: &str = "avro";

/// Why a request was refused by the auth layer. Unknown users and wrong passwords are one
/// reason on purpose: the authenticator answers both the same way (a dummy hash for unknown
/// users), and the metrics must not tell them apart either.
#[derive(Debug, Clone, Copy)]
pub enum AuthFailure {
    /// No `Authorization` header and no client certificate.
    MissingCredentials,
    /// Credentials that did not authenticate (unknown user, wrong password, expired session,
    /// malformed header, certificate naming no user).
    BadCredentials,
    /// Too many failed logins for the user or address (429).
    RateLimited,
    /// Authenticated, but the role or grants do not cover the request (403).
    Forbidden,
    /// Credentials could not be checked (shutting down).
    Unavailable,
}

impl AuthFailure {
    fn label(self) -> &'static str {
        match self {
            AuthFailure::MissingCredentials => "missing_credentials",
            AuthFailure::BadCredentials => "bad_credentials",
            AuthFailure::RateLimited => "rate_limited",
            AuthFailure::Forbidden => "forbidden",
            AuthFailure::Unavailable => "unavailable",
        }
    }
}

/// What a registration came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// A schema the registry did not hold: a new id.
    NewId,
    /// A new version under the subject, with the id the schema already has elsewhere.
    NewVersion,
    /// Already registered under the subject: its id returned, nothing written.
    Existing,
}

impl Registration {
    fn label(self) -> &'static str {
        match self {
            Registration::NewId => "new_id",
            Registration::NewVersion => "new_version",
            Registration::Existing => "existing",
        }
    }
}

/// What a compatibility check (`/compatibility/…`) answered.
#[derive(Debug, Clone, Copy)]
pub enum Compatibility {
    Compatible,
    Incompatible,
    /// No verdict: an invalid schema, an unknown subject or version, a malformed request.
    Error,
}

impl Compatibility {
    fn label(self) -> &'static str {
        match self {
            Compatibility::Compatible => "compatible",
            Compatibility::Incompatible => "incompatible",
            Compatibility::Error => "error",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    api_success: IntCounter,
    api_failure: IntCounter,
    auth_failures: IntCounterVec,
    compatibility: IntCounterVec,
    registrations: IntCounterVec,
    registered: IntCounter,
    created: IntCounterVec,
    deleted: IntCounter,
    schemas_deleted: IntCounterVec,
    schemas: IntGauge,
    subjects: IntGauge,
    offset: IntGauge,
    replay_seconds: Gauge,
    skipped: IntGauge,
    leader: IntGauge,
    master_slave_role: IntGauge,
    node_count: IntGauge,
    leader_epoch: IntGauge,
    staleness: Gauge,
    commits: IntCounter,
    syncs: IntCounter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        fn add<M: prometheus::core::Collector + Clone + 'static>(r: &Registry, m: M) -> M {
            r.register(Box::new(m.clone()))
                .expect("metric names are unique");
            m
        }
        let counter = |name: &str, help: &str| add(&registry, IntCounter::new(name, help).unwrap());
        let counters = |name: &str, help: &str, labels: &[&str]| {
            add(
                &registry,
                IntCounterVec::new(Opts::new(name, help), labels).unwrap(),
            )
        };
        let gauge = |name: &str, help: &str| add(&registry, IntGauge::new(name, help).unwrap());
        let metrics = Metrics {
            requests: counters(
                "schemata_http_requests_total",
                "HTTP requests answered, by method, route template and status.",
                &["method", "route", "status"],
            ),
            latency: add(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "schemata_http_request_duration_seconds",
                        "Time to answer HTTP requests, by method and route template.",
                    )
                    .buckets(vec![
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0, 10.0, 30.0,
                    ]),
                    &["method", "route"],
                )
                .unwrap(),
            ),
            api_success: counter(
                "kafka_schema_registry_api_success_count",
                "API calls answered with a status below 400 (Confluent's api-success-count).",
            ),
            api_failure: counter(
                "kafka_schema_registry_api_failure_count",
                "API calls answered with a status of 400 or more (Confluent's api-failure-count).",
            ),
            auth_failures: counters(
                "schemata_auth_failures_total",
                "Requests refused by the auth layer, by reason.",
                &["reason"],
            ),
            compatibility: counters(
                "schemata_compatibility_checks_total",
                "Compatibility checks (/compatibility), by result.",
                &["result"],
            ),
            registrations: counters(
                "schemata_registrations_total",
                "Schema registrations that succeeded, by result (new_id, new_version, existing).",
                &["result"],
            ),
            registered: counter(
                "kafka_schema_registry_registered_count",
                "Schema versions registered (Confluent's registered-count).",
            ),
            created: counters(
                "kafka_schema_registry_schemas_created",
                "Schema versions registered, by schema type (Confluent's *-schemas-created).",
                &["schema_type"],
            ),
            deleted: counter(
                "kafka_schema_registry_deleted_count",
                "Schema versions deleted through the API (Confluent's deleted-count).",
            ),
            schemas_deleted: counters(
                "kafka_schema_registry_schemas_deleted",
                "Schema versions deleted, by schema type (Confluent's *-schemas-deleted).",
                &["schema_type"],
            ),
            schemas: gauge(
                "schemata_schemas",
                "Schemas (distinct ids) the registry holds, soft-deleted ones included.",
            ),
            subjects: gauge(
                "schemata_subjects",
                "Subjects with at least one live version (what GET /subjects lists).",
            ),
            offset: gauge(
                "schemata_log_offset",
                "Offset of the last log record applied to the registry's state.",
            ),
            replay_seconds: add(
                &registry,
                Gauge::new(
                    "schemata_replay_seconds",
                    "Time the start-up replay of the log took.",
                )
                .unwrap(),
            ),
            skipped: gauge(
                "schemata_records_skipped",
                "Log records skipped as unusable since start-up, replay included.",
            ),
            leader: gauge(
                "schemata_leader",
                "1 if this node is the writer (a single node always is).",
            ),
            leader_epoch: gauge(
                "schemata_leader_epoch",
                "Election epoch of the known leader: one more on every change of leader (0: single node).",
            ),
            staleness: add(
                &registry,
                Gauge::new(
                    "schemata_log_staleness_seconds",
                    "Seconds since this node last read its log to the end: how far its reads may lag other nodes' writes.",
                )
                .unwrap(),
            ),
            commits: counter(
                "schemata_store_commits_total",
                "Transactions committed to the SQLite store (0 on other stores).",
            ),
            syncs: counter(
                "schemata_store_syncs_total",
                "Syncs of the SQLite store to disk: commits ÷ syncs is how many writes share one (group commit).",
            ),
            master_slave_role: gauge(
                "kafka_schema_registry_master_slave_role",
                "1 if this node is the leader (Confluent's master-slave-role).",
            ),
            node_count: gauge(
                "kafka_schema_registry_node_count",
                "Registry nodes in the cluster (Confluent's node-count).",
            ),
            registry,
        };
        // Series that exist before their first event, so rates and dashboards start at zero.
        for reason in [
            AuthFailure::MissingCredentials,
            AuthFailure::BadCredentials,
            AuthFailure::RateLimited,
            AuthFailure::Forbidden,
            AuthFailure::Unavailable,
        ] {
            metrics.auth_failures.with_label_values(&[reason.label()]);
        }
        for result in [
            Compatibility::Compatible,
            Compatibility::Incompatible,
            Compatibility::Error,
        ] {
            metrics.compatibility.with_label_values(&[result.label()]);
        }
        for result in [
            Registration::NewId,
            Registration::NewVersion,
            Registration::Existing,
        ] {
            metrics.registrations.with_label_values(&[result.label()]);
        }
        metrics.created.with_label_values(&[AVRO]);
        metrics.schemas_deleted.with_label_values(&[AVRO]);
        metrics.leader.set(1);
        metrics.master_slave_role.set(1);
        metrics.node_count.set(1);
        metrics
    }

    fn answered(&self, method: &Method, route: &str, status: StatusCode, took: Duration) {
        let method = method_label(method);
        self.requests
            .with_label_values(&[method, route, status.as_str()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(took.as_secs_f64());
        if status.as_u16() < 400 {
            self.api_success.inc();
        } else {
            self.api_failure.inc();
        }
    }

    /// The text exposition format, with the state gauges read now.
    pub fn render(&self, node: &Node) -> Vec<u8> {
        let (schemas, subjects, offset, skipped) = node.read(|s| {
            let live = query::subjects(s, "", Visibility::of(false, false)).count();
            (s.schema_count(), live, s.offset, s.skipped)
        });
        self.schemas.set(schemas as i64);
        self.subjects.set(subjects as i64);
        self.offset.set(offset);
        self.skipped.set(skipped as i64);
        self.replay_seconds.set(node.replay_time().as_secs_f64());
        let leadership = node.leadership();
        let leading = i64::from(leadership.leading);
        self.leader.set(leading);
        self.leader_epoch.set(leadership.epoch as i64);
        self.staleness.set(node.staleness().as_secs_f64());
        self.master_slave_role.set(leading);
        if let Some((commits, syncs)) = node.commit_counts() {
            // The store counts; the counters catch up to it (they only ever grow).
            self.commits
                .inc_by(commits.saturating_sub(self.commits.get()));
            self.syncs.inc_by(syncs.saturating_sub(self.syncs.get()));
        }
        let mut text = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut text) {
            tracing::error!(error = %e, "rendering metrics failed");
        }
        text
    }
}

/// Methods as labels: the standard ones by name, anything a client invents as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// `GET /metrics`.
pub fn router(node: Arc<Node>, metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || async move {
            let text = metrics.render(&node);
            (
                StatusCode::OK,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                )],
                text,
            )
                .into_response()
        }),
    )
}

/// Counts every request by route template and status, and times it. A router layer (so the
/// matched route is known) outside the auth layer (so its refusals are counted); it also
/// hands the handlers and the auth layer a [`Recorder`].
#[derive(Clone)]
pub struct Track(pub Arc<Metrics>);

/// What [`Track`] keeps while the route runs.
pub struct Tracked {
    started: Instant,
    method: Method,
    route: Option<MatchedPath>,
}

impl Around for Track {
    type State = Tracked;

    fn before(&self, req: &mut Request) -> Tracked {
        let (method, route) = (req.method().clone(), route(req));
        req.extensions_mut().insert(Arc::clone(&self.0));
        Tracked {
            started: Instant::now(),
            method,
            route,
        }
    }

    fn after(&self, t: Tracked, response: &mut Response) {
        let route = route_name(t.route.as_ref());
        self.0
            .answered(&t.method, route, response.status(), t.started.elapsed());
    }
}

/// Records domain events into the app's [`Metrics`]; does nothing where no [`Track`] layer
/// runs (a bare `api::router`, as some tests build).
#[derive(Clone, Default)]
pub struct Recorder(Option<Arc<Metrics>>);

impl Recorder {
    pub fn of(extensions: &Extensions) -> Recorder {
        Recorder(extensions.get::<Arc<Metrics>>().cloned())
    }

    pub fn auth_failure(&self, why: AuthFailure) {
        if let Some(m) = &self.0 {
            m.auth_failures.with_label_values(&[why.label()]).inc();
        }
    }

    pub fn compatibility(&self, result: Compatibility) {
        if let Some(m) = &self.0 {
            m.compatibility.with_label_values(&[result.label()]).inc();
        }
    }

    pub fn registration(&self, result: Registration) {
        if let Some(m) = &self.0 {
            m.registrations.with_label_values(&[result.label()]).inc();
            if result != Registration::Existing {
                m.registered.inc();
                m.created.with_label_values(&[AVRO]).inc();
            }
        }
    }

    /// `versions` schema versions soft-deleted. A permanent delete needs a soft one first, so
    /// it is not counted again.
    pub fn deleted(&self, versions: usize) {
        if let Some(m) = &self.0 {
            m.deleted.inc_by(versions as u64);
            m.schemas_deleted
                .with_label_values(&[AVRO])
                .inc_by(versions as u64);
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Recorder {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Recorder, Self::Rejection> {
        Ok(Recorder::of(&parts.extensions))
    }
}
