//! The SQL tables as DataFusion [`TableProvider`]s: stored Parquet files
//! (complete flushes only, listed again for every scan) UNION the live rows
//! ingest has decoded but not yet written.
//!
//! A scan takes the live snapshot FIRST and lists the files SECOND, then
//! drops the live batches a listed flush covers (see [`model::live`]): a
//! flush landing in between is read once, from its file. The files are read
//! through DataFusion's Parquet listing table, so projection, row-group
//! statistics, the page index and filter pushdown all apply; whole `date=`
//! directories outside the query's `ts` range are not opened at all.
//!
//! The derived tables ([`model::minutes::ROLLUPS`]: `order_attempts_minutes`,
//! `order_attempts_latency_hours`, `order_attempts_failures`,
//! `rejected_events_minutes`) are served the
//! same way from the rollup files of the listed event files; the rows of a
//! listed file without one (stored before ingest wrote them) and the live
//! rows are counted at scan time.

mod listing;
pub(crate) mod prune;

pub use listing::plain_files;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;
use model::LiveRows;
use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use model::files::FlushFile;
use model::minutes::{ATTEMPTS, Compacted, FAILURES, LATENCY, REJECTED, Rollup, choose};
use model::schema::{alerts_schema, order_attempts_schema, rejected_events_schema};

/// Which table a [`StoredTable`] serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// `order_attempts`: `order_attempts/date=*/` files + live rows.
    Attempts,
    /// `rejected_events`: `rejected_events/date=*/` files + live rows.
    Rejected,
    /// `alerts`: `alerts/*.parquet`, if any.
    Alerts,
    /// `order_attempts_minutes`: the minutes files of the `order_attempts`
    /// files (counted at scan time where missing) + live rows counted.
    Minutes,
    /// `rejected_events_minutes`: the same for `rejected_events`.
    RejectedMinutes,
    /// `order_attempts_latency_hours`: the same per hour and latency.
    LatencyHours,
    /// `order_attempts_failures`: the failed attempts with an order, the
    /// same way (selected, not counted).
    Failures,
}

impl TableKind {
    /// The table's Arrow schema (CONTRACT section 4 and 7).
    pub fn schema(self) -> SchemaRef {
        match self {
            TableKind::Attempts => order_attempts_schema(),
            TableKind::Rejected => rejected_events_schema(),
            TableKind::Alerts => alerts_schema(),
            TableKind::Minutes => (ATTEMPTS.schema)(),
            TableKind::RejectedMinutes => (REJECTED.schema)(),
            TableKind::LatencyHours => (LATENCY.schema)(),
            TableKind::Failures => (FAILURES.schema)(),
        }
    }
}

/// One SQL table over the data directory (and the live rows, if any).
#[derive(Debug, Clone)]
pub struct StoredTable {
    kind: TableKind,
    data_dir: PathBuf,
    live: Option<LiveRows>,
}

impl StoredTable {
    /// `data_dir` should be absolute (file URLs are built from it).
    pub fn new(kind: TableKind, data_dir: PathBuf, live: Option<LiveRows>) -> Self {
        Self {
            kind,
            data_dir,
            live,
        }
    }

    /// The files to read and the live batches to add, snapshot first.
    fn gather(&self, filters: &[Expr]) -> DfResult<(Vec<PathBuf>, Vec<RecordBatch>)> {
        let external = |e: crate::Error| DataFusionError::External(Box::new(e));
        let (files, live) = match self.kind {
            TableKind::Alerts => {
                let files =
                    listing::plain_files(&self.data_dir.join("alerts")).map_err(external)?;
                let schema = alerts_schema();
                let files = files
                    .into_iter()
                    .filter(|path| match readable(path, &schema) {
                        Ok(()) => true,
                        Err(error) => {
                            tracing::warn!(path = %path.display(), %error,
                                "an alerts file is unreadable; left out of the alerts table");
                            false
                        }
                    })
                    .collect();
                (files, Vec::new())
            }
            TableKind::Attempts => {
                let (listing, live) =
                    stored_and_live(&self.data_dir, self.live.as_ref()).map_err(external)?;
                let dates = prune::date_range(filters, "ts");
                let total = listing.attempts.len();
                let files: Vec<PathBuf> = listing
                    .attempts
                    .into_iter()
                    .filter(|f| dates.contains(f.date))
                    .map(|f| f.path)
                    .collect();
                tracing::debug!(total, read = files.len(), ?dates, "order_attempts files");
                (files, live.attempts)
            }
            TableKind::Rejected => {
                let (listing, live) =
                    stored_and_live(&self.data_dir, self.live.as_ref()).map_err(external)?;
                // Filed by flush date, not by `ingested_at`: only an empty
                // range (a minutes form's whole-minute window) prunes.
                let files = if prune::date_range(filters, "ingested_at").is_empty() {
                    Vec::new()
                } else {
                    listing.rejected.into_iter().map(|f| f.path).collect()
                };
                (files, live.rejected)
            }
            TableKind::Minutes => return self.gather_minutes(&ATTEMPTS, filters),
            TableKind::RejectedMinutes => return self.gather_minutes(&REJECTED, filters),
            TableKind::LatencyHours => return self.gather_minutes(&LATENCY, filters),
            TableKind::Failures => return self.gather_minutes(&FAILURES, filters),
        };
        let schema = self.kind.schema();
        let mut batches = Vec::new();
        for b in live {
            // Re-labelled with the table schema; a batch of another shape
            // would be a bug in ingest, so it is logged, not served.
            match RecordBatch::try_new(schema.clone(), b.batch.columns().to_vec()) {
                Ok(batch) => batches.push(batch),
                Err(err) => tracing::error!(%err, topic = %b.topic, partition = b.partition,
                    "live batch does not match the table schema; skipped"),
            }
        }
        Ok((files, batches))
    }
}

impl StoredTable {
    /// A [`Rollup`] table: the minutes files of the listed event files (for
    /// the `order_attempts` rollups, date-pruned on their time column), the counts of
    /// those without one, and the live rows counted.
    fn gather_minutes(
        &self,
        rollup: &Rollup,
        filters: &[Expr],
    ) -> DfResult<(Vec<PathBuf>, Vec<RecordBatch>)> {
        let external = |e: crate::Error| DataFusionError::External(Box::new(e));
        let (listing, live) =
            stored_and_live(&self.data_dir, self.live.as_ref()).map_err(external)?;
        let dates = prune::date_range(filters, rollup.time);
        let (listed, live) = if rollup.events_dir == ATTEMPTS.events_dir {
            (listing.attempts, live.attempts)
        } else {
            // Rejected records are filed by the flush's date, and their
            // `ingested_at` may be earlier (a flush retried after an outage):
            // only an empty range prunes.
            let listed = if dates.is_empty() {
                Vec::new()
            } else {
                listing.rejected
            };
            (listed, live.rejected)
        };
        let mut by_date: BTreeMap<NaiveDate, Vec<(PathBuf, FlushFile)>> = BTreeMap::new();
        for file in listed
            .into_iter()
            .filter(|f| rollup.events_dir != ATTEMPTS.events_dir || dates.contains(f.date))
        {
            let flush = file
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(FlushFile::parse);
            if let Some(flush) = flush {
                by_date
                    .entry(file.date)
                    .or_default()
                    .push((file.path, flush));
            }
        }
        let mut minutes = Vec::new();
        let mut uncounted = Vec::new();
        for (date, files) in by_date {
            let dir = self
                .data_dir
                .join(rollup.dir)
                .join(format!("date={}", date.format("%Y-%m-%d")));
            let (mut twins, mut compacted) = (BTreeSet::new(), Vec::new());
            for name in std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
            {
                match Compacted::parse(&name) {
                    Some(c) => compacted.push(c),
                    None => {
                        twins.insert(name);
                    }
                }
            }
            let flushes: Vec<FlushFile> = files.iter().map(|(_, f)| f.clone()).collect();
            let (chosen, covered) = choose(&flushes, &compacted);
            minutes.extend(chosen.iter().map(|&i| dir.join(compacted[i].file_name())));
            for ((path, flush), covered) in files.into_iter().zip(covered) {
                let name = flush.file_name();
                if covered {
                    continue;
                }
                if twins.contains(&name) {
                    minutes.push(dir.join(name));
                } else {
                    uncounted.push(path);
                }
            }
        }
        let mut counts = Vec::new();
        for path in &uncounted {
            counts.push(count_stored(path, rollup)?);
        }
        let live: Vec<RecordBatch> = live.into_iter().map(|b| b.batch).collect();
        if !live.is_empty() {
            counts.push((rollup.count)(&live)?);
        }
        tracing::debug!(
            table = rollup.table,
            minutes = minutes.len(),
            uncounted = uncounted.len(),
            "minutes files"
        );
        Ok((minutes, counts))
    }
}

/// Counts one stored file per minute (reading only the columns `rollup`'s
/// counting needs).
fn count_stored(path: &std::path::Path, rollup: &Rollup) -> DfResult<RecordBatch> {
    use datafusion::parquet::arrow::ProjectionMask;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = std::fs::File::open(path)
        .map_err(|e| DataFusionError::Execution(format!("{}: {e}", path.display())))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), rollup.columns.iter().copied());
    let batches = builder
        .with_projection(mask)
        .with_batch_size(64 * 1024)
        .build()?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((rollup.count)(&batches)?)
}

/// Whether the Parquet file at `path` has a footer and every column of
/// `schema` (by name and type). The `alerts` table leaves other files out,
/// with a warning: its files are only ever written whole (temp file,
/// rename), so a damaged one is damage from outside, and one damaged file
/// must not take every page's history away from the analyst.
fn readable(path: &std::path::Path, schema: &SchemaRef) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let builder =
        datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| e.to_string())?;
    let found = builder.schema();
    for field in schema.fields() {
        match found.field_with_name(field.name()) {
            Ok(f) if f.data_type() == field.data_type() => {}
            Ok(f) => {
                return Err(format!(
                    "column {} is {}, not {}",
                    field.name(),
                    f.data_type(),
                    field.data_type()
                ));
            }
            Err(_) => return Err(format!("no column {}", field.name())),
        }
    }
    Ok(())
}

/// The complete flushes under `data_dir` and the live rows none of them
/// covers, read in the one safe order (see [`model::live`]): the live
/// snapshot FIRST, the listing SECOND. Every reader of stored + live rows
/// (the tables, the rollup) goes through here.
pub(crate) fn stored_and_live(
    data_dir: &std::path::Path,
    live: Option<&LiveRows>,
) -> crate::Result<(listing::Listing, model::live::LiveSnapshot)> {
    let snapshot = live.map(LiveRows::snapshot);
    let listing = listing::list(data_dir)?;
    let live = snapshot
        .map(|s| s.without_stored(&listing.complete))
        .unwrap_or_default();
    Ok((listing, live))
}

#[async_trait]
impl TableProvider for StoredTable {
    fn schema(&self) -> SchemaRef {
        self.kind.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Used for pruning; DataFusion still filters every row above the scan.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let (files, live) = self.gather(filters)?;
        let schema = self.kind.schema();
        let mut inputs: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        if !files.is_empty() {
            let urls = files
                .iter()
                .map(|p| {
                    ListingTableUrl::parse(p.to_string_lossy())
                        .map_err(|e| DataFusionError::Plan(format!("{}: {e}", p.display())))
                })
                .collect::<DfResult<Vec<_>>>()?;
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet");
            let config = ListingTableConfig::new_with_multi_paths(urls)
                .with_listing_options(options)
                .with_schema(schema.clone());
            let table = ListingTable::try_new(config)?;
            inputs.push(table.scan(state, projection, filters, limit).await?);
        }
        if !live.is_empty() {
            let exec =
                MemorySourceConfig::try_new_exec(&[live], schema.clone(), projection.cloned())?;
            inputs.push(exec);
        }
        if inputs.is_empty() {
            let projected = match projection {
                Some(p) => Arc::new(schema.project(p)?),
                None => schema,
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        UnionExec::try_new(inputs)
    }
}
