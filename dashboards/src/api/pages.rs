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
//!
//! Identical overview requests (the same query string) share one answer for
//! up to [`OVERVIEW_TTL`]: many open dashboards cost one count per second,
//! and concurrent identical requests wait for one computation rather than
//! each running it ([`OverviewCache`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use analytics::Analytics;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use model::runbooks::Runbooks;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use super::ApiError;
use crate::board::{self, Accepts};

/// Default and largest number of samples.
const SAMPLES: usize = 50;
const MAX_SAMPLES: usize = 500;

/// How long an overview answer is shared by identical requests.
pub const OVERVIEW_TTL: Duration = Duration::from_secs(1);
/// Distinct overview requests remembered at once.
const OVERVIEW_ENTRIES: usize = 256;

#[derive(Debug, Clone)]
struct PagesState {
    analytics: Analytics,
    runbooks: Arc<Runbooks>,
    overviews: Arc<OverviewCache>,
}

type Shared = Arc<OnceCell<Bytes>>;

/// Overview answers by query string, each kept for [`OVERVIEW_TTL`]; a
/// request finding one being computed waits for it. Errors are not kept.
#[derive(Debug, Default)]
struct OverviewCache {
    entries: Mutex<HashMap<String, (Instant, Shared)>>,
}

impl OverviewCache {
    /// The entry to answer `key` from: a fresh one, or a new empty one
    /// (`None` when full of fresh entries: compute without sharing).
    fn entry(&self, key: &str) -> Option<Shared> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, cell)) = entries.get(key)
            && at.elapsed() < OVERVIEW_TTL
        {
            return Some(cell.clone());
        }
        if entries.len() >= OVERVIEW_ENTRIES {
            entries.retain(|_, (at, _)| at.elapsed() < OVERVIEW_TTL);
            if entries.len() >= OVERVIEW_ENTRIES {
                return None;
            }
        }
        let cell = Shared::default();
        entries.insert(key.to_string(), (Instant::now(), cell.clone()));
        Some(cell)
    }
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
            overviews: Arc::default(),
        })
}

type Pairs = Result<Query<Vec<(String, String)>>, QueryRejection>;

fn parse(query: Pairs, accepts: Accepts) -> Result<board::BoardQuery, ApiError> {
    let Query(pairs) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    board::window::parse(&pairs, chrono::Utc::now().timestamp_millis(), accepts)
}

async fn overview(
    State(s): State<PagesState>,
    RawQuery(raw): RawQuery,
    query: Pairs,
) -> Result<Response, ApiError> {
    let accepts = Accepts {
        filters: true,
        base: true,
        max_limit: 0,
        reason: false,
    };
    let q = parse(query, accepts)?;
    let compute = || async {
        let value = board::overview(&s.analytics, &q).await?;
        serde_json::to_vec(&value)
            .map(Bytes::from)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
    };
    let body = match s.overviews.entry(raw.as_deref().unwrap_or("")) {
        Some(cell) => cell.get_or_try_init(compute).await?.clone(),
        None => compute().await?,
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
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
