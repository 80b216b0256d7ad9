//! Harnesses for the real services end-to-end tests run against.
//!
//! Each harness type starts its service on a free port, waits until it
//! answers, and stops it on `Drop`. A test that needs a service that is not
//! installed fails with a message saying how to install it.

pub(crate) mod http;
pub(crate) mod ledger;
pub(crate) mod mock;
pub(crate) mod process;
pub(crate) mod prometheus;
mod tansu;

pub(crate) use mock::MockKafka;
pub(crate) use tansu::TansuBroker;
