//! `order_attempts_rollup`: the rollup's slots as a SQL table, so what the
//! dashboard counts, analysts can query too, without scanning raw events.
//!
//! One row per slot, slot length and dimension value: `slot_seconds` (10,
//! 60 or 3600: every slot is there at each length the rollup keeps for its
//! day, so **pick one length** in a query, or the counts add up two or
//! three times), `slot_start`, `dimension` (one of
//! [`super::DIMENSIONS`], or `all` for every attempt), `value` (NULL for a
//! NULL value, and for `all`), `attempts`, `failures`. Stored and live rows
//! both count, like `order_attempts` at the same moment. Filters on
//! `slot_start` skip whole days, `slot_seconds = N` the other lengths.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use super::{Counts, Rollup};
use crate::table::prune;
use crate::{Error, Result};

/// The table's columns (see the module docs).
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("slot_seconds", DataType::Int64, false),
        Field::new(
            "slot_start",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("dimension", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, true),
        Field::new("attempts", DataType::Int64, false),
        Field::new("failures", DataType::Int64, false),
    ]))
}

/// The table's rows, column by column.
#[derive(Default)]
pub(super) struct Rows {
    seconds: Int64Builder,
    start: TimestampMillisecondBuilder,
    dimension: StringBuilder,
    value: StringBuilder,
    attempts: Int64Builder,
    failures: Int64Builder,
}

impl Rows {
    pub(super) fn push(
        &mut self,
        seconds: i64,
        start: i64,
        dimension: &str,
        value: Option<&str>,
        c: Counts,
    ) {
        self.seconds.append_value(seconds);
        self.start.append_value(start);
        self.dimension.append_value(dimension);
        self.value.append_option(value);
        self.attempts
            .append_value(i64::try_from(c.attempts).unwrap_or(i64::MAX));
        self.failures
            .append_value(i64::try_from(c.failures).unwrap_or(i64::MAX));
    }

    pub(super) fn finish(mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.seconds.finish()),
            Arc::new(self.start.finish().with_timezone("UTC")),
            Arc::new(self.dimension.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.attempts.finish()),
            Arc::new(self.failures.finish()),
        ];
        RecordBatch::try_new(schema(), columns).map_err(|e| Error::Rollup(e.to_string()))
    }
}

/// The `order_attempts_rollup` table over a [`Rollup`].
#[derive(Debug, Clone)]
pub struct RollupTable {
    rollup: Rollup,
}

impl RollupTable {
    pub fn new(rollup: Rollup) -> Self {
        Self { rollup }
    }
}

#[async_trait]
impl TableProvider for RollupTable {
    fn schema(&self) -> SchemaRef {
        schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Used to skip days; DataFusion still filters every row.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let days = prune::date_range(filters, "slot_start");
        let length = prune::equal_int(filters, "slot_seconds");
        let rollup = self.rollup.clone();
        let now_ms = chrono::Utc::now().timestamp_millis();
        // The refresh reads any new files: off the query's worker threads.
        let batch = tokio::task::spawn_blocking(move || {
            rollup.rows(
                now_ms,
                |d| days.contains(d),
                |s| length.is_none_or(|l| l == s),
            )
        })
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let exec = MemorySourceConfig::try_new_exec(&[vec![batch]], schema(), projection.cloned())?;
        Ok(exec)
    }
}
