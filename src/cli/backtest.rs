//! `orderpulse backtest`: replay events in event time through the spike
//! detector (the same code `serve` will run), print every alert, and with
//! `--truth` score it and a static-threshold rule against the simulator's
//! ground truth.

mod input;
mod score;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use analytics::detect::{Detector, DetectorConfig};

use super::detector::DetectorArgs;
use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use ingest::simulate::Truth;
use model::alert::{Alert, AlertStatus};
use model::runbooks::Runbooks;

use input::Replay;
use score::{Incident, Score, StaticRule};

use super::sql::write_stdout;

const AFTER_HELP: &str = "\
INPUT:
  --input FILE     NDJSON events (CONTRACT section 1), validated by the ingest
                   decoder: malformed lines are counted and skipped, duplicates
                   dropped; the summary goes to stderr.
  --data-dir DIR   what ingest stored, between --from and --to (one aggregate
                   query per run, not row by row).

OUTPUT:
  --format table   one line per alert (in its last state), then the score.
  --format json    one alert JSON object (CONTRACT section 7) per line on
                   stdout; the summary and score go to stderr.

SCORE (--truth FILE, from `orderpulse simulate --truth`):
  An alert is true when it starts during a real incident (or up to 5 minutes
  after it) and names a slice that is the incident's or part of it (its cause
  for failure_cause). Recall counts the incidents whose slice's failure rate
  at least doubles with at least 30 failures above the baseline; decoys
  (promo surges, malformed records) must not alert. Delay: alert start minus
  incident start. Top contributor: the alert's slice plus its first
  contributor name the incident's slice and cause.
  The static rule is what people write first in Prometheus: failure rate
  > X % over 5 minutes, held for 5 minutes, on all traffic, per channel and
  per payment method (at least 20 attempts in the 5 minutes). X defaults to
  10 %: about twice the normal overall failure rate (4-5 %), a round number
  an operator would pick from a dashboard.

EXAMPLES:
  orderpulse simulate --start 2026-11-01T00:00:00+08:00 --duration 7d \\
      --rate 20 --scenario mixed --output week.ndjson --truth truth.json
  orderpulse backtest --input week.ndjson --truth truth.json
  orderpulse backtest --data-dir ./data --from 2026-11-01T00:00:00Z \\
      --to 2026-11-02T00:00:00Z --format json > alerts.ndjson";

/// Replay events through the spike detector; print the alerts; score them.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct BacktestArgs {
    /// NDJSON file of order-attempt events (one per line; `-` reads stdin).
    /// Without it, the data directory is read between --from and --to.
    #[arg(long, env = "ORDERPULSE_BACKTEST_INPUT", value_name = "FILE")]
    input: Option<PathBuf>,

    /// Data directory ingest wrote (used when --input is not given).
    #[arg(long, env = "ORDERPULSE_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,

    /// Replay events from this time on (RFC 3339); required with --data-dir.
    #[arg(long, env = "ORDERPULSE_BACKTEST_FROM", value_parser = parse_time)]
    from: Option<i64>,

    /// Replay events before this time (RFC 3339); required with --data-dir.
    #[arg(long, env = "ORDERPULSE_BACKTEST_TO", value_parser = parse_time)]
    to: Option<i64>,

    #[command(flatten)]
    detector: DetectorArgs,

    /// Runbooks file whose entries replace the built-in ones (runbooks.toml format).
    #[arg(long, env = "ORDERPULSE_RUNBOOKS", value_name = "FILE")]
    runbooks: Option<PathBuf>,

    /// Output format on stdout.
    #[arg(long, env = "ORDERPULSE_FORMAT", value_enum, default_value_t = BacktestFormat::Table)]
    format: BacktestFormat,

    /// Ground truth from `orderpulse simulate --truth`: score the alerts,
    /// and the static rule on the same events.
    #[arg(long, env = "ORDERPULSE_BACKTEST_TRUTH", value_name = "FILE")]
    truth: Option<PathBuf>,

    /// The static rule's threshold in percent ("failure rate > X % for 5m").
    #[arg(long, env = "ORDERPULSE_STATIC_THRESHOLD", default_value_t = 10.0, value_parser = parse_percent)]
    static_threshold: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BacktestFormat {
    /// One line per alert, then the score.
    Table,
    /// One alert JSON object per line (CONTRACT section 7).
    Json,
}

fn parse_time(s: &str) -> Result<i64, String> {
    score::parse_ms(s.trim())
        .ok_or_else(|| format!("`{s}`: expected an RFC 3339 time, e.g. 2026-11-01T00:00:00+08:00"))
}

fn parse_percent(s: &str) -> Result<f64, String> {
    match s.trim_end_matches('%').parse::<f64>() {
        Ok(x) if x > 0.0 && x < 100.0 => Ok(x / 100.0),
        _ => Err(format!(
            "`{s}`: expected a percentage between 0 and 100, e.g. 10"
        )),
    }
}

/// Most bytes of a truth file read.
const MAX_TRUTH_BYTES: u64 = 64 << 20;

fn read_truth(path: &std::path::Path) -> anyhow::Result<Truth> {
    let shown = path.display();
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading --truth {shown}"))?
        .len();
    if size > MAX_TRUTH_BYTES {
        bail!("--truth {shown} is {size} bytes; at most {MAX_TRUTH_BYTES} are read");
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading --truth {shown}"))?;
    serde_json::from_str(&text)
        .with_context(|| format!("--truth {shown} is not a simulator truth file"))
}

impl BacktestArgs {
    fn detector_config(&self) -> anyhow::Result<DetectorConfig> {
        let runbooks = match &self.runbooks {
            Some(path) => Runbooks::load(path).map_err(|e| anyhow::anyhow!(e))?,
            None => Runbooks::builtin(),
        };
        self.detector.config(&runbooks)
    }
}

pub(crate) async fn run(args: BacktestArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    if let (Some(f), Some(t)) = (args.from, args.to)
        && f >= t
    {
        bail!("--from must be before --to");
    }
    let cfg = args.detector_config()?;
    let interval_ms = cfg.interval_ms;
    let truth = args.truth.as_deref().map(read_truth).transpose()?;
    let incidents = truth.as_ref().map(score::incidents).unwrap_or_default();
    let detector = Detector::new(cfg).map_err(|e| anyhow::anyhow!(e))?;
    let rule = truth
        .as_ref()
        .map(|_| StaticRule::new(args.static_threshold, interval_ms));
    let from = args.from.unwrap_or(i64::MIN);
    let to = args.to.unwrap_or(i64::MAX);
    let mut replay = Replay::new(detector, rule, incidents, from, to);
    match &args.input {
        Some(path) => {
            let summary = input::read_ndjson(path, &mut replay)?;
            eprintln!("{}: {}", path.display(), summary.describe());
            if summary.accepted == 0 {
                bail!("no valid events in {}", path.display());
            }
        }
        None => {
            let (Some(_), Some(_)) = (args.from, args.to) else {
                bail!("give --input FILE, or --from and --to to read --data-dir");
            };
            let analytics = input::engine(&args.data_dir).await?;
            let bucket_s = (interval_ms / 1_000).clamp(1, 60);
            let bucket_s = if 60 % bucket_s == 0 { bucket_s } else { 60 };
            let rows = input::read_data_dir(&analytics, &mut replay, bucket_s).await?;
            eprintln!("{}: {rows} aggregate rows", args.data_dir.display());
            if truth.is_some() {
                input::count_incidents(&analytics, &mut replay.incidents).await?;
            }
        }
    }
    if replay.events == 0 {
        bail!("no events between --from and --to");
    }
    let end = match (&truth, replay.last_ms) {
        (Some(t), _) if score::parse_ms(&t.end).is_some() => {
            score::parse_ms(&t.end).unwrap_or_default()
        }
        (_, Some(last)) => last,
        _ => 0,
    };
    let alerts = replay.finish(end.min(to));
    let stats = replay.detector.stats();
    eprintln!(
        "{} events replayed ({} .. {}) in {:.2} s: {} alerts; {} slices tracked, {} refused at the cap, {} suppressed as explained, {} silenced",
        replay.events,
        replay
            .first_ms
            .map(analytics::detect::rfc3339)
            .unwrap_or_default(),
        replay
            .last_ms
            .map(analytics::detect::rfc3339)
            .unwrap_or_default(),
        started.elapsed().as_secs_f64(),
        alerts.len(),
        stats.slices,
        stats.slices_refused,
        stats.suppressed,
        stats.silenced,
    );
    let mut out = String::new();
    match args.format {
        BacktestFormat::Json => {
            for a in &alerts {
                out.push_str(&serde_json::to_string(a)?);
                out.push('\n');
            }
        }
        BacktestFormat::Table => out.push_str(&alert_table(&alerts)),
    }
    if let (Some(truth), Some(rule)) = (&truth, replay.rule.take()) {
        let static_alerts = rule.finish();
        let start = score::parse_ms(&truth.start).unwrap_or(from);
        let days = ((end - start) as f64 / 86_400_000.0).max(1.0 / 24.0);
        let (mine, outcomes) = score::score(&alerts, &replay.incidents, days);
        let (theirs, static_outcomes) = score::score(&static_alerts, &replay.incidents, days);
        let mut report = score_table(&mine, &theirs, args.static_threshold);
        report.push_str(&incident_table(
            &replay.incidents,
            &outcomes,
            &static_outcomes,
        ));
        match args.format {
            BacktestFormat::Json => eprint!("{report}"),
            BacktestFormat::Table => {
                out.push('\n');
                out.push_str(&report);
            }
        }
    }
    write_stdout(out.as_bytes())
}

fn slice_text(a: &Alert) -> String {
    if a.slice.is_empty() {
        return "(all)".into();
    }
    a.slice
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn alert_table(alerts: &[Alert]) -> String {
    let mut s = format!(
        "{:<24}  {:<24}  {:<48}  {:>7}  {:>7}  {:>6}  TOP CONTRIBUTOR\n",
        "STARTED", "RESOLVED", "SLICE", "RATE", "BASE", "SCORE"
    );
    for a in alerts {
        let resolved = match a.status {
            AlertStatus::Firing => "(firing)".to_string(),
            AlertStatus::Resolved => a.resolved_at.clone().unwrap_or_default(),
        };
        let top = a
            .contributors
            .first()
            .map(|c| format!("{}={} {:.0}%", c.dimension, c.value, c.share * 100.0))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{:<24}  {:<24}  {:<48}  {:>6.2}%  {:>6.2}%  {:>6.1}  {top}",
            a.started_at,
            resolved,
            slice_text(a),
            a.failure_rate * 100.0,
            a.baseline_rate * 100.0,
            a.score
        );
    }
    let _ = writeln!(s, "{} alerts", alerts.len());
    s
}

fn score_table(mine: &Score, theirs: &Score, threshold: f64) -> String {
    let pct = |x: f64| format!("{:.1}%", x * 100.0);
    let delay = |s: &Score| match (s.delay_quantile(0.5), s.delay_quantile(0.9)) {
        (Some(a), Some(b)) => format!("{a:.0} s / {b:.0} s"),
        _ => "-".into(),
    };
    let rows: Vec<(&str, String, String)> = vec![
        (
            "incidents at the recall bar",
            mine.qualifying.to_string(),
            theirs.qualifying.to_string(),
        ),
        (
            "detected",
            mine.detected.to_string(),
            theirs.detected.to_string(),
        ),
        ("recall", pct(mine.recall()), pct(theirs.recall())),
        ("alerts", mine.alerts.to_string(), theirs.alerts.to_string()),
        (
            "false alerts",
            mine.false_alerts.to_string(),
            theirs.false_alerts.to_string(),
        ),
        ("precision", pct(mine.precision()), pct(theirs.precision())),
        (
            "F1",
            format!("{:.3}", mine.f1()),
            format!("{:.3}", theirs.f1()),
        ),
        (
            "false alerts per day",
            format!("{:.2}", mine.false_per_day()),
            format!("{:.2}", theirs.false_per_day()),
        ),
        ("delay p50 / p90", delay(mine), delay(theirs)),
        (
            "top contributor correct",
            pct(mine.contributor_accuracy()),
            pct(theirs.contributor_accuracy()),
        ),
        (
            "weaker incidents caught too",
            mine.detected_weak.to_string(),
            theirs.detected_weak.to_string(),
        ),
    ];
    let rule = format!("static rule (> {:.0}% for 5m)", threshold * 100.0);
    let mut s = format!("{:<30}  {:>16}  {:>28}\n", "SCORE", "detector", rule);
    for (k, a, b) in rows {
        let _ = writeln!(s, "{k:<30}  {a:>16}  {b:>28}");
    }
    let _ = writeln!(s, "over {:.2} simulated days", mine.days);
    s
}

fn incident_table(
    incidents: &[Incident],
    mine: &[score::Outcome],
    theirs: &[score::Outcome],
) -> String {
    let mut s = format!(
        "\n{:<24}  {:<20}  {:<44}  {:>6}  {:>7}  {:>3}  {:>9}  {:>9}\n",
        "INCIDENT START",
        "SCENARIO",
        "SLICE / CAUSE",
        "RATIO",
        "EXCESS",
        "BAR",
        "DETECTOR",
        "STATIC"
    );
    let delay = |o: &score::Outcome| match o.delay_s {
        Some(d) if o.contributor_ok => format!("{d:.0} s"),
        Some(d) => format!("{d:.0} s*"),
        None => "missed".into(),
    };
    for ((inc, a), b) in incidents.iter().zip(mine).zip(theirs) {
        let mut slice: Vec<String> = inc
            .truth
            .slice
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if let Some(c) = &inc.truth.cause {
            slice.push(format!("/ {c}"));
        }
        let _ = writeln!(
            s,
            "{:<24}  {:<20}  {:<44}  {:>6.2}  {:>7.0}  {:>3}  {:>9}  {:>9}",
            inc.truth.start,
            inc.truth.scenario,
            slice.join(" "),
            inc.ratio(),
            inc.excess(),
            if inc.qualifies() { "yes" } else { "no" },
            delay(a),
            delay(b)
        );
    }
    s.push_str("(* = caught, but slice and top contributor do not name the incident)\n");
    s
}
