//! The newest stored event ids of a partition, read back to seed a
//! decoder's duplicate window when a worker takes the partition (after a
//! restart, a crash or a rebalance), so duplicate detection does not depend on
//! which worker happened to see the original.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::ledger::files_under;
use super::{ATTEMPTS_DIR, FlushFile, FlushRange, scan};
use crate::{Error, Result};

/// Up to `limit` event ids of `topic`/`partition`'s newest stored accepted
/// rows, oldest first (the order the window must see them in).
pub fn recent_event_ids(
    data_dir: &Path,
    topic: &str,
    partition: i32,
    limit: usize,
) -> Result<Vec<String>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let ledger = scan(data_dir, topic)?;
    let Some(complete) = ledger.flushes.get(&partition) else {
        return Ok(Vec::new());
    };
    // Newest flush first; a flush's files are read together.
    let mut by_flush: BTreeMap<FlushRange, Vec<std::path::PathBuf>> = BTreeMap::new();
    for path in files_under(&data_dir.join(ATTEMPTS_DIR))? {
        let name = path.file_name().and_then(|n| n.to_str());
        if let Some(file) = name.and_then(FlushFile::parse)
            && file.range.topic == topic
            && file.range.partition == partition
            && complete.contains(&file.range)
        {
            by_flush.entry(file.range).or_default().push(path);
        }
    }
    let mut rows: Vec<(i64, String)> = Vec::new();
    for (_, paths) in by_flush.iter().rev() {
        for path in paths {
            read_ids(path, &mut rows)?;
        }
        if rows.len() >= limit {
            break;
        }
    }
    // Offset order; rows of one offset (an NDJSON message) keep file order.
    rows.sort_by_key(|(offset, _)| *offset);
    let skip = rows.len().saturating_sub(limit);
    Ok(rows.into_iter().skip(skip).map(|(_, id)| id).collect())
}

fn read_ids(path: &Path, out: &mut Vec<(i64, String)>) -> Result<()> {
    let file = File::open(path).map_err(Error::io(path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let schema = builder.schema().clone();
    let (Ok(id_col), Ok(offset_col)) =
        (schema.index_of("event_id"), schema.index_of("kafka_offset"))
    else {
        return Ok(());
    };
    let mask = ProjectionMask::roots(builder.parquet_schema(), [id_col, offset_col]);
    let reader = builder.with_projection(mask).build()?;
    for batch in reader {
        let batch = batch?;
        let (Some(ids), Some(offsets)) = (
            batch.column_by_name("event_id"),
            batch.column_by_name("kafka_offset"),
        ) else {
            continue;
        };
        let ids = cast(ids, &DataType::Utf8)?;
        let ids = ids.as_string::<i32>();
        let offsets = cast(offsets, &DataType::Int64)?;
        let offsets = offsets.as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            if ids.is_valid(i) {
                out.push((offsets.value(i), ids.value(i).to_string()));
            }
        }
    }
    Ok(())
}
