//! The axum web dashboard, the JSON API, Prometheus `/metrics` and alert delivery.
//!
//! # Layout
//! - [`ops`]: `/healthz`, `/readyz` and `/metrics`, the routes every
//!   orderpulse process serves (an `orderpulse ingest` worker serves only these),
//!   and [`ops::serve`], which binds and serves a router until cancelled.
//! - [`alerting`]: alert delivery to Alertmanager (v2 API) and a JSON
//!   webhook, with bounded queues and retries ([`alerting::Notifier`]), and
//!   the `alerts` table's files ([`alerting::AlertStore`]).
//! - [`api`]: the SQL API over `analytics`: `POST /api/sql` (JSON, CSV,
//!   Arrow IPC), `GET /api/queries`, `GET /api/queries/{name}`; bearer-token
//!   auth and [`api::check_bind`]; [`api::ApiError`], every failure as JSON.
//!   - `api::encode`: a result as JSON, CSV or an Arrow IPC stream.
//!   - `api::auth`: [`api::ApiToken`] and the token middleware.
//!   - `api::pages`: the JSON of the dashboard pages (`/api/overview`,
//!     `/api/samples`, `/api/rejected`, `/api/runbooks`).
//! - [`board`]: the pages' data as server functions ([`board::overview`]
//!   is where a rollup or cache goes), SQL with bound parameters only.
//!   - `board::window`: the query string (window, comparison, filters) checked.
//!   - `board::breakdown`: contributions to a change, trend series.
//! - [`assets`]: `GET /` and `/assets/...`, the HTML, CSS and JavaScript of
//!   the pages and the vendored uPlot, compiled in (`dashboards/assets/`).
//! - [`app`]: [`app::router`], everything `orderpulse serve` answers (ops,
//!   API, pages) with security headers on every response.
//! - [`error`]: the crate's error type.
//! - [`pg`]: the Postgres wire protocol endpoint (`--pg-addr`): psql, DBeaver,
//!   Metabase, Grafana query `analytics` under its guardrails.
//!   - `pg::guarded`: the text and statement checks in front of
//!     `datafusion-postgres`, queries run by `Analytics::run_plan`.
//!
//! This crate never touches Kafka.

pub mod alerting;
pub mod api;
pub mod app;
pub mod assets;
pub mod board;
pub mod error;
pub mod ops;
pub mod pg;
#[cfg(test)]
mod test_support;

pub use error::{Error, Result};
