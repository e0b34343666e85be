//! The one API error type. Every failure a handler can return becomes an HTTP status plus a stable,
//! machine-readable `code` (clients branch on it; it never changes once released), a message for
//! people, and the offending field when there is one.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use palisade_core::FieldError;
use palisade_core::policy::Denied;
use palisade_store::StoreError;
use serde::Serialize;

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `invalid_field`, `not_found`, `unauthenticated`.
    pub code: &'static str,
    pub message: String,
    /// The field that was wrong, as a path like `contract.support_hours.time_zone`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The request ID, to quote when asking for help.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// An error as a handler returns it.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn field(
        status: StatusCode,
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such record")
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign in or send an API token",
        )
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "your role may not do this",
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; it has been logged",
        )
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        Self::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            e.field,
            e.message,
        )
    }
}

impl From<Denied> for ApiError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::Forbidden => Self::forbidden(),
            // Out-of-scope records are answered exactly like missing ones.
            Denied::NotVisible => Self::not_found(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::not_found(),
            StoreError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::Invalid(f) => f.into(),
            StoreError::Backend(m) => {
                tracing::error!(error = %m, "Store backend failed.");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable; try again",
                )
            }
            StoreError::Corrupt(m) => {
                tracing::error!(error = %m, "Stored data is inconsistent.");
                Self::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = crate::telemetry::current_request_id().map(|id| id.to_string());
        let body = ErrorBody {
            code: self.code,
            message: self.message,
            field: self.field,
            request_id,
        };
        (self.status, axum::Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
