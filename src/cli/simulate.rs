//! `orderpulse simulate`: realistic order-attempt traffic with incidents, to
//! Kafka or NDJSON, paced in real time or as fast as possible.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use ingest::simulate::{
    DeliveryReport, KafkaSink, KafkaSinkConfig, MAX_DURATION_MS, MAX_RATE, NdjsonSink, Scenario,
    SimConfig, Simulator, parse_scenarios,
};
use tokio_util::sync::CancellationToken;

use super::KafkaArgs;

const AFTER_HELP: &str = "\
SCENARIOS (--scenario, repeatable or comma-separated; they combine):
  NAME[:KEY=VALUE,...]. Incidents take at= (start: 10m, 2h or 40% of the run;
  default 40%), for= (length, same forms; default 10% of the run, 2..30 min)
  and every= (repeat period).
    steady                 no incident
    payment-outage         method=alipay cause=payment_declined factor=10 | rate=R
    maintenance            rate=0.5 (share failing with system_maintenance)
    network-degradation    channel=android_app factor=8 | rate=R
    bad-release            version=6.4.0 channel=(both apps) rate=0.3 | factor=F
    promo-surge            factor=3 (traffic x3, failure rate unchanged: a decoy)
    malformed              share=0.02 oversized=3 (whole run by default)
    mixed                  every=(run/8, 10m..2h): random incidents and decoys
  factor=F multiplies the cause's probability in the slice; rate=R raises it
  to at least R. Example:
    --scenario payment-outage:method=wechat_pay,at=10m,for=5m,factor=8 \\
    --scenario promo-surge,malformed

OUTPUT:
  Without --output, records are produced to Kafka (--brokers, --topic), keyed
  by order id. With --output FILE (or - for stdout) they are written there as
  NDJSON instead; add --kafka to produce to Kafka as well. Kafka gets every
  record byte for byte. The NDJSON output writes one record per line, except
  that a record which is not valid UTF-8 (malformed's invalid_utf8 records)
  cannot be a text line and is skipped (counted in the summary), and an
  NDJSON message of several events is written as its lines.
  The malformed scenario's messages over 1 MiB need a topic whose
  max.message.bytes allows them; use malformed:oversized=0 otherwise.

PACE:
  Without --start, events are emitted in real time from now. With --start,
  as fast as possible (generate days of history in seconds). --pace
  overrides; --pace fast without --start generates the run ending now.
  SIGINT/SIGTERM stop the run: what was produced is flushed and counted.

EXAMPLES:
  orderpulse simulate --rate 200 --scenario payment-outage
  orderpulse simulate --start 2026-11-01T00:00:00+08:00 --duration 7d \\
      --rate 50 --scenario mixed,malformed --truth truth.json --output week.ndjson";

/// Generate believable order-attempt events with incidents.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct SimulateArgs {
    /// Mean events per second over a day, retries included. The diurnal
    /// curve moves it between about 0.15x at night and 1.6x in the evening;
    /// promo-surge multiplies it. Above 0, at most 1000000.
    #[arg(long, env = "ORDERPULSE_SIMULATE_RATE", default_value = "100", value_parser = parse_rate, allow_negative_numbers = true)]
    rate: f64,

    /// Event time to cover, e.g. 90s, 10m, 2h, 7d (at most 400d).
    #[arg(long, env = "ORDERPULSE_SIMULATE_DURATION", default_value = "10m", value_parser = parse_duration)]
    duration: Duration,

    /// Random seed: the same seed and flags give the same events, byte for
    /// byte (with --start, or --pace fast; real time starts from now).
    #[arg(long, env = "ORDERPULSE_SIMULATE_SEED", default_value_t = 1)]
    seed: u64,

    /// Event time of the run start: RFC 3339 (2026-11-01T00:00:00+08:00) or
    /// epoch milliseconds. Implies --pace fast.
    #[arg(long, env = "ORDERPULSE_SIMULATE_START", value_parser = parse_start, allow_hyphen_values = true)]
    start: Option<i64>,

    /// realtime: emit each event when the wall clock reaches it; fast: as
    /// fast as possible. Default: fast with --start, realtime without.
    #[arg(long, env = "ORDERPULSE_SIMULATE_PACE", value_enum)]
    pace: Option<Pace>,

    /// Incidents, e.g. payment-outage:method=alipay,at=10m,for=5m,factor=8
    /// (see SCENARIOS below). Repeatable; comma-separated lists work too.
    #[arg(
        long = "scenario",
        env = "ORDERPULSE_SIMULATE_SCENARIO",
        value_name = "SCENARIO",
        value_parser = parse_scenario_list
    )]
    scenarios: Vec<ScenarioList>,

    /// The shoppers' UTC offset (+08:00, -05:00, Z): the diurnal curve
    /// follows their clock, and RFC 3339 timestamps carry it.
    #[arg(
        long,
        env = "ORDERPULSE_SIMULATE_TZ_OFFSET",
        default_value = "+08:00",
        value_parser = parse_tz_offset,
        allow_hyphen_values = true
    )]
    tz_offset: i32,

    /// Keep traffic flat instead of following the diurnal curve.
    #[arg(long, env = "ORDERPULSE_SIMULATE_FLAT")]
    flat: bool,

    /// Write the ground truth as JSON to FILE when the run ends: the run,
    /// every incident (slice, window, magnitude, baseline and expected
    /// failure rate) and malformed record counts per reason.
    #[arg(long, env = "ORDERPULSE_SIMULATE_TRUTH", value_name = "FILE")]
    truth: Option<PathBuf>,

    /// Write NDJSON to FILE (- for stdout) instead of producing to Kafka
    /// (see OUTPUT below).
    #[arg(
        long,
        short = 'o',
        env = "ORDERPULSE_SIMULATE_OUTPUT",
        value_name = "FILE|-"
    )]
    output: Option<String>,

    /// With --output: produce to Kafka as well.
    #[arg(long, env = "ORDERPULSE_SIMULATE_KAFKA")]
    kafka: bool,

    #[command(flatten)]
    kafka_args: KafkaArgs,

    /// Most records in flight to Kafka at once; producing waits beyond it.
    #[arg(
        long,
        env = "ORDERPULSE_SIMULATE_MAX_IN_FLIGHT",
        default_value_t = 100_000
    )]
    max_in_flight: usize,

    /// How long to wait at the end for Kafka to acknowledge what is in flight.
    #[arg(long, env = "ORDERPULSE_SIMULATE_FLUSH_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    flush_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Pace {
    Realtime,
    Fast,
}

#[derive(Debug, Clone)]
pub(crate) struct ScenarioList(Vec<Scenario>);

fn parse_scenario_list(s: &str) -> Result<ScenarioList, String> {
    parse_scenarios(s)
        .map(ScenarioList)
        .map_err(|e| e.to_string())
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of events per second"))?;
    if !rate.is_finite() || rate <= 0.0 {
        return Err(format!("{s}: the rate must be above 0 events/s"));
    }
    if rate > MAX_RATE {
        return Err(format!(
            "{s}: at most {MAX_RATE} events/s per simulator; run several for more"
        ));
    }
    Ok(rate)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (e.g. 90s, 10m, 2h, 7d)"))?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    if d.as_millis() > MAX_DURATION_MS as u128 {
        return Err("at most 400 days".into());
    }
    Ok(d)
}

fn parse_start(s: &str) -> Result<i64, String> {
    if let Ok(ms) = s.trim().parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            format!("{e}: expected RFC 3339 with an offset (2026-11-01T00:00:00+08:00) or epoch ms")
        })
}

fn parse_tz_offset(s: &str) -> Result<i32, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
        return Ok(0);
    }
    let bad = || format!("`{s}`: expected an offset like +08:00, -05:00 or Z");
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if !(0..=14).contains(&h) || !(0..60).contains(&m) || h * 60 + m > 840 {
        return Err(bad());
    }
    Ok(sign * (h * 60 + m))
}

/// Where the records go.
enum Output {
    Stdout,
    File(PathBuf),
}

impl Output {
    fn name(&self) -> String {
        match self {
            Output::Stdout => "stdout".into(),
            Output::File(p) => p.display().to_string(),
        }
    }
}

/// The validated plan of one run.
struct Plan {
    cfg: SimConfig,
    pace: Pace,
    output: Option<Output>,
    kafka: Option<KafkaSinkConfig>,
    truth: Option<PathBuf>,
    flush_timeout: Duration,
}

impl Plan {
    fn new(args: SimulateArgs, now_ms: i64) -> anyhow::Result<Plan> {
        let duration_ms = i64::try_from(args.duration.as_millis()).unwrap_or(i64::MAX);
        let pace = args.pace.unwrap_or(match args.start {
            Some(_) => Pace::Fast,
            None => Pace::Realtime,
        });
        let start_ms = match (args.start, pace) {
            (Some(s), _) => s,
            (None, Pace::Realtime) => now_ms,
            (None, Pace::Fast) => now_ms - duration_ms,
        };
        let cfg = SimConfig {
            seed: args.seed,
            start_ms,
            duration_ms,
            rate: args.rate,
            scenarios: args.scenarios.into_iter().flat_map(|l| l.0).collect(),
            tz_offset_minutes: args.tz_offset,
            diurnal: !args.flat,
        };
        cfg.validate()?;
        let output = args.output.map(|o| match o.as_str() {
            "-" => Output::Stdout,
            _ => Output::File(PathBuf::from(o)),
        });
        let kafka = (output.is_none() || args.kafka).then(|| KafkaSinkConfig {
            options: args.kafka_args.kafka_options,
            max_in_flight: args.max_in_flight,
            ..KafkaSinkConfig::new(args.kafka_args.brokers, args.kafka_args.topic)
        });
        Ok(Plan {
            cfg,
            pace,
            output,
            kafka,
            truth: args.truth,
            flush_timeout: args.flush_timeout,
        })
    }
}

pub(crate) async fn run(args: SimulateArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let plan = Plan::new(args, chrono::Utc::now().timestamp_millis())?;
    tokio::task::spawn_blocking(move || produce(plan, &shutdown))
        .await
        .context("the simulator thread panicked")?
}

/// How often progress goes to stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Generates and sends every record; blocking (run off the async runtime).
fn produce(plan: Plan, shutdown: &CancellationToken) -> anyhow::Result<()> {
    let mut ndjson = match &plan.output {
        None => None,
        Some(out @ Output::Stdout) => {
            let w: Box<dyn Write + Send> = Box::new(io::stdout());
            Some((NdjsonSink::new(w), out.name()))
        }
        Some(out @ Output::File(path)) => {
            let f =
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            let w: Box<dyn Write + Send> = Box::new(f);
            Some((NdjsonSink::new(w), out.name()))
        }
    };
    // Created now so that an unwritable path fails before the run.
    let truth_file = match &plan.truth {
        Some(path) => Some((
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
            path,
        )),
        None => None,
    };
    let mut kafka = match &plan.kafka {
        Some(cfg) => Some(KafkaSink::new(cfg)?),
        None => None,
    };

    let mut sim = Simulator::new(plan.cfg);
    let start_ms = sim.config().start_ms;
    let end_ms = sim.end_ms();
    let now_ms = chrono::Utc::now().timestamp_millis();
    if end_ms > now_ms + 86_400_000 {
        tracing::warn!(
            "events after {} are more than 24 h ahead of now: ingest rejects them as timestamp_out_of_range",
            rfc3339(now_ms + 86_400_000)
        );
    }
    tracing::info!(
        start = %rfc3339(start_ms),
        end = %rfc3339(end_ms),
        rate = sim.config().rate,
        pace = ?plan.pace,
        scenarios = %sim.truth().scenarios.join(" "),
        output = %ndjson.as_ref().map_or("kafka".to_string(), |(_, n)| n.clone()),
        kafka = plan.kafka.is_some(),
        "simulating"
    );

    let wall = Instant::now();
    let mut last_report = (Instant::now(), 0u64);
    let mut records = 0u64;
    let mut stopped = false;
    'records: while let Some(t) = sim.next_event_time_ms() {
        if plan.pace == Pace::Realtime {
            let due = Duration::from_millis(u64::try_from(t - start_ms).unwrap_or(0));
            loop {
                let elapsed = wall.elapsed();
                if elapsed >= due {
                    break;
                }
                if shutdown.is_cancelled() {
                    stopped = true;
                    break 'records;
                }
                std::thread::sleep((due - elapsed).min(Duration::from_millis(100)));
            }
        }
        if records.is_multiple_of(256) && shutdown.is_cancelled() {
            stopped = true;
            break;
        }
        let Some(rec) = sim.next() else { break };
        if let Some((sink, name)) = &mut ndjson {
            sink.write(&rec.value)
                .with_context(|| format!("writing {name}"))?;
        }
        if let Some(k) = &mut kafka
            && !k.send(rec.key.as_deref(), &rec.value, shutdown)
        {
            stopped = true;
            break;
        }
        records += 1;
        if records.is_multiple_of(1024) && last_report.0.elapsed() >= PROGRESS_EVERY {
            let per_s = (records - last_report.1) as f64 / last_report.0.elapsed().as_secs_f64();
            let done = (rec.event_time_ms - start_ms) as f64 / (end_ms - start_ms) as f64;
            tracing::info!(
                records,
                per_s = per_s.round(),
                event_time = %rfc3339(rec.event_time_ms),
                done = format!("{:.0}%", done * 100.0),
                kafka_acked = kafka.as_ref().map(|k| k.report().acked),
                "progress"
            );
            last_report = (Instant::now(), records);
        }
    }
    if stopped {
        tracing::info!("stopping: flushing what was produced");
    }

    let mut summary = format!(
        "simulated {records} records in {:.1}s{}",
        wall.elapsed().as_secs_f64(),
        if stopped { " (stopped early)" } else { "" }
    );
    if let Some((sink, name)) = ndjson {
        let (written, skipped) = (sink.written(), sink.skipped());
        sink.finish().with_context(|| format!("writing {name}"))?;
        summary += &format!("; {name}: {written} written");
        if skipped > 0 {
            summary += &format!(", {skipped} skipped (not UTF-8)");
        }
    }
    let delivery = kafka.as_ref().map(|k| k.flush(plan.flush_timeout));
    if let Some(d) = &delivery {
        summary += &format!(
            "; kafka: {} acknowledged, {} failed, {} unflushed",
            d.acked, d.failed, d.unflushed
        );
    }
    let truth = sim.truth();
    summary += &format!(
        "; {} events, {} malformed",
        truth.generated.events, truth.generated.malformed_records
    );
    if let Some((file, path)) = truth_file {
        let mut w = io::BufWriter::new(file);
        serde_json::to_writer_pretty(&mut w, &truth)
            .map_err(io::Error::from)
            .and_then(|()| w.write_all(b"\n"))
            .and_then(|()| w.flush())
            .with_context(|| format!("writing {}", path.display()))?;
        summary += &format!("; truth: {}", path.display());
    }
    eprintln!("{summary}");
    if let Some(d) = delivery {
        check_delivery(&d)?;
    }
    Ok(())
}

fn check_delivery(d: &DeliveryReport) -> anyhow::Result<()> {
    let lost = d.failed + d.unflushed;
    if lost == 0 {
        return Ok(());
    }
    let mut msg = format!("{lost} of {} records were not delivered to Kafka", d.sent);
    if d.too_large > 0 {
        msg += &format!(
            " ({} over the broker's size limit: raise the topic's max.message.bytes, or use malformed:oversized=0)",
            d.too_large
        );
    }
    bail!(msg)
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: SimulateArgs,
    }

    fn parse(args: &[&str]) -> Result<SimulateArgs, String> {
        let argv = std::iter::once("simulate").chain(args.iter().copied());
        Cli::try_parse_from(argv)
            .map(|c| c.args)
            .map_err(|e| e.to_string())
    }

    const NOW: i64 = 1_795_000_000_000;

    #[test]
    fn parses_a_full_command_line() {
        let args = parse(&[
            "--rate",
            "250",
            "--duration",
            "2h",
            "--seed",
            "9",
            "--start",
            "2026-11-01T00:00:00+08:00",
            "--scenario",
            "payment-outage:method=wechat_pay,at=10m,for=5m,factor=8",
            "--scenario",
            "promo-surge,malformed",
            "--tz-offset",
            "-05:00",
            "--flat",
            "--output",
            "-",
            "--kafka-option",
            "compression.type=lz4",
        ])
        .unwrap();
        let plan = Plan::new(args, NOW).unwrap();
        assert_eq!(plan.cfg.rate, 250.0);
        assert_eq!(plan.cfg.duration_ms, 7_200_000);
        assert_eq!(plan.cfg.start_ms, 1_793_462_400_000);
        assert_eq!(plan.cfg.scenarios.len(), 3);
        assert_eq!(plan.cfg.tz_offset_minutes, -300);
        assert!(!plan.cfg.diurnal);
        assert_eq!(plan.pace, Pace::Fast);
        assert!(matches!(plan.output, Some(Output::Stdout)));
        assert!(plan.kafka.is_none());
    }

    #[test]
    fn pace_and_sinks_follow_the_documented_rules() {
        let plan = Plan::new(parse(&[]).unwrap(), NOW).unwrap();
        assert_eq!((plan.pace, plan.cfg.start_ms), (Pace::Realtime, NOW));
        let kafka = plan.kafka.unwrap();
        assert_eq!(
            (kafka.brokers.as_str(), kafka.topic.as_str()),
            ("127.0.0.1:9092", "order-attempts")
        );

        let plan = Plan::new(parse(&["--pace", "fast", "--duration", "1h"]).unwrap(), NOW).unwrap();
        assert_eq!(plan.cfg.start_ms, NOW - 3_600_000);
        let plan = Plan::new(
            parse(&["--start", "1793462400000", "--pace", "realtime"]).unwrap(),
            NOW,
        )
        .unwrap();
        assert_eq!(
            (plan.pace, plan.cfg.start_ms),
            (Pace::Realtime, 1_793_462_400_000)
        );
        let plan = Plan::new(parse(&["-o", "x.ndjson", "--kafka"]).unwrap(), NOW).unwrap();
        assert!(plan.output.is_some() && plan.kafka.is_some());
    }

    #[test]
    fn bad_arguments_are_refused_with_a_reason() {
        for (args, needle) in [
            (&["--rate", "-1"][..], "above 0"),
            (&["--rate", "0"], "above 0"),
            (&["--rate", "abc"], "not a number"),
            (&["--rate", "1e12"], "at most"),
            (&["--rate", "inf"], "above 0"),
            (&["--duration", "0s"], "longer than zero"),
            (&["--duration", "ten minutes"], "e.g. 90s"),
            (&["--duration", "500d"], "400 days"),
            (&["--scenario", "outage"], "unknown scenario"),
            (&["--scenario", "payment-outage:factor=-2"], "factor"),
            (&["--scenario", "maintenance:rate=2"], "probability"),
            (&["--start", "yesterday"], "RFC 3339"),
            (&["--tz-offset", "+25:00"], "offset like"),
            (&["--pace", "slow"], "slow"),
            (&["--kafka-option", "novalue"], "KEY=VALUE"),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
        for (args, needle) in [
            (&["--start", "1990-01-01T00:00:00Z"][..], "2000-01-01"),
            (
                &[
                    "--start",
                    "2026-11-01T00:00:00Z",
                    "--duration",
                    "1h",
                    "--scenario",
                    "promo-surge:at=2h",
                ],
                "run lasts",
            ),
        ] {
            let err = Plan::new(parse(args).unwrap(), NOW)
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn every_flag_has_help_and_an_env_name() {
        use clap::CommandFactory;
        let cmd = Cli::command();
        for arg in cmd.get_arguments() {
            if arg.get_id() == "help" {
                continue;
            }
            assert!(arg.get_help().is_some(), "--{} has no help", arg.get_id());
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            assert!(
                env.is_some_and(|e| e.starts_with("ORDERPULSE_")),
                "--{} has no env",
                arg.get_id()
            );
        }
    }

    #[test]
    fn unwritable_output_fails_before_the_run() {
        let args = parse(&[
            "--start",
            "2026-11-01T00:00:00Z",
            "-o",
            "/nonexistent/dir/x.ndjson",
        ])
        .unwrap();
        let plan = Plan::new(args, NOW).unwrap();
        let err = produce(plan, &CancellationToken::new()).unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot create /nonexistent/dir/x.ndjson"),
            "{err:#}"
        );
    }

    #[test]
    fn writes_ndjson_and_truth_files() {
        let dir = std::env::temp_dir().join(format!("orderpulse-sim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("events.ndjson");
        let truth = dir.join("truth.json");
        let args = parse(&[
            "--start",
            "2026-11-01T00:00:00Z",
            "--duration",
            "2m",
            "--rate",
            "50",
            "--scenario",
            "malformed:share=0.2,oversized=1",
            "-o",
            out.to_str().unwrap(),
            "--truth",
            truth.to_str().unwrap(),
        ])
        .unwrap();
        produce(Plan::new(args, NOW).unwrap(), &CancellationToken::new()).unwrap();
        let text = std::fs::read(&out).unwrap();
        let lines = text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        assert!(lines > 3_000, "{lines}");
        assert!(std::str::from_utf8(&text).is_ok());
        let t: ingest::simulate::Truth =
            serde_json::from_slice(&std::fs::read(&truth).unwrap()).unwrap();
        assert!(t.generated.records > 3_000);
        assert_eq!(t.incidents[0].scenario, "malformed");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
