//! `orderpulse ingest`: consume the order-attempt topic into Parquet, exactly
//! once, as one member of a consumer group (run several to scale out).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use ingest::consume::{self, IngestConfig};
use ingest::decode::UserKeyHasher;
use ingest::metrics::IngestMetrics;
use tokio_util::sync::CancellationToken;

use super::KafkaArgs;

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    #[command(flatten)]
    pub(crate) worker: WorkerArgs,

    /// Serve /healthz, /readyz and /metrics (Prometheus) on this address,
    /// e.g. 127.0.0.1:9464. Off when not given.
    #[arg(long, env = "ORDERPULSE_HTTP_ADDR")]
    http_addr: Option<SocketAddr>,
}

/// The ingest worker's settings, shared by `ingest` and `serve`.
#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    #[command(flatten)]
    kafka: KafkaArgs,

    /// Consumer group; ingest processes in one group share the partitions.
    #[arg(long, env = "ORDERPULSE_GROUP", default_value = "orderpulse")]
    group: String,

    /// Dead-letter topic for rejected records (original bytes plus
    /// orderpulse-* headers); an empty string disables it.
    #[arg(
        long,
        env = "ORDERPULSE_DLQ_TOPIC",
        default_value = "order-attempts.dlq"
    )]
    dlq_topic: String,

    /// A stable name for this worker (static group membership): a restarted
    /// worker with the same name takes its partitions back at once instead of
    /// waiting for its old session to time out. Unique per running worker.
    #[arg(long, env = "ORDERPULSE_INSTANCE_ID")]
    instance_id: Option<String>,

    /// Where Parquet files go: <data-dir>/order_attempts and <data-dir>/rejected_events.
    #[arg(long, env = "ORDERPULSE_DATA_DIR", default_value = "./data")]
    pub(crate) data_dir: PathBuf,

    /// Secret for hashing user ids into user_key (HMAC-SHA256), at least 16
    /// bytes. Prefer the environment variable to the flag.
    #[arg(long, env = "ORDERPULSE_USER_KEY_SECRET", hide_env_values = true)]
    pub(crate) user_key_secret: Option<String>,

    /// Flush a partition to Parquet after this many records.
    #[arg(long, env = "ORDERPULSE_FLUSH_RECORDS", default_value_t = 200_000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    flush_records: u64,

    /// Flush a partition whose oldest unflushed record is this old (e.g. 30s, 2m).
    #[arg(long, env = "ORDERPULSE_FLUSH_INTERVAL", default_value = "30s",
          value_parser = parse_interval)]
    flush_interval: Duration,

    /// Remove stored flushes whose date partitions are all older than this
    /// many days (checked hourly). Off when not given.
    #[arg(long, env = "ORDERPULSE_RETENTION_DAYS",
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    retention_days: Option<u32>,

    /// Longest wait after SIGTERM/SIGINT: what was decoded is written, then the
    /// process exits even if the broker is unreachable (unwritten records are
    /// read again on the next start).
    #[arg(long, env = "ORDERPULSE_SHUTDOWN_TIMEOUT", default_value = "10s",
          value_parser = parse_interval)]
    pub(crate) shutdown_timeout: Duration,
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e}"))?;
    if d.is_zero() || d > Duration::from_secs(3600) {
        return Err(format!("`{s}`: expected between 1ms and 1h"));
    }
    Ok(d)
}

impl WorkerArgs {
    /// The worker's config (data directory created, metrics registered in
    /// `registry`). `demo` allows the built-in user-key secret.
    pub(crate) fn config(
        self,
        registry: &prometheus::Registry,
        demo: bool,
    ) -> anyhow::Result<IngestConfig> {
        let users = UserKeyHasher::from_config(self.user_key_secret.as_deref(), demo)?;
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating the data directory {}", self.data_dir.display()))?;
        let mut config =
            IngestConfig::new(&self.kafka.brokers, &self.kafka.topic, self.data_dir, users);
        config.group = self.group;
        if let Some(id) = self.instance_id {
            config
                .kafka_options
                .push(("group.instance.id".to_string(), id));
        }
        config.kafka_options.extend(self.kafka.kafka_options);
        config.flush_records = self.flush_records as usize;
        config.dlq_topic = (!self.dlq_topic.is_empty()).then_some(self.dlq_topic);
        config.flush_interval = self.flush_interval;
        config.retention_days = self.retention_days;
        config.metrics = Some(IngestMetrics::register(registry)?);
        Ok(config)
    }
}

/// Runs the worker on its own thread until `shutdown`; past
/// `shutdown_timeout` after the cancel, gives up waiting with an error.
pub(crate) async fn run_worker(
    config: IngestConfig,
    shutdown: CancellationToken,
    shutdown_timeout: Duration,
) -> anyhow::Result<consume::IngestReport> {
    tracing::info!(
        brokers = %config.brokers,
        topic = %config.topic,
        group = %config.group,
        data_dir = %config.data_dir.display(),
        "ingesting"
    );
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let token = shutdown.clone();
    std::thread::Builder::new()
        .name("ingest".into())
        .spawn(move || {
            let _ = done_tx.send(consume::run(config, &token));
        })
        .context("starting the ingest thread")?;
    tokio::select! {
        r = done_rx => Ok(r.context("the ingest worker panicked")??),
        () = async {
            shutdown.cancelled().await;
            tokio::time::sleep(shutdown_timeout).await;
        } => Err(anyhow::anyhow!(
            "shutdown took longer than --shutdown-timeout {}; records not yet written are read \
             again on the next start",
            humantime::format_duration(shutdown_timeout)
        )),
    }
}

/// The one-line summary of a finished worker, on stderr.
pub(crate) fn print_report(report: &consume::IngestReport) {
    let s = &report.stats;
    eprintln!(
        "ingested {} records in {} flushes: {} accepted, {} rejected, {} duplicates; \
         {} dead letters sent, {} not delivered",
        report.records,
        report.flushes,
        s.accepted,
        s.rejected_total(),
        s.duplicates,
        report.dead_letters,
        report.dead_letters_failed
    );
}

pub(crate) async fn run(args: IngestArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let registry = prometheus::Registry::new();
    let shutdown_timeout = args.worker.shutdown_timeout;
    let config = args.worker.config(&registry, false)?;
    // HTTP stops last: its own token, cancelled after the worker returned.
    let http_stop = CancellationToken::new();
    let http = match args.http_addr {
        Some(addr) => {
            let routes = dashboards::ops::routes(dashboards::ops::OpsState {
                registry,
                health: config.health.clone(),
            });
            let (bound, task) = dashboards::ops::serve(addr, routes, http_stop.clone())
                .await
                .with_context(|| format!("binding --http-addr {addr}"))?;
            tracing::info!(addr = %bound, "serving /healthz /readyz /metrics");
            Some(task)
        }
        None => None,
    };
    let result = run_worker(config, shutdown, shutdown_timeout).await;
    http_stop.cancel();
    if let Some(task) = http {
        let _ = task.await;
    }
    print_report(&result?);
    Ok(())
}
