//! The whole HTTP surface of `orderpulse serve` in one [`Router`]: the
//! operations routes, the SQL API and `GET /`, with the layers every
//! response gets.
//!
//! Every response carries `X-Content-Type-Options: nosniff`,
//! `Content-Security-Policy: default-src 'self'`, `X-Frame-Options: DENY`
//! and `Referrer-Policy: no-referrer`. A path nothing serves is a 404 (JSON
//! `{"error": ...}` under `/api/`).

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::api::{self, ApiError, ApiState};
use crate::ops::{self, OpsState};

/// Everything `orderpulse serve` answers on its HTTP address.
pub fn router(ops_state: OpsState, api_state: ApiState) -> Router {
    Router::new()
        .route("/", get(index))
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

/// A plain index of the routes until the dashboard pages land.
async fn index() -> Html<&'static str> {
    Html(INDEX)
}

const INDEX: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>orderpulse</title></head>
<body>
<h1>orderpulse</h1>
<p>Failure analytics for online order attempts. The dashboard pages are not built yet; these routes answer now:</p>
<ul>
<li><a href="/healthz">/healthz</a>: liveness</li>
<li><a href="/readyz">/readyz</a>: readiness (broker reachable, storage writable)</li>
<li><a href="/metrics">/metrics</a>: Prometheus metrics</li>
<li><a href="/api/queries">/api/queries</a>: saved queries (run one at /api/queries/NAME?start=now-1h)</li>
<li><code>POST /api/sql</code> with <code>{"sql": "SELECT ..."}</code>: read-only SQL (<code>?format=json|csv|arrow</code>)</li>
</ul>
</body>
</html>
"#;
