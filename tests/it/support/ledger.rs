//! The ledger of an ingest test: what the topic holds (every record decoded
//! again, independently of ingest) against what the Parquet files hold (read
//! back with the plain parquet crate, not with ingest's own counters).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Int32Type, Int64Type};
use ingest::decode::{DecodeStats, Decoder, DecoderConfig, Source, UserKeyHasher, rejected_batch};
use ingest::sink::{FlushRange, ParquetSink, SinkOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::TansuBroker;

/// (partition, offset) → rows it must produce (or produced).
pub(crate) type Ledger = BTreeMap<(i32, i64), u32>;

/// How the expected ledger decodes: the duplicate window of each
/// partition's decoder (0: none), and offsets where a fresh decoder with an
/// empty window takes over (none for ingest, which seeds the window of a
/// newly assigned partition from the stored files; a test can model a worker
/// that does not).
#[derive(Debug, Default)]
pub(crate) struct Decoding {
    pub(crate) dedup_window: usize,
    pub(crate) fresh_decoder_at: BTreeSet<(i32, i64)>,
}

/// Reads the whole of `topic` (which holds `records` records) back and
/// decodes every record again, each partition in offset order, as `decoding`
/// says. `inspect` sees every record as it is read.
pub(crate) fn expected(
    broker: &TansuBroker,
    topic: &str,
    secret: &str,
    records: u64,
    decoding: &Decoding,
    mut inspect: impl FnMut(i32, i64, &[u8]),
) -> Ledger {
    let consumer: BaseConsumer = broker
        .client_config()
        .set("group.id", format!("{topic}-test-reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let new_decoder = || {
        Decoder::new(DecoderConfig {
            user_keys: UserKeyHasher::new(secret.as_bytes()).unwrap(),
            dedup_window: decoding.dedup_window,
        })
    };
    let mut decoders: BTreeMap<i32, Decoder> = BTreeMap::new();
    let mut ledger = Ledger::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while (ledger.len() as u64) < records && Instant::now() < deadline {
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let msg = msg.expect("consume");
        let (partition, offset) = (msg.partition(), msg.offset());
        let payload = msg.payload().unwrap_or_default();
        inspect(partition, offset, payload);
        if decoding.fresh_decoder_at.contains(&(partition, offset)) {
            decoders.remove(&partition);
        }
        let decoder = decoders.entry(partition).or_insert_with(new_decoder);
        let src = Source {
            topic,
            partition,
            offset,
            now_ms: now_ms(),
        };
        let out = decoder.decode(payload, &src);
        ledger.insert((partition, offset), out.accepted + out.rejected);
        if decoder.pending_rows() > 50_000 {
            decoder.finish_batch().unwrap();
            decoder.take_rejected();
        }
    }
    assert_eq!(
        ledger.len() as u64,
        records,
        "read back every produced record"
    );
    ledger
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The Parquet files under `dir` (the event tables' files: the derived
/// minutes directories are left out).
pub(crate) fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            if !model::minutes::ROLLUPS.iter().any(|r| p.ends_with(r.dir)) {
                out.extend(parquet_files(&p));
            }
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    out
}

/// Rows per (partition, offset) in every stored file of both tables.
pub(crate) fn stored(data_dir: &Path) -> Ledger {
    let mut ledger = Ledger::new();
    for path in parquet_files(data_dir) {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let schema = batch.schema();
            let p = batch
                .column(schema.index_of("kafka_partition").unwrap())
                .as_primitive::<Int32Type>();
            let o = batch
                .column(schema.index_of("kafka_offset").unwrap())
                .as_primitive::<Int64Type>();
            for (p, o) in p.values().iter().zip(o.values()) {
                *ledger.entry((*p, *o)).or_default() += 1;
            }
        }
    }
    ledger
}

/// Rows in every stored file under `data_dir`, from the footers.
pub(crate) fn stored_rows(data_dir: &Path) -> u64 {
    parquet_files(data_dir)
        .iter()
        .map(|p| {
            parquet::file::reader::SerializedFileReader::new(File::open(p).unwrap())
                .map(|r| {
                    use parquet::file::reader::FileReader;
                    r.metadata().file_metadata().num_rows() as u64
                })
                .unwrap_or(0)
        })
        .sum()
}

/// The files hold exactly `expected`: every (partition, offset) with its
/// number of rows, nothing else, and their names show no incomplete flush,
/// no overlap and no gap.
#[track_caller]
pub(crate) fn assert_exactly_once(data_dir: &Path, topic: &str, expected: &Ledger) {
    let got = stored(data_dir);
    let missing: Vec<_> = expected
        .iter()
        .filter(|(k, v)| got.get(k).copied().unwrap_or(0) != **v)
        .take(5)
        .map(|(k, v)| (k, v, got.get(k).copied().unwrap_or(0)))
        .collect();
    let extra: Vec<_> = got
        .keys()
        .filter(|k| !expected.contains_key(k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "(key, expected rows, stored rows) wrong {missing:?}, unexpected {extra:?}"
    );
    // Each stored file's derived files (ingest writes them after it; a crash
    // in between may leave none): a count table's weights add up to the
    // file's rows; a table of selected rows holds exactly what its selection
    // keeps of them.
    let read = |p: &Path| -> Vec<RecordBatch> {
        ParquetRecordBatchReaderBuilder::try_new(File::open(p).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap())
            .collect()
    };
    let rows = |batches: &[RecordBatch]| batches.iter().map(|b| b.num_rows() as i64).sum::<i64>();
    for rollup in model::minutes::ROLLUPS {
        for path in parquet_files(&data_dir.join(rollup.events_dir)) {
            let Some(twin) =
                ingest::sink::minutes_path(data_dir, rollup, &path).filter(|t| t.exists())
            else {
                continue;
            };
            let (stored, derived) = (read(&path), read(&twin));
            let (counted, expected) = match rollup.weight {
                Some(weight) => {
                    let counted: i64 = derived
                        .iter()
                        .map(|b| {
                            let n = b.column_by_name(weight).unwrap();
                            n.as_primitive::<Int64Type>().values().iter().sum::<i64>()
                        })
                        .sum();
                    (counted, rows(&stored))
                }
                None => (
                    rows(&derived),
                    (rollup.count)(&stored).unwrap().num_rows() as i64,
                ),
            };
            assert_eq!(counted, expected, "{}", twin.display());
        }
    }
    let ledger = ingest::sink::scan(data_dir, topic).unwrap();
    assert!(ledger.incomplete.is_empty(), "{:?}", ledger.incomplete);
    assert!(ledger.overlaps.is_empty(), "{:?}", ledger.overlaps);
    assert!(ledger.gaps.is_empty(), "{:?}", ledger.gaps);
}

/// Decodes an NDJSON file of events (one Kafka record per line, partition 0
/// of `order-attempts`, offsets in line order) and stores it in `data_dir`
/// through the real sink, 1 000 records per flush, as ingest would.
pub(crate) fn store_ndjson(ndjson: &Path, data_dir: &Path, secret: &[u8]) -> DecodeStats {
    // 2026-11-02T02:00:00Z, after every event of the fixed-date tests.
    store_ndjson_at(ndjson, data_dir, secret, 1_793_584_800_000)
}

/// [`store_ndjson`] as if ingested at `now_ms` (events later than that
/// are rejected as from the future).
pub(crate) fn store_ndjson_at(
    ndjson: &Path,
    data_dir: &Path,
    secret: &[u8],
    now_ms: i64,
) -> DecodeStats {
    let body = std::fs::read_to_string(ndjson).expect("ndjson");
    let users = UserKeyHasher::new(secret).expect("secret");
    let mut decoder = Decoder::new(DecoderConfig::new(users));
    let sink = ParquetSink::new(data_dir, SinkOptions::default());
    let lines: Vec<&str> = body.lines().collect();
    for (chunk_no, chunk) in lines.chunks(1_000).enumerate() {
        let first = (chunk_no * 1_000) as i64;
        for (i, line) in chunk.iter().enumerate() {
            let src = Source {
                topic: "order-attempts",
                partition: 0,
                offset: first + i as i64,
                now_ms,
            };
            decoder.decode(line.as_bytes(), &src);
        }
        let accepted = decoder.finish_batch().expect("batch");
        let rejected = rejected_batch(&decoder.take_rejected()).expect("rejected");
        let range = FlushRange {
            topic: "order-attempts".into(),
            partition: 0,
            first,
            last: first + chunk.len() as i64 - 1,
        };
        sink.write_flush(&range, &[accepted], Some(&rejected), now_ms)
            .expect("flush");
    }
    decoder.stats().clone()
}
