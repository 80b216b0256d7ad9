//! End-to-end tests of the orderpulse binary.
