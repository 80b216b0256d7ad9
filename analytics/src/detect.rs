//! Spike detection: per-slice failure rates against their own baselines,
//! evaluated in event time. Pure Rust over counts: no I/O, no clock, the
//! same input gives the same alerts, so `orderpulse backtest` and `serve`
//! drive the same code.
//!
//! # Layout
//! - [`detector`]: [`Detector`]: `add` counts (per [`Cell`]: channel,
//!   payment method, app version, failure cause), `advance(event_time)` evaluates every
//!   interval and returns the alerts that fired or resolved; the state
//!   machine (pending `for`, firing, quiet period), parent/child and
//!   intersection suppression, silences, contributors, runbooks.
//! - [`baseline`]: the seasonal, incident-robust baseline rate of a slice.
//! - [`score`]: the volume-aware test (a likelihood-ratio score).
//! - [`slices`]: dimensions, interned values, slice keys.
//! - [`series`]: per-slice minute and 10-minute counts.
//! - [`config`]: [`DetectorConfig`] (every guard) and [`Silence`]s.
//!
//! Slices are every single value of `failure_cause`, `channel`,
//! `payment_method` and `app_version`, every pair of the first three, and
//! each app version paired with each failure cause (a bad release). A
//! failure-cause slice's rate
//! is the failures with that cause over all attempts of its scope (the
//! rest of the slice), the same definition as the simulator's truth.

pub mod baseline;
pub mod config;
pub mod detector;
pub mod score;
pub mod series;
pub mod slices;

pub use config::{DetectorConfig, Silence, parse_silences};
pub use detector::{Detector, DetectorStats, rfc3339};
pub use series::Counts;
pub use slices::{Attempt, Cell, Dim, SliceKey, ValueId};

#[cfg(test)]
mod tests;
