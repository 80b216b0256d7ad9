//! Overview server time (issue 5): `board::overview_at` at 24 h of 1 000
//! events/s, counted from the rollup, against the raw scan every refresh
//! did before (`board::overview_scan`) on the same files.
//!
//! ```text
//! cargo bench -p dashboards --bench overview
//! ```
//!
//! The data: 86.4 M simulator events (24 h, mean 1 000/s on the diurnal
//! curve), decoded by the real decoder and stored by the real sink as ingest
//! stores them: two partitions, one flush per 30 s of event time per
//! partition (5 760 flushes). To fit this machine's disk, the id and
//! free-text columns the overview never reads (`event_id`, `order_id`,
//! `session_id`, `user_key`, `error_message`) are shortened or nulled before
//! writing; every column the overview reads is the simulator's. Made once
//! into `$ORDERPULSE_BENCH_DIR` (default
//! `~/.cache/orderpulse/bench-overview-<rate>`); `ORDERPULSE_BENCH_RATE`
//! picks another mean rate. The first count of the rollup over all files
//! (what `serve` does at start-up) is timed once and printed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use analytics::{Analytics, AnalyticsConfig};
use arrow::array::{ArrayRef, RecordBatch, StringArray, new_null_array};
use criterion::{Criterion, criterion_group, criterion_main};
use dashboards::board::{self, Accepts};
use ingest::decode::{Decoder, DecoderConfig, Source, UserKeyHasher, rejected_batch};
use ingest::simulate::{SimConfig, Simulator};
use ingest::sink::{FlushRange, ParquetSink, SinkOptions};
use model::schema::col;

/// The data ends here: 2026-11-02T00:00:00Z.
const END_MS: i64 = 1_793_577_600_000;
const DAY_MS: i64 = 86_400_000;
const FLUSH_MS: i64 = 30_000;
const TOPIC: &str = "order-attempts";

fn rate() -> f64 {
    std::env::var("ORDERPULSE_BENCH_RATE")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1_000.0)
}

fn data_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("ORDERPULSE_BENCH_DIR") {
        return dir.into();
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    PathBuf::from(home).join(format!(".cache/orderpulse/bench-overview-{}", rate()))
}

/// The batch with the unread id and text columns shortened or nulled.
fn slim(batch: RecordBatch, partition: i32, first: i64) -> RecordBatch {
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    let ids: StringArray = (0..batch.num_rows())
        .map(|i| Some(format!("{partition}-{}", first + i as i64)))
        .collect();
    columns[col::EVENT_ID] = Arc::new(ids);
    for c in [
        col::ORDER_ID,
        col::SESSION_ID,
        col::USER_KEY,
        col::ERROR_MESSAGE,
    ] {
        columns[c] = new_null_array(columns[c].data_type(), batch.num_rows());
    }
    RecordBatch::try_new(batch.schema(), columns).expect("same schema")
}

struct Partition {
    decoder: Decoder,
    first: i64,
    next: i64,
    flush_at: i64,
}

/// Simulates, decodes and stores the bench data unless a finished copy is
/// there.
fn make_data(dir: &PathBuf) {
    let done = dir.join(".complete");
    if done.exists() {
        return;
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("bench dir");
    let started = Instant::now();
    let sim = Simulator::new(SimConfig {
        seed: 1,
        start_ms: END_MS - DAY_MS,
        duration_ms: DAY_MS,
        rate: rate(),
        ..SimConfig::default()
    });
    let sink = ParquetSink::new(dir, SinkOptions::default());
    let users = UserKeyHasher::new(b"bench-overview-secret-0123").expect("secret");
    let mut parts: Vec<Partition> = (0..2)
        .map(|_| Partition {
            decoder: Decoder::new(DecoderConfig::new(users.clone())),
            first: 0,
            next: 0,
            flush_at: END_MS - DAY_MS + FLUSH_MS,
        })
        .collect();
    let flush = |p: &mut Partition, partition: i32| {
        if p.next == p.first {
            return;
        }
        let accepted = p.decoder.finish_batch().expect("batch");
        let rejected = rejected_batch(&p.decoder.take_rejected()).expect("rejected");
        let range = FlushRange {
            topic: TOPIC.into(),
            partition,
            first: p.first,
            last: p.next - 1,
        };
        let accepted = slim(accepted, partition, p.first);
        sink.write_flush(&range, &[accepted], Some(&rejected), END_MS)
            .expect("flush");
        p.first = p.next;
    };
    let mut events = 0_u64;
    for (i, record) in sim.enumerate() {
        let partition = (i % 2) as i32;
        let p = &mut parts[partition as usize];
        while record.event_time_ms >= p.flush_at {
            flush(p, partition);
            p.flush_at += FLUSH_MS;
        }
        let src = Source {
            topic: TOPIC,
            partition,
            offset: p.next,
            now_ms: record.event_time_ms + 1_000,
        };
        p.decoder.decode(&record.value, &src);
        p.next += 1;
        events += 1;
    }
    for (partition, p) in parts.iter_mut().enumerate() {
        flush(p, partition as i32);
    }
    std::fs::write(&done, format!("{events}\n")).expect("marker");
    eprintln!(
        "bench data: {events} records in {:.0?} into {}",
        started.elapsed(),
        dir.display()
    );
}

fn query(start: &str, now_ms: i64) -> board::BoardQuery {
    let accepts = Accepts {
        filters: true,
        base: true,
        max_limit: 0,
        reason: false,
    };
    let pairs = vec![("start".to_string(), start.to_string())];
    board::window::parse(&pairs, now_ms, accepts).expect("query")
}

fn bench(c: &mut Criterion) {
    let dir = data_dir();
    make_data(&dir);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let analytics = rt
        .block_on(Analytics::new(AnalyticsConfig::new(&dir).expect("config")))
        .expect("analytics");
    // The clock one second after the data ends.
    let now = END_MS + 1_000;
    let started = Instant::now();
    rt.block_on(analytics.warm_rollup(now)).expect("warm");
    eprintln!(
        "rollup: first count of every file took {:.2?}",
        started.elapsed()
    );

    let mut group = c.benchmark_group("overview");
    group.sample_size(20);
    for (name, start) in [("24h", "now-24h"), ("1h", "now-1h")] {
        let q = query(start, now);
        let v = rt
            .block_on(board::overview_at(&analytics, &q, now))
            .expect("overview");
        assert_eq!(v["counted_from"], "rollup", "{name}");
        eprintln!("{name}: {} attempts", v["totals"]["attempts"]);
        group.bench_function(format!("rollup {name}"), |b| {
            b.iter(|| {
                rt.block_on(board::overview_at(&analytics, &q, now))
                    .expect("overview")
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("overview");
    group.sample_size(10);
    for (name, start) in [("24h", "now-24h"), ("1h", "now-1h")] {
        let q = query(start, now);
        group.bench_function(format!("scan {name}"), |b| {
            b.iter(|| {
                rt.block_on(board::overview_scan(&analytics, &q))
                    .expect("scan")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
