//! Test data written the way ingest writes it: NDJSON lines through the real
//! `Decoder` into flushes written by the real `ParquetSink`.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use ingest::decode::{Decoder, DecoderConfig, Source, UserKeyHasher, rejected_batch};
use ingest::sink::{FlushRange, ParquetSink, SinkOptions};
use model::LiveBatch;

pub const TOPIC: &str = "order-attempts";
/// The ingest clock of every fixture flush: 2026-11-02T03:00:00Z.
pub const INGEST_MS: i64 = 1_793_588_400_000;

/// Accepted and rejected rows of some lines of one partition.
pub struct Decoded {
    pub range: FlushRange,
    pub accepted: RecordBatch,
    pub rejected: RecordBatch,
}

/// Decodes `lines` as the messages at offsets `first..` of `partition`.
pub fn decode(partition: i32, first: i64, lines: &[String]) -> Decoded {
    let users = UserKeyHasher::new(b"analytics-test-secret-0123").expect("secret");
    let mut decoder = Decoder::new(DecoderConfig::new(users));
    for (i, line) in lines.iter().enumerate() {
        let src = Source {
            topic: TOPIC,
            partition,
            offset: first + i as i64,
            now_ms: INGEST_MS,
        };
        decoder.decode(line.as_bytes(), &src);
    }
    let accepted = decoder.finish_batch().expect("batch");
    let rejected = rejected_batch(&decoder.take_rejected()).expect("rejected batch");
    Decoded {
        range: FlushRange {
            topic: TOPIC.into(),
            partition,
            first,
            last: first + lines.len() as i64 - 1,
        },
        accepted,
        rejected,
    }
}

/// Writes `lines` (offsets `first..`) as one flush; returns its files.
pub fn write_flush(
    data_dir: &Path,
    partition: i32,
    first: i64,
    lines: &[String],
) -> Vec<std::path::PathBuf> {
    write_flush_with(data_dir, partition, first, lines, SinkOptions::default())
}

/// [`write_flush`] with the sink's options (e.g. small row groups).
pub fn write_flush_with(
    data_dir: &Path,
    partition: i32,
    first: i64,
    lines: &[String],
    options: SinkOptions,
) -> Vec<std::path::PathBuf> {
    let d = decode(partition, first, lines);
    let sink = ParquetSink::new(data_dir, options);
    let report = sink
        .write_flush(&d.range, &[d.accepted], Some(&d.rejected), INGEST_MS)
        .expect("flush");
    report.files
}

/// The same lines as live batches (what ingest holds before a flush).
pub fn live(partition: i32, first: i64, lines: &[String]) -> (LiveBatch, LiveBatch) {
    let d = decode(partition, first, lines);
    let make = |batch: RecordBatch| LiveBatch {
        topic: Arc::from(TOPIC),
        partition,
        first: d.range.first,
        last: d.range.last,
        batch,
    };
    (make(d.accepted.clone()), make(d.rejected.clone()))
}

/// One event as a JSON line: `id`, RFC 3339 `ts`, outcome, channel, then
/// `key=value` extras (numbers unquoted for latency_ms/attempt).
pub fn event(id: &str, ts: &str, outcome: &str, channel: &str, extra: &[(&str, &str)]) -> String {
    let mut line =
        format!(r#"{{"event_id":"{id}","ts":"{ts}","outcome":"{outcome}","channel":"{channel}""#);
    for (k, v) in extra {
        if matches!(*k, "latency_ms" | "attempt" | "amount_minor") {
            line.push_str(&format!(r#","{k}":{v}"#));
        } else {
            line.push_str(&format!(r#","{k}":"{v}""#));
        }
    }
    line.push('}');
    line
}

/// The fixed fixture of the saved-query tests: 22 events over 2026-11-01 and
/// 2026-11-02 and four rejected records, in three flushes over
/// two partitions.
pub fn fixed(data_dir: &Path) {
    type Row<'a> = (&'a str, &'a str, &'a str, &'a str, &'a [(&'a str, &'a str)]);
    let rows: &[Row<'_>] = &[
        (
            "e01",
            "2026-11-01T10:00:00Z",
            "success",
            "web",
            &[
                ("payment_method", "credit_card"),
                ("order_id", "o1"),
                ("attempt", "1"),
                ("latency_ms", "120"),
            ],
        ),
        (
            "e02",
            "2026-11-01T10:01:00Z",
            "failure",
            "web",
            &[
                ("failure_cause", "network_error"),
                ("payment_method", "alipay"),
                ("error_code", "NET_TIMEOUT"),
                ("order_id", "o2"),
                ("attempt", "1"),
                ("latency_ms", "3000"),
            ],
        ),
        (
            "e03",
            "2026-11-01T10:02:00Z",
            "success",
            "web",
            &[
                ("payment_method", "alipay"),
                ("order_id", "o2"),
                ("attempt", "2"),
                ("latency_ms", "200"),
            ],
        ),
        (
            "e04",
            "2026-11-01T10:05:00Z",
            "failure",
            "ios_app",
            &[
                ("failure_cause", "payment_declined"),
                ("payment_method", "credit_card"),
                ("error_code", "CARD_DECLINED_51"),
                ("order_id", "o3"),
                ("attempt", "1"),
                ("app_version", "6.4.0"),
                ("latency_ms", "450"),
            ],
        ),
        (
            "e05",
            "2026-11-01T10:06:00Z",
            "failure",
            "ios_app",
            &[
                ("failure_cause", "payment_declined"),
                ("payment_method", "credit_card"),
                ("error_code", "CARD_DECLINED_51"),
                ("order_id", "o3"),
                ("attempt", "2"),
                ("app_version", "6.4.0"),
                ("latency_ms", "430"),
            ],
        ),
        (
            "e06",
            "2026-11-01T10:07:00Z",
            "success",
            "ios_app",
            &[
                ("payment_method", "credit_card"),
                ("order_id", "o3"),
                ("attempt", "3"),
                ("app_version", "6.4.0"),
                ("latency_ms", "410"),
            ],
        ),
        (
            "e07",
            "2026-11-01T10:10:00Z",
            "failure",
            "android_app",
            &[
                ("failure_cause", "client_outdated"),
                ("payment_method", "wechat_pay"),
                ("error_code", "APP_TOO_OLD"),
                ("order_id", "o4"),
                ("attempt", "1"),
                ("app_version", "6.3.1"),
                ("latency_ms", "90"),
            ],
        ),
        (
            "e08",
            "2026-11-01T10:20:00Z",
            "success",
            "android_app",
            &[
                ("payment_method", "wechat_pay"),
                ("order_id", "o5"),
                ("attempt", "1"),
                ("app_version", "6.4.0"),
                ("latency_ms", "300"),
            ],
        ),
        (
            "e09",
            "2026-11-01T10:30:00Z",
            "failure",
            "mobile_web",
            &[
                ("failure_cause", "insufficient_funds"),
                ("payment_method", "debit_card"),
                ("error_code", "NSF_51"),
                ("order_id", "o6"),
                ("attempt", "1"),
                ("latency_ms", "800"),
            ],
        ),
        (
            "e10",
            "2026-11-01T10:31:00Z",
            "failure",
            "mobile_web",
            &[
                ("failure_cause", "insufficient_funds"),
                ("payment_method", "debit_card"),
                ("error_code", "NSF_51"),
                ("order_id", "o6"),
                ("attempt", "2"),
                ("latency_ms", "820"),
            ],
        ),
        (
            "e11",
            "2026-11-01T10:45:00Z",
            "success",
            "wechat_mini_program",
            &[
                ("payment_method", "wechat_pay"),
                ("order_id", "o7"),
                ("attempt", "1"),
                ("latency_ms", "150"),
            ],
        ),
        (
            "e12",
            "2026-11-01T11:00:00Z",
            "failure",
            "wechat_mini_program",
            &[
                ("failure_cause", "payment_declined"),
                ("payment_method", "wechat_pay"),
                ("error_code", "CARD_DECLINED_51"),
                ("order_id", "o8"),
                ("attempt", "1"),
                ("latency_ms", "500"),
            ],
        ),
        (
            "e13",
            "2026-11-01T11:05:00Z",
            "failure",
            "web",
            &[
                ("failure_cause", "service_error"),
                ("payment_method", "credit_card"),
                ("error_code", "HTTP_503"),
                ("order_id", "o9"),
                ("attempt", "1"),
                ("latency_ms", "10000"),
            ],
        ),
        (
            "e14",
            "2026-11-01T11:06:00Z",
            "success",
            "web",
            &[
                ("payment_method", "credit_card"),
                ("order_id", "o9"),
                ("attempt", "2"),
                ("latency_ms", "250"),
            ],
        ),
        (
            "e15",
            "2026-11-01T11:30:00Z",
            "success",
            "android_app",
            &[
                ("payment_method", "alipay"),
                ("order_id", "o10"),
                ("attempt", "1"),
                ("app_version", "6.3.1"),
            ],
        ),
        (
            "e16",
            "2026-11-01T11:59:00Z",
            "failure",
            "android_app",
            &[
                ("failure_cause", "payment_declined"),
                ("payment_method", "alipay"),
                ("error_code", "CARD_DECLINED_05"),
                ("order_id", "o11"),
                ("attempt", "1"),
                ("app_version", "6.3.1"),
                ("latency_ms", "700"),
            ],
        ),
        (
            "e17",
            "2026-11-01T12:00:00Z",
            "success",
            "web",
            &[("order_id", "o12"), ("attempt", "1"), ("latency_ms", "100")],
        ),
        (
            "e18",
            "2026-11-01T13:15:00Z",
            "failure",
            "web",
            &[
                ("failure_cause", "risk_rejected"),
                ("payment_method", "union_pay"),
                ("error_code", "RISK_BLOCK"),
                ("attempt", "1"),
                ("latency_ms", "60"),
            ],
        ),
        (
            "e19",
            "2026-11-02T01:00:00Z",
            "success",
            "ios_app",
            &[
                ("payment_method", "apple_pay"),
                ("order_id", "o13"),
                ("attempt", "1"),
                ("app_version", "6.4.1"),
                ("latency_ms", "180"),
            ],
        ),
        (
            "e20",
            "2026-11-02T01:30:00Z",
            "failure",
            "ios_app",
            &[
                ("failure_cause", "network_error"),
                ("payment_method", "apple_pay"),
                ("error_code", "NET_TIMEOUT"),
                ("order_id", "o14"),
                ("attempt", "1"),
                ("app_version", "6.4.1"),
                ("latency_ms", "5000"),
            ],
        ),
        (
            "e21",
            "2026-11-02T02:00:00Z",
            "failure",
            "web",
            &[
                ("failure_cause", "system_maintenance"),
                ("payment_method", "balance"),
                ("error_code", "MAINT"),
                ("order_id", "o15"),
                ("attempt", "1"),
                ("latency_ms", "20"),
            ],
        ),
        (
            "e22",
            "2026-11-02T02:01:00Z",
            "success",
            "web",
            &[
                ("payment_method", "balance"),
                ("order_id", "o15"),
                ("attempt", "2"),
                ("latency_ms", "110"),
            ],
        ),
    ];
    let mut lines: Vec<String> = rows
        .iter()
        .map(|(id, ts, o, c, x)| event(id, ts, o, c, x))
        .collect();
    // Four broken records, in partition 1.
    lines.push("{not json".into());
    lines.push(r#"{"event_id":"r2","ts":"2026-11-01T10:00:00Z","outcome":"success"}"#.into());
    lines.push("[1,2,3]".into());
    lines.push(r#"{"event_id":"r4","ts":"yesterday","outcome":"success","channel":"web"}"#.into());
    write_flush(data_dir, 0, 0, &lines[0..10]);
    write_flush(data_dir, 0, 10, &lines[10..18]);
    write_flush(data_dir, 1, 0, &lines[18..]);
}
