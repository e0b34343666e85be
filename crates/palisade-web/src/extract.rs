//! Request body and query extractors whose errors name what was wrong and where: the JSON path of
//! the bad field, the line and column in the body, or the query parameter.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use palisade_core::Validate;
use serde::de::DeserializeOwned;

use crate::{ApiError, AppState};

/// A JSON body, decoded strictly and validated before the handler sees it.
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + Validate> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                ct.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ));
        }
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!(
                        "the body is larger than the limit of {} bytes",
                        crate::MAX_BODY_BYTES
                    ),
                )
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "unreadable_body", e.body_text())
            }
        })?;
        let value = decode_json::<T>(&body)?;
        value.validate()?;
        Ok(Self(value))
    }
}

/// Decodes JSON, reporting the path of the field that failed to decode.
pub(crate) fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner();
        let (code, status) = match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                ("malformed_json", StatusCode::BAD_REQUEST)
            }
            _ => ("invalid_field", StatusCode::UNPROCESSABLE_ENTITY),
        };
        let message = inner.to_string();
        // The path of an unknown field already ends with its name, except at the top level.
        if let Some(name) = message
            .strip_prefix("unknown field `")
            .and_then(|m| m.split('`').next())
        {
            let field = if path == "." { name.to_owned() } else { path };
            return ApiError::field(status, "unknown_field", field, message);
        }
        if path == "." || code == "malformed_json" {
            ApiError::new(
                status,
                code,
                format!("the body is not valid JSON: {message}"),
            )
        } else {
            ApiError::field(status, code, path, message)
        }
    })
}

/// Query parameters, with errors naming the parameter.
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(q));
        serde_path_to_error::deserialize(de).map(Self).map_err(|e| {
            let field = e.path().to_string();
            ApiError::field(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                field,
                e.inner().to_string(),
            )
        })
    }
}

fn form_urlencoded_parse(q: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(q.as_bytes())
}

/// A path parameter (a record ID), with a JSON error when it is malformed.
pub(crate) struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e| {
                ApiError::field(StatusCode::BAD_REQUEST, "invalid_path", "id", e.body_text())
            })
    }
}
