//! The error type of the API and its JSON rendering.
//!
//! Every error a client can cause is a 4xx with a JSON body
//! `{"error": {"parameter": "end", "message": "…"}}`; only failures of the store (or of the
//! server itself) are 5xx, with a generic body; the detail goes with the response to the
//! middleware that logs each 5xx once ([`crate::failures`]).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use threddex_search::SearchError;
use threddex_store::{ErrorChain, StoreError};

use crate::failures::{Failure, with_failure};

/// Why a request could not be answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// A query parameter (or the query string itself) is unacceptable: HTTP 400.
    #[error("invalid parameter {parameter}: {message}")]
    BadParameter {
        /// The offending parameter (`"query"` for the query string as a whole).
        parameter: String,
        /// What is wrong with it.
        message: String,
    },
    /// The thing asked for does not exist: HTTP 404.
    #[error("not found: {0}")]
    NotFound(String),
    /// The representation asked for cannot be produced: HTTP 406.
    #[error("not acceptable: {0}")]
    NotAcceptable(String),
    /// The request conflicts with the current state (a taken name, a running sync): HTTP 409.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A feature that is not available in this build or configuration: HTTP 501.
    #[error("not implemented: {0}")]
    NotImplemented(String),
    /// The database failed: HTTP 500; unreachable ([`StoreError::is_connect`]): HTTP 503 with
    /// `Retry-After` (the service recovers by itself once the database is back).
    #[error("store error: {0}")]
    Store(#[from] StoreError),
    /// Anything else that is the server's fault: HTTP 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 naming `parameter`.
    pub fn bad(parameter: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadParameter {
            parameter: parameter.into(),
            message: message.into(),
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadParameter { .. } => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            Self::Conflict(_) | Self::Store(StoreError::Conflict(_)) => StatusCode::CONFLICT,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Store(StoreError::NotFound(_)) => StatusCode::NOT_FOUND,
            Self::Store(StoreError::Invalid(_)) => StatusCode::BAD_REQUEST,
            Self::Store(e) if e.is_connect() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::UnknownCollection(id) => {
                Self::NotFound(format!("unknown collection {id:?}"))
            }
            SearchError::Store(e) => Self::Store(e),
            SearchError::Invalid(m) => Self::bad("query", m),
        }
    }
}

/// The body of an error response.
#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Debug, Serialize)]
struct ErrorDetail<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter: Option<&'a str>,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let generic;
        let mut failure = None;
        let (parameter, message): (Option<&str>, &str) = match &self {
            Self::BadParameter { parameter, message } => (Some(parameter), message),
            Self::NotFound(m)
            | Self::NotAcceptable(m)
            | Self::NotImplemented(m)
            | Self::Conflict(m) => (None, m),
            Self::Store(StoreError::Conflict(m)) => (None, m),
            Self::Store(StoreError::NotFound(m)) => (None, m),
            Self::Store(StoreError::Invalid(m)) => (Some("query"), m),
            Self::Store(e) => {
                failure = Some(Failure {
                    what: "store failure while answering a request",
                    detail: ErrorChain(e).to_string(),
                });
                generic = if e.is_connect() {
                    "the index is unavailable: its database cannot be reached; try again shortly"
                } else {
                    "internal error: the index could not be read"
                }
                .to_owned();
                (None, &generic)
            }
            Self::Internal(e) => {
                failure = Some(Failure {
                    what: "internal failure while answering a request",
                    detail: e.clone(),
                });
                generic = "internal error".to_owned();
                (None, &generic)
            }
        };
        let mut response = json_response(
            status,
            &ErrorBody {
                error: ErrorDetail { parameter, message },
            },
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        }
        match failure {
            Some(f) => with_failure(response, f),
            None => response,
        }
    }
}

/// The `413` of a body over [`MAX_BODY_BYTES`](crate::MAX_BODY_BYTES) (answered by the body
/// limit before any handler runs, as plain text) as the JSON error body every other error has.
pub(crate) async fn body_too_large_as_json(response: Response) -> Response {
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return response;
    }
    let message = format!(
        "the request body is larger than {} KiB",
        crate::MAX_BODY_BYTES / 1024
    );
    json_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        &ErrorBody {
            error: ErrorDetail {
                parameter: Some("body"),
                message: &message,
            },
        },
    )
}

/// Serialize `value` as a JSON response with `status`.
pub(crate) fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => with_failure(
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"error":{"message":"internal error"}}"#,
            )
                .into_response(),
            Failure {
                what: "response serialization failed",
                detail: e.to_string(),
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(ApiError::bad("end", "x").status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            ApiError::NotFound("c".into()).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            ApiError::Store(StoreError::Internal("boom".into())).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            ApiError::Store(StoreError::Invalid("bad".into())).status(),
            StatusCode::BAD_REQUEST
        );
        let away = ApiError::Store(StoreError::connect(
            "the database is unreachable",
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"),
        ));
        assert_eq!(away.status(), StatusCode::SERVICE_UNAVAILABLE);
        let r = away.into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "5");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }
}
