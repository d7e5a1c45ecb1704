//! The one place errors become HTTP responses: Confluent's status codes and
//! `{"error_code": …, "message": …}` bodies. Internal errors are logged here and answered
//! without their details.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::respond;
use crate::node::NodeError;
use crate::registry::error::RegistryError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Node(#[from] NodeError),
    /// A framework-level refusal (malformed body, unknown route, …) with Confluent's code.
    #[error("{message}")]
    Http { status: StatusCode, message: String },
}

impl ApiError {
    pub fn http(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError::Http {
            status,
            message: message.into(),
        }
    }

    /// `(HTTP status, error_code)` exactly as Confluent answers.
    fn codes(&self) -> (StatusCode, u32) {
        use RegistryError as R;
        let registry = match self {
            ApiError::Registry(r) | ApiError::Node(NodeError::Registry(r)) => r,
            ApiError::Node(NodeError::Store(StoreError::Timeout(_))) => {
                return (StatusCode::INTERNAL_SERVER_ERROR, 50002)
            }
            ApiError::Node(NodeError::Store(_)) => {
                return (StatusCode::INTERNAL_SERVER_ERROR, 50001)
            }
            ApiError::Http { status, .. } => return (*status, u32::from(status.as_u16())),
        };
        let not_found = StatusCode::NOT_FOUND;
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        match registry {
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
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.codes();
        let message = match &self {
            ApiError::Node(NodeError::Store(e @ StoreError::Timeout(_))) => {
                tracing::error!(error = %e, "store timeout");
                "Operation timed out while writing to the store".to_string()
            }
            ApiError::Node(NodeError::Store(e)) => {
                tracing::error!(error = %e, "store failure");
                "Error while writing to the store".to_string()
            }
            other => other.to_string(),
        };
        respond(status, &json!({ "error_code": code, "message": message }))
    }
}
