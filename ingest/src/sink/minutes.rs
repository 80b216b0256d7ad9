//! Minutes files for `order_attempts` files stored without one (by a version
//! of ingest that did not write them, or by a writer that died between the
//! two renames): [`backfill`]; and compacted minutes files, one per date,
//! topic and partition, so a reader opens a handful of files for a week
//! instead of one per flush: [`compact`].

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use model::minutes::{Compacted, ROLLUPS, Rollup, choose, covers_hash, rollups_of};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::ledger::files_under;
use super::{FlushFile, ParquetSink, SinkOptions};
use crate::{Error, Result};

/// What one [`backfill`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backfilled {
    /// Minutes files written.
    pub files: u64,
    /// `order_attempts` rows they count.
    pub rows: u64,
    /// Files that could not be read or written (logged; tried again next time).
    pub failed: u64,
}

/// Where `rollup`'s file for the stored file at `path` goes: e.g. for
/// `order_attempts/date=…/NAME`, `{data_dir}/order_attempts_minutes/date=…/NAME`.
pub fn minutes_path(data_dir: &Path, rollup: &Rollup, path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    let date = path.parent()?.file_name()?;
    Some(data_dir.join(rollup.dir).join(date).join(name))
}

/// The files of every rollup of the stored file at `path` (none for a file
/// of a table without one).
pub fn minutes_paths(data_dir: &Path, path: &Path) -> Vec<PathBuf> {
    let table = path
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .and_then(|t| t.to_str())
        .unwrap_or_default();
    rollups_of(table)
        .filter_map(|r| minutes_path(data_dir, r, path))
        .collect()
}

/// Writes the minutes file of every stored file (of both tables) that has
/// none. Safe next to a running ingest and to another backfill: each writes
/// whole files under its own temp name, and two writers of one minutes file
/// write the same bytes. A file that fails (damaged, removed by retention
/// meanwhile) is logged and counted, not fatal.
pub fn backfill(data_dir: &Path) -> Result<Backfilled> {
    let sink = ParquetSink::new(data_dir, SinkOptions::default());
    let tag = format!("backfill-{}", std::process::id());
    let mut done = Backfilled::default();
    let files = ROLLUPS
        .iter()
        .map(|r| {
            Ok(flush_files(data_dir, r.events_dir)?
                .into_iter()
                .map(move |f| (r, f)))
        })
        .collect::<Result<Vec<_>>>()?;
    for (rollup, (path, file)) in files.into_iter().flatten() {
        let Some(target) = minutes_path(data_dir, rollup, &path) else {
            continue;
        };
        if target.exists() {
            continue;
        }
        let written = count_file(&path, rollup).and_then(|(counts, rows)| {
            sink.write_minutes(&target, &file, &counts, &tag)?;
            Ok(rows)
        });
        match written {
            Ok(rows) => {
                done.files += 1;
                done.rows += rows;
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "no minutes file written");
                done.failed += 1;
            }
        }
    }
    Ok(done)
}

/// How long a replaced compacted file stays readable: longer than a query
/// runs (the default query time limit is 30 s).
pub const COMPACT_GRACE: Duration = Duration::from_secs(600);

/// When [`compact`] compacts, and when it removes what it replaced.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// Compact a date of a partition once this many of its files are not
    /// in its compacted file yet (a past date: once any is).
    pub min_files: usize,
    /// A compacted file that is no longer the one to read, or a temp file,
    /// is removed once it (and what replaced it) is this old: longer than a
    /// query may run, so no reader still holds it.
    pub grace: Duration,
    /// Dates before this one are past: nothing more arrives for them.
    pub today: NaiveDate,
}

/// What one [`compact`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compaction {
    /// Compacted files written.
    pub written: u64,
    /// `order_attempts` files they stand for.
    pub files: u64,
    /// Compacted and temp files removed.
    pub removed: u64,
    /// Dates of a partition left as they were after an error (logged).
    pub failed: u64,
}

/// Adds up the minutes files of each date, topic and partition into one
/// compacted file ([`Compacted`]) where [`CompactOptions`] says so, and
/// removes the compacted files nothing reads any more. Only complete
/// flushes count, and a partition with overlapping flushes (a second
/// writer) is left alone. Like [`backfill`], safe next to writers, readers
/// and other compactions: files are written whole under this process's temp
/// names, the same inputs make the same file, and readers check what a
/// compacted file stands for before using it.
pub fn compact(data_dir: &Path, options: &CompactOptions) -> Result<Compaction> {
    let mut done = Compaction::default();
    for rollup in ROLLUPS {
        compact_rollup(data_dir, rollup, options, &mut done)?;
    }
    Ok(done)
}

fn compact_rollup(
    data_dir: &Path,
    rollup: &Rollup,
    options: &CompactOptions,
    done: &mut Compaction,
) -> Result<()> {
    type Key = (NaiveDate, String, i32);
    let mut groups: BTreeMap<Key, Vec<(PathBuf, FlushFile)>> = BTreeMap::new();
    let mut ledgers = BTreeMap::new();
    for (path, file) in flush_files(data_dir, rollup.events_dir)? {
        let Some(date) = date_of(&path) else {
            continue;
        };
        if !ledgers.contains_key(&file.range.topic) {
            let ledger = super::scan(data_dir, &file.range.topic)?;
            ledgers.insert(file.range.topic.clone(), ledger);
        }
        let ledger = &ledgers[&file.range.topic];
        let complete = ledger
            .flushes
            .get(&file.range.partition)
            .is_some_and(|f| f.contains(&file.range));
        let overlapped = ledger
            .overlaps
            .iter()
            .any(|(a, _)| a.partition == file.range.partition);
        if complete && !overlapped {
            let key = (date, file.range.topic.clone(), file.range.partition);
            groups.entry(key).or_default().push((path, file));
        }
    }
    let sink = ParquetSink::new(data_dir, SinkOptions::default());
    let tag = format!("compact-{}", std::process::id());
    let mut dirs: BTreeSet<NaiveDate> = groups.keys().map(|k| k.0).collect();
    // Dates with compacted files but no event files left (retention).
    if let Ok(entries) = std::fs::read_dir(data_dir.join(rollup.dir)) {
        dirs.extend(entries.flatten().filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            NaiveDate::parse_from_str(name.strip_prefix("date=")?, "%Y-%m-%d").ok()
        }));
    }
    for date in dirs {
        let dir = data_dir
            .join(rollup.dir)
            .join(format!("date={}", date.format("%Y-%m-%d")));
        let entries = DirEntries::read(&dir);
        let mut keep: BTreeSet<String> = BTreeSet::new();
        for ((_, topic, partition), files) in groups.iter_mut().filter(|(k, _)| k.0 == date) {
            files.sort_by_key(|(_, f)| f.range.first);
            match compact_one(&sink, rollup, &dir, date, &entries, files, options, &tag) {
                Ok(Some((name, n))) => {
                    done.written += 1;
                    done.files += n;
                    keep.insert(name);
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(%date, %topic, partition, %error, "minutes not compacted");
                    done.failed += 1;
                }
            }
            // The one a reader picks now stays, however old.
            let flushes: Vec<FlushFile> = files.iter().map(|(_, f)| f.clone()).collect();
            let (chosen, _) = choose(&flushes, &entries.compacted);
            keep.extend(chosen.iter().map(|&i| entries.compacted[i].file_name()));
        }
        // What no reader picks any more (replaced, or its files are gone)
        // and temp files nobody finished: removed once old enough.
        // (One written just now is not in `entries`: age zero.)
        let newest_kept = keep
            .iter()
            .map(|name| entries.age(name).unwrap_or(Duration::ZERO))
            .min()
            .unwrap_or(Duration::MAX);
        for (name, age) in &entries.ages {
            let stale_temp = name.starts_with('.') && name.ends_with(".tmp");
            let stale = Compacted::parse(name).is_some() && !keep.contains(name);
            if (stale_temp || (stale && newest_kept > options.grace)) && *age > options.grace {
                match std::fs::remove_file(dir.join(name)) {
                    Ok(()) => done.removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => tracing::warn!(name, %e, "a stale minutes file stays"),
                }
            }
        }
    }
    Ok(())
}

/// Compacts one date of one partition if it is due; returns the new file's
/// name and how many event files it stands for.
#[allow(clippy::too_many_arguments)]
fn compact_one(
    sink: &ParquetSink,
    rollup: &Rollup,
    dir: &Path,
    date: NaiveDate,
    entries: &DirEntries,
    files: &[(PathBuf, FlushFile)],
    options: &CompactOptions,
    tag: &str,
) -> Result<Option<(String, u64)>> {
    let flushes: Vec<FlushFile> = files.iter().map(|(_, f)| f.clone()).collect();
    let (chosen, covered) = choose(&flushes, &entries.compacted);
    let uncovered = covered.iter().filter(|c| !**c).count();
    let due = uncovered >= options.min_files.max(1)
        || (date < options.today && uncovered > 0 && files.len() >= 2);
    if !due {
        return Ok(None);
    }
    let mut batches = Vec::new();
    for &i in &chosen {
        batches.extend(read_all(&dir.join(entries.compacted[i].file_name()))?);
    }
    for ((path, flush), covered) in files.iter().zip(&covered) {
        if *covered {
            continue;
        }
        let twin = dir.join(flush.file_name());
        if entries.ages.contains_key(&flush.file_name()) {
            batches.extend(read_all(&twin)?);
        } else {
            batches.push(count_file(path, rollup)?.0);
        }
    }
    let merged = (rollup.merge)(&batches)?;
    let names: Vec<String> = flushes.iter().map(FlushFile::file_name).collect();
    let first = &flushes[0].range;
    let c = Compacted {
        topic: first.topic.clone(),
        partition: first.partition,
        first: flushes.iter().map(|f| f.range.first).min().unwrap_or(0),
        last: flushes.iter().map(|f| f.range.last).max().unwrap_or(0),
        hash: covers_hash(names.iter().map(String::as_str)),
    };
    let name = c.file_name();
    sink.write_compacted(&dir.join(&name), &c, &merged, tag)?;
    Ok(Some((name, files.len() as u64)))
}

/// A minutes date directory's file names, their ages, and the compacted ones.
struct DirEntries {
    ages: BTreeMap<String, Duration>,
    compacted: Vec<Compacted>,
}

impl DirEntries {
    fn read(dir: &Path) -> DirEntries {
        let now = SystemTime::now();
        let mut ages = BTreeMap::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let age = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .unwrap_or_default();
            ages.insert(name, age);
        }
        let compacted = ages.keys().filter_map(|n| Compacted::parse(n)).collect();
        DirEntries { ages, compacted }
    }

    fn age(&self, name: &str) -> Option<Duration> {
        self.ages.get(name).copied()
    }
}

/// The flush files of the table in `events_dir`, sorted by path.
fn flush_files(data_dir: &Path, events_dir: &str) -> Result<Vec<(PathBuf, FlushFile)>> {
    let mut files: Vec<(PathBuf, FlushFile)> = files_under(&data_dir.join(events_dir))?
        .into_iter()
        .filter_map(|path| {
            let file = FlushFile::parse(path.file_name()?.to_str()?)?;
            Some((path, file))
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// The date of a file in a `date=YYYY-MM-DD` directory.
fn date_of(path: &Path) -> Option<NaiveDate> {
    let dir = path.parent()?.file_name()?.to_str()?;
    NaiveDate::parse_from_str(dir.strip_prefix("date=")?, "%Y-%m-%d").ok()
}

/// Every batch of a Parquet file.
fn read_all(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).map_err(Error::io(path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?
        .with_batch_size(64 * 1024)
        .build()?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}

/// Reads the columns `rollup` counts from one stored file and counts them;
/// also returns how many rows the file has.
fn count_file(path: &Path, rollup: &Rollup) -> Result<(RecordBatch, u64)> {
    let file = File::open(path).map_err(Error::io(path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let rows = builder.metadata().file_metadata().num_rows();
    let mask = ProjectionMask::columns(builder.parquet_schema(), rollup.columns.iter().copied());
    let reader = builder
        .with_projection(mask)
        .with_batch_size(64 * 1024)
        .build()?;
    let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(((rollup.count)(&batches)?, rows as u64))
}
