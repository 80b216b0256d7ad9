//! `orderpulse demo`: the whole system on one machine with no setup. An
//! embedded Kafka-protocol broker (librdkafka's mock cluster), the
//! simulator producing real-time traffic into it (steady traffic, an
//! incident or decoy every few minutes, about 1 % malformed records), and
//! `serve` (ingest, SQL API, /metrics) on top, until SIGINT/SIGTERM.
//!
//! The embedded broker keeps nothing across runs (a new one starts every
//! topic at offset 0), so the demo writes to a fresh temporary data
//! directory, removed on exit, unless `--data-dir` names an empty one to
//! keep. User ids are hashed with the built-in demo secret unless
//! `ORDERPULSE_USER_KEY_SECRET` is set.
//!
//! Before serving, the demo stores one simulated steady hour up to now
//! (topic `demo-history`, through the real decoder and sink) so that the
//! spike detector, which needs history for its baselines, alerts on the
//! first incidents instead of only after a quarter of an hour.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Parser};
use ingest::embedded::{EmbeddedBroker, EmbeddedOptions};
use tokio_util::sync::CancellationToken;

use super::serve::{self, ServeArgs};
use super::simulate::SimulateArgs;

const AFTER_HELP: &str = "\
WHAT RUNS:
  an embedded broker on 127.0.0.1 (bootstrap --broker-port, or the brokers'
  own ports when it is taken), topics order-attempts (3 partitions) and
  order-attempts.dlq; `orderpulse simulate` in real time, in half-hour
  runs one after the other, with --scenario mixed:every=5m,for=2m
  --scenario malformed:share=0.01,oversized=0; and
  `orderpulse serve` against it. Other programs on this machine can
  produce or consume too: orderpulse simulate --brokers <printed address>.

EXAMPLES:
  orderpulse demo
  orderpulse demo --http-addr 127.0.0.1:9000 --rate 200";

/// Run everything on this machine with an embedded broker and simulated traffic.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct DemoArgs {
    /// Serve the dashboard routes, /metrics and the SQL API on this address.
    #[arg(long, env = "ORDERPULSE_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    http_addr: SocketAddr,

    /// The Postgres wire address for psql, Grafana, Metabase, DBeaver; an
    /// empty value turns it off.
    #[arg(long, env = "ORDERPULSE_PG_ADDR", default_value = "127.0.0.1:5433")]
    pg_addr: String,

    /// Port of 127.0.0.1 the embedded broker is reachable on (bootstrap);
    /// when taken, the brokers' own ports are used and printed.
    #[arg(long, env = "ORDERPULSE_DEMO_BROKER_PORT", default_value_t = 9092)]
    broker_port: u16,

    /// Mean simulated events per second (over a day: the diurnal curve
    /// moves it between about 0.15x and 1.6x).
    #[arg(long, env = "ORDERPULSE_DEMO_RATE", default_value = "50")]
    rate: f64,

    /// Random seed of the simulated traffic.
    #[arg(long, env = "ORDERPULSE_DEMO_SEED", default_value_t = 1)]
    seed: u64,

    /// Keep the data in this directory (must be empty or absent) instead of
    /// a temporary one removed on exit.
    #[arg(long = "data-dir", env = "ORDERPULSE_DEMO_DATA_DIR")]
    data_dir: Option<PathBuf>,

    /// Runbooks file (TOML, as runbooks.toml) shown on the dashboard and put
    /// into alerts; the causes it names replace the built-in runbooks.
    #[arg(long, env = "ORDERPULSE_RUNBOOKS", value_name = "FILE")]
    runbooks: Option<PathBuf>,
}

/// clap's own parsing builds the `serve` and `simulate` settings, so their
/// defaults (and `ORDERPULSE_*` variables) live in one place.
#[derive(Debug, Parser)]
#[command(no_binary_name = true)]
struct Nested<T: Args> {
    #[command(flatten)]
    args: T,
}

fn nested<T: Args>(argv: &[&str]) -> anyhow::Result<T> {
    Ok(Nested::<T>::try_parse_from(argv)?.args)
}

/// Real-time traffic in half-hour runs, one after another with the next
/// seed, until `shutdown`. (One endless run would have the simulator place
/// every incident of the whole run up front; short runs start at once.)
async fn simulate_forever(
    brokers: String,
    rate: f64,
    seed: u64,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let rate = rate.to_string();
    for run in 0u64.. {
        if shutdown.is_cancelled() {
            break;
        }
        let seed = seed.wrapping_add(run).to_string();
        let args: SimulateArgs = nested(&[
            "--brokers",
            &brokers,
            "--topic",
            "order-attempts",
            "--rate",
            &rate,
            "--seed",
            &seed,
            "--duration",
            "30m",
            "--pace",
            "realtime",
            "--scenario",
            "mixed:every=5m,for=2m",
            "--scenario",
            "malformed:share=0.01,oversized=0",
        ])?;
        super::simulate::run(args, shutdown.clone()).await?;
    }
    Ok(())
}

/// The topic name the seeded history is stored under (it never reaches
/// Kafka; the name keeps its files apart from the live topic's ledger).
const HISTORY_TOPIC: &str = "demo-history";

/// Stores one simulated steady hour before now in `data_dir`, as ingest
/// would (decoder, sink, flushes of 20 000 records), at most 20 events/s
/// (baselines are rates: the volume need not match); returns the records.
fn seed_history(data_dir: &Path, rate: f64, seed: u64) -> anyhow::Result<u64> {
    use ingest::decode::{Decoder, DecoderConfig, Source, UserKeyHasher, rejected_batch};
    use ingest::simulate::{SimConfig, Simulator};
    use ingest::sink::{FlushRange, ParquetSink, SinkOptions};

    let secret = std::env::var("ORDERPULSE_USER_KEY_SECRET").ok();
    let users = UserKeyHasher::from_config(secret.as_deref(), true)?;
    let mut decoder = Decoder::new(DecoderConfig::new(users));
    let sink = ParquetSink::new(data_dir, SinkOptions::default());
    let now_ms = chrono::Utc::now().timestamp_millis();
    let sim = Simulator::new(SimConfig {
        seed: seed.wrapping_add(0x5eed),
        start_ms: now_ms - 3_600_000,
        duration_ms: 3_600_000,
        rate: rate.min(20.0),
        ..SimConfig::default()
    });
    let mut first = 0i64;
    let mut next = 0i64;
    let flush = |decoder: &mut Decoder, first: i64, next: i64| -> anyhow::Result<()> {
        let accepted = decoder.finish_batch()?;
        let rejected = rejected_batch(&decoder.take_rejected())?;
        let range = FlushRange {
            topic: HISTORY_TOPIC.into(),
            partition: 0,
            first,
            last: next - 1,
        };
        sink.write_flush(&range, &[accepted], Some(&rejected), now_ms)?;
        Ok(())
    };
    for record in sim {
        let src = Source {
            topic: HISTORY_TOPIC,
            partition: 0,
            offset: next,
            now_ms,
        };
        decoder.decode(&record.value, &src);
        next += 1;
        if next - first == 20_000 {
            flush(&mut decoder, first, next)?;
            first = next;
        }
    }
    if next > first {
        flush(&mut decoder, first, next)?;
    }
    Ok(u64::try_from(next).unwrap_or(0))
}

pub(crate) async fn run(args: DemoArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    // A bad --rate fails here, not later inside the simulator task.
    nested::<SimulateArgs>(&["--rate", &args.rate.to_string()]).context("--rate")?;
    let (_temp, data_dir) = match &args.data_dir {
        Some(dir) => {
            if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
                bail!(
                    "--data-dir {} is not empty: the embedded broker starts every topic at \
                     offset 0 again, so data from another run would hide new records; give an \
                     empty directory or none (a temporary one)",
                    dir.display()
                );
            }
            (None, dir.clone())
        }
        None => {
            let temp = tempfile::Builder::new()
                .prefix("orderpulse-demo-")
                .tempdir()
                .context("creating a temporary data directory")?;
            let path = temp.path().to_path_buf();
            (Some(temp), path)
        }
    };
    let seeded = {
        let (dir, rate, seed) = (data_dir.clone(), args.rate, args.seed);
        tokio::task::spawn_blocking(move || seed_history(&dir, rate, seed))
            .await
            .context("seeding the demo's history")?
            .context("seeding the demo's history")?
    };
    tracing::info!(
        records = seeded,
        "stored a simulated hour of history (spike alert baselines)"
    );
    let broker = EmbeddedBroker::start(EmbeddedOptions {
        brokers: 1,
        bootstrap_port: Some(args.broker_port),
    })?;
    broker.create_topic("order-attempts", 3)?;
    broker.create_topic("order-attempts.dlq", 1)?;
    let brokers = broker.bootstrap_servers();
    let data = data_dir
        .to_str()
        .context("the data directory is not UTF-8")?;
    let http_addr = args.http_addr.to_string();
    let runbooks = match &args.runbooks {
        Some(path) => vec![
            "--runbooks",
            path.to_str().context("the runbooks path is not UTF-8")?,
        ],
        None => Vec::new(),
    };
    let serve_args: ServeArgs = nested(
        &[
            "--brokers",
            &brokers,
            "--topic",
            "order-attempts",
            "--dlq-topic",
            "order-attempts.dlq",
            "--data-dir",
            data,
            "--http-addr",
            &http_addr,
            "--pg-addr",
            &args.pg_addr,
            "--flush-interval",
            "10s",
        ]
        .into_iter()
        .chain(runbooks)
        .collect::<Vec<_>>(),
    )?;
    let simulator = tokio::spawn(simulate_forever(
        brokers.clone(),
        args.rate,
        args.seed,
        shutdown.clone(),
    ));
    let result = serve::serve(serve_args, true, shutdown.clone(), |url| {
        println!("orderpulse demo is running: open {url}");
        println!("  SQL:      curl -s {url}api/sql -d '{{\"sql\": \"SELECT count(*) FROM order_attempts\"}}'");
        println!("  metrics:  {url}metrics");
        if !args.pg_addr.trim().is_empty() {
            println!("  psql:     psql \"postgresql://orderpulse@{}/orderpulse\"", args.pg_addr);
        }
        println!("  Kafka:    {brokers} (topic order-attempts)");
        println!("  data:     {}", data_dir.display());
        println!("  stop:     Ctrl-C");
    })
    .await;
    // Whatever ended serve, the simulator stops too.
    shutdown.cancel();
    match simulator.await {
        Ok(Err(e)) => tracing::warn!(error = %e, "the simulator stopped with an error"),
        Err(e) => tracing::warn!(error = %e, "the simulator task failed"),
        Ok(Ok(())) => {}
    }
    drop(broker);
    result
}
