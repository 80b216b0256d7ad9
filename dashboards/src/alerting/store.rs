//! The `alerts` table's files: every batch of alert state changes becomes
//! one Parquet file `{data_dir}/alerts/alerts-{unix_ms}-{seq}.parquet`
//! (`model::schema::alerts_schema`), written whole (a hidden temp file,
//! fsync, rename), so `SELECT ... FROM alerts` sees the history across
//! restarts and never half a file.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use model::alert::{Alert, AlertStatus};
use model::schema::alerts_schema;

use crate::{Error, Result};

/// Where the `alerts` table lives under the data directory.
pub const ALERTS_DIR: &str = "alerts";

/// Appends alert state changes to the `alerts` table.
#[derive(Debug)]
pub struct AlertStore {
    dir: PathBuf,
    seq: AtomicU64,
}

impl AlertStore {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join(ALERTS_DIR),
            seq: AtomicU64::new(0),
        }
    }

    /// Writes `alerts` as one file; returns its path (`None` for nothing).
    pub fn append(&self, alerts: &[Alert]) -> Result<Option<PathBuf>> {
        if alerts.is_empty() {
            return Ok(None);
        }
        let batch = to_batch(alerts)?;
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let now = chrono::Utc::now().timestamp_millis();
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let name = format!("alerts-{now:013}-{}-{seq:06}.parquet", std::process::id());
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let written = (|| -> std::io::Result<()> {
            let file = std::fs::File::create(&tmp)?;
            let mut writer =
                ArrowWriter::try_new(file, batch.schema(), None).map_err(std::io::Error::other)?;
            writer.write(&batch).map_err(std::io::Error::other)?;
            let file = writer.into_inner().map_err(std::io::Error::other)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(&self.dir)?.sync_all()
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::io(&path, e));
        }
        Ok(Some(path))
    }

    /// The alerts the table says are firing: a `firing` row and no
    /// `resolved` row for the same id (what a previous process left
    /// firing when it stopped). Oldest start first. A file that cannot be
    /// read is skipped with a warning (the others still count).
    pub fn still_firing(&self) -> Result<Vec<Alert>> {
        let files = analytics::table::plain_files(&self.dir)
            .map_err(|e| Error::Invalid(format!("listing the alerts table: {e}")))?;
        let mut firing: BTreeMap<String, Alert> = BTreeMap::new();
        let mut resolved: HashSet<String> = HashSet::new();
        for path in files {
            let alerts = match read_file(&path) {
                Ok(alerts) => alerts,
                Err(e) => {
                    tracing::warn!(error = %e, "an alerts file is unreadable; skipped");
                    continue;
                }
            };
            for alert in alerts {
                match alert.status {
                    AlertStatus::Firing => {
                        firing.insert(alert.id.clone(), alert);
                    }
                    AlertStatus::Resolved => {
                        resolved.insert(alert.id);
                    }
                }
            }
        }
        let mut out: Vec<Alert> = firing
            .into_values()
            .filter(|a| !resolved.contains(&a.id))
            .collect();
        out.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }
}

/// Every row of one `alerts` file.
pub(super) fn read_file(path: &Path) -> Result<Vec<Alert>> {
    let bad = |e: &dyn std::fmt::Display| Error::Invalid(format!("{}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| bad(&e))?;
    let mut out = Vec::new();
    for batch in reader {
        out.extend(from_batch(&batch.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?);
    }
    Ok(out)
}

/// Column `name` of `batch` as an array of type `A`.
fn column<'b, A: Array + 'static>(batch: &'b RecordBatch, name: &str) -> Result<&'b A> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<A>())
        .ok_or_else(|| {
            Error::Invalid(format!(
                "alerts column `{name}` is missing or not {}",
                std::any::type_name::<A>().rsplit("::").next().unwrap_or("")
            ))
        })
}

/// Rows of the `alerts` schema back into alerts (the inverse of [`to_batch`]).
pub fn from_batch(batch: &RecordBatch) -> Result<Vec<Alert>> {
    let text = |name| column::<StringArray>(batch, name);
    let int = |name| column::<Int64Array>(batch, name);
    let float = |name| column::<Float64Array>(batch, name);
    let time = |name| column::<TimestampMillisecondArray>(batch, name);
    let (id, status, slice) = (text("id")?, text("status")?, text("slice")?);
    let (started, resolved) = (time("started_at")?, time("resolved_at")?);
    let (window, attempts, failures) = (int("window_seconds")?, int("attempts")?, int("failures")?);
    let (rate, baseline, score) = (
        float("failure_rate")?,
        float("baseline_rate")?,
        float("score")?,
    );
    let (contributors, runbook) = (text("contributors")?, text("runbook")?);
    let json = |what: &str, v: &str, e: serde_json::Error| {
        Error::Invalid(format!("alerts column `{what}`: {e} in {v:?}"))
    };
    let unsigned = |v: i64| u64::try_from(v).unwrap_or(0);
    (0..batch.num_rows())
        .map(|i| {
            let status = match status.value(i) {
                "firing" => AlertStatus::Firing,
                "resolved" => AlertStatus::Resolved,
                other => {
                    return Err(Error::Invalid(format!("alert status {other:?}")));
                }
            };
            Ok(Alert {
                id: id.value(i).to_string(),
                status,
                slice: serde_json::from_str(slice.value(i))
                    .map_err(|e| json("slice", slice.value(i), e))?,
                started_at: analytics::detect::rfc3339(started.value(i)),
                resolved_at: resolved
                    .is_valid(i)
                    .then(|| analytics::detect::rfc3339(resolved.value(i))),
                window_seconds: unsigned(window.value(i)),
                attempts: unsigned(attempts.value(i)),
                failures: unsigned(failures.value(i)),
                failure_rate: rate.value(i),
                baseline_rate: baseline.value(i),
                score: score.value(i),
                contributors: serde_json::from_str(contributors.value(i))
                    .map_err(|e| json("contributors", contributors.value(i), e))?,
                runbook: runbook.value(i).to_string(),
            })
        })
        .collect()
}

/// Alerts as rows of the `alerts` schema (slice and contributors as JSON text).
pub fn to_batch(alerts: &[Alert]) -> Result<RecordBatch> {
    let ms = |rfc3339: &str| -> Result<i64> {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .map(|t| t.timestamp_millis())
            .map_err(|e| Error::Invalid(format!("alert time {rfc3339:?}: {e}")))
    };
    let json = |v: &dyn erased::Json| v.to_json();
    let mut started = Vec::with_capacity(alerts.len());
    let mut resolved = Vec::with_capacity(alerts.len());
    for a in alerts {
        started.push(ms(&a.started_at)?);
        resolved.push(a.resolved_at.as_deref().map(ms).transpose()?);
    }
    let strings = |f: &dyn Fn(&Alert) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(alerts.iter().map(f)))
    };
    let ints = |f: &dyn Fn(&Alert) -> u64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(
            alerts
                .iter()
                .map(|a| i64::try_from(f(a)).unwrap_or(i64::MAX)),
        ))
    };
    let floats = |f: &dyn Fn(&Alert) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(alerts.iter().map(f)))
    };
    let schema = alerts_schema();
    let utc = |a: TimestampMillisecondArray| -> ArrayRef { Arc::new(a.with_timezone("UTC")) };
    let columns: Vec<ArrayRef> = vec![
        strings(&|a| a.id.clone()),
        strings(&|a| {
            serde_json::to_value(a.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        }),
        strings(&|a| json(&a.slice)),
        utc(TimestampMillisecondArray::from(started)),
        utc(TimestampMillisecondArray::from(resolved)),
        ints(&|a| a.window_seconds),
        ints(&|a| a.attempts),
        ints(&|a| a.failures),
        floats(&|a| a.failure_rate),
        floats(&|a| a.baseline_rate),
        floats(&|a| a.score),
        strings(&|a| json(&a.contributors)),
        strings(&|a| a.runbook.clone()),
    ];
    RecordBatch::try_new(schema, columns).map_err(|e| Error::Invalid(format!("alerts batch: {e}")))
}

mod erased {
    /// JSON text of a serialisable value (maps and lists of plain data never fail).
    pub(super) trait Json {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}
