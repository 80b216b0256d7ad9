//! `orderpulse sql "<SQL>"`: one read-only query over the data directory,
//! printed as a table, CSV or JSON. The result goes to stdout; the row count
//! and elapsed time to stderr.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use analytics::{Analytics, AnalyticsConfig, Format, Limits, QueryOutput, SavedQueries};
use anyhow::Context;
use clap::{Args, ValueEnum};

const AFTER_HELP: &str = "\
TABLES:
  order_attempts   one row per accepted event (CONTRACT section 4 columns)
  rejected_events  reason, detail, raw, kafka_topic, kafka_partition,
                   kafka_offset, ingested_at
  alerts           one row per alert state change (empty until alerting runs)
  order_attempts_minutes
                   attempts per minute and outcome, channel, failure_cause,
                   payment_method, stage, error_code, app_version: sum(attempts)
                   over whole minutes equals count(*) over order_attempts
  order_attempts_latency_hours
                   attempts per hour and outcome, channel and exact latency_ms
                   (NULL included), column attempts
  order_attempts_failures
                   the failed attempts that name an order: ts, order_id (rows,
                   not counts: exact for any window)
  rejected_events_minutes
                   records per minute (of ingested_at) and reason, with the
                   first and last ingested_at
  order_attempts_rollup
                   attempts and failures per slot_seconds (10, 60, 3600),
                   slot_start, dimension, value: pick one slot_seconds
  SQL is DataFusion's dialect and read-only: one SELECT / WITH / VALUES /
  SHOW / EXPLAIN query; DDL, DML, COPY, SET and file reads are refused.

EXAMPLES:
  orderpulse sql \"SELECT channel, count(*) FROM order_attempts GROUP BY 1\"
  orderpulse sql --format csv \"SELECT * FROM order_attempts
      WHERE ts >= now() - interval '1 hour' LIMIT 100\" > last-hour.csv";

/// Run one read-only SQL query over the stored (and live) order attempts.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct SqlArgs {
    /// The SQL query, e.g. "SELECT count(*) FROM order_attempts".
    #[arg(value_name = "SQL")]
    sql: String,

    #[command(flatten)]
    pub(crate) analytics: AnalyticsArgs,
}

/// Where the data is, how to print it, and the query limits (shared by
/// `sql` and `query`).
#[derive(Debug, Args)]
pub(crate) struct AnalyticsArgs {
    /// Data directory ingest writes: <data-dir>/order_attempts, rejected_events, alerts.
    #[arg(long, env = "ORDERPULSE_DATA_DIR", default_value = "./data")]
    pub(crate) data_dir: PathBuf,

    /// Output format on stdout.
    #[arg(long, env = "ORDERPULSE_FORMAT", value_enum, default_value_t = OutputFormat::Table)]
    pub(crate) format: OutputFormat,

    /// Read saved queries from DIR/*.sql instead of the ones built in.
    #[arg(long, env = "ORDERPULSE_QUERIES_DIR", value_name = "DIR")]
    pub(crate) queries_dir: Option<PathBuf>,

    /// Cancel a query that runs longer than this (e.g. 30s, 2m).
    #[arg(long, env = "ORDERPULSE_QUERY_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    pub(crate) query_timeout: Duration,

    /// Memory queries may use, in MiB; a query needing more fails (no spilling).
    #[arg(long, env = "ORDERPULSE_QUERY_MEMORY_MB", default_value_t = 2048, value_parser = clap::value_parser!(u64).range(16..=1_048_576))]
    pub(crate) query_memory_mb: u64,

    /// Most rows a result may have; a larger one is an error (add a LIMIT).
    #[arg(long, env = "ORDERPULSE_QUERY_MAX_ROWS", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub(crate) query_max_rows: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Aligned columns for people.
    Table,
    /// CSV with a header line.
    Csv,
    /// {"columns": [...], "rows": [[...], ...]}
    Json,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (e.g. 30s, 2m)"))?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}

impl AnalyticsArgs {
    /// Starts the query engine: loads and plans the saved queries.
    pub(crate) async fn start(&self) -> anyhow::Result<Analytics> {
        let queries = match &self.queries_dir {
            Some(dir) => SavedQueries::from_dir(dir)?,
            None => SavedQueries::embedded()?,
        };
        let limits = Limits {
            timeout: self.query_timeout,
            memory_bytes: usize::try_from(self.query_memory_mb << 20).unwrap_or(usize::MAX),
            max_rows: usize::try_from(self.query_max_rows).unwrap_or(usize::MAX),
            ..Limits::default()
        };
        let config = AnalyticsConfig {
            data_dir: self.data_dir.clone(),
            live: None,
            limits,
            queries,
            // One query and done: the built-in queries are planned by the
            // tests; ones from --queries-dir still fail here when broken.
            plan_embedded: false,
        };
        Ok(Analytics::new(config).await?)
    }

    /// Prints `out` on stdout and the summary on stderr.
    pub(crate) fn print(&self, out: &QueryOutput) -> anyhow::Result<()> {
        let format = match self.format {
            OutputFormat::Table => Format::Table,
            OutputFormat::Csv => Format::Csv,
            OutputFormat::Json => Format::Json,
        };
        let mut text = Vec::new();
        analytics::format::write(out, format, &mut text).context("formatting the result")?;
        write_stdout(&text)?;
        let rows = if out.rows == 1 { "row" } else { "rows" };
        let from = if out.from_minutes {
            " (minutes form: from the derived tables: per-minute counts, latency hours, failures)"
        } else {
            ""
        };
        eprintln!(
            "{} {rows} in {:.3} s{from}",
            out.rows,
            out.elapsed.as_secs_f64()
        );
        Ok(())
    }
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
pub(crate) fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("writing the result"))
        }
        _ => Ok(()),
    }
}

/// One line: SQL errors can span lines (DataFusion lists candidates).
pub(crate) fn one_line(err: analytics::Error) -> anyhow::Error {
    let text = err.to_string();
    anyhow::anyhow!(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

pub(crate) async fn run(args: SqlArgs) -> anyhow::Result<()> {
    let analytics = args.analytics.start().await?;
    let out = analytics.sql(&args.sql).await.map_err(one_line)?;
    args.analytics.print(&out)
}
