//! The whole HTTP surface of `orderpulse serve` in one [`Router`]: the
//! operations routes, the SQL API, the dashboard pages (`GET /`,
//! `/assets/...`, see [`crate::assets`]), with the layers every response
//! gets.
//!
//! Every response carries `X-Content-Type-Options: nosniff`,
//! `Content-Security-Policy: default-src 'self'`, `X-Frame-Options: DENY`
//! and `Referrer-Policy: no-referrer`. A path nothing serves is a 404 (JSON
//! `{"error": ...}` under `/api/`).

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::{self, ApiError, ApiState};
use crate::assets;
use crate::ops::{self, OpsState};

/// Everything `orderpulse serve` answers on its HTTP address.
pub fn router(ops_state: OpsState, api_state: ApiState) -> Router {
    Router::new()
        .merge(assets::routes())
        .merge(ops::routes(ops_state))
        .merge(api::routes(api_state))
        .fallback(fallback)
        .layer(axum::middleware::from_fn(security_headers))
}

/// Adds the security headers to every response, errors included.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CONTENT_SECURITY_POLICY, "default-src 'self'"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (HeaderName::from_static("referrer-policy"), "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn fallback(request: Request) -> Response {
    let path = request.uri().path();
    if path.starts_with("/api/") {
        ApiError::no_route(path).into_response()
    } else {
        (StatusCode::NOT_FOUND, "not found\n").into_response()
    }
}

#[cfg(test)]
mod tests;
