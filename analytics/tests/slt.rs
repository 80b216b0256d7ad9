//! sqllogictest runner for the saved queries: one `tests/slt/<name>.slt` per
//! `queries/<name>.sql`, run over the fixed fixture (`support/fixture.rs`)
//! written through the real decoder and Parquet sink into a temp dir.
//!
//! In a `.slt` file, `SAVED <name> k=v ...` runs a saved query with those
//! parameters; anything else is plain SQL through the same guarded path.
//! A saved query without a `.slt` file fails its `has_slt::<name>` test.
//! Built on libtest-mimic (through `sqllogictest::harness`), so `cargo test`
//! and `cargo nextest` list and filter the files like ordinary tests.
//!
//! `ORDERPULSE_SLT_COMPLETE=1 cargo test -p analytics --test slt` rewrites
//! the expected results from what the queries return (review the diff!).

#[path = "support/fixture.rs"]
mod fixture;

use std::path::{Path, PathBuf};

use analytics::{Analytics, AnalyticsConfig, SavedQueries};
use arrow::array::Array;
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use async_trait::async_trait;
use sqllogictest::harness::{Arguments, Failed, Trial};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};

#[derive(Clone)]
struct Db {
    analytics: Analytics,
}

#[async_trait]
impl AsyncDB for Db {
    type Error = analytics::Error;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, analytics::Error> {
        let out = match sql.trim().strip_prefix("SAVED ") {
            Some(call) => {
                let mut words = call.split_whitespace();
                let name = words.next().unwrap_or_default();
                let params: Vec<(String, String)> = words
                    .map(|w| {
                        let (k, v) = w.split_once('=').unwrap_or((w, ""));
                        (k.to_string(), v.to_string())
                    })
                    .collect();
                self.analytics.query(name, &params).await?
            }
            None => self.analytics.sql(sql).await?,
        };
        let types = out
            .schema
            .fields()
            .iter()
            .map(|f| column_type(f.data_type()))
            .collect();
        let options = FormatOptions::default().with_null("NULL");
        let mut rows = Vec::new();
        for batch in &out.batches {
            let formatters = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| analytics::Error::from(datafusion::error::DataFusionError::from(e)))?;
            for row in 0..batch.num_rows() {
                rows.push(
                    formatters
                        .iter()
                        .zip(batch.columns())
                        .map(|(f, c)| {
                            let text = f.value(row).to_string();
                            if c.is_null(row) || !text.is_empty() {
                                text
                            } else {
                                "(empty)".to_string()
                            }
                        })
                        .collect(),
                );
            }
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "orderpulse"
    }
}

fn column_type(t: &DataType) -> DefaultColumnType {
    match t {
        t if t.is_integer() => DefaultColumnType::Integer,
        t if t.is_floating()
            || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) =>
        {
            DefaultColumnType::FloatingPoint
        }
        DataType::Dictionary(_, v) => column_type(v),
        _ => DefaultColumnType::Text,
    }
}

fn slt_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("tests/slt")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

fn main() {
    let args = Arguments::from_args();
    let slt_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut trials = Vec::new();
    // Every saved query has its .slt file.
    let saved = SavedQueries::embedded().expect("embedded saved queries");
    for q in saved.iter() {
        let path = slt_dir.join(format!("{}.slt", q.name));
        trials.push(Trial::test(format!("has_slt::{}", q.name), move || {
            if path.exists() {
                Ok(())
            } else {
                Err(format!("saved query has no {}", path.display()).into())
            }
        }));
    }
    for path in slt_files(&slt_dir) {
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        trials.push(Trial::test(format!("slt::{name}"), move || run_file(&path)));
    }
    sqllogictest::harness::run(&args, trials).exit();
}

/// Runs one .slt file over a fresh copy of the fixture.
fn run_file(path: &Path) -> Result<(), Failed> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let data = tempfile::tempdir().map_err(|e| e.to_string())?;
        fixture::fixed(data.path());
        let config = AnalyticsConfig::new(data.path()).map_err(|e| e.to_string())?;
        let analytics = Analytics::new(config).await.map_err(|e| e.to_string())?;
        let db = Db { analytics };
        let mut runner = Runner::new(move || {
            let db = db.clone();
            async move { Ok::<_, analytics::Error>(db) }
        });
        runner.with_column_validator(sqllogictest::strict_column_validator);
        if std::env::var_os("ORDERPULSE_SLT_COMPLETE").is_some() {
            runner
                .update_test_file(
                    path,
                    " ",
                    sqllogictest::default_validator,
                    sqllogictest::default_normalizer,
                    sqllogictest::strict_column_validator,
                )
                .await
                .map_err(|e| Failed::from(e.to_string()))
        } else {
            runner
                .run_file_async(path)
                .await
                .map_err(|e| Failed::from(e.display(true).to_string()))
        }
    })
}
