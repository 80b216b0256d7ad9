//! Command-line interface: one module per subcommand under `cli/`.

mod backfill;
mod backtest;
mod demo;
mod detector;
mod ingest;
mod query;
mod serve;
mod simulate;
mod sql;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

/// orderpulse: which online order attempts fail, where, how fast it is rising,
/// and what to do about it.
#[derive(Debug, Parser)]
#[command(name = "orderpulse", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) log: LogArgs,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Produce realistic order-attempt events (with incidents) to Kafka or NDJSON.
    Simulate(simulate::SimulateArgs),
    /// Everything on this machine: embedded broker, simulated traffic, serve.
    Demo(demo::DemoArgs),
    /// Ingest, SQL API, /metrics and the dashboard routes in one process.
    Serve(serve::ServeArgs),
    /// Consume the order-attempt topic into Parquet, exactly once (one group member).
    Ingest(ingest::IngestArgs),
    /// Run one read-only SQL query over the data directory (table, CSV or JSON).
    Sql(sql::SqlArgs),
    /// Run a saved query (queries/<name>.sql) with --param k=v, or --list them.
    Query(query::QueryArgs),
    /// Replay events through the spike detector; print and score the alerts.
    Backtest(backtest::BacktestArgs),
    /// Write the minute counts (order_attempts_minutes) stored files lack; compact them.
    Backfill(backfill::BackfillArgs),
}

/// Where Kafka is (CONTRACT section 2).
#[derive(Debug, Args)]
pub(crate) struct KafkaArgs {
    /// Kafka bootstrap servers, comma-separated host:port.
    #[arg(long, env = "ORDERPULSE_BROKERS", default_value = "127.0.0.1:9092")]
    pub(crate) brokers: String,

    /// Topic of order-attempt events.
    #[arg(long, env = "ORDERPULSE_TOPIC", default_value = "order-attempts")]
    pub(crate) topic: String,

    /// Extra librdkafka setting KEY=VALUE (SASL, TLS, compression...),
    /// repeatable. In the environment variable, separate several with ';'.
    #[arg(
        long = "kafka-option",
        env = "ORDERPULSE_KAFKA_OPTIONS",
        value_name = "KEY=VALUE",
        value_parser = parse_kafka_option,
        value_delimiter = ';'
    )]
    pub(crate) kafka_options: Vec<(String, String)>,
}

pub(crate) fn parse_kafka_option(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!(
            "`{s}`: expected KEY=VALUE, e.g. compression.type=lz4"
        )),
    }
}

/// Logging options shared by every command.
#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    /// Log filter in `tracing` EnvFilter syntax (e.g. `info,ingest=debug`).
    #[arg(long, global = true, env = "ORDERPULSE_LOG", default_value = "info")]
    pub(crate) log: String,

    /// Log line format on stderr.
    #[arg(long, global = true, env = "ORDERPULSE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

pub(crate) fn init_tracing(args: &LogArgs) {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Runs one command to completion. SIGINT/SIGTERM cancel the root token.
pub(crate) fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        spawn_signal_handler(shutdown.clone());
        match cli.command {
            Command::Simulate(args) => simulate::run(args, shutdown).await,
            Command::Demo(args) => demo::run(args, shutdown).await,
            Command::Serve(args) => serve::run(args, shutdown).await,
            Command::Ingest(args) => ingest::run(args, shutdown).await,
            Command::Sql(args) => sql::run(args).await,
            Command::Query(args) => query::run(args).await,
            Command::Backtest(args) => backtest::run(args).await,
            Command::Backfill(args) => backfill::run(args).await,
        }
    })
}

fn spawn_signal_handler(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(err) => {
                        tracing::warn!(%err, "cannot listen for SIGTERM");
                        let _ = ctrl_c.await;
                        token.cancel();
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown requested");
        token.cancel();
    });
}
