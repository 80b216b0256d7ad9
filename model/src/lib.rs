//! The orderpulse data model, shared by every crate.
//!
//! # Layout
//! - [`vocab`]: the closed vocabularies of CONTRACT section 1 (`failure_cause`,
//!   `channel`, `payment_method`, `stage`, `outcome`) and their normalisation.
//! - [`reason`]: the rejection reason codes.
//! - [`schema`]: the Arrow schemas of the `order_attempts` and
//!   `rejected_events` tables, defined once here.
//! - [`files`]: the data directory layout and the flush file names (which
//!   Kafka offsets a stored file covers).
//! - [`minutes`]: the `order_attempts_minutes` table (counts per minute) and
//!   [`minute_counts`](minutes::minute_counts), the one counting of it.
//! - [`metrics`]: the Prometheus metric names; [`health`]: readiness flags.
//! - [`alert`]: the spike [`Alert`](alert::Alert) payload of CONTRACT section 7.
//! - [`live`]: [`LiveRows`], decoded rows not yet in a file, shared by ingest
//!   (writer) and analytics (reader).
//!
//! This crate has no I/O and links nothing but arrow: analytics and dashboards
//! depend on it without pulling in Kafka.

pub mod alert;
pub mod files;
pub mod health;
pub mod live;
pub mod metrics;
pub mod minutes;
pub mod reason;
pub mod runbooks;
pub mod schema;
pub mod vocab;

pub use live::{LiveBatch, LiveRows, LiveSnapshot};
pub use reason::Reason;
pub use vocab::{Channel, FailureCause, Outcome, PaymentMethod, Stage, VocabField};
