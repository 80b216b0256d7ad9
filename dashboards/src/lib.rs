//! The axum web dashboard, the JSON API, Prometheus `/metrics` and alert delivery.
//!
//! # Layout
//! - [`ops`]: `/healthz`, `/readyz` and `/metrics`, the routes every
//!   orderpulse process serves (an `orderpulse ingest` worker serves only these),
//!   and [`ops::serve`], which binds and serves a router until cancelled.
//! - [`api`]: the SQL API over `analytics`: `POST /api/sql` (JSON, CSV,
//!   Arrow IPC), `GET /api/queries`, `GET /api/queries/{name}`; bearer-token
//!   auth and [`api::check_bind`]; [`api::ApiError`], every failure as JSON.
//!   - `api::encode`: a result as JSON, CSV or an Arrow IPC stream.
//!   - `api::auth`: [`api::ApiToken`] and the token middleware.
//! - [`app`]: [`app::router`], everything `orderpulse serve` answers (ops,
//!   API, `GET /`) with security headers on every response.
//! - [`error`]: the crate's error type.
//! - [`pg`]: the Postgres wire protocol endpoint (`--pg-addr`): psql, DBeaver,
//!   Metabase, Grafana query `analytics` under its guardrails.
//!   - `pg::guarded`: the text and statement checks in front of
//!     `datafusion-postgres`, queries run by `Analytics::run_plan`.
//!
//! The dashboard pages come with their issue, on top of `analytics`. This
//! crate never touches Kafka.

pub mod api;
pub mod app;
pub mod error;
pub mod ops;
pub mod pg;

pub use error::{Error, Result};
