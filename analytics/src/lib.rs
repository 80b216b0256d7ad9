//! DataFusion SQL over what ingest wrote, saved queries and spike detection.
//!
//! # Layout
//! Nothing yet: the analytics issue builds the `SessionContext` factory, the
//! saved queries and the detector here. It reads the schemas from [`model`]
//! and never writes event data.
