//! Minutes files for `order_attempts` files stored without one (by a version
//! of ingest that did not write them, or by a writer that died between the
//! two renames): [`backfill`].

use std::fs::File;
use std::path::{Path, PathBuf};

use model::minutes::{MINUTES_DIR, counted_columns, minute_counts};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::ledger::files_under;
use super::{ATTEMPTS_DIR, FlushFile, ParquetSink, SinkOptions};
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

/// Where the minutes file of the `order_attempts` file at `path` goes:
/// `{data_dir}/order_attempts_minutes/date=…/` + the same name.
pub fn minutes_path(data_dir: &Path, path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    let date = path.parent()?.file_name()?;
    Some(data_dir.join(MINUTES_DIR).join(date).join(name))
}

/// Writes the minutes file of every stored `order_attempts` file that has
/// none. Safe next to a running ingest and to another backfill: each writes
/// whole files under its own temp name, and two writers of one minutes file
/// write the same bytes. A file that fails (damaged, removed by retention
/// meanwhile) is logged and counted, not fatal.
pub fn backfill(data_dir: &Path) -> Result<Backfilled> {
    let sink = ParquetSink::new(data_dir, SinkOptions::default());
    let tag = format!("backfill-{}", std::process::id());
    let mut done = Backfilled::default();
    let mut paths = files_under(&data_dir.join(ATTEMPTS_DIR))?;
    paths.sort();
    for path in paths {
        let Some(file) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(FlushFile::parse)
        else {
            continue;
        };
        let Some(target) = minutes_path(data_dir, &path) else {
            continue;
        };
        if target.exists() {
            continue;
        }
        let written = count_file(&path).and_then(|counts| {
            let rows = counts
                .column(model::minutes::mcol::ATTEMPTS)
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .map_or(0, |a| a.values().iter().sum::<i64>());
            sink.write_minutes(&target, &file, &counts, &tag)?;
            Ok(rows)
        });
        match written {
            Ok(rows) => {
                done.files += 1;
                done.rows += rows as u64;
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "no minutes file written");
                done.failed += 1;
            }
        }
    }
    Ok(done)
}

/// Reads the columns [`minute_counts`] needs from one stored file and counts them.
fn count_file(path: &Path) -> Result<arrow::array::RecordBatch> {
    let file = File::open(path).map_err(Error::io(path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let names = model::schema::order_attempts_schema();
    let wanted: Vec<&str> = counted_columns()
        .into_iter()
        .map(|c| names.field(c).name().as_str())
        .collect();
    let mask = ProjectionMask::columns(builder.parquet_schema(), wanted);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(64 * 1024)
        .build()?;
    let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(minute_counts(&batches)?)
}
