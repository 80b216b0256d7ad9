//! The SQL API (CONTRACT section 6): `POST /api/sql`, `GET /api/queries`,
//! `GET /api/queries/{name}`.
//!
//! - `POST /api/sql` with a JSON body `{"sql": "..."}` runs one read-only
//!   statement; `?format=json|csv|arrow` picks the response ([`encode`]).
//! - `GET /api/queries` lists the saved queries: name, purpose, parameters
//!   (name, type, default, description), output columns, and whether it has
//!   a minutes form (`minutes_form`, see `analytics::saved`).
//! - `GET /api/queries/{name}?start=&end=&bucket=` runs a saved query; every
//!   query-string key but `format` is one of its parameters (an unknown one
//!   is a 400). Same response shapes as `/api/sql`.
//!
//! - The dashboard pages' JSON (`/api/overview`, `/api/samples`,
//!   `/api/rejected`, `/api/runbooks`) is in [`pages`].
//!
//! Queries run on `analytics`' own runtime under its guardrails, so a heavy
//! query never holds up the HTTP threads; failures become [`ApiError`]s.
//! The body limit, auth, load shedding (503 past [`ApiState::max_in_flight`]
//! requests at once) and security headers are layers (see [`routes`]).

pub mod auth;
pub mod encode;
pub mod error;
pub mod pages;

use std::sync::Arc;

use analytics::Analytics;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use model::runbooks::Runbooks;

use crate::alerting::AlertsView;
use crate::alerting::SilenceBook;
use crate::alerting::silences::{AddError, NewSilence};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

pub use auth::{ApiToken, check_bind};
pub use encode::ResultFormat;
pub use error::ApiError;
pub use pages::OVERVIEW_TTL;

/// Largest request body accepted (a SQL text is far smaller).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// API requests in flight at once by default; more are shed with 503.
pub const MAX_IN_FLIGHT: usize = 64;

/// What the API handlers use.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub analytics: Analytics,
    /// When set, `/api/*` requires it as a bearer token.
    pub token: Option<ApiToken>,
    /// Requests handled at once; one more is answered 503 at once (with
    /// `Retry-After`) instead of queueing behind them.
    pub max_in_flight: usize,
    /// What `GET /api/runbooks` shows (`--runbooks`, default built in).
    pub runbooks: Arc<Runbooks>,
    /// What `GET /api/alerts` shows (empty and `enabled: false` unless
    /// `serve` runs the detector).
    pub alerts: AlertsView,
    /// The detector's silences (`/api/silences`); `None` when alerting is
    /// off.
    pub silences: Option<SilenceBook>,
}

impl ApiState {
    /// No token, [`MAX_IN_FLIGHT`], the built-in runbooks.
    pub fn new(analytics: Analytics) -> Self {
        Self {
            analytics,
            token: None,
            max_in_flight: MAX_IN_FLIGHT,
            runbooks: Arc::new(Runbooks::builtin()),
            alerts: AlertsView::default(),
            silences: None,
        }
    }
}

/// The `/api/*` routes with their body limit and token check.
pub fn routes(state: ApiState) -> Router {
    let token = state.token.clone();
    let permits = Arc::new(Semaphore::new(state.max_in_flight.max(1)));
    Router::new()
        .route("/api/sql", post(sql))
        .route("/api/queries", get(list_queries))
        .route("/api/queries/{name}", get(saved_query))
        .with_state(state.analytics.clone())
        .route("/api/alerts", get(alerts).with_state(state.alerts.clone()))
        .route(
            "/api/silences",
            get(list_silences)
                .post(add_silence)
                .with_state(state.silences.clone()),
        )
        .route(
            "/api/silences/{id}",
            axum::routing::delete(remove_silence).with_state(state.silences.clone()),
        )
        .merge(pages::routes(state.analytics, state.runbooks))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .route_layer(axum::middleware::from_fn_with_state(permits, shed_load))
        .route_layer(axum::middleware::from_fn_with_state(
            token,
            auth::require_token,
        ))
}

/// `GET /api/alerts`: `{"enabled": bool, "firing": n, "alerts": [...]}`,
/// the firing alerts (strongest first) then the recently resolved (newest
/// first), each the CONTRACT section 7 object.
async fn alerts(State(view): State<AlertsView>) -> Response {
    let (enabled, alerts) = view.snapshot();
    let firing = alerts
        .iter()
        .filter(|a| a.status == model::alert::AlertStatus::Firing)
        .count();
    Json(json!({
        "enabled": enabled,
        "firing": firing,
        "alerts": alerts,
    }))
    .into_response()
}

fn no_silences() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "alerting is off (serve --no-alerts): there are no silences",
    )
}

/// `GET /api/silences`: `{"silences": [...]}`, the `--silences` file's and
/// the API's, each with `active`.
async fn list_silences(State(book): State<Option<SilenceBook>>) -> Result<Json<Value>, ApiError> {
    let book = book.ok_or_else(no_silences)?;
    Ok(Json(book.list(chrono::Utc::now().timestamp_millis())))
}

/// `POST /api/silences` with `{"slice": {...}, "start"?, "end" | "duration",
/// "comment"?}`: 201 and the stored silence (with its `id`).
async fn add_silence(
    State(book): State<Option<SilenceBook>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    const SHAPE: &str = "the body must be a JSON object {\"slice\": {\"payment_method\": \"alipay\"}, \"duration\": \"2h\", \"comment\": \"...\"} (or \"start\"/\"end\" in RFC 3339)";
    let book = book.ok_or_else(no_silences)?;
    let body = body.map_err(body_error)?;
    let new: NewSilence = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("{SHAPE}: {e}")))?;
    match book.add(new, chrono::Utc::now().timestamp_millis()) {
        Ok(stored) => Ok((StatusCode::CREATED, Json(json!(stored))).into_response()),
        Err(AddError::Invalid(m)) => Err(ApiError::bad_request(m)),
        Err(AddError::Storage(m)) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, m)),
    }
}

/// `DELETE /api/silences/{id}`: 204, or 404 when there is no such API
/// silence (the file's cannot be removed here).
async fn remove_silence(
    State(book): State<Option<SilenceBook>>,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let book = book.ok_or_else(no_silences)?;
    let Path(id) = id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    match book.remove(&id) {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => {
            let shown: String = id.chars().take(40).collect();
            Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no silence `{shown}` set through the API"),
            ))
        }
        Err(m) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, m)),
    }
}

/// Middleware: 503 when `max_in_flight` requests are already being handled.
async fn shed_load(
    State(permits): State<Arc<Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    match permits.try_acquire() {
        Ok(_permit) => next.run(request).await,
        Err(_) => {
            let mut response = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy: too many API requests at once; retry shortly",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}

/// `?format=` of `/api/sql`.
#[derive(Debug, Deserialize)]
struct FormatParam {
    format: Option<String>,
}

async fn sql(
    State(analytics): State<Analytics>,
    query: Result<Query<FormatParam>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Query(FormatParam { format }) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let format = format
        .as_deref()
        .map_or(Ok(ResultFormat::Json), ResultFormat::parse)?;
    let body = body.map_err(body_error)?;
    let sql = sql_text(&body)?;
    let out = analytics.sql(&sql).await?;
    encode::respond(out, format, "result").await
}

/// A body that could not be read: 413 past [`MAX_BODY_BYTES`], else 400.
fn body_error(e: BytesRejection) -> ApiError {
    match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is over the {MAX_BODY_BYTES}-byte limit"),
        ),
        _ => ApiError::bad_request(format!("reading the request body: {}", e.body_text())),
    }
}

/// The `sql` string of a JSON object body (other keys are ignored).
fn sql_text(body: &[u8]) -> Result<String, ApiError> {
    const SHAPE: &str = "the body must be a JSON object {\"sql\": \"...\"}";
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("{SHAPE}: {e}")))?;
    let Value::Object(mut object) = value else {
        return Err(ApiError::bad_request(format!(
            "{SHAPE}, not {}",
            kind(&value)
        )));
    };
    match object.remove("sql") {
        Some(Value::String(sql)) => Ok(sql),
        Some(other) => Err(ApiError::bad_request(format!(
            "`sql` must be a string, not {}",
            kind(&other)
        ))),
        None => Err(ApiError::bad_request(format!("{SHAPE}: `sql` is missing"))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

async fn list_queries(State(analytics): State<Analytics>) -> Json<Value> {
    let queries: Vec<Value> = analytics
        .saved_queries()
        .iter()
        .map(|q| {
            json!({
                "name": q.name,
                "purpose": q.purpose,
                "url": format!("/api/queries/{}", q.name),
                // Answered from the derived tables where it can.
                "minutes_form": q.minutes_sql.is_some(),
                "params": q.params.iter().map(|p| json!({
                    "name": p.name,
                    "type": p.kind.as_str(),
                    "default": p.default,
                    "description": p.description,
                })).collect::<Vec<_>>(),
                "columns": q.columns.iter().map(|c| json!({
                    "name": c.name,
                    "type": c.sql_type,
                    "description": c.description,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({ "queries": queries }))
}

async fn saved_query(
    State(analytics): State<Analytics>,
    name: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(name) = name.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let Query(pairs) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let mut format = ResultFormat::Json;
    let mut params: Vec<(String, String)> = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        if key == "format" {
            format = ResultFormat::parse(&value)?;
        } else if params.iter().any(|(k, _)| *k == key) {
            return Err(ApiError::bad_request(format!(
                "parameter `{key}` is given more than once"
            )));
        } else {
            params.push((key, value));
        }
    }
    let out = analytics.query(&name, &params).await?;
    encode::respond(out, format, &name).await
}
