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
/// `{receiver,outcome}`: alert states per receiver (`alertmanager`,
/// `webhook`) and outcome (`delivered`, `retried`, `refused`, `dropped`).
pub const ALERT_NOTIFICATIONS_TOTAL: &str = "orderpulse_alert_notifications_total";
/// `{receiver}`: alert states waiting for a receiver.
pub const ALERT_NOTIFICATIONS_QUEUED: &str = "orderpulse_alert_notifications_queued";

/// Every metric name above, for tools that check what others spell (the
/// Prometheus rules and the Grafana dashboard in `dashboards/`).
pub const ALL: &[&str] = &[
    ORDER_ATTEMPTS_TOTAL,
    ORDER_FAILURES_TOTAL,
    INGEST_RECORDS_TOTAL,
    INGEST_RECORD_BYTES_TOTAL,
    INGEST_REJECTED_TOTAL,
    INGEST_DUPLICATES_TOTAL,
    INGEST_UNKNOWN_VALUES_TOTAL,
    INGEST_LAG_RECORDS,
    INGEST_LAG_SECONDS,
    INGEST_FLUSH_DURATION_SECONDS,
    INGEST_FLUSHES_TOTAL,
    INGEST_FILES_WRITTEN_TOTAL,
    INGEST_BYTES_WRITTEN_TOTAL,
    INGEST_DEAD_LETTERS_TOTAL,
    INGEST_LIVE_ROWS,
    INGEST_RETENTION_REMOVED_FILES_TOTAL,
    INGEST_BROKER_UP,
    INGEST_STORAGE_WRITABLE,
    ALERTS_FIRING,
    ALERT_NOTIFICATIONS_TOTAL,
    ALERT_NOTIFICATIONS_QUEUED,
];

/// Histograms, whose series are `{name}_bucket`, `{name}_sum`, `{name}_count`.
pub const HISTOGRAMS: &[&str] = &[INGEST_FLUSH_DURATION_SECONDS];

/// Whether `series` is the name of a series orderpulse exports: a name in
/// [`ALL`], or a histogram's `_bucket`, `_sum` or `_count`.
pub fn is_exported(series: &str) -> bool {
    ALL.contains(&series)
        || HISTOGRAMS.iter().any(|h| {
            series
                .strip_prefix(h)
                .is_some_and(|s| ["_bucket", "_sum", "_count"].contains(&s))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_name_once() {
        // Every `pub const X: &str` of this file, counted from its source.
        let source = include_str!("metrics.rs");
        let declared = source
            .lines()
            .filter(|l| l.starts_with("pub const ") && l.contains(": &str"))
            .count();
        assert_eq!(declared, ALL.len(), "a name is missing from ALL");
        let mut names = ALL.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len(), "a name is listed twice");
        for name in ALL {
            assert!(name.starts_with("orderpulse_"), "{name}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{name}"
            );
        }
    }

    #[test]
    fn histogram_series_are_exported_names_but_others_are_not() {
        assert!(is_exported(ORDER_FAILURES_TOTAL));
        assert!(is_exported(
            "orderpulse_ingest_flush_duration_seconds_bucket"
        ));
        assert!(is_exported(
            "orderpulse_ingest_flush_duration_seconds_count"
        ));
        assert!(!is_exported("orderpulse_order_failures_total_bucket"));
        assert!(!is_exported("orderpulse_order_failure_total"));
        assert!(!is_exported("orderpulse_ingest_flush_duration_seconds_max"));
    }
}
