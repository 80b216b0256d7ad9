//! Operations routes: liveness, readiness and Prometheus metrics.
//!
//! `/healthz` answers 200 while the process serves HTTP at all. `/readyz`
//! answers 200 `ready` when every [`Health`] it watches is ready, else 503
//! with one line per problem (no Kafka broker reachable, data directory not
//! writable): load balancers and Kubernetes take the worker out of rotation
//! while it recovers on its own. `/metrics` is the Prometheus text format of
//! one [`Registry`].

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use model::health::Health;
use prometheus::{Encoder, Registry, TextEncoder};
use tokio_util::sync::CancellationToken;

/// What the operations routes read.
#[derive(Debug, Clone)]
pub struct OpsState {
    pub registry: Registry,
    pub health: Health,
}

/// `/healthz`, `/readyz`, `/metrics`.
pub fn routes(state: OpsState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(state): State<OpsState>) -> Response {
    let problems = state.health.problems();
    if problems.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let body = problems.join("\n") + "\n";
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

async fn metrics(State(state): State<OpsState>) -> Response {
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    match encoder.encode(&state.registry.gather(), &mut body) {
        Ok(()) => (
            [(header::CONTENT_TYPE, encoder.format_type().to_string())],
            body,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics: {e}\n"),
        )
            .into_response(),
    }
}

/// Binds `addr` and serves `router` until `shutdown` is cancelled. Returns
/// the bound address (useful with port 0) and the server task.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    });
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get_path(router: Router, path: &str) -> (StatusCode, String) {
        let response = router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn readyz_follows_health_and_metrics_are_prometheus_text() {
        let registry = Registry::new();
        let c = prometheus::IntCounter::new("orderpulse_test_total", "a test counter").unwrap();
        registry.register(Box::new(c.clone())).unwrap();
        c.inc_by(7);
        let health = Health::new();
        let r = routes(OpsState {
            registry,
            health: health.clone(),
        });
        let (status, body) = get_path(r.clone(), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("no Kafka broker reachable"), "{body}");
        health.set_broker_up(true);
        assert_eq!(get_path(r.clone(), "/readyz").await.0, StatusCode::OK);
        health.set_storage_writable(false);
        let (status, body) = get_path(r.clone(), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("not writable"), "{body}");
        assert_eq!(get_path(r.clone(), "/healthz").await.0, StatusCode::OK);
        let (status, body) = get_path(r, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("orderpulse_test_total 7"), "{body}");
    }
}
