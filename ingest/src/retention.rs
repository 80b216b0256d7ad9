//! `--retention-days`: removes old date partitions without disturbing
//! exactly-once progress.
//!
//! Progress lives in the file names (see [`crate::sink`]), so retention works
//! in whole flushes, never single files: a flush is removed only when every
//! one of its files sits in a `date=` directory older than the cutoff, and
//! the newest flush of each partition is always kept, because its name is
//! where the partition resumes. (Removing one file of a flush would make the
//! rest look like a crash leftover; removing a partition's last flush would
//! make it start again from offset 0.) A removed file's minutes file goes
//! with it. Emptied date directories are removed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use model::files::{ATTEMPTS_DIR, FlushFile, FlushRange, REJECTED_DIR};

use crate::sink::ledger::files_under;
use crate::{Error, Result};

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    pub flushes: u64,
    pub files: u64,
}

/// Removes the flushes of `topic` whose files are all in date partitions
/// before `cutoff` (`YYYY-MM-DD`, exclusive), keeping each partition's newest.
pub fn sweep(data_dir: &Path, topic: &str, cutoff: &str) -> Result<Swept> {
    // range → (file count, files with their date)
    let mut flushes: BTreeMap<FlushRange, (u32, Vec<(PathBuf, String)>)> = BTreeMap::new();
    for table in [ATTEMPTS_DIR, REJECTED_DIR] {
        for path in files_under(&data_dir.join(table))? {
            let name = path.file_name().and_then(|n| n.to_str());
            let Some(file) = name.and_then(FlushFile::parse) else {
                continue;
            };
            if file.range.topic != topic {
                continue;
            }
            let date = path
                .parent()
                .and_then(|d| d.file_name())
                .and_then(|d| d.to_str())
                .and_then(|d| d.strip_prefix("date="))
                .unwrap_or("")
                .to_string();
            let entry = flushes
                .entry(file.range.clone())
                .or_insert_with(|| (file.count, Vec::new()));
            entry.1.push((path, date));
        }
    }
    let mut newest: BTreeMap<i32, i64> = BTreeMap::new();
    for range in flushes.keys() {
        let n = newest.entry(range.partition).or_insert(range.last);
        *n = (*n).max(range.last);
    }
    let mut swept = Swept::default();
    let mut dirs = Vec::new();
    for (range, (count, files)) in &flushes {
        let complete = files.len() as u32 == *count;
        let expired = files
            .iter()
            .all(|(_, date)| !date.is_empty() && date.as_str() < cutoff);
        if !complete || !expired || newest.get(&range.partition) == Some(&range.last) {
            continue;
        }
        for (path, _) in files {
            let twins = crate::sink::minutes_paths(data_dir, path);
            // The rollups' files first: a crash in between leaves an event
            // file without one (counted from the rows), never the reverse.
            for (p, counted) in twins.iter().map(|t| (t, false)).chain([(path, true)]) {
                match std::fs::remove_file(p) {
                    Ok(()) if counted => swept.files += 1,
                    Ok(()) => {}
                    // Another worker of the group swept it first.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(p)(e)),
                }
                if let Some(dir) = p.parent() {
                    dirs.push(dir.to_path_buf());
                }
            }
        }
        swept.flushes += 1;
    }
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        // Only succeeds when empty, which is what we want.
        let _ = std::fs::remove_dir(&dir);
    }
    Ok(swept)
}

/// The cutoff date for keeping `days` days up to `now_ms` (UTC).
pub fn cutoff(now_ms: i64, days: u32) -> String {
    let day_ms = 86_400_000;
    let t = now_ms - i64::from(days) * day_ms;
    chrono::DateTime::from_timestamp_millis(t)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::minutes::MINUTES_DIR;

    fn touch(
        dir: &Path,
        table: &str,
        date: &str,
        (p, first, last): (i32, i64, i64),
        (i, n): (u32, u32),
    ) {
        let f = FlushFile {
            range: FlushRange {
                topic: "t".into(),
                partition: p,
                first,
                last,
            },
            index: i,
            count: n,
        };
        let d = dir.join(table).join(format!("date={date}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(f.file_name()), b"x").unwrap();
    }

    #[test]
    fn removes_whole_expired_flushes_but_never_a_partitions_newest() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        // p0: an old flush, a flush straddling old and new dates, the newest (old).
        touch(dir, ATTEMPTS_DIR, "2026-01-01", (0, 0, 9), (1, 2));
        touch(dir, MINUTES_DIR, "2026-01-01", (0, 0, 9), (1, 2));
        touch(dir, REJECTED_DIR, "2026-01-01", (0, 0, 9), (2, 2));
        touch(dir, ATTEMPTS_DIR, "2026-01-01", (0, 10, 19), (1, 2));
        touch(dir, ATTEMPTS_DIR, "2026-03-01", (0, 10, 19), (2, 2));
        touch(dir, ATTEMPTS_DIR, "2026-01-02", (0, 20, 29), (1, 1));
        // p1: only one (old) flush: it is the newest, kept.
        touch(dir, ATTEMPTS_DIR, "2026-01-01", (1, 0, 5), (1, 1));
        let swept = sweep(dir, "t", "2026-02-01").unwrap();
        assert_eq!(
            swept,
            Swept {
                flushes: 1,
                files: 2
            }
        );
        let ledger = crate::sink::scan(dir, "t").unwrap();
        assert_eq!(ledger.next_offset(0), Some(30));
        assert_eq!(ledger.next_offset(1), Some(6));
        assert!(ledger.incomplete.is_empty(), "{ledger:?}");
        assert!(!dir.join(REJECTED_DIR).join("date=2026-01-01").exists());
        assert!(
            !dir.join(MINUTES_DIR).join("date=2026-01-01").exists(),
            "the removed file's minutes file went with it"
        );
        // Sweeping again changes nothing.
        assert_eq!(sweep(dir, "t", "2026-02-01").unwrap(), Swept::default());
    }

    #[test]
    fn cutoff_is_days_before_now() {
        // 2026-11-24T12:00Z
        assert_eq!(cutoff(1_795_521_600_000, 7), "2026-11-17");
    }
}
