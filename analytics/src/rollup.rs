//! The rollup: attempts and failures per time slot, per value of each
//! dashboard dimension, kept in memory, so the dashboard's overview adds up a
//! few thousand slots instead of rescanning raw events on every refresh.
//!
//! # What is counted
//! For every `order_attempts` row, in the slot its `ts` falls in: the total;
//! one count per [`DIMENSIONS`] value (NULL is a value); and one per
//! `channel` × `payment_method` pair (the heat map). Each count is attempts
//! and failures (`outcome = 'failure'`).
//!
//! # Levels
//! Slots are kept at three lengths ([`LEVELS`]): 10 s for today and the two
//! days before, 1 min for the eight days before today, 1 h for everything
//! stored. A range is added up from the coarsest slots that fit inside it
//! and finer ones at its edges. A window edge is moved forward to the next
//! slot boundary of the finest level kept at that time (so a recent
//! `now-1h` becomes a 10 s boundary, an edge 20 days back an hour boundary);
//! the answer says which window it counted. A request the slots cannot
//! answer exactly (a chart bucket boundary off every kept grid, too many
//! distinct values) gets `None`, and the caller scans raw events instead.
//!
//! # Kept in step with the table
//! [`Rollup::overview`] refreshes first, exactly as a scan of
//! `order_attempts` would see the data: it snapshots the live rows, lists the
//! complete flushes (the same listing as [`crate::table`]), reads each file
//! it has not counted yet (seven columns), and counts the live rows no listed
//! flush covers into a throwaway overlay. A counted file that is gone from
//! the listing (retention, a superseded flush) makes its whole `date=`
//! directory be counted again from the files still there. So the rollup
//! always equals `order_attempts` at the moment of the refresh.
//! [`Rollup::warm`] does the first count ahead of time (`serve` at
//! start-up); overviews asked for while it runs are declined, not queued.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Int32Type, TimestampMillisecondType};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use model::LiveRows;
use model::schema::{col, dict_type};

use crate::table::stored_and_live;
use crate::{Error, Result};

/// The dimensions counted, in the order their ids are used.
pub const DIMENSIONS: [&str; 5] = [
    "failure_cause",
    "channel",
    "payment_method",
    "region",
    "app_version",
];
const CHANNEL: usize = 1;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
const PAYMENT_METHOD: usize = 2;

/// Slot lengths, finest first.
pub const LEVELS: [i64; 3] = [10_000, 60_000, 3_600_000];
/// Whole UTC days before today each level is kept for (`None`: always).
const KEEP_DAYS: [Option<i64>; 3] = [Some(2), Some(8), None];
const DAY_MS: i64 = 86_400_000;
/// Distinct values per dimension before the rollup stops answering (a
/// hostile or broken producer inventing app versions must not grow memory
/// without bound; the overview then scans raw events).
pub const MAX_VALUES: usize = 100_000;

const HEAT: u64 = 5;
const TOTAL: u64 = 6;

fn key(kind: u64, a: u32, b: u32) -> u64 {
    (kind << 56) | (u64::from(a) << 28) | u64::from(b)
}

fn kind_of(key: u64) -> u64 {
    key >> 56
}

fn first_of(key: u64) -> u32 {
    ((key >> 28) & 0x0fff_ffff) as u32
}

fn second_of(key: u64) -> u32 {
    (key & 0x0fff_ffff) as u32
}

fn floor(t: i64, step: i64) -> i64 {
    t.div_euclid(step) * step
}

fn ceil(t: i64, step: i64) -> i64 {
    -floor(-t, step)
}

/// Attempts and failures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub attempts: u64,
    pub failures: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.attempts += other.attempts;
        self.failures += other.failures;
    }
}

/// One slot: `(key, counts)` sorted by key.
type Slot = Vec<(u64, Counts)>;

/// Adds `more` (sorted by key) into `slot` (sorted by key).
fn merge(slot: &mut Slot, more: Slot) {
    if slot.is_empty() {
        *slot = more;
        return;
    }
    let old = std::mem::take(slot);
    slot.reserve(old.len() + more.len());
    let (mut a, mut b) = (old.into_iter().peekable(), more.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                let (k, mut c) = a.next().expect("peeked");
                c.add(b.next().expect("peeked").1);
                (k, c)
            }
            (Some(x), Some(y)) if x.0 < y.0 => a.next().expect("peeked"),
            (Some(_), Some(_)) | (None, Some(_)) => b.next().expect("peeked"),
            (Some(_), None) => a.next().expect("peeked"),
            (None, None) => break,
        };
        slot.push(next);
    }
}

/// Slots of every level.
#[derive(Debug, Default)]
struct Levels([BTreeMap<i64, Slot>; 3]);

impl Levels {
    /// Adds per-fine-slot combination counts to every level.
    fn add(&mut self, combos: FastMap<(i64, [u32; 5]), Counts>) {
        for (level, step) in LEVELS.iter().enumerate() {
            let mut by_slot: BTreeMap<i64, FastMap<u64, Counts>> = BTreeMap::new();
            for ((fine, ids), counts) in &combos {
                let slot = by_slot.entry(floor(*fine, *step)).or_default();
                for (dim, id) in ids.iter().enumerate() {
                    slot.entry(key(dim as u64, *id, 0))
                        .or_default()
                        .add(*counts);
                }
                slot.entry(key(HEAT, ids[CHANNEL], ids[PAYMENT_METHOD]))
                    .or_default()
                    .add(*counts);
                slot.entry(key(TOTAL, 0, 0)).or_default().add(*counts);
            }
            for (start, counts) in by_slot {
                let mut more: Slot = counts.into_iter().collect();
                more.sort_unstable_by_key(|e| e.0);
                merge(self.0[level].entry(start).or_default(), more);
            }
        }
    }

    /// Forgets every slot in `[lo, hi)` at every level.
    fn remove(&mut self, lo: i64, hi: i64) {
        for level in &mut self.0 {
            let mut tail = level.split_off(&lo);
            let mut rest = tail.split_off(&hi);
            level.append(&mut rest);
        }
    }

    /// Forgets the slots of `level` before `from`.
    fn prune(&mut self, level: usize, from: i64) {
        let kept = self.0[level].split_off(&from);
        self.0[level] = kept;
    }

    /// Calls `f` with every slot that together cover `[a, b)` exactly once,
    /// using `level`'s slots where they fit and finer ones at the edges.
    /// `a` and `b` must be cuts ([`Keep::is_cut`]).
    fn visit(&self, a: i64, b: i64, level: usize, f: &mut impl FnMut(&Slot)) {
        if a >= b {
            return;
        }
        if level == 0 {
            self.0[0].range(a..b).for_each(|(_, s)| f(s));
            return;
        }
        let step = LEVELS[level];
        let (ca, fb) = (ceil(a, step), floor(b, step));
        if ca < fb {
            self.visit(a, ca, level - 1, f);
            self.0[level].range(ca..fb).for_each(|(_, s)| f(s));
            self.visit(fb, b, level - 1, f);
        } else {
            self.visit(a, b, level - 1, f);
        }
    }
}

/// From when each level is kept, given the time now.
#[derive(Debug, Clone, Copy)]
struct Keep([i64; 3]);

impl Keep {
    fn at(now_ms: i64) -> Keep {
        let today = floor(now_ms, DAY_MS);
        Keep(KEEP_DAYS.map(|d| d.map_or(i64::MIN, |d| today - d * DAY_MS)))
    }

    /// True when `t` is a slot boundary of a level kept at `t`.
    fn is_cut(&self, t: i64) -> bool {
        LEVELS
            .iter()
            .zip(self.0)
            .any(|(step, from)| t % step == 0 && t >= from)
    }

    /// `t` moved forward to the next boundary of the finest level kept
    /// there.
    fn snap(&self, t: i64) -> i64 {
        for (step, from) in LEVELS.iter().zip(self.0) {
            let s = ceil(t, *step);
            if s >= from {
                return s;
            }
        }
        ceil(t, LEVELS[LEVELS.len() - 1])
    }
}

/// Dimension values and their ids (0 is NULL).
#[derive(Debug)]
struct Interner {
    ids: HashMap<Arc<str>, u32>,
    names: Vec<Option<Arc<str>>>,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            ids: HashMap::new(),
            names: vec![None],
        }
    }
}

impl Interner {
    fn id(&mut self, value: &str) -> Option<u32> {
        if let Some(id) = self.ids.get(value) {
            return Some(*id);
        }
        if self.names.len() > MAX_VALUES {
            return None;
        }
        let id = self.names.len() as u32;
        let value: Arc<str> = value.into();
        self.names.push(Some(value.clone()));
        self.ids.insert(value, id);
        Some(id)
    }

    fn name(&self, id: u32) -> Option<Arc<str>> {
        self.names.get(id as usize).cloned().flatten()
    }
}

/// What the rollup has counted.
#[derive(Debug, Default)]
struct State {
    interners: [Interner; 5],
    levels: Levels,
    /// The files counted, per `date=` directory.
    files: BTreeMap<NaiveDate, HashSet<PathBuf>>,
    /// Set once a dimension has more than [`MAX_VALUES`] values.
    overflow: bool,
}

/// The columns read, in this order: `ts`, `outcome`, then [`DIMENSIONS`].
const COLUMNS: [usize; 7] = [
    col::TS,
    col::OUTCOME,
    col::FAILURE_CAUSE,
    col::CHANNEL,
    col::PAYMENT_METHOD,
    col::REGION,
    col::APP_VERSION,
];

impl State {
    /// Counts `batch` (an `order_attempts` batch, whole or projected to
    /// [`COLUMNS`]) into `levels`.
    fn count(
        interners: &mut [Interner; 5],
        overflow: &mut bool,
        levels: &mut Levels,
        batch: &RecordBatch,
    ) -> Result<()> {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| Error::Rollup(format!("no column {name}")))
        };
        let ts = column("ts")?;
        let ts = ts
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| Error::Rollup("ts is not a ms timestamp".into()))?;
        let failed = ids_of(column("outcome")?, &mut |v| Some(u32::from(v == "failure")))?;
        let mut dims = Vec::with_capacity(DIMENSIONS.len());
        for (i, name) in DIMENSIONS.iter().enumerate() {
            let interner = &mut interners[i];
            let mut full = false;
            let ids = ids_of(column(name)?, &mut |v| {
                let id = interner.id(v);
                full |= id.is_none();
                id
            })?;
            if full {
                if !*overflow {
                    tracing::warn!(
                        dimension = name,
                        max = MAX_VALUES,
                        "too many distinct values: the overview scans raw events from now on"
                    );
                }
                *overflow = true;
            }
            dims.push(ids);
        }
        let mut combos: FastMap<(i64, [u32; 5]), Counts> = FastMap::default();
        for row in 0..batch.num_rows() {
            if ts.is_null(row) {
                continue;
            }
            let ids = [
                dims[0][row],
                dims[1][row],
                dims[2][row],
                dims[3][row],
                dims[4][row],
            ];
            let c = combos
                .entry((floor(ts.value(row), LEVELS[0]), ids))
                .or_default();
            c.attempts += 1;
            c.failures += u64::from(failed[row] == 1);
        }
        levels.add(combos);
        Ok(())
    }

    /// Forgets a day's counts and files.
    fn forget(&mut self, date: NaiveDate) {
        let lo = date
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_millis();
        self.levels.remove(lo, lo + DAY_MS);
        self.files.remove(&date);
    }

    /// Counts one stored file; `Ok(false)` when it is gone.
    fn count_file(&mut self, path: &Path) -> Result<bool> {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io(path)(e)),
        };
        let parquet = |e: datafusion::parquet::errors::ParquetError| {
            Error::Rollup(format!("reading {}: {e}", path.display()))
        };
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet)?;
        let mask = ProjectionMask::roots(builder.parquet_schema(), COLUMNS);
        let reader = builder
            .with_projection(mask)
            .with_batch_size(65_536)
            .build()
            .map_err(parquet)?;
        for batch in reader {
            let batch =
                batch.map_err(|e| Error::Rollup(format!("reading {}: {e}", path.display())))?;
            Self::count(
                &mut self.interners,
                &mut self.overflow,
                &mut self.levels,
                &batch,
            )?;
        }
        Ok(true)
    }
}

/// Per row of a string or dictionary column: `f(value)`, or 0 for NULL
/// (and for a value `f` refuses).
fn ids_of(array: &Arc<dyn Array>, f: &mut impl FnMut(&str) -> Option<u32>) -> Result<Vec<u32>> {
    let cast;
    let array = if array.data_type() == &dict_type() {
        array
    } else {
        cast = datafusion::arrow::compute::cast(array, &dict_type())
            .map_err(|e| Error::Rollup(e.to_string()))?;
        &cast
    };
    let dict = array.as_dictionary::<Int32Type>();
    let values = dict.values();
    let values = if values.data_type() == &DataType::Utf8 {
        values.as_string::<i32>()
    } else {
        return Err(Error::Rollup("a dictionary of non-strings".into()));
    };
    let map: Vec<u32> = (0..values.len())
        .map(|i| {
            if values.is_null(i) {
                0
            } else {
                f(values.value(i)).unwrap_or(0)
            }
        })
        .collect();
    Ok(dict
        .keys()
        .iter()
        .map(|k| k.and_then(|k| map.get(k as usize).copied()).unwrap_or(0))
        .collect())
}

/// A window and its comparison period, epoch ms, starts inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverviewRequest {
    pub start_ms: i64,
    pub end_ms: i64,
    pub base_start_ms: i64,
    pub base_end_ms: i64,
    /// The trend's bucket length (buckets aligned to the epoch).
    pub bucket_ms: i64,
}

/// One dimension value's counts, in the window and in the comparison period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueCounts {
    /// An index into [`DIMENSIONS`].
    pub dimension: usize,
    pub value: Option<Arc<str>>,
    pub now: Counts,
    pub base: Counts,
}

/// `(channel, payment_method, counts)`.
pub type HeatCell = (Option<Arc<str>>, Option<Arc<str>>, Counts);

/// What the overview shows, counted from the rollup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    /// The window counted: the request's edges moved to slot boundaries.
    pub window: OverviewRequest,
    pub total_now: Counts,
    pub total_base: Counts,
    /// Every value seen in either period.
    pub values: Vec<ValueCounts>,
    /// `(channel, payment_method, counts)` in the window.
    pub heat: Vec<HeatCell>,
    /// `(bucket start, failure_cause, counts)` in the window, non-empty ones.
    pub trend: Vec<(i64, Option<Arc<str>>, Counts)>,
}

/// The in-memory rollup of `order_attempts` (see the module docs). Cheap to
/// clone; clones share the counts.
#[derive(Debug, Clone)]
pub struct Rollup {
    data_dir: PathBuf,
    live: Option<LiveRows>,
    state: Arc<Mutex<State>>,
    /// Set while [`Rollup::warm`] counts: overviews are declined meanwhile
    /// rather than queued behind it.
    warming: Arc<AtomicBool>,
}

impl Rollup {
    /// A rollup over `data_dir` (absolute) and the live rows, counted on
    /// first use.
    pub fn new(data_dir: PathBuf, live: Option<LiveRows>) -> Rollup {
        Rollup {
            data_dir,
            live,
            state: Arc::default(),
            warming: Arc::default(),
        }
    }

    /// Counts what is new since the last call and returns the overlay of
    /// uncovered live rows. Blocking: reads files.
    fn refresh(&self, state: &mut State, now_ms: i64) -> Result<Levels> {
        let (listing, live) = stored_and_live(&self.data_dir, self.live.as_ref())?;
        let mut want: BTreeMap<NaiveDate, HashSet<PathBuf>> = BTreeMap::new();
        for f in listing.attempts {
            want.entry(f.date).or_default().insert(f.path);
        }
        let stale: Vec<NaiveDate> = state
            .files
            .iter()
            .filter(|(date, counted)| {
                let kept = want.get(date);
                counted.iter().any(|p| kept.is_none_or(|k| !k.contains(p)))
            })
            .map(|(date, _)| *date)
            .collect();
        for date in stale {
            state.forget(date);
            tracing::debug!(%date, "rollup: a counted file is gone; counting the day again");
        }
        for (date, paths) in want {
            for path in paths {
                if state.files.get(&date).is_some_and(|c| c.contains(&path)) {
                    continue;
                }
                match state.count_file(&path) {
                    Ok(true) => {
                        state.files.entry(date).or_default().insert(path);
                    }
                    Ok(false) => {}
                    Err(e) => {
                        // Part of the file may be counted: forget the day,
                        // so the next refresh counts it again from scratch.
                        state.forget(date);
                        return Err(e);
                    }
                }
            }
        }
        let keep = Keep::at(now_ms);
        for (level, from) in keep.0.iter().enumerate() {
            if *from != i64::MIN {
                state.levels.prune(level, *from);
            }
        }
        let mut overlay = Levels::default();
        for b in &live.attempts {
            State::count(
                &mut state.interners,
                &mut state.overflow,
                &mut overlay,
                &b.batch,
            )?;
        }
        Ok(overlay)
    }

    /// Brings the rollup up to date with the stored files (for a warm start).
    /// Blocking.
    /// Overviews asked for meanwhile are declined (the caller scans).
    pub fn warm(&self, now_ms: i64) -> Result<()> {
        self.warming.store(true, Ordering::SeqCst);
        let result = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            self.refresh(&mut state, now_ms).map(|_| ())
        };
        self.warming.store(false, Ordering::SeqCst);
        result
    }

    /// The overview's counts for `q`, or `None` when the rollup cannot
    /// count it exactly (see the module docs). Blocking: refreshes first.
    pub fn overview(&self, q: &OverviewRequest, now_ms: i64) -> Result<Option<Overview>> {
        if self.warming.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let overlay = self.refresh(&mut state, now_ms)?;
        if state.overflow {
            return Ok(None);
        }
        let keep = Keep::at(now_ms);
        let w = OverviewRequest {
            start_ms: keep.snap(q.start_ms),
            end_ms: keep.snap(q.end_ms),
            base_start_ms: keep.snap(q.base_start_ms),
            base_end_ms: keep.snap(q.base_end_ms),
            bucket_ms: q.bucket_ms,
        };
        if w.bucket_ms <= 0 || w.start_ms >= w.end_ms {
            return Ok(None);
        }
        let first = floor(w.start_ms, w.bucket_ms);
        let buckets: Vec<i64> = (0..)
            .map(|i| first + i * w.bucket_ms)
            .take_while(|b| *b < w.end_ms)
            .collect();
        if buckets.iter().any(|b| *b > w.start_ms && !keep.is_cut(*b)) {
            return Ok(None);
        }

        let mut now: FastMap<u64, Counts> = FastMap::default();
        let mut trend: Vec<(i64, u32, Counts)> = Vec::new();
        for b in &buckets {
            let (lo, hi) = ((*b).max(w.start_ms), (b + w.bucket_ms).min(w.end_ms));
            let mut causes: FastMap<u32, Counts> = FastMap::default();
            let mut add = |slot: &Slot| {
                for (k, c) in slot {
                    now.entry(*k).or_default().add(*c);
                    if kind_of(*k) == 0 {
                        causes.entry(first_of(*k)).or_default().add(*c);
                    }
                }
            };
            state.levels.visit(lo, hi, LEVELS.len() - 1, &mut add);
            overlay.visit(lo, hi, LEVELS.len() - 1, &mut add);
            trend.extend(causes.into_iter().map(|(cause, c)| (*b, cause, c)));
        }
        let mut base: FastMap<u64, Counts> = FastMap::default();
        let mut add = |slot: &Slot| {
            for (k, c) in slot {
                if kind_of(*k) != HEAT {
                    base.entry(*k).or_default().add(*c);
                }
            }
        };
        let (bs, be) = (w.base_start_ms, w.base_end_ms);
        state.levels.visit(bs, be, LEVELS.len() - 1, &mut add);
        overlay.visit(bs, be, LEVELS.len() - 1, &mut add);

        let total = key(TOTAL, 0, 0);
        let mut values: Vec<ValueCounts> = Vec::new();
        let mut heat = Vec::new();
        let keys: HashSet<u64> = now.keys().chain(base.keys()).copied().collect();
        for k in keys {
            let kind = kind_of(k);
            if kind == HEAT {
                heat.push((
                    state.interners[CHANNEL].name(first_of(k)),
                    state.interners[PAYMENT_METHOD].name(second_of(k)),
                    now[&k],
                ));
            } else if kind < DIMENSIONS.len() as u64 {
                let dim = kind as usize;
                values.push(ValueCounts {
                    dimension: dim,
                    value: state.interners[dim].name(first_of(k)),
                    now: now.get(&k).copied().unwrap_or_default(),
                    base: base.get(&k).copied().unwrap_or_default(),
                });
            }
        }
        values.sort_by(|a, b| (a.dimension, &a.value).cmp(&(b.dimension, &b.value)));
        heat.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let mut trend: Vec<(i64, Option<Arc<str>>, Counts)> = trend
            .into_iter()
            .map(|(b, cause, c)| (b, state.interners[0].name(cause), c))
            .collect();
        trend.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        Ok(Some(Overview {
            window: w,
            total_now: now.get(&total).copied().unwrap_or_default(),
            total_base: base.get(&total).copied().unwrap_or_default(),
            values,
            heat,
            trend,
        }))
    }
}

impl Rollup {
    /// Every slot counted, stored and live, at every level, as rows of the
    /// `order_attempts_rollup` table ([`table::schema`]): per slot one row per
    /// value of each of [`DIMENSIONS`] and one for all attempts (dimension
    /// `all`, value NULL). Only slots starting on a day `day` accepts, of a
    /// length in seconds `length` accepts. Blocking: refreshes first.
    pub fn rows(
        &self,
        now_ms: i64,
        day: impl Fn(NaiveDate) -> bool,
        length: impl Fn(i64) -> bool,
    ) -> Result<RecordBatch> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let overlay = self.refresh(&mut state, now_ms)?;
        if state.overflow {
            return Err(Error::Rollup(format!(
                "a dimension has more than {MAX_VALUES} distinct values, so the rollup is not \
                 kept: query order_attempts instead"
            )));
        }
        let mut out = table::Rows::default();
        // The live rows' overlay is not pruned: a length is shown only
        // where the stored counts keep it too.
        let keep = Keep::at(now_ms);
        for (level, step) in LEVELS.iter().enumerate() {
            if !length(step / 1_000) {
                continue;
            }
            let mut slots: BTreeMap<i64, FastMap<u64, Counts>> = BTreeMap::new();
            for levels in [&state.levels, &overlay] {
                for (start, slot) in &levels.0[level] {
                    let wanted = *start >= keep.0[level]
                        && chrono::DateTime::from_timestamp_millis(*start)
                            .is_some_and(|t| day(t.date_naive()));
                    if !wanted {
                        continue;
                    }
                    let into = slots.entry(*start).or_default();
                    for (k, c) in slot {
                        if kind_of(*k) < DIMENSIONS.len() as u64 || kind_of(*k) == TOTAL {
                            into.entry(*k).or_default().add(*c);
                        }
                    }
                }
            }
            for (start, counts) in slots {
                let mut counts: Vec<(u64, Counts)> = counts.into_iter().collect();
                counts.sort_unstable_by_key(|e| e.0);
                for (k, c) in counts {
                    let (dimension, value) = match kind_of(k) {
                        TOTAL => ("all", None),
                        kind => {
                            let dim = kind as usize;
                            (DIMENSIONS[dim], state.interners[dim].name(first_of(k)))
                        }
                    };
                    out.push(step / 1_000, start, dimension, value.as_deref(), c);
                }
            }
        }
        out.finish()
    }
}

pub mod table;

#[cfg(test)]
mod tests;
