//! The JSON the dashboard pages read (additions to CONTRACT section 6), with
//! the same auth, limits and `{"error": ...}` shape as the SQL API:
//!
//! - `GET /api/overview?start=&end=&bucket=&base_start=&base_end=&<filters>`:
//!   totals now vs the comparison period, breakdowns by `failure_cause`,
//!   `channel`, `payment_method`, `region` and `app_version` ranked by
//!   contribution to the change, the channel × payment-method heat map and
//!   the failure-rate trend by cause ([`crate::board::overview`]).
//! - `GET /api/samples?start=&end=&<filters>&limit=`: the newest failed
//!   attempts of a slice (default 50, at most 500).
//! - `GET /api/rejected?start=&end=&bucket=&reason=&limit=`: rejected records
//!   per reason over time, totals, and the newest samples.
//! - `GET /api/runbooks`: the runbook of every failure cause.
//!
//! Filters are `failure_cause`, `channel`, `payment_method`, `region`,
//! `app_version`; the query string rules are in `board::window`.

use std::sync::Arc;

use analytics::Analytics;
use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use model::runbooks::Runbooks;
use serde_json::{Value, json};

use super::ApiError;
use crate::board::{self, Accepts};

/// Default and largest number of samples.
const SAMPLES: usize = 50;
const MAX_SAMPLES: usize = 500;

#[derive(Debug, Clone)]
struct PagesState {
    analytics: Analytics,
    runbooks: Arc<Runbooks>,
}

/// The page routes (layers are added by [`super::routes`]).
pub(super) fn routes(analytics: Analytics, runbooks: Arc<Runbooks>) -> Router {
    Router::new()
        .route("/api/overview", get(overview))
        .route("/api/samples", get(samples))
        .route("/api/rejected", get(rejected))
        .route("/api/runbooks", get(runbooks_json))
        .with_state(PagesState {
            analytics,
            runbooks,
        })
}

type Pairs = Result<Query<Vec<(String, String)>>, QueryRejection>;

fn parse(query: Pairs, accepts: Accepts) -> Result<board::BoardQuery, ApiError> {
    let Query(pairs) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    board::window::parse(&pairs, chrono::Utc::now().timestamp_millis(), accepts)
}

async fn overview(State(s): State<PagesState>, query: Pairs) -> Result<Json<Value>, ApiError> {
    let accepts = Accepts {
        filters: true,
        base: true,
        max_limit: 0,
        reason: false,
    };
    let q = parse(query, accepts)?;
    Ok(Json(board::overview(&s.analytics, &q).await?))
}

async fn samples(State(s): State<PagesState>, query: Pairs) -> Result<Json<Value>, ApiError> {
    let accepts = Accepts {
        filters: true,
        base: false,
        max_limit: MAX_SAMPLES,
        reason: false,
    };
    let q = parse(query, accepts)?;
    let limit = q.limit.unwrap_or(SAMPLES);
    Ok(Json(board::samples(&s.analytics, &q, limit).await?))
}

async fn rejected(State(s): State<PagesState>, query: Pairs) -> Result<Json<Value>, ApiError> {
    let accepts = Accepts {
        filters: false,
        base: false,
        max_limit: MAX_SAMPLES,
        reason: true,
    };
    let q = parse(query, accepts)?;
    let limit = q.limit.unwrap_or(SAMPLES);
    Ok(Json(board::rejected(&s.analytics, &q, limit).await?))
}

async fn runbooks_json(State(s): State<PagesState>) -> Json<Value> {
    let books: Vec<Value> = s
        .runbooks
        .iter()
        .map(|(cause, book)| {
            json!({
                "failure_cause": cause,
                "title": book.title,
                "summary": book.summary,
                "steps": book.steps,
                "owner": book.owner,
            })
        })
        .collect();
    Json(json!({ "runbooks": books }))
}
