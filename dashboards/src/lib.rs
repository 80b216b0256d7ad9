//! The axum web dashboard, the JSON API, Prometheus `/metrics` and alert delivery.
//!
//! # Layout
//! Nothing yet: the dashboard issue builds it on top of `analytics`. This crate
//! never touches Kafka.
