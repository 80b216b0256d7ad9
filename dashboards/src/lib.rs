//! The axum web dashboard, the JSON API, Prometheus `/metrics` and alert delivery.
//!
//! # Layout
//! - [`ops`]: `/healthz`, `/readyz` and `/metrics`, the routes every
//!   orderpulse process serves (an `orderpulse ingest` worker serves only these).
//!
//! The dashboard pages and the SQL API come with their issues, on top of
//! `analytics`. This crate never touches Kafka.

pub mod ops;
