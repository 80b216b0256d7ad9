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
//!
//! Next to each `order_attempts` file goes its minutes file
//! (`order_attempts_minutes/date=…/`, same name; see [`model::minutes`]):
//! the file's rows counted per minute, written after it. It is derived, not
//! part of the flush: a reader uses it only while its event file is listed,
//! [`backfill`] writes the missing ones, and the ledger calls one whose
//! flush is incomplete a leftover.

pub mod ledger;
mod lock;
mod minutes;
mod recent;
mod write;

pub use ledger::{Ledger, scan};
pub use lock::{Claim, LOCKS_DIR, PartitionLock};
pub use minutes::{
    Backfilled, COMPACT_GRACE, CompactOptions, Compaction, backfill, compact, minutes_path,
    minutes_paths,
};
pub use recent::recent_event_ids;
pub use write::{FlushReport, ParquetSink, SinkOptions};

pub use model::files::{ATTEMPTS_DIR, FlushFile, FlushRange, REJECTED_DIR, meta};

#[cfg(test)]
mod tests;
