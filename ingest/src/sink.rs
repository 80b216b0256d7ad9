//! Parquet files written whole, named by the Kafka offsets they cover: the
//! storage half of exactly-once ingest.
//!
//! A *flush* stores everything ingest decoded from one partition's offsets
//! `first..=last`: the accepted rows, split by event date into
//! `order_attempts/date=YYYY-MM-DD/`, and the rejected ones in
//! `rejected_events/date=YYYY-MM-DD/` (ingest date). A flush always writes at
//! least one file — an empty `rejected_events` file when every record was a
//! duplicate — so that the files alone say how far each partition got.
//!
//! Every file of a flush carries the flush in its name,
//! `{topic}-p{partition}-{first}-{last}-{index}of{count}.parquet` (offsets
//! zero-padded to 20 digits), and in its footer metadata (`orderpulse.*`
//! keys), so any reader can check a flush is complete from a directory listing,
//! and an outside reader can see the offsets with a plain Parquet library.
//! Each file is written whole: a `.tmp` file, fsync, rename, fsync of the
//! directory. [`ledger`] reads the names back into where each partition
//! resumes, which flushes a crash left incomplete, and which overlap.

pub mod ledger;
mod name;
mod write;

pub use ledger::{Ledger, scan};
pub use name::FlushFile;
pub use write::{FlushReport, ParquetSink, SinkOptions};

/// The offsets one flush covers: every record of `topic`/`partition` from
/// `first` to `last` inclusive is stored (accepted or rejected) or was a
/// duplicate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlushRange {
    pub topic: String,
    pub partition: i32,
    pub first: i64,
    pub last: i64,
}

/// Directory of the `order_attempts` table under the data directory.
pub const ATTEMPTS_DIR: &str = "order_attempts";
/// Directory of the `rejected_events` table under the data directory.
pub const REJECTED_DIR: &str = "rejected_events";

/// Footer metadata keys.
pub mod meta {
    pub const TOPIC: &str = "orderpulse.topic";
    pub const PARTITION: &str = "orderpulse.partition";
    pub const FIRST_OFFSET: &str = "orderpulse.first_offset";
    pub const LAST_OFFSET: &str = "orderpulse.last_offset";
    pub const FILE_INDEX: &str = "orderpulse.file_index";
    pub const FILE_COUNT: &str = "orderpulse.file_count";
}

#[cfg(test)]
mod tests;
