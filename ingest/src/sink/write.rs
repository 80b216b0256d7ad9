//! Writing one flush: split by date, write each file whole, name it by offsets.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::TimestampMillisecondType;
use chrono::{DateTime, NaiveDate};
use model::minutes::rollups_of;
use model::schema::{col, order_attempts_schema, rejected_events_schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::{ATTEMPTS_DIR, FlushFile, FlushRange, REJECTED_DIR, meta};
use crate::{Error, Result};

/// How files are written.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// zstd level (1–22).
    pub zstd_level: i32,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
}

impl Default for SinkOptions {
    fn default() -> Self {
        Self {
            zstd_level: 3,
            row_group_rows: 128 * 1024,
        }
    }
}

/// What one flush wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// The flush's files (not the minutes files next to them).
    pub files: Vec<PathBuf>,
    pub accepted_rows: usize,
    pub rejected_rows: usize,
    pub bytes: u64,
}

/// Writes flushes under a data directory.
#[derive(Debug, Clone)]
pub struct ParquetSink {
    data_dir: PathBuf,
    options: SinkOptions,
}

impl ParquetSink {
    pub fn new(data_dir: impl Into<PathBuf>, options: SinkOptions) -> Self {
        Self {
            data_dir: data_dir.into(),
            options,
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Writes the accepted and rejected rows of `range`, all or (after a
    /// crash) some of its files; [`super::scan`] tells which. Each file is
    /// followed by its minutes file ([`model::minutes::Rollup`]): derived,
    /// so not one of the flush's `n` files.
    ///
    /// `ingest_date_ms` dates the `rejected_events` file (and the empty file
    /// of a flush that stored no row).
    pub fn write_flush(
        &self,
        range: &FlushRange,
        accepted: &[RecordBatch],
        rejected: Option<&RecordBatch>,
        ingest_date_ms: i64,
    ) -> Result<FlushReport> {
        // (table, date, rows)
        let mut parts: Vec<(&str, NaiveDate, RecordBatch)> = Vec::new();
        for (date, batch) in split_by_date(accepted)? {
            parts.push((ATTEMPTS_DIR, date, batch));
        }
        let accepted_rows = parts.iter().map(|(_, _, b)| b.num_rows()).sum();
        let rejected_rows = rejected.map_or(0, RecordBatch::num_rows);
        let ingest_date = day_of(ingest_date_ms)?;
        match rejected {
            Some(batch) if batch.num_rows() > 0 => {
                parts.push((REJECTED_DIR, ingest_date, batch.clone()));
            }
            _ if parts.is_empty() => {
                // Nothing stored, yet the offsets were consumed (duplicates):
                // an empty file records how far the partition got.
                let empty = RecordBatch::new_empty(rejected_events_schema());
                parts.push((REJECTED_DIR, ingest_date, empty));
            }
            _ => {}
        }
        let count = parts.len() as u32;
        let mut report = FlushReport {
            accepted_rows,
            rejected_rows,
            ..FlushReport::default()
        };
        for (i, (table, date, batch)) in parts.into_iter().enumerate() {
            let file = FlushFile {
                range: range.clone(),
                index: i as u32 + 1,
                count,
            };
            let path = self.date_dir(table, date).join(file.file_name());
            report.bytes += self.write_file(&path, &file, &batch, None)?;
            report.files.push(path);
            for rollup in rollups_of(table) {
                let counts = (rollup.count)(std::slice::from_ref(&batch))?;
                let twin = self.date_dir(rollup.dir, date).join(file.file_name());
                self.write_file(&twin, &file, &counts, None)?;
            }
        }
        Ok(report)
    }

    /// Writes the minutes file of the stored file `file` (for data stored
    /// before ingest wrote them; see [`super::backfill`]).
    /// `tag` makes the temp file this writer's own.
    pub(crate) fn write_minutes(
        &self,
        path: &Path,
        file: &FlushFile,
        counts: &RecordBatch,
        tag: &str,
    ) -> Result<u64> {
        self.write_file(path, file, counts, Some(tag))
    }

    fn date_dir(&self, table: &str, date: NaiveDate) -> PathBuf {
        self.data_dir
            .join(table)
            .join(format!("date={}", date.format("%Y-%m-%d")))
    }

    /// Temp file (`.{name}.tmp`, or `.{name}.{tag}.tmp`), fsync, rename,
    /// fsync the directory. Returns the size.
    fn write_file(
        &self,
        path: &Path,
        file: &FlushFile,
        batch: &RecordBatch,
        tag: Option<&str>,
    ) -> Result<u64> {
        let r = &file.range;
        let metadata = vec![
            (meta::TOPIC, r.topic.clone()),
            (meta::PARTITION, r.partition.to_string()),
            (meta::FIRST_OFFSET, r.first.to_string()),
            (meta::LAST_OFFSET, r.last.to_string()),
            (meta::FILE_INDEX, file.index.to_string()),
            (meta::FILE_COUNT, file.count.to_string()),
        ];
        self.write_with(path, metadata, batch, tag)
    }

    /// Writes a compacted minutes file ([`model::minutes::Compacted`]).
    pub(crate) fn write_compacted(
        &self,
        path: &Path,
        c: &model::minutes::Compacted,
        batch: &RecordBatch,
        tag: &str,
    ) -> Result<u64> {
        let metadata = vec![
            (meta::TOPIC, c.topic.clone()),
            (meta::PARTITION, c.partition.to_string()),
            (meta::FIRST_OFFSET, c.first.to_string()),
            (meta::LAST_OFFSET, c.last.to_string()),
        ];
        self.write_with(path, metadata, batch, Some(tag))
    }

    fn write_with(
        &self,
        path: &Path,
        metadata: Vec<(&str, String)>,
        batch: &RecordBatch,
        tag: Option<&str>,
    ) -> Result<u64> {
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(Error::io(dir))?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("flush");
        let tmp = dir.join(match tag {
            Some(tag) => format!(".{name}.{tag}.tmp"),
            None => format!(".{name}.tmp"),
        });
        let out = File::create(&tmp).map_err(Error::io(&tmp))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(self.options.zstd_level)
                    .map_err(|e| Error::Config(format!("zstd level: {e}")))?,
            ))
            .set_dictionary_enabled(true)
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_row_count(Some(self.options.row_group_rows.max(1)))
            .set_key_value_metadata(Some(
                metadata
                    .into_iter()
                    .map(|(k, v)| KeyValue::new(k.to_string(), v))
                    .collect(),
            ))
            .build();
        let mut writer = ArrowWriter::try_new(out, batch.schema(), Some(props))?;
        writer.write(batch)?;
        let out = writer.into_inner()?;
        out.sync_all().map_err(Error::io(&tmp))?;
        let bytes = out.metadata().map_err(Error::io(&tmp))?.len();
        drop(out);
        fs::rename(&tmp, path).map_err(Error::io(path))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(Error::io(dir))?;
        Ok(bytes)
    }
}

fn day_of(ms: i64) -> Result<NaiveDate> {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.date_naive())
        .ok_or_else(|| Error::Config(format!("timestamp {ms} ms is out of range")))
}

/// Splits accepted rows by the UTC date of `ts`.
fn split_by_date(batches: &[RecordBatch]) -> Result<BTreeMap<NaiveDate, RecordBatch>> {
    let mut by_date: BTreeMap<NaiveDate, Vec<RecordBatch>> = BTreeMap::new();
    for batch in batches.iter().filter(|b| b.num_rows() > 0) {
        let ts = batch
            .column(col::TS)
            .as_primitive::<TimestampMillisecondType>();
        let mut rows: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        for (i, t) in ts.values().iter().enumerate() {
            rows.entry(t.div_euclid(86_400_000))
                .or_default()
                .push(i as u32);
        }
        if rows.len() == 1 {
            let day = *rows.keys().next().unwrap_or(&0);
            by_date
                .entry(day_of(day * 86_400_000)?)
                .or_default()
                .push(batch.clone());
            continue;
        }
        for (day, idx) in rows {
            let part = take_record_batch(batch, &UInt32Array::from(idx))?;
            by_date
                .entry(day_of(day * 86_400_000)?)
                .or_default()
                .push(part);
        }
    }
    let schema = order_attempts_schema();
    by_date
        .into_iter()
        .map(|(date, parts)| {
            let batch = arrow::compute::concat_batches(&Arc::clone(&schema), &parts)?;
            Ok((date, batch))
        })
        .collect()
}
