//! [`ApiError`]: every failure of an `/api/*` request, as JSON
//! `{"error": "..."}` with the status that says whose mistake it was.
//!
//! | status | when |
//! |---|---|
//! | 400 | the body is not JSON, lacks `sql`, has wrong types; bad SQL; a refused statement (DDL, DML, `COPY`, `SET`, file reads); a bad or unknown parameter; an unknown `format` |
//! | 401 | `ORDERPULSE_API_TOKEN` is set and the request lacks `Authorization: Bearer <token>` |
//! | 404 | no saved query (or route) by that name |
//! | 408 | the query ran past the query time limit and was cancelled |
//! | 413 | the body is over the body limit |
//! | 422 | a guardrail refused the query: SQL too long or too deep, a NUL byte in it, too many result rows or bytes, over the memory limit |
//! | 503 | more API requests at once than the server takes (`Retry-After: 1`) |
//! | 500 | our own failure (storage unreadable, a broken saved query, a crashed query task) |

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// One failed API request: a status and a message for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 400: the request itself is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401 with `WWW-Authenticate: Bearer`.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "this endpoint needs `Authorization: Bearer <token>` with the server's \
             ORDERPULSE_API_TOKEN",
        )
    }

    /// 404 for a path nothing serves.
    pub fn no_route(path: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("no route {path}"))
    }
}

impl From<analytics::Error> for ApiError {
    fn from(err: analytics::Error) -> Self {
        use analytics::Error as E;
        let status = match &err {
            E::UnknownQuery(_) => StatusCode::NOT_FOUND,
            E::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            E::Limit(_) => StatusCode::UNPROCESSABLE_ENTITY,
            e if e.is_user_error() => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(error = %err, "query failed on our side");
        }
        // DataFusion's messages can span lines (candidate lists): one line.
        let text = err.to_string();
        let message = text.split_whitespace().collect::<Vec<_>>().join(" ");
        Self::new(status, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"orderpulse\""),
            );
        }
        response
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}
