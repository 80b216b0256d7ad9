//! `orderpulse serve`: the ingest worker, analytics over its live rows, the
//! spike detector with alert delivery, and the HTTP surface (operations
//! routes, the SQL API, `GET /`) in one process.
//!
//! Shutdown is ordered: SIGTERM/SIGINT stops the worker (stop polling →
//! flush → durable write → commit offsets, bounded by
//! `--shutdown-timeout`) and the detector; alert receivers get one last
//! bounded try; HTTP stops last, so probes and queries answer while the
//! worker drains.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use analytics::{Analytics, AnalyticsConfig, Limits, SavedQueries};
use anyhow::Context;
use clap::Args;
use dashboards::alerting::{
    AlertStore, AlertingConfig, AlertsView, Notifier, SilenceBook, Watch, WatchConfig,
};
use dashboards::api::{ApiState, ApiToken, check_bind};
use dashboards::ops::OpsState;
use model::runbooks::Runbooks;
use tokio_util::sync::CancellationToken;

use super::detector::DetectorArgs;
use super::ingest::{WorkerArgs, print_report, run_worker};

const AFTER_HELP: &str = "\
HTTP (on --http-addr):
  GET  /                       the dashboard (Overview, Drill-down, SQL console,
                               Rejected records, Runbooks); assets under /assets/
  GET  /healthz, /readyz       liveness; readiness (broker reachable, storage writable)
  GET  /metrics                Prometheus metrics
  POST /api/sql                {\"sql\": \"SELECT ...\"}; ?format=json|csv|arrow
  GET  /api/queries            the saved queries with their parameters
  GET  /api/queries/NAME       run one: ?start=now-1h&end=now&bucket=5m&format=csv
  GET  /api/overview           the dashboard's overview: ?start=&end=&bucket=&base_start=
                               &base_end= and filters failure_cause, channel,
                               payment_method, region, app_version
  GET  /api/samples            newest failed attempts of a slice (same filters, &limit=)
  GET  /api/rejected           rejected records per reason over time, and samples
  GET  /api/runbooks           the runbook of every failure cause
  GET  /api/alerts             firing spike alerts, then the recently resolved
  GET  /api/silences           the detector's silences (--silences FILE and the API's)
  POST /api/silences           {\"slice\": {\"payment_method\": \"alipay\"}, \"duration\": \"2h\"}
  DELETE /api/silences/ID      remove one set through the API

ALERTS:
  Every --alert-interval the spike detector counts the new events per
  failure_cause, channel and payment_method (and pairs), compares each
  slice's failure rate with its own seasonal baseline (warmed on
  --alert-history of stored events at start), and writes what fired or
  resolved to the `alerts` table, /api/alerts, orderpulse_alerts_firing,
  Alertmanager (--alertmanager-url) and a webhook (--alert-webhook-url).

AUTH:
  Set ORDERPULSE_API_TOKEN (environment only) to require
  `Authorization: Bearer <token>` on /api/*. Binding a non-loopback
  address (e.g. 0.0.0.0:8080) without a token is refused.";

/// Ingest, analytics and HTTP in one process.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) worker: WorkerArgs,

    #[command(flatten)]
    pub(crate) http: HttpArgs,

    // Boxed: the arguments of every command share one enum.
    #[command(flatten)]
    pub(crate) alerts: Box<AlertArgs>,
}

/// Spike detection and alert delivery.
#[derive(Debug, Args)]
pub(crate) struct AlertArgs {
    #[command(flatten)]
    pub(crate) detector: DetectorArgs,

    /// Send spike alerts to Alertmanager at this base URL (its v2 API),
    /// e.g. http://127.0.0.1:9093. Firing alerts are re-sent every minute.
    #[arg(long, env = "ORDERPULSE_ALERTMANAGER_URL", value_name = "URL")]
    alertmanager_url: Option<String>,

    /// POST every alert state change (one JSON alert object, CONTRACT
    /// section 7) to this URL; retried with backoff while it fails.
    #[arg(long, env = "ORDERPULSE_ALERT_WEBHOOK_URL", value_name = "URL")]
    alert_webhook_url: Option<String>,

    /// Events are counted once they are this old (e.g. 10s); events that
    /// arrive later than that are not counted.
    #[arg(long, env = "ORDERPULSE_ALERT_LATENESS", default_value = "10s", value_parser = parse_duration)]
    alert_lateness: Duration,

    /// Stored history read at start so baselines exist at once (e.g. 7d,
    /// 24h; 0s for none).
    #[arg(long, env = "ORDERPULSE_ALERT_HISTORY", default_value = "7d", value_parser = parse_duration)]
    alert_history: Duration,

    /// Do not run the spike detector (no alerts at all).
    #[arg(long, env = "ORDERPULSE_NO_ALERTS")]
    no_alerts: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (e.g. 10s, 24h, 7d)"))
}

impl AlertArgs {
    fn detector(&self, runbooks: &Runbooks) -> anyhow::Result<analytics::detect::Detector> {
        let config = self.detector.config(runbooks)?;
        analytics::detect::Detector::new(config).map_err(|e| anyhow::anyhow!("alert settings: {e}"))
    }

    fn delivery(&self, http_addr: SocketAddr) -> AlertingConfig {
        AlertingConfig {
            alertmanager_url: self.alertmanager_url.clone(),
            webhook_url: self.alert_webhook_url.clone(),
            generator_url: Some(format!("http://{http_addr}/")),
            ..AlertingConfig::default()
        }
    }
}

/// The HTTP address and the query limits of the SQL API.
#[derive(Debug, Args)]
pub(crate) struct HttpArgs {
    /// Serve the dashboard routes, /metrics and the SQL API on this address.
    #[arg(long, env = "ORDERPULSE_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub(crate) http_addr: SocketAddr,

    /// Serve SQL over the Postgres wire protocol (psql, Grafana, Metabase,
    /// DBeaver) on this address; an empty value turns it off. With
    /// ORDERPULSE_API_TOKEN set, clients send the token as the password.
    #[arg(long, env = "ORDERPULSE_PG_ADDR", default_value = "127.0.0.1:5433", value_parser = parse_pg_addr)]
    pub(crate) pg_addr: PgAddr,

    /// Read saved queries from DIR/*.sql instead of the ones built in.
    #[arg(long, env = "ORDERPULSE_QUERIES_DIR", value_name = "DIR")]
    queries_dir: Option<PathBuf>,

    /// Runbooks file (TOML, one table per failure cause with title, summary,
    /// steps, owner) shown on the dashboard; the causes it names replace the
    /// built-in runbooks, the others stay.
    #[arg(long, env = "ORDERPULSE_RUNBOOKS", value_name = "FILE")]
    runbooks: Option<PathBuf>,

    /// Cancel an API query that runs longer than this (e.g. 30s, 2m).
    #[arg(long, env = "ORDERPULSE_QUERY_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    query_timeout: Duration,

    /// Memory all running queries may use together, in MiB; a query needing
    /// more fails (no spilling).
    #[arg(long, env = "ORDERPULSE_QUERY_MEMORY_MB", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(16..=1_048_576))]
    query_memory_mb: u64,

    /// Most rows an API result may have; a larger one is an error (add a LIMIT).
    #[arg(long, env = "ORDERPULSE_QUERY_MAX_ROWS", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    query_max_rows: u64,
}

/// `--pg-addr`: an address, or off.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PgAddr(pub(crate) Option<SocketAddr>);

fn parse_pg_addr(s: &str) -> Result<PgAddr, String> {
    if s.trim().is_empty() {
        return Ok(PgAddr(None));
    }
    s.parse()
        .map(|a| PgAddr(Some(a)))
        .map_err(|e| format!("`{s}`: {e} (e.g. 127.0.0.1:5433, or empty to turn it off)"))
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (e.g. 30s, 2m)"))?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}

impl HttpArgs {
    /// `--runbooks` over the built-in ones, or the built-in ones.
    fn runbooks(&self) -> anyhow::Result<Runbooks> {
        match &self.runbooks {
            Some(path) => Runbooks::load(path).map_err(|e| anyhow::anyhow!("--runbooks: {e}")),
            None => Ok(Runbooks::builtin()),
        }
    }

    fn analytics_config(&self, data_dir: PathBuf) -> anyhow::Result<AnalyticsConfig> {
        let queries = match &self.queries_dir {
            Some(dir) => SavedQueries::from_dir(dir)?,
            None => SavedQueries::embedded()?,
        };
        Ok(AnalyticsConfig {
            data_dir,
            live: None,
            limits: Limits {
                timeout: self.query_timeout,
                memory_bytes: usize::try_from(self.query_memory_mb << 20).unwrap_or(usize::MAX),
                max_rows: usize::try_from(self.query_max_rows).unwrap_or(usize::MAX),
                ..Limits::default()
            },
            queries,
            plan_embedded: true,
        })
    }
}

pub(crate) async fn run(args: ServeArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    serve(args, false, shutdown, |url| {
        tracing::info!(%url, "orderpulse is serving");
    })
    .await
}

/// Runs everything until `shutdown`; `announce` gets the base URL once
/// HTTP listens. `demo` allows the built-in user-key secret.
pub(crate) async fn serve(
    args: ServeArgs,
    demo: bool,
    shutdown: CancellationToken,
    announce: impl FnOnce(String),
) -> anyhow::Result<()> {
    let token = ApiToken::from_env();
    check_bind(args.http.http_addr, token.as_ref())?;
    let runbooks = std::sync::Arc::new(args.http.runbooks()?);
    let detector = if args.alerts.no_alerts {
        None
    } else {
        Some(args.alerts.detector(&runbooks)?)
    };
    let registry = prometheus::Registry::new();
    let shutdown_timeout = args.worker.shutdown_timeout;
    let config = args.worker.config(&registry, demo)?;
    let mut analytics_config = args.http.analytics_config(config.data_dir.clone())?;
    analytics_config.live = Some(config.live.clone());
    let analytics = Analytics::new(analytics_config)
        .await
        .context("starting the query engine")?;
    // Count the stored files into the overview's rollup in the background,
    // so the first dashboard visit does not wait for it.
    {
        let analytics = analytics.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            match analytics
                .warm_rollup(chrono::Utc::now().timestamp_millis())
                .await
            {
                Ok(()) => tracing::info!(elapsed = ?started.elapsed(), "overview rollup counted"),
                Err(err) => {
                    tracing::warn!(%err, "counting the overview rollup failed; retried at the first overview")
                }
            }
        });
    }
    // HTTP and the Postgres wire stop last: their own token, cancelled
    // after the worker returned.
    let http_stop = CancellationToken::new();
    let pg = match args.http.pg_addr.0 {
        Some(addr) => {
            let secret = std::env::var(dashboards::api::auth::API_TOKEN_ENV).ok();
            let (bound, task) =
                dashboards::pg::serve(addr, analytics.clone(), secret, http_stop.clone())
                    .await
                    .with_context(|| format!("serving the Postgres wire on --pg-addr {addr}"))?;
            tracing::info!(%bound, "Postgres clients: psql \"host={} port={}\"", bound.ip(), bound.port());
            Some(task)
        }
        None => None,
    };
    // The detector and alert delivery: stopped with the worker; receivers
    // get one last bounded try.
    let alert_stop = CancellationToken::new();
    let mut alert_tasks = Vec::new();
    let mut silences = None;
    let view = match detector {
        None => AlertsView::default(),
        Some(detector) => {
            let (notifier, tasks) = Notifier::start(
                &args.alerts.delivery(args.http.http_addr),
                Some(&registry),
                &alert_stop,
            )?;
            alert_tasks.extend(tasks);
            let view = AlertsView::enabled();
            let firing = prometheus::IntGauge::new(
                model::metrics::ALERTS_FIRING,
                "Spike alerts firing now",
            )?;
            registry.register(Box::new(firing.clone()))?;
            let book = SilenceBook::open(
                detector.config().silences.clone(),
                Some(config.data_dir.join("silences.json")),
            )
            .map_err(|e| anyhow::anyhow!("reading the API's silences: {e}"))?;
            silences = Some(book.clone());
            let watch = Watch {
                analytics: analytics.clone(),
                detector,
                notifier,
                store: Some(AlertStore::new(&config.data_dir)),
                view: view.clone(),
                firing_gauge: Some(firing),
                config: WatchConfig {
                    interval: args.alerts.detector.alert_interval,
                    lateness: args.alerts.alert_lateness,
                    history: args.alerts.alert_history,
                },
                silences: Some(book),
            };
            alert_tasks.push(tokio::spawn(watch.run(alert_stop.clone())));
            view
        }
    };
    let router = dashboards::app::router(
        OpsState {
            registry,
            health: config.health.clone(),
        },
        ApiState {
            token,
            runbooks,
            alerts: view,
            silences,
            ..ApiState::new(analytics)
        },
    );
    let addr = args.http.http_addr;
    let (bound, http) = dashboards::ops::serve(addr, router, http_stop.clone())
        .await
        .with_context(|| format!("binding --http-addr {addr}"))?;
    announce(format!("http://{bound}/"));
    let result = run_worker(config, shutdown, shutdown_timeout).await;
    alert_stop.cancel();
    for task in alert_tasks {
        let _ = task.await;
    }
    http_stop.cancel();
    let _ = http.await;
    if let Some(pg) = pg {
        let _ = pg.await;
    }
    print_report(&result?);
    Ok(())
}
