//! What the files say: where each partition resumes, which flushes a crash
//! left incomplete, and which overlap (a zombie writer) or leave gaps.
//!
//! Only names are read, so a scan of thousands of files is a directory
//! listing. The files are the source of truth for progress: the Kafka commit
//! is advisory.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use model::minutes::ROLLUPS;

use super::{ATTEMPTS_DIR, FlushFile, FlushRange, REJECTED_DIR};
use crate::{Error, Result};

/// Progress of one topic as stored under a data directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    /// Complete flushes per partition, sorted by offsets.
    pub flushes: BTreeMap<i32, Vec<FlushRange>>,
    /// Files of flushes that are missing some of their files: what a crash
    /// between two renames leaves; and minutes files whose flush is not
    /// complete (or gone). Safe to delete for a partition one owns.
    pub incomplete: Vec<(PathBuf, FlushFile)>,
    /// Pairs of complete flushes whose offsets overlap: a second writer
    /// stored the same records. Readers must count them once.
    pub overlaps: Vec<(FlushRange, FlushRange)>,
    /// Offsets between two complete flushes that no flush covers.
    pub gaps: Vec<FlushRange>,
    /// Temp files (`.{name}.tmp`) a writer left when it died mid-write, with
    /// the flush file they were to become.
    pub temp: Vec<(PathBuf, FlushFile)>,
}

impl Ledger {
    /// The offset a partition resumes from: one past the highest stored.
    pub fn next_offset(&self, partition: i32) -> Option<i64> {
        self.flushes
            .get(&partition)
            .and_then(|f| f.iter().map(|r| r.last).max())
            .map(|last| last + 1)
    }
}

/// Reads the flush files of `topic` under `data_dir`.
pub fn scan(data_dir: &Path, topic: &str) -> Result<Ledger> {
    // range → (file count, indices present, files)
    type Seen = (u32, BTreeSet<u32>, Vec<(PathBuf, FlushFile)>);
    let mut seen: BTreeMap<FlushRange, Seen> = BTreeMap::new();
    let mut ledger_temp = Vec::new();
    let mut minutes = Vec::new();
    let rollups = ROLLUPS.iter().map(|r| r.dir);
    for table in [ATTEMPTS_DIR, REJECTED_DIR].into_iter().chain(rollups) {
        for path in files_under(&data_dir.join(table))? {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if let Some(file) = temp_of(name) {
                if file.range.topic == topic {
                    ledger_temp.push((path.clone(), file));
                }
                continue;
            }
            let Some(file) = FlushFile::parse(name) else {
                continue;
            };
            if file.range.topic != topic {
                continue;
            }
            if table != ATTEMPTS_DIR && table != REJECTED_DIR {
                minutes.push((path, file));
                continue;
            }
            let entry = seen
                .entry(file.range.clone())
                .or_insert_with(|| (file.count, BTreeSet::new(), Vec::new()));
            entry.0 = entry.0.max(file.count);
            entry.1.insert(file.index);
            entry.2.push((path, file));
        }
    }
    let mut ledger = Ledger {
        temp: ledger_temp,
        ..Ledger::default()
    };
    let complete = |r: &FlushRange| {
        seen.get(r)
            .is_some_and(|(count, present, _)| present.len() as u32 == *count)
    };
    for (path, file) in minutes {
        if !complete(&file.range) {
            ledger.incomplete.push((path, file));
        }
    }
    for (range, (count, present, paths)) in seen {
        if present.len() as u32 == count {
            ledger
                .flushes
                .entry(range.partition)
                .or_default()
                .push(range);
        } else {
            ledger.incomplete.extend(paths);
        }
    }
    for ranges in ledger.flushes.values() {
        let mut covered: Option<&FlushRange> = None;
        for r in ranges {
            if let Some(prev) = covered {
                if r.first <= prev.last {
                    ledger.overlaps.push((prev.clone(), r.clone()));
                } else if r.first > prev.last + 1 {
                    ledger.gaps.push(FlushRange {
                        first: prev.last + 1,
                        last: r.first - 1,
                        ..r.clone()
                    });
                }
            }
            if covered.is_none_or(|p| r.last > p.last) {
                covered = Some(r);
            }
        }
    }
    Ok(ledger)
}

/// The flush file a temp file was to become: `.{name}.tmp`, or
/// `.{name}.{tag}.tmp` (a minutes file written by [`super::backfill`]).
fn temp_of(name: &str) -> Option<FlushFile> {
    let inner = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    FlushFile::parse(inner).or_else(|| FlushFile::parse(inner.rsplit_once('.')?.0))
}

/// Every file two levels down (`table/date=…/file`); a missing table is empty.
pub(crate) fn files_under(table: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let dates = match fs::read_dir(table) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(table)(e)),
    };
    for date in dates {
        let date = date.map_err(Error::io(table))?.path();
        if !date.is_dir() {
            continue;
        }
        for file in fs::read_dir(&date).map_err(Error::io(&date))? {
            out.push(file.map_err(Error::io(&date))?.path());
        }
    }
    Ok(out)
}
