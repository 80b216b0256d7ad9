//! The `order_attempts_minutes` table: `order_attempts` counted per minute
//! of event time and per combination of the columns the saved queries group
//! by. One row says "`attempts` attempts in this minute had exactly these
//! values".
//!
//! Ingest writes one minutes file next to every `order_attempts` file it
//! stores (`order_attempts_minutes/date=…/` + the same file name), counted
//! from that file's rows and nothing else, so a file's counts live and die
//! with the file: readers use a minutes file only when its event file is in
//! the listing they read, and count the rows of an event file without one
//! themselves. Summing `attempts` over any set of minutes, grouped by any of
//! these columns, gives what `count(*)` over `order_attempts` gives for the
//! same minutes (the saved queries' tests check that it does).
//!
//! [`minute_counts`] is the counting: pure, deterministic (rows sorted by
//! minute, then by the values' first appearance), used by ingest when it
//! writes and by analytics for rows no minutes file covers (live rows, old
//! files).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef, TimestampMillisecondType};
use arrow::error::ArrowError;

use crate::files::FlushFile;
use crate::schema::{col, dict_type, order_attempts_schema, ts_type};

mod failures;
mod latency;
pub use failures::{
    FAILURES_DIR, ORDER_ATTEMPTS_FAILURES, failed_orders, failures_schema, merge_failed_orders,
};
pub use latency::{
    LATENCY_HOURS_DIR, ORDER_ATTEMPTS_LATENCY_HOURS, latency_hour_counts, latency_hours_schema,
    merge_latency_hours,
};

/// SQL table name.
pub const ORDER_ATTEMPTS_MINUTES: &str = "order_attempts_minutes";
/// Directory of the minutes files under the data directory.
pub const MINUTES_DIR: &str = "order_attempts_minutes";

/// The `order_attempts` columns a minutes row is keyed by, in table order
/// after `minute`.
pub const KEYS: [usize; 7] = [
    col::OUTCOME,
    col::CHANNEL,
    col::FAILURE_CAUSE,
    col::PAYMENT_METHOD,
    col::STAGE,
    col::ERROR_CODE,
    col::APP_VERSION,
];

/// Column positions in [`minutes_schema`].
pub mod mcol {
    pub const MINUTE: usize = 0;
    /// `1 + i` is `KEYS[i]`.
    pub const ATTEMPTS: usize = 8;
}

const MINUTE_MS: i64 = 60_000;

static MINUTES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let attempts = order_attempts_schema();
    let mut fields = vec![Field::new("minute", ts_type(), false)];
    fields.extend(KEYS.iter().map(|&c| attempts.field(c).clone()));
    fields.push(Field::new("attempts", DataType::Int64, false));
    Arc::new(Schema::new(fields))
});

/// Schema of `order_attempts_minutes`: `minute` (the minute's start, UTC),
/// `outcome`, `channel`, `failure_cause`, `payment_method`, `stage`,
/// `error_code`, `app_version` (typed as in `order_attempts`) and `attempts`.
pub fn minutes_schema() -> SchemaRef {
    MINUTES_SCHEMA.clone()
}

/// One column's distinct values, numbered in order of first appearance.
#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    values: Vec<String>,
}

impl Interner {
    fn id(&mut self, value: &str) -> u32 {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        let id = self.values.len() as u32;
        self.ids.insert(value.to_string(), id);
        self.values.push(value.to_string());
        id
    }
}

const NULL: u32 = u32::MAX;

/// The `order_attempts` columns [`minute_counts`] reads: `ts` and [`KEYS`].
const ATTEMPTS_COLUMNS: &[&str] = &[
    "ts",
    "outcome",
    "channel",
    "failure_cause",
    "payment_method",
    "stage",
    "error_code",
    "app_version",
];

/// A table derived from an event table, file by file:
/// `order_attempts_minutes` ([`ATTEMPTS`]), `order_attempts_latency_hours`
/// ([`LATENCY`]) and `rejected_events_minutes` ([`REJECTED`]) count it;
/// `order_attempts_failures` ([`FAILURES`]) selects rows of it. Ingest, the
/// readers and the compactor handle them all through this.
#[derive(Debug)]
pub struct Rollup {
    /// The SQL table.
    pub table: &'static str,
    /// Directory of the event table it counts.
    pub events_dir: &'static str,
    /// Its own directory (same `date=` directories and file names).
    pub dir: &'static str,
    /// The event columns its counting reads.
    pub columns: &'static [&'static str],
    /// Its time column (readers prune dates on it).
    pub time: &'static str,
    /// Its Arrow schema.
    pub schema: fn() -> SchemaRef,
    /// Derives its rows from event rows: counts them (per minute, or hour),
    /// or selects some of them.
    pub count: fn(&[RecordBatch]) -> Result<RecordBatch, ArrowError>,
    /// Puts rows of its own schema together (adds up counts).
    pub merge: fn(&[RecordBatch]) -> Result<RecordBatch, ArrowError>,
    /// The column whose sum is the number of event rows counted; `None` for
    /// a table of selected rows (one per event row it keeps).
    pub weight: Option<&'static str>,
}

/// `order_attempts_minutes`.
pub static ATTEMPTS: Rollup = Rollup {
    table: ORDER_ATTEMPTS_MINUTES,
    events_dir: crate::files::ATTEMPTS_DIR,
    dir: MINUTES_DIR,
    columns: ATTEMPTS_COLUMNS,
    time: "minute",
    schema: minutes_schema,
    count: minute_counts,
    merge: merge_minutes,
    weight: Some("attempts"),
};

/// `rejected_events_minutes`.
pub static REJECTED: Rollup = Rollup {
    table: REJECTED_EVENTS_MINUTES,
    events_dir: crate::files::REJECTED_DIR,
    dir: REJECTED_MINUTES_DIR,
    columns: &["reason", "ingested_at"],
    time: "minute",
    schema: rejected_minutes_schema,
    count: rejected_minute_counts,
    merge: merge_rejected_minutes,
    weight: Some("records"),
};

/// `order_attempts_latency_hours` (per hour, not minute: see [`latency`]).
pub static LATENCY: Rollup = Rollup {
    table: ORDER_ATTEMPTS_LATENCY_HOURS,
    events_dir: crate::files::ATTEMPTS_DIR,
    dir: LATENCY_HOURS_DIR,
    columns: latency::COLUMNS,
    time: "hour",
    schema: latency_hours_schema,
    count: latency_hour_counts,
    merge: merge_latency_hours,
    weight: Some("attempts"),
};

/// `order_attempts_failures` (rows, not counts: see [`failures`]).
pub static FAILURES: Rollup = Rollup {
    table: ORDER_ATTEMPTS_FAILURES,
    events_dir: crate::files::ATTEMPTS_DIR,
    dir: FAILURES_DIR,
    columns: failures::COLUMNS,
    time: "ts",
    schema: failures_schema,
    count: failed_orders,
    merge: merge_failed_orders,
    weight: None,
};

/// All of them.
pub static ROLLUPS: [&Rollup; 4] = [&ATTEMPTS, &LATENCY, &FAILURES, &REJECTED];

/// The rollups of the event table in directory `events_dir`.
pub fn rollups_of(events_dir: &str) -> impl Iterator<Item = &'static Rollup> + '_ {
    ROLLUPS
        .iter()
        .copied()
        .filter(move |r| r.events_dir == events_dir)
}

/// SQL table of rejected records counted per minute of `ingested_at`.
pub const REJECTED_EVENTS_MINUTES: &str = "rejected_events_minutes";
/// Its directory.
pub const REJECTED_MINUTES_DIR: &str = "rejected_events_minutes";

static REJECTED_MINUTES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("minute", ts_type(), false),
        Field::new("reason", dict_type(), false),
        Field::new("records", DataType::Int64, false),
        Field::new("first_seen", ts_type(), false),
        Field::new("last_seen", ts_type(), false),
    ]))
});

/// Schema of `rejected_events_minutes`: `minute` (of `ingested_at`, UTC),
/// `reason`, `records`, and the first and last `ingested_at` among them.
pub fn rejected_minutes_schema() -> SchemaRef {
    REJECTED_MINUTES_SCHEMA.clone()
}

/// Counts `rejected_events` rows (at least `reason` and `ingested_at`) per
/// minute of `ingested_at` and reason.
pub fn rejected_minute_counts(batches: &[RecordBatch]) -> Result<RecordBatch, ArrowError> {
    rejected_count(batches, false)
}

/// Adds up [`rejected_minutes_schema`] batches.
pub fn merge_rejected_minutes(batches: &[RecordBatch]) -> Result<RecordBatch, ArrowError> {
    rejected_count(batches, true)
}

/// ((minute, reason), (records, first, last))
type RejectedRow = ((i64, String), (i64, i64, i64));

fn rejected_count(batches: &[RecordBatch], minutes: bool) -> Result<RecordBatch, ArrowError> {
    // (minute, reason) -> (records, first, last)
    let mut counts: HashMap<(i64, String), (i64, i64, i64)> = HashMap::new();
    for batch in batches.iter().filter(|b| b.num_rows() > 0) {
        let by_name = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| ArrowError::SchemaError(format!("no column {name}")))
        };
        let ts = |name: &str| -> Result<TimestampMillisecondArray, ArrowError> {
            by_name(name)?
                .as_primitive_opt::<TimestampMillisecondType>()
                .cloned()
                .ok_or_else(|| ArrowError::SchemaError(format!("{name} is not a timestamp")))
        };
        let reason = cast(by_name("reason")?, &DataType::Utf8)?;
        let reason = reason.as_string::<i32>();
        let (time, first, last) = if minutes {
            (ts("minute")?, ts("first_seen")?, ts("last_seen")?)
        } else {
            let at = ts("ingested_at")?;
            (at.clone(), at.clone(), at)
        };
        let records = if minutes {
            Some(
                by_name("records")?
                    .as_primitive_opt::<arrow::datatypes::Int64Type>()
                    .cloned()
                    .ok_or_else(|| ArrowError::SchemaError("records is not Int64".into()))?,
            )
        } else {
            None
        };
        for row in 0..batch.num_rows() {
            if time.is_null(row) || reason.is_null(row) {
                continue;
            }
            let minute = time.value(row).div_euclid(MINUTE_MS) * MINUTE_MS;
            let n = records.as_ref().map_or(1, |r| r.value(row));
            let e = counts
                .entry((minute, reason.value(row).to_string()))
                .or_insert((0, i64::MAX, i64::MIN));
            e.0 += n;
            e.1 = e.1.min(first.value(row));
            e.2 = e.2.max(last.value(row));
        }
    }
    let mut rows: Vec<RejectedRow> = counts.into_iter().collect();
    rows.sort_unstable();
    let stamp = |f: &dyn Fn(&RejectedRow) -> i64| -> ArrayRef {
        Arc::new(
            TimestampMillisecondArray::from_iter_values(rows.iter().map(f)).with_timezone("UTC"),
        )
    };
    let reasons = StringArray::from_iter_values(rows.iter().map(|((_, r), _)| r.as_str()));
    let columns: Vec<ArrayRef> = vec![
        stamp(&|r| r.0.0),
        cast(&reasons, &dict_type())?,
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|(_, v)| v.0))),
        stamp(&|r| r.1.1),
        stamp(&|r| r.1.2),
    ];
    RecordBatch::try_new(rejected_minutes_schema(), columns)
}

/// Counts `batches` (of the `order_attempts` schema, or a projection of it
/// holding at least [`counted_columns`]; columns are found by name) per
/// minute and key values: one [`minutes_schema`] batch, sorted by minute.
pub fn minute_counts(batches: &[RecordBatch]) -> Result<RecordBatch, ArrowError> {
    count(batches, false)
}

/// Adds up [`minutes_schema`] batches (of any files): one batch with one
/// row per minute and key values, sorted by minute.
pub fn merge_minutes(batches: &[RecordBatch]) -> Result<RecordBatch, ArrowError> {
    count(batches, true)
}

/// Events (each counts 1, its minute from `ts`) or minutes rows (each
/// counts `attempts`), per minute and key values.
fn count(batches: &[RecordBatch], minutes: bool) -> Result<RecordBatch, ArrowError> {
    let names = order_attempts_schema();
    let mut interners: [Interner; KEYS.len()] = Default::default();
    let mut counts: HashMap<(i64, [u32; KEYS.len()]), i64> = HashMap::new();
    for batch in batches.iter().filter(|b| b.num_rows() > 0) {
        let by_name = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| ArrowError::SchemaError(format!("no column {name}")))
        };
        let column = |c: usize| by_name(names.field(c).name());
        let ts = by_name(if minutes { "minute" } else { "ts" })?
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| ArrowError::SchemaError("time is not a millisecond timestamp".into()))?;
        let weights = if minutes {
            Some(
                by_name("attempts")?
                    .as_primitive_opt::<arrow::datatypes::Int64Type>()
                    .ok_or_else(|| ArrowError::SchemaError("attempts is not Int64".into()))?,
            )
        } else {
            None
        };
        // Each key column as (row → dictionary key, dictionary key → id).
        let mut columns = Vec::with_capacity(KEYS.len());
        for (k, &c) in KEYS.iter().enumerate() {
            let column = column(c)?;
            let dict = if column.data_type() == &dict_type() {
                column.as_dictionary::<Int32Type>().clone()
            } else {
                cast(column, &dict_type())?
                    .as_dictionary::<Int32Type>()
                    .clone()
            };
            let values = dict.values().as_string::<i32>();
            let ids: Vec<u32> = (0..values.len())
                .map(|i| {
                    if values.is_null(i) {
                        NULL
                    } else {
                        interners[k].id(values.value(i))
                    }
                })
                .collect();
            columns.push((dict, ids));
        }
        for row in 0..batch.num_rows() {
            if ts.is_null(row) {
                continue;
            }
            let minute = ts.value(row).div_euclid(MINUTE_MS) * MINUTE_MS;
            let mut key = [NULL; KEYS.len()];
            for (k, (dict, ids)) in columns.iter().enumerate() {
                if dict.is_valid(row) {
                    key[k] = ids[dict.keys().value(row) as usize];
                }
            }
            *counts.entry((minute, key)).or_insert(0) += weights.map_or(1, |w| w.value(row));
        }
    }
    let mut rows: Vec<((i64, [u32; KEYS.len()]), i64)> = counts.into_iter().collect();
    rows.sort_unstable();
    let minute = TimestampMillisecondArray::from_iter_values(rows.iter().map(|((m, _), _)| *m))
        .with_timezone("UTC");
    let mut out: Vec<ArrayRef> = vec![Arc::new(minute)];
    for (k, interner) in interners.into_iter().enumerate() {
        let keys = Int32Array::from_iter(
            rows.iter()
                .map(|((_, key), _)| (key[k] != NULL).then_some(key[k] as i32)),
        );
        let values = Arc::new(StringArray::from(interner.values));
        out.push(Arc::new(DictionaryArray::<Int32Type>::try_new(
            keys, values,
        )?));
    }
    out.push(Arc::new(Int64Array::from_iter_values(
        rows.iter().map(|(_, n)| *n),
    )));
    RecordBatch::try_new(minutes_schema(), out)
}

/// A compacted minutes file: the minutes files of several `order_attempts`
/// files of one date, topic and partition added up into one, named
/// `{topic}-p{partition}-{first:020}-{last:020}-compact-{hash:016x}.parquet`.
/// It stands for exactly the listed files of its date, topic and partition
/// whose offsets lie within `first..=last`, and only while their names hash
/// to `hash` ([`covers_hash`]): a file that went (retention) or came (a
/// zombie writer) makes it stand for nothing, and readers fall back to the
/// files' own minutes files. Written by ingest ([`choose`] says which to
/// use); never one of a flush's files (the name does not parse as one).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Compacted {
    pub topic: String,
    pub partition: i32,
    pub first: i64,
    pub last: i64,
    pub hash: u64,
}

impl Compacted {
    pub fn file_name(&self) -> String {
        format!(
            "{}-p{}-{:020}-{:020}-compact-{:016x}.parquet",
            self.topic, self.partition, self.first, self.last, self.hash
        )
    }

    /// Parses a file name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Compacted> {
        let stem = name.strip_suffix(".parquet")?;
        let (rest, hash) = stem.rsplit_once("-compact-")?;
        let hash = u64::from_str_radix(hash, 16)
            .ok()
            .filter(|_| hash.len() == 16)?;
        let r = crate::files::FlushRange::parse_stem(rest)?;
        Some(Compacted {
            topic: r.topic,
            partition: r.partition,
            first: r.first,
            last: r.last,
            hash,
        })
    }

    fn holds(&self, f: &FlushFile) -> bool {
        f.range.topic == self.topic
            && f.range.partition == self.partition
            && f.range.first >= self.first
            && f.range.last <= self.last
    }
}

/// FNV-1a (64 bit) of the file names, sorted, each followed by a newline:
/// stable across processes and versions.
pub fn covers_hash<'a>(names: impl IntoIterator<Item = &'a str>) -> u64 {
    let mut names: Vec<&str> = names.into_iter().collect();
    names.sort_unstable();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for name in names {
        for b in name.bytes().chain([b'\n']) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Which compacted files of one date to read for the `order_attempts` files
/// `listed` (that date's, as a reader lists them): each chosen one stands
/// for exactly the listed files it holds, no listed file is stood for twice,
/// the widest first. Returns the chosen (indices into `compacted`) and, per
/// listed file, whether one of them stands for it.
pub fn choose(listed: &[FlushFile], compacted: &[Compacted]) -> (Vec<usize>, Vec<bool>) {
    let mut order: Vec<usize> = (0..compacted.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(compacted[i].last - compacted[i].first));
    let mut covered = vec![false; listed.len()];
    let mut chosen = Vec::new();
    for i in order {
        let c = &compacted[i];
        let members: Vec<usize> = (0..listed.len()).filter(|&j| c.holds(&listed[j])).collect();
        if members.is_empty() || members.iter().any(|&j| covered[j]) {
            continue;
        }
        let names: Vec<String> = members.iter().map(|&j| listed[j].file_name()).collect();
        if covers_hash(names.iter().map(String::as_str)) != c.hash {
            continue;
        }
        for j in members {
            covered[j] = true;
        }
        chosen.push(i);
    }
    (chosen, covered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::FlushRange;
    use arrow::array::{StringDictionaryBuilder, new_null_array};

    fn flush_file(partition: i32, first: i64, last: i64) -> FlushFile {
        FlushFile {
            range: FlushRange {
                topic: "t".into(),
                partition,
                first,
                last,
            },
            index: 1,
            count: 1,
        }
    }

    fn compacted_of(files: &[FlushFile]) -> Compacted {
        Compacted {
            topic: "t".into(),
            partition: files[0].range.partition,
            first: files.iter().map(|f| f.range.first).min().unwrap_or(0),
            last: files.iter().map(|f| f.range.last).max().unwrap_or(0),
            hash: covers_hash(
                files
                    .iter()
                    .map(|f| f.file_name())
                    .collect::<Vec<_>>()
                    .iter()
                    .map(String::as_str),
            ),
        }
    }

    #[test]
    fn compacted_names_round_trip_and_are_never_flush_files() {
        let c = compacted_of(&[flush_file(3, 10, 19), flush_file(3, 20, 29)]);
        let name = c.file_name();
        assert_eq!(Compacted::parse(&name), Some(c));
        assert_eq!(FlushFile::parse(&name), None);
        assert_eq!(Compacted::parse(&flush_file(3, 10, 19).file_name()), None);
        assert_eq!(Compacted::parse("x-compact-12.parquet"), None);
    }

    #[test]
    fn a_compacted_file_stands_only_for_exactly_the_files_it_was_made_of() {
        let files: Vec<FlushFile> = (0..4).map(|i| flush_file(0, i * 10, i * 10 + 9)).collect();
        let old = compacted_of(&files[..2]);
        let new = compacted_of(&files[..3]);
        let other = compacted_of(&[flush_file(1, 0, 9)]);
        let all = [old.clone(), new.clone(), other];
        // The widest valid one wins; the last file is not covered.
        let (chosen, covered) = choose(&files, &all);
        assert_eq!(chosen, vec![1]);
        assert_eq!(covered, vec![true, true, true, false]);
        // Retention removed the first file: `new` and `old` stand for nothing.
        let (chosen, covered) = choose(&files[1..], &all);
        assert!(chosen.is_empty());
        assert!(covered.iter().all(|c| !c));
        // A zombie writer's flush within the range: not what `old` was made of.
        let mut zombie = files[..2].to_vec();
        zombie.push(flush_file(0, 5, 12));
        let (chosen, _) = choose(&zombie, std::slice::from_ref(&old));
        assert!(chosen.is_empty());
        // Without `new`, `old` covers its two.
        let (chosen, covered) = choose(&files, &[old]);
        assert_eq!((chosen, covered), (vec![0], vec![true, true, false, false]));
    }

    #[test]
    fn merging_minutes_rows_adds_them_up() {
        let a = minute_counts(&[attempts(&[
            (60_000, "success", "web", None),
            (61_000, "success", "web", None),
        ])])
        .expect("a");
        let b = minute_counts(&[attempts(&[
            (62_000, "success", "web", None),
            (125_000, "failure", "web", Some("network_error")),
        ])])
        .expect("b");
        let m = merge_minutes(&[a, b]).expect("merge");
        let n: Vec<i64> = m
            .column(mcol::ATTEMPTS)
            .as_primitive::<arrow::datatypes::Int64Type>()
            .values()
            .to_vec();
        assert_eq!(n, vec![3, 1]);
    }

    /// An `order_attempts` batch with the given (ts, outcome, channel, cause).
    fn attempts(rows: &[(i64, &str, &str, Option<&str>)]) -> RecordBatch {
        let schema = order_attempts_schema();
        let n = rows.len();
        let dict = |values: Vec<Option<&str>>| -> ArrayRef {
            let mut b = StringDictionaryBuilder::<Int32Type>::new();
            for v in values {
                b.append_option(v);
            }
            Arc::new(b.finish())
        };
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| match i {
                col::TS => Arc::new(
                    TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.0))
                        .with_timezone("UTC"),
                ) as ArrayRef,
                col::OUTCOME => dict(rows.iter().map(|r| Some(r.1)).collect()),
                col::CHANNEL => dict(rows.iter().map(|r| Some(r.2)).collect()),
                col::FAILURE_CAUSE => dict(rows.iter().map(|r| r.3).collect()),
                _ if f.data_type() == &dict_type() => dict(vec![None; n]),
                _ => new_null_array(f.data_type(), n),
            })
            .collect();
        // Non-nullable columns other than these are not read by the counting.
        let lax = Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        );
        RecordBatch::try_new(Arc::new(lax), columns).expect("batch")
    }

    fn strings(batch: &RecordBatch, c: usize) -> Vec<Option<String>> {
        let s = cast(batch.column(c), &DataType::Utf8).expect("cast");
        s.as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect()
    }

    #[test]
    fn counts_per_minute_and_values_across_batches_with_their_own_dictionaries() {
        let a = attempts(&[
            (60_000, "success", "web", None),
            (119_999, "success", "web", None),
            (61_000, "failure", "web", Some("network_error")),
            (-1, "failure", "ios_app", Some("network_error")),
        ]);
        let b = attempts(&[
            (120_000, "success", "web", None),
            (90_000, "failure", "web", Some("network_error")),
        ]);
        let m = minute_counts(&[a, RecordBatch::new_empty(order_attempts_schema()), b])
            .expect("counts");
        assert_eq!(m.schema(), minutes_schema());
        let minute: Vec<i64> = m
            .column(mcol::MINUTE)
            .as_primitive::<TimestampMillisecondType>()
            .values()
            .to_vec();
        let attempts: Vec<i64> = m
            .column(mcol::ATTEMPTS)
            .as_primitive::<arrow::datatypes::Int64Type>()
            .values()
            .to_vec();
        // A ts before the epoch lands in the minute that holds it.
        assert_eq!(minute, vec![-60_000, 60_000, 60_000, 120_000]);
        assert_eq!(attempts, vec![1, 2, 2, 1]);
        let channel = strings(&m, 2);
        let cause = strings(&m, 3);
        assert_eq!(channel[0].as_deref(), Some("ios_app"));
        assert_eq!(cause[0].as_deref(), Some("network_error"));
        assert_eq!(attempts.iter().sum::<i64>(), 6, "every row counted once");
        let successes: i64 = strings(&m, 1)
            .iter()
            .zip(&attempts)
            .filter(|(o, _)| o.as_deref() == Some("success"))
            .map(|(_, n)| n)
            .sum();
        assert_eq!(successes, 3);
        // Nulls stay nulls, not empty strings.
        assert!(strings(&m, 7).iter().all(Option::is_none));
    }

    #[test]
    fn nothing_counts_to_an_empty_batch() {
        let m = minute_counts(&[]).expect("counts");
        assert_eq!(m.num_rows(), 0);
        assert_eq!(m.schema(), minutes_schema());
    }
}

#[cfg(test)]
mod rejected_tests {
    use super::*;

    fn rejected(rows: &[(&str, i64)]) -> RecordBatch {
        let schema = crate::schema::rejected_events_schema();
        let reason = StringArray::from_iter_values(rows.iter().map(|r| r.0));
        let at = TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.1))
            .with_timezone("UTC");
        let n = rows.len();
        let text: ArrayRef = Arc::new(StringArray::from_iter_values((0..n).map(|_| "x")));
        let columns: Vec<ArrayRef> = vec![
            cast(&reason, &dict_type()).expect("dict"),
            text.clone(),
            text,
            cast(
                &StringArray::from_iter_values((0..n).map(|_| "t")),
                &dict_type(),
            )
            .expect("dict"),
            Arc::new(Int32Array::from_iter_values((0..n).map(|_| 0))),
            Arc::new(Int64Array::from_iter_values(0..n as i64)),
            Arc::new(at),
        ];
        RecordBatch::try_new(schema, columns).expect("batch")
    }

    #[test]
    fn rejected_records_count_per_minute_and_reason_with_first_and_last_seen() {
        let a = rejected(&[
            ("invalid_json", 60_500),
            ("invalid_json", 61_000),
            ("oversized", 130_000),
        ]);
        let b = rejected(&[("invalid_json", 60_100), ("invalid_json", 119_999)]);
        let m = merge_rejected_minutes(&[
            rejected_minute_counts(&[a]).expect("a"),
            rejected_minute_counts(&[b]).expect("b"),
        ])
        .expect("merge");
        assert_eq!(m.schema(), rejected_minutes_schema());
        assert_eq!(m.num_rows(), 2);
        let col = |i: usize| {
            m.column(i)
                .as_primitive::<TimestampMillisecondType>()
                .values()
                .to_vec()
        };
        let n = m
            .column(2)
            .as_primitive::<arrow::datatypes::Int64Type>()
            .values()
            .to_vec();
        assert_eq!(col(0), vec![60_000, 120_000]);
        assert_eq!(n, vec![4, 1]);
        assert_eq!(col(3), vec![60_100, 130_000]);
        assert_eq!(col(4), vec![119_999, 130_000]);
    }
}
