//! [`Analytics`]: the one way to run SQL over the data directory, shared by
//! the CLI, HTTP and the Postgres wire.
//!
//! Queries run on a Tokio runtime that `Analytics` owns (threads named
//! `analytics-query`, with large stacks), never on the caller's: a heavy
//! query cannot starve an HTTP server's health checks. Every query gets a
//! fresh `SessionContext` over one shared DataFusion runtime whose memory
//! pool is the memory limit (no spilling to disk); at most
//! `Limits::max_concurrent` queries run at once. A query that outlives the
//! time limit is dropped on the query runtime, which cancels its DataFusion
//! tasks; a caller that stops waiting (drops the future) cancels it too.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ParamValues;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;
use datafusion::sql::parser::Statement as DFStatement;
use futures::StreamExt;
use model::LiveRows;
use model::minutes::{
    ORDER_ATTEMPTS_FAILURES, ORDER_ATTEMPTS_LATENCY_HOURS, ORDER_ATTEMPTS_MINUTES,
    REJECTED_EVENTS_MINUTES,
};
use model::schema::{ALERTS, ORDER_ATTEMPTS, REJECTED_EVENTS};

/// The rollup's table ([`crate::rollup::table`]).
pub const ROLLUP: &str = "order_attempts_rollup";
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::guard::{Limits, parse_read_only, read_only_options};
use crate::rollup::{Overview as RollupOverview, OverviewRequest, Rollup};
use crate::saved::{EMBEDDED_ORIGIN, SavedQueries, SavedQuery};
use crate::table::{StoredTable, TableKind};
use crate::{Error, Result};

/// What an [`Analytics`] reads and how it limits queries.
#[derive(Debug, Clone)]
pub struct AnalyticsConfig {
    /// The data directory ingest writes (`--data-dir`).
    pub data_dir: PathBuf,
    /// Rows ingest decoded but has not stored yet, when running in-process.
    pub live: Option<LiveRows>,
    pub limits: Limits,
    /// The saved queries (usually [`SavedQueries::embedded`]).
    pub queries: SavedQueries,
    /// Plan the built-in saved queries at start-up too (those read from a
    /// directory are always planned). A server does; a one-shot command
    /// need not: the built-in ones ship with the binary, and its tests plan
    /// every one (start-up planning costs ~25 ms a process).
    pub plan_embedded: bool,
}

impl AnalyticsConfig {
    /// The data directory with default limits and the embedded queries.
    pub fn new(data_dir: impl Into<PathBuf>) -> Result<Self> {
        Ok(Self {
            data_dir: data_dir.into(),
            live: None,
            limits: Limits::default(),
            queries: SavedQueries::embedded()?,
            plan_embedded: true,
        })
    }
}

/// A query's result.
#[derive(Debug, Clone)]
pub struct QueryOutput {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub rows: usize,
    /// Wall time from the call to the last batch.
    pub elapsed: Duration,
    /// A saved query answered by its minutes form (from
    /// `order_attempts_minutes`; see [`crate::saved`]).
    pub from_minutes: bool,
}

/// Which text of a saved query runs ([`Analytics::query_as`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Form {
    /// The minutes form when the query has one and the parameters allow it,
    /// else the query itself.
    #[default]
    Auto,
    /// The query itself, over `order_attempts`.
    Events,
    /// The minutes form; an error if there is none or the parameters do not
    /// allow it.
    Minutes,
}

/// Runs SQL and saved queries under the guardrails. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Analytics {
    shared: Arc<Shared>,
    runtime: Arc<QueryRuntime>,
}

/// Everything a query task needs. Tasks hold this, never the runtime they
/// run on, so the runtime is never dropped from one of its own threads.
#[derive(Debug)]
struct Shared {
    data_dir: PathBuf,
    live: Option<LiveRows>,
    limits: Limits,
    queries: SavedQueries,
    df_runtime: Arc<RuntimeEnv>,
    /// The dashboard overview's counts, kept in memory.
    rollup: Rollup,
    /// One permit per query allowed to run at once.
    permits: Semaphore,
}

/// The query runtime; `Some` until drop, which shuts it down without
/// blocking (an `Analytics` may be dropped inside another runtime).
#[derive(Debug)]
struct QueryRuntime(Option<Runtime>);

impl Drop for QueryRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl Analytics {
    /// Builds the query runtime and plans every saved query (but the
    /// built-in ones when not `plan_embedded`), so a broken one fails here
    /// (at start-up), not when first asked for.
    pub async fn new(config: AnalyticsConfig) -> Result<Analytics> {
        let data_dir =
            std::path::absolute(&config.data_dir).map_err(Error::io(&config.data_dir))?;
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if config.limits.threads > 0 {
            builder.worker_threads(config.limits.threads);
        }
        let runtime = builder
            .thread_name("analytics-query")
            .thread_stack_size(16 << 20)
            .enable_all()
            .build()
            .map_err(|e| Error::Runtime(e.to_string()))?;
        let df_runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(config.limits.memory_bytes, 1.0)
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()?;
        let permits = config.limits.max_concurrent.max(1);
        let plan_embedded = config.plan_embedded;
        let analytics = Analytics {
            shared: Arc::new(Shared {
                rollup: Rollup::new(data_dir.clone(), config.live.clone()),
                data_dir,
                live: config.live,
                limits: config.limits,
                queries: config.queries,
                df_runtime,
                permits: Semaphore::new(permits),
            }),
            runtime: Arc::new(QueryRuntime(Some(runtime))),
        };
        let shared = analytics.shared.clone();
        analytics
            .spawn(async move { shared.plan_saved_queries(plan_embedded).await })
            .await?;
        Ok(analytics)
    }

    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// The saved queries, sorted by name.
    pub fn saved_queries(&self) -> &SavedQueries {
        &self.shared.queries
    }

    /// The overview's counts from the in-memory rollup ([`crate::rollup`]),
    /// refreshed first; `Ok(None)` when the rollup cannot count `q` exactly.
    /// Runs off the caller's runtime (it may read files).
    pub async fn rollup_overview(
        &self,
        q: OverviewRequest,
        now_ms: i64,
    ) -> Result<Option<RollupOverview>> {
        let rollup = self.shared.rollup.clone();
        self.spawn(async move {
            tokio::task::spawn_blocking(move || rollup.overview(&q, now_ms))
                .await
                .map_err(|e| Error::Runtime(format!("the rollup task: {e}")))?
        })
        .await
    }

    /// Counts the stored files into the rollup now rather than at the first
    /// overview (`serve` calls it at start-up).
    pub async fn warm_rollup(&self, now_ms: i64) -> Result<()> {
        let rollup = self.shared.rollup.clone();
        self.spawn(async move {
            tokio::task::spawn_blocking(move || rollup.warm(now_ms))
                .await
                .map_err(|e| Error::Runtime(format!("the rollup task: {e}")))?
        })
        .await
    }

    /// A DataFusion context with the three tables. The guardrails are NOT in
    /// it: run user SQL through [`Analytics::sql`].
    pub fn session(&self) -> Result<SessionContext> {
        self.shared.session()
    }

    /// Runs one read-only SQL statement.
    pub async fn sql(&self, sql: &str) -> Result<QueryOutput> {
        let started = Instant::now();
        let statement = parse_read_only(sql, &self.shared.limits)?;
        self.run(statement, None, started).await
    }

    /// Runs a saved query with `params` (`name`, value text) over its
    /// defaults (its minutes form where it can: [`Form::Auto`]).
    pub async fn query(&self, name: &str, params: &[(String, String)]) -> Result<QueryOutput> {
        self.query_as(name, params, Form::Auto).await
    }

    /// [`Analytics::query`], choosing which of its texts runs.
    pub async fn query_as(
        &self,
        name: &str,
        params: &[(String, String)],
        form: Form,
    ) -> Result<QueryOutput> {
        let started = Instant::now();
        let saved = self
            .shared
            .queries
            .get(name)
            .ok_or_else(|| Error::UnknownQuery(name.to_string()))?;
        let values = saved.bind(params, chrono::Utc::now().timestamp_millis())?;
        let minutes = match form {
            Form::Events => None,
            Form::Auto => saved.bind_minutes(&values),
            Form::Minutes => Some(saved.bind_minutes(&values).ok_or_else(|| {
                Error::Param {
                    query: name.to_string(),
                    param: "bucket".into(),
                    message: "no minutes form for these parameters (none, or an interval \
                          that is not whole minutes)"
                        .into(),
                }
            })?),
        };
        let limits = self.shared.saved_limits();
        let (statement, values, from_minutes) = match minutes {
            Some((text, values)) => (parse_read_only(text, &limits)?, values, true),
            None => (parse_read_only(&saved.sql, &limits)?, values, false),
        };
        let mut out = self.run(statement, Some(values), started).await?;
        out.from_minutes = from_minutes;
        Ok(out)
    }

    /// Runs `plan`, planned on `ctx`, under the same guardrails as
    /// [`Analytics::sql`]: DataFusion's read-only plan check, a turn among
    /// `max_concurrent`, the time limit with cancellation, the result caps,
    /// on the query runtime. For a path that parses and plans SQL itself
    /// (the Postgres wire, whose context from [`Analytics::session`] also
    /// holds `pg_catalog`): check the text first with
    /// [`guard::check_text`](crate::guard::check_text) and the statement
    /// with [`guard::check_statement`](crate::guard::check_statement).
    pub async fn run_plan(&self, ctx: SessionContext, plan: LogicalPlan) -> Result<QueryOutput> {
        let started = Instant::now();
        self.run_task(started, move |shared| async move {
            shared.execute_plan(&ctx, plan, None).await
        })
        .await
    }

    /// Tasks alive on the query runtime (0 when no query runs): for tests
    /// and metrics.
    pub fn running_tasks(&self) -> usize {
        self.runtime
            .0
            .as_ref()
            .map_or(0, |rt| rt.metrics().num_alive_tasks())
    }

    async fn run(
        &self,
        statement: DFStatement,
        params: Option<Vec<(String, ScalarValue)>>,
        started: Instant,
    ) -> Result<QueryOutput> {
        self.run_task(started, move |shared| async move {
            shared.execute(statement, params).await
        })
        .await
    }

    /// Runs `query` on the query runtime once a permit is free, under the
    /// time limit.
    async fn run_task<F, Fut>(&self, started: Instant, query: F) -> Result<QueryOutput>
    where
        F: FnOnce(Arc<Shared>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(SchemaRef, Vec<RecordBatch>)>> + Send,
    {
        let shared = self.shared.clone();
        let timeout = self.shared.limits.timeout;
        let (schema, batches) = self
            .spawn(async move {
                let turn_then_run = async {
                    let _permit = shared
                        .permits
                        .acquire()
                        .await
                        .map_err(|e| Error::Runtime(e.to_string()))?;
                    query(shared.clone()).await
                };
                match tokio::time::timeout(timeout, turn_then_run).await {
                    Ok(result) => result,
                    // The query future is dropped here: its streams and the
                    // DataFusion tasks they spawned are cancelled.
                    Err(_) => Err(Error::Timeout(timeout)),
                }
            })
            .await?;
        let rows = batches.iter().map(RecordBatch::num_rows).sum();
        Ok(QueryOutput {
            schema,
            batches,
            rows,
            elapsed: started.elapsed(),
            from_minutes: false,
        })
    }

    /// Runs `fut` on the query runtime; dropping the returned future aborts it.
    async fn spawn<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let rt = self
            .runtime
            .0
            .as_ref()
            .ok_or_else(|| Error::Runtime("the query runtime is shut down".into()))?;
        let mut task = AbortOnDrop(rt.spawn(fut));
        match (&mut task.0).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => Err(Error::Runtime(format!("a query task panicked: {e}"))),
            Err(e) => Err(Error::Runtime(e.to_string())),
        }
    }
}

impl Shared {
    /// A DataFusion context with the tables (no guardrails).
    fn session(&self) -> Result<SessionContext> {
        // No `pushdown_filters` (late materialisation): row groups and
        // pages are still pruned by statistics, and on this data evaluating
        // the filter inside the scan cost ~30 % on wide windows (every row
        // group matches) and saved nothing on narrow ones
        // (scripts/bench-queries.py, BENCHMARKS.md "Queries").
        //
        // A join whose build side is estimated under 10 M rows / 100 MB is
        // broadcast (`CollectLeft`) instead of hash-partitioning both sides:
        // on two cores, moving every probe row between partitions (the
        // 10.8 M attempts of a week that `retry_recovery_rate` probes against
        // its failed orders) cost more than the join itself. And a partial
        // aggregation that does not halve its rows is skipped after 1 000
        // of them (grouping by order id barely reduces anything). Together
        // -11 % on that query over the bench week, no change elsewhere
        // (BENCHMARKS.md "Queries").
        let mut config = SessionConfig::new().with_information_schema(true);
        let options = config.options_mut();
        options.optimizer.hash_join_single_partition_threshold = 100 << 20;
        options.optimizer.hash_join_single_partition_threshold_rows = 10_000_000;
        options
            .execution
            .skip_partial_aggregation_probe_ratio_threshold = 0.5;
        options
            .execution
            .skip_partial_aggregation_probe_rows_threshold = 1_000;
        let ctx = SessionContext::new_with_config_rt(config, self.df_runtime.clone());
        for (name, kind) in [
            (ORDER_ATTEMPTS, TableKind::Attempts),
            (REJECTED_EVENTS, TableKind::Rejected),
            (ALERTS, TableKind::Alerts),
            (ORDER_ATTEMPTS_MINUTES, TableKind::Minutes),
            (ORDER_ATTEMPTS_LATENCY_HOURS, TableKind::LatencyHours),
            (ORDER_ATTEMPTS_FAILURES, TableKind::Failures),
            (REJECTED_EVENTS_MINUTES, TableKind::RejectedMinutes),
        ] {
            let table = StoredTable::new(kind, self.data_dir.clone(), self.live.clone());
            ctx.register_table(name, Arc::new(table))?;
        }
        ctx.register_table(
            ROLLUP,
            Arc::new(crate::rollup::table::RollupTable::new(self.rollup.clone())),
        )?;
        Ok(ctx)
    }

    /// Saved queries are ours: the SQL length cap (meant for callers' text)
    /// does not apply to them; every other check does.
    fn saved_limits(&self) -> Limits {
        Limits {
            max_sql_bytes: usize::MAX,
            ..self.limits.clone()
        }
    }

    /// Plans, runs and collects one statement under the result caps.
    async fn execute(
        &self,
        statement: DFStatement,
        params: Option<Vec<(String, ScalarValue)>>,
    ) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let ctx = self.session()?;
        let plan = ctx.state().statement_to_plan(statement).await?;
        self.execute_plan(&ctx, plan, params).await
    }

    /// Runs one plan planned on `ctx` and collects it under the result caps.
    async fn execute_plan(
        &self,
        ctx: &SessionContext,
        plan: LogicalPlan,
        params: Option<Vec<(String, ScalarValue)>>,
    ) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        read_only_options().verify_plan(&plan)?;
        let mut df = ctx.execute_logical_plan(plan).await?;
        if let Some(values) = params {
            df = df.with_param_values(ParamValues::from(values))?;
        }
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let mut stream = df.execute_stream().await?;
        let limits = &self.limits;
        let (mut rows, mut bytes) = (0usize, 0usize);
        let mut batches = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            rows += batch.num_rows();
            bytes += batch
                .columns()
                .iter()
                .map(|c| c.to_data().get_slice_memory_size().unwrap_or(0))
                .sum::<usize>();
            if rows > limits.max_rows {
                return Err(Error::Limit(format!(
                    "the result has more than {} rows; add a LIMIT or aggregate",
                    limits.max_rows
                )));
            }
            if bytes > limits.max_result_bytes {
                return Err(Error::Limit(format!(
                    "the result is over {} bytes; select fewer columns or rows",
                    limits.max_result_bytes
                )));
            }
            if batch.num_rows() > 0 {
                batches.push(batch);
            }
        }
        Ok((schema, batches))
    }

    /// Plans every saved query with its default parameters.
    async fn plan_saved_queries(&self, plan_embedded: bool) -> Result<()> {
        let now = chrono::Utc::now().timestamp_millis();
        // One context for all: making one costs about as much as a plan.
        let ctx = self.session()?;
        for saved in self
            .queries
            .iter()
            .filter(|q| plan_embedded || q.origin != EMBEDDED_ORIGIN)
        {
            self.plan_saved(&ctx, saved, now)
                .await
                .map_err(|e| Error::SavedQuery {
                    name: saved.name.clone(),
                    origin: saved.origin.clone(),
                    message: e.to_string(),
                })?;
        }
        Ok(())
    }

    /// Plans a saved query (and its minutes form, if any) with its defaults.
    async fn plan_saved(
        &self,
        ctx: &SessionContext,
        saved: &SavedQuery,
        now_ms: i64,
    ) -> Result<()> {
        let values = saved.bind(&[], now_ms)?;
        // Whatever its default bucket: a broken minutes form fails here too.
        let minutes = saved
            .minutes_sql
            .as_deref()
            .and_then(|text| Some((text, crate::saved::with_whole_minutes(&values)?)));
        for (text, values) in [(saved.sql.as_str(), values.clone())]
            .into_iter()
            .chain(minutes)
        {
            let statement = parse_read_only(text, &self.saved_limits())?;
            let plan = ctx.state().statement_to_plan(statement).await?;
            read_only_options().verify_plan(&plan)?;
            let df = ctx
                .execute_logical_plan(plan)
                .await?
                .with_param_values(ParamValues::from(values))?;
            df.into_optimized_plan()?;
        }
        Ok(())
    }
}

/// Aborts a query task when its caller stops waiting for it.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
