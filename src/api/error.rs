//! The one place errors become HTTP responses: Confluent's status codes and
//! `{"error_code": …, "message": …}` bodies, plus the headers some refusals carry
//! (`WWW-Authenticate`, `Retry-After`). Internal errors are logged here and answered without
//! their details.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::respond;
use crate::auth::{UserError, REALM};
use crate::node::NodeError;
use crate::registry::error::RegistryError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Node(#[from] NodeError),
    /// User management (`/admin/users`) refused or failed.
    #[error(transparent)]
    User(#[from] UserError),
    /// No such route, or a path or query number that is not one: Jersey matches no resource.
    #[error("HTTP 404 Not Found")]
    NotFound,
    #[error("HTTP 405 Method Not Allowed")]
    MethodNotAllowed,
    /// A body without one of Confluent's content types.
    #[error("HTTP 415 Unsupported Media Type")]
    UnsupportedMediaType,
    #[error("Request body is too large")]
    BodyTooLarge,
    /// The body did not arrive within `body_read_timeout` (see `crate::server`).
    #[error("Request body not received in time")]
    BodyTimeout,
    #[error("Request body is required")]
    BodyRequired,
    /// A body or path the parsers refused, in their words.
    #[error("{0}")]
    Malformed(String),
    #[error("Invalid query: {0}")]
    InvalidQuery(String),
    #[error("offset must not be negative")]
    NegativeOffset,
    /// Every slot for schema work is taken and the wait for one ended.
    #[error("The server is busy")]
    Busy,
    /// Schema work on the blocking pool did not finish (it panicked).
    #[error("Error while processing the schema")]
    SchemaWork,
    /// No or bad credentials. `challenge` is the next step of a SCRAM exchange; without one the
    /// response offers both schemes.
    #[error("Unauthorized")]
    Unauthorized { challenge: Option<String> },
    /// The caller's role or grants do not cover the request.
    #[error("Forbidden")]
    Forbidden,
    /// Too many failed logins for this user or client.
    #[error("Too many failed logins; try again later")]
    TooManyRequests { retry_after: Duration },
    /// Credentials cannot be checked (the server is shutting down).
    #[error("Credentials cannot be verified now")]
    CredentialsUnavailable,
    /// A write this follower passed to the leader got no answer.
    #[error("Error while forwarding the request to the leader: {0}")]
    Forwarding(String),
    /// `/admin/users` with auth off: an open registry must not let anyone plant users.
    #[error("User management needs authentication: set [auth] enabled = true")]
    UsersNeedAuth,
}

impl ApiError {
    /// `(HTTP status, error_code)` exactly as Confluent answers.
    fn codes(&self) -> (StatusCode, u32) {
        let status = match self {
            ApiError::Registry(r) | ApiError::Node(NodeError::Registry(r)) => {
                return registry_codes(r)
            }
            ApiError::Node(NodeError::Store(e)) | ApiError::User(UserError::Store(e)) => {
                return store_codes(e)
            }
            ApiError::Node(NodeError::NotLeader) => {
                return (StatusCode::INTERNAL_SERVER_ERROR, 50004)
            }
            ApiError::Forwarding(_) => return (StatusCode::INTERNAL_SERVER_ERROR, 50003),
            ApiError::User(u) => match u {
                UserError::NotFound(_) => StatusCode::NOT_FOUND,
                UserError::Exists(_) => StatusCode::CONFLICT,
                UserError::Invalid(_) | UserError::LastAdmin(_) => StatusCode::UNPROCESSABLE_ENTITY,
                UserError::Hashing | UserError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::BodyRequired => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Malformed(_) | ApiError::InvalidQuery(_) | ApiError::NegativeOffset => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::SchemaWork => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden | ApiError::UsersNeedAuth => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::CredentialsUnavailable => return (StatusCode::INTERNAL_SERVER_ERROR, 50001),
        };
        // Refusals by the HTTP framework itself carry the status as their code, as Jersey's do.
        (status, u32::from(status.as_u16()))
    }

    /// The message clients see: internal failures are logged and told without their details.
    fn message(&self) -> String {
        match self {
            ApiError::Node(NodeError::Store(e)) | ApiError::User(UserError::Store(e)) => {
                store_message(e).to_string()
            }
            other => other.to_string(),
        }
    }
}

fn registry_codes(error: &RegistryError) -> (StatusCode, u32) {
    use RegistryError as R;
    let not_found = StatusCode::NOT_FOUND;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    match error {
        R::SubjectNotFound(_) => (not_found, 40401),
        R::VersionNotFound(_) => (not_found, 40402),
        R::SchemaNotFound(_) => (not_found, 40403),
        R::SubjectSoftDeleted(_) => (not_found, 40404),
        R::SubjectNotSoftDeleted(_) => (not_found, 40405),
        R::VersionSoftDeleted { .. } => (not_found, 40406),
        R::VersionNotSoftDeleted { .. } => (not_found, 40407),
        R::SubjectConfigNotFound(_) => (not_found, 40408),
        R::SubjectModeNotFound(_) => (not_found, 40409),
        R::Incompatible { .. } => (StatusCode::CONFLICT, 409),
        R::InvalidSchema(_) => (unprocessable, 42201),
        R::InvalidVersion(_) => (unprocessable, 42202),
        R::InvalidCompatibility => (unprocessable, 42203),
        R::InvalidMode => (unprocessable, 42204),
        R::NotPermitted(_) => (unprocessable, 42205),
        R::ReferenceExists { .. } => (unprocessable, 42206),
        R::InvalidSubject(_) => (unprocessable, 42208),
    }
}

/// 50002 for a write that may still land (Confluent's timeout), 50001 for any other failure.
fn store_codes(error: &StoreError) -> (StatusCode, u32) {
    match error {
        StoreError::Timeout(_) => (StatusCode::INTERNAL_SERVER_ERROR, 50002),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, 50001),
    }
}

/// Logs a store failure and words it for clients.
fn store_message(error: &StoreError) -> &'static str {
    match error {
        StoreError::Timeout(_) => {
            tracing::error!(error = %error, "store timeout");
            "Operation timed out while writing to the store"
        }
        _ => {
            tracing::error!(error = %error, "store failure");
            "Error while writing to the store"
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.codes();
        let message = self.message();
        let mut response = respond(status, &json!({ "error_code": code, "message": message }));
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthorized { challenge } => {
                match challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
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
            }
            ApiError::TooManyRequests { retry_after } => {
                // Whole seconds, rounded up: retrying early would only be refused again.
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            }
            _ => {}
        }
        response
    }
}
