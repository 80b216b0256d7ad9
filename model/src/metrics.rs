//! Prometheus metric names (CONTRACT section 7 and our additions), defined
//! once so no call site spells a name. Label values are bounded: vocabulary
//! values (unknown ones as [`crate::vocab::OTHER`]), reason codes, table
//! names and partition numbers, never ids.

/// `{outcome, channel, payment_method}`: accepted attempts.
pub const ORDER_ATTEMPTS_TOTAL: &str = "orderpulse_order_attempts_total";
/// `{failure_cause, channel, payment_method}`: accepted failed attempts.
pub const ORDER_FAILURES_TOTAL: &str = "orderpulse_order_failures_total";
/// Kafka records consumed (one record may hold several NDJSON events).
pub const INGEST_RECORDS_TOTAL: &str = "orderpulse_ingest_records_total";
/// Bytes of Kafka record values consumed.
pub const INGEST_RECORD_BYTES_TOTAL: &str = "orderpulse_ingest_record_bytes_total";
/// `{reason}`: events rejected, by reason code.
pub const INGEST_REJECTED_TOTAL: &str = "orderpulse_ingest_rejected_total";
/// Events skipped because their `event_id` was seen recently.
pub const INGEST_DUPLICATES_TOTAL: &str = "orderpulse_ingest_duplicates_total";
/// `{field}`: accepted events with a value outside a vocabulary.
pub const INGEST_UNKNOWN_VALUES_TOTAL: &str = "orderpulse_ingest_unknown_values_total";
/// `{partition}`: records between the last consumed one and the high watermark.
pub const INGEST_LAG_RECORDS: &str = "orderpulse_ingest_lag_records";
/// `{partition}`: event age of the last consumed record (0 when caught up).
pub const INGEST_LAG_SECONDS: &str = "orderpulse_ingest_lag_seconds";
/// Time to write one flush (all its files, fsynced).
pub const INGEST_FLUSH_DURATION_SECONDS: &str = "orderpulse_ingest_flush_duration_seconds";
/// `{result}`: flushes written (`ok`) or failed (`error`, retried).
pub const INGEST_FLUSHES_TOTAL: &str = "orderpulse_ingest_flushes_total";
/// `{table}`: Parquet files written.
pub const INGEST_FILES_WRITTEN_TOTAL: &str = "orderpulse_ingest_files_written_total";
/// Bytes of Parquet written.
pub const INGEST_BYTES_WRITTEN_TOTAL: &str = "orderpulse_ingest_bytes_written_total";
/// `{result}`: rejected records sent to the dead-letter topic (`ok` / `error`).
pub const INGEST_DEAD_LETTERS_TOTAL: &str = "orderpulse_ingest_dead_letters_total";
/// Rows decoded but not yet in a Parquet file (queryable as live rows).
pub const INGEST_LIVE_ROWS: &str = "orderpulse_ingest_live_rows";
/// Date partitions removed by `--retention-days`.
pub const INGEST_RETENTION_REMOVED_FILES_TOTAL: &str =
    "orderpulse_ingest_retention_removed_files_total";
/// 1 when a broker is reachable, 0 while none is.
pub const INGEST_BROKER_UP: &str = "orderpulse_ingest_broker_up";
/// 1 when the data directory is writable, 0 while writes fail.
pub const INGEST_STORAGE_WRITABLE: &str = "orderpulse_ingest_storage_writable";
/// Spike alerts firing now.
pub const ALERTS_FIRING: &str = "orderpulse_alerts_firing";
