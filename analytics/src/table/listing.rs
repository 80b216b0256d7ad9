//! Which stored files a query reads: the complete flushes under the data
//! directory, one non-overlapping set per partition.
//!
//! Only names are read (a directory listing), so this runs on every query:
//! a flush that lands while a process runs is seen by its next query. A file
//! counts only when every file of its flush is present (a flush is `n` files
//! across both tables, written one by one); temp files (`.name.tmp`) never
//! parse as flush files, and anything else that is not ours is ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use model::files::{ATTEMPTS_DIR, FlushFile, FlushRange, REJECTED_DIR};

use crate::{Error, Result};

/// One stored file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredFile {
    pub(crate) path: PathBuf,
    /// From the `date=YYYY-MM-DD` directory the file is in.
    pub(crate) date: NaiveDate,
}

/// The complete flushes under a data directory.
#[derive(Debug, Clone, Default)]
pub(crate) struct Listing {
    /// Files of the kept flushes under `order_attempts/`.
    pub(crate) attempts: Vec<StoredFile>,
    /// Files of the kept flushes under `rejected_events/`.
    pub(crate) rejected: Vec<StoredFile>,
    /// Every complete flush, kept or not: what live rows they cover is stored.
    pub(crate) complete: Vec<FlushRange>,
}

/// Lists the complete flushes under `data_dir`, keeping per partition the
/// non-overlapping set that covers the most offsets.
pub(crate) fn list(data_dir: &Path) -> Result<Listing> {
    // range → (file count, indices present, (table, file) pairs)
    type Seen = (u32, BTreeSet<u32>, Vec<(bool, StoredFile)>);
    let mut seen: BTreeMap<FlushRange, Seen> = BTreeMap::new();
    for (table, is_attempts) in [(ATTEMPTS_DIR, true), (REJECTED_DIR, false)] {
        for (file, name) in files_under(&data_dir.join(table))? {
            let Some(flush) = FlushFile::parse(&name) else {
                continue;
            };
            let entry = seen
                .entry(flush.range)
                .or_insert_with(|| (flush.count, BTreeSet::new(), Vec::new()));
            entry.0 = entry.0.max(flush.count);
            entry.1.insert(flush.index);
            entry.2.push((is_attempts, file));
        }
    }
    let mut by_partition: BTreeMap<(String, i32), Vec<FlushRange>> = BTreeMap::new();
    let mut listing = Listing::default();
    let mut files = BTreeMap::new();
    for (range, (count, present, paths)) in seen {
        if present.len() as u32 != count {
            tracing::debug!(
                ?range,
                count,
                present = present.len(),
                "incomplete flush skipped"
            );
            continue;
        }
        listing.complete.push(range.clone());
        by_partition
            .entry((range.topic.clone(), range.partition))
            .or_default()
            .push(range.clone());
        files.insert(range, paths);
    }
    for ranges in by_partition.into_values() {
        for range in non_overlapping(ranges) {
            for (is_attempts, file) in files.remove(&range).unwrap_or_default() {
                if is_attempts {
                    listing.attempts.push(file);
                } else {
                    listing.rejected.push(file);
                }
            }
        }
    }
    for (range, _) in files {
        tracing::debug!(
            ?range,
            "flush overlaps another of its partition (a second writer stored the same offsets): not read"
        );
    }
    Ok(listing)
}

/// The subset of `ranges` (one partition's flushes) without overlaps that
/// covers the most offsets (weighted interval scheduling). Deterministic:
/// ties keep the flushes that end first.
pub(crate) fn non_overlapping(mut ranges: Vec<FlushRange>) -> Vec<FlushRange> {
    ranges.sort_by_key(|r| (r.last, r.first));
    let n = ranges.len();
    // best[j]: most offsets coverable with the first j ranges.
    let mut best = vec![0i128; n + 1];
    let mut prev = vec![0usize; n];
    for j in 0..n {
        // Ranges before j that end before ranges[j] starts.
        prev[j] = ranges[..j].partition_point(|r| r.last < ranges[j].first);
        let take = i128::from(ranges[j].last - ranges[j].first + 1) + best[prev[j]];
        best[j + 1] = best[j].max(take);
    }
    let mut kept = Vec::new();
    let mut j = n;
    while j > 0 {
        let r = &ranges[j - 1];
        let take = i128::from(r.last - r.first + 1) + best[prev[j - 1]];
        if take > best[j - 1] {
            kept.push(r.clone());
            j = prev[j - 1];
        } else {
            j -= 1;
        }
    }
    kept.reverse();
    kept
}

/// The stored files of one table: `(file, name)` for every regular file in a
/// `date=YYYY-MM-DD` directory. A missing table directory is empty.
fn files_under(table: &Path) -> Result<Vec<(StoredFile, String)>> {
    let mut out = Vec::new();
    let dates = match fs::read_dir(table) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(table)(e)),
    };
    for entry in dates {
        let entry = entry.map_err(Error::io(table))?;
        let Some(date) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_prefix("date="))
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        else {
            continue;
        };
        let dir = entry.path();
        let files = match fs::read_dir(&dir) {
            Ok(files) => files,
            // Not a directory, or removed since the listing: nothing of ours.
            Err(_) => continue,
        };
        for file in files {
            let file = file.map_err(Error::io(&dir))?;
            let Ok(name) = file.file_name().into_string() else {
                continue;
            };
            if file.file_type().is_ok_and(|t| t.is_file()) {
                let path = file.path();
                out.push((StoredFile { path, date }, name));
            }
        }
    }
    Ok(out)
}

/// Plain Parquet files directly in `dir` (the `alerts` table), skipping
/// hidden and temp files. A missing directory is empty.
pub fn plain_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::io(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with('.')
            && name.ends_with(".parquet")
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(first: i64, last: i64) -> FlushRange {
        FlushRange {
            topic: "t".into(),
            partition: 0,
            first,
            last,
        }
    }

    #[test]
    fn disjoint_flushes_are_all_kept() {
        let ranges = vec![r(10, 19), r(0, 9), r(20, 29)];
        assert_eq!(non_overlapping(ranges), vec![r(0, 9), r(10, 19), r(20, 29)]);
    }

    #[test]
    fn overlaps_keep_the_set_covering_most_offsets() {
        // A zombie wrote 5..=24 while the owner wrote 0..=9, 10..=19, 20..=29.
        let ranges = vec![r(0, 9), r(5, 24), r(10, 19), r(20, 29)];
        assert_eq!(non_overlapping(ranges), vec![r(0, 9), r(10, 19), r(20, 29)]);
        // The same flush written twice is read once.
        assert_eq!(non_overlapping(vec![r(0, 9), r(0, 9)]), vec![r(0, 9)]);
        // A longer flush beats two short ones it covers.
        assert_eq!(
            non_overlapping(vec![r(0, 4), r(5, 9), r(0, 19)]),
            vec![r(0, 19)]
        );
    }
}
