//! The orderpulse data model, shared by every crate.
//!
//! # Layout
//! - [`vocab`]: the closed vocabularies of CONTRACT section 1 (`failure_cause`,
//!   `channel`, `payment_method`, `stage`, `outcome`) and their normalisation.
//! - [`reason`]: the rejection reason codes.
//! - [`schema`]: the Arrow schemas of the `order_attempts` and
//!   `rejected_events` tables, defined once here.
//!
//! This crate has no I/O and links nothing but arrow: analytics and dashboards
//! depend on it without pulling in Kafka.

pub mod reason;
pub mod schema;
pub mod vocab;

pub use reason::Reason;
pub use vocab::{Channel, FailureCause, Outcome, PaymentMethod, Stage, VocabField};
