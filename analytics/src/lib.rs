//! DataFusion SQL over what ingest wrote (and what it holds in memory),
//! saved queries, and the guardrails every query path shares.
//!
//! # Layout
//! - [`engine`]: [`Analytics`], built from an [`AnalyticsConfig`]: makes the
//!   `SessionContext`s, runs SQL and saved queries on its own runtime under
//!   the limits, and plans every saved query at start-up.
//! - [`table`]: [`StoredTable`], the `order_attempts`, `rejected_events` and
//!   `alerts` tables: complete flushes only (listed again per scan, `date=`
//!   directories pruned by `ts`), UNION the live rows not yet stored.
//! - [`guard`]: [`Limits`] and the checks on SQL text: length, nesting depth,
//!   parser recursion, one read-only statement.
//! - [`saved`]: `queries/<name>.sql` with their headers (purpose, typed
//!   parameters with defaults, output columns), embedded in the binary;
//!   parameters are bound as typed values, never pasted into SQL.
//! - [`detect`]: the spike detector ([`detect::Detector`]): slices, seasonal
//!   baselines, volume-aware scores, guards, contributors; pure, no I/O.
//! - [`counts`]: [`counts::cell_counts`], attempts per time bucket and
//!   detector cell in one query (what `backtest --data-dir` and `serve`'s
//!   alert loop feed the detector).
//! - [`rollup`]: the dashboard overview's in-memory counts per time slot and
//!   dimension value, and the `order_attempts_rollup` table over them.
//! - [`format`]: results as an aligned table, CSV or JSON.
//! - [`error`]: the crate's error type.
//!
//! Analytics only reads: it never writes event data and never links Kafka.

pub mod counts;
pub mod detect;
pub mod engine;
pub mod error;
pub mod format;
pub mod guard;
pub mod rollup;
pub mod saved;
pub mod table;

pub use engine::{Analytics, AnalyticsConfig, Form, QueryOutput};
pub use error::{Error, Result};
pub use format::Format;
pub use guard::Limits;
pub use saved::{ParamKind, ParamSpec, SavedQueries, SavedQuery};
pub use table::{StoredTable, TableKind};
