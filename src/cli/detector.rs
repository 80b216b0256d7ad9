//! The spike detector's flags, shared by `serve` (and `demo`) and meant for
//! `backtest`: the same names, environment variables and defaults wherever
//! the detector runs, so a setting tuned in a backtest is the one `serve`
//! takes. The defaults are `DetectorConfig::default()` (a test keeps them
//! equal).

use std::path::PathBuf;
use std::time::Duration;

use analytics::detect::{DetectorConfig, parse_silences};
use anyhow::Context;
use clap::Args;
use model::runbooks::Runbooks;

/// How the spike detector decides.
#[derive(Debug, Clone, Args)]
pub(crate) struct DetectorArgs {
    /// How often the detector evaluates, in event time (and, in serve, on
    /// the wall clock), e.g. 30s.
    #[arg(long, env = "ORDERPULSE_ALERT_INTERVAL", default_value = "30s", value_parser = parse_interval)]
    pub(crate) alert_interval: Duration,

    /// The recent window compared with each slice's baseline (whole minutes).
    #[arg(long, env = "ORDERPULSE_ALERT_WINDOW", default_value = "5m", value_parser = parse_minutes)]
    pub(crate) alert_window: Duration,

    /// How long a slice must keep breaching before it fires (0s: at once; a
    /// breach already needs a score of --alert-z).
    #[arg(long = "alert-for", env = "ORDERPULSE_ALERT_FOR", default_value = "0s", value_parser = parse_span)]
    pub(crate) alert_for: Duration,

    /// With an --alert-for, a breach scoring at least this fires at once,
    /// without waiting it out (0 turns this off).
    #[arg(long, env = "ORDERPULSE_ALERT_STRONG_Z", default_value_t = DetectorConfig::default().strong_z, value_parser = parse_positive)]
    pub(crate) alert_strong_z: f64,

    /// How long a firing slice must stay back to normal before it resolves.
    #[arg(long, env = "ORDERPULSE_ALERT_QUIET", default_value = "3m", value_parser = parse_span)]
    pub(crate) alert_quiet: Duration,

    /// Fewest attempts in the window for a verdict on a slice.
    #[arg(long, env = "ORDERPULSE_ALERT_MIN_ATTEMPTS", default_value_t = DetectorConfig::default().min_attempts)]
    pub(crate) alert_min_attempts: u64,

    /// Fewest failures above the baseline's prediction for a slice to fire.
    #[arg(long, env = "ORDERPULSE_ALERT_MIN_EXCESS", default_value_t = DetectorConfig::default().min_excess, value_parser = parse_positive)]
    pub(crate) alert_min_excess: f64,

    /// The score a slice's window must reach to breach: the likelihood-ratio
    /// score of its failures against its baseline (z-like, dispersion-adjusted).
    #[arg(long, env = "ORDERPULSE_ALERT_Z", default_value_t = DetectorConfig::default().z, value_parser = parse_positive)]
    pub(crate) alert_z: f64,

    /// The window's failure rate must be at least the baseline times this.
    #[arg(long, env = "ORDERPULSE_ALERT_MIN_RATIO", default_value_t = DetectorConfig::default().min_ratio, value_parser = parse_positive)]
    pub(crate) alert_min_ratio: f64,

    /// Silences (maintenance windows), a TOML file of [[silence]] entries
    /// with slice = { dimension = "value" }, start, end (RFC 3339), comment.
    #[arg(long, env = "ORDERPULSE_SILENCES", value_name = "FILE")]
    pub(crate) silences: Option<PathBuf>,
}

impl DetectorArgs {
    /// The detector's settings, with `runbooks` for the alerts' text.
    pub(crate) fn config(&self, runbooks: &Runbooks) -> anyhow::Result<DetectorConfig> {
        let mut cfg = DetectorConfig {
            interval_ms: ms(self.alert_interval),
            window_ms: ms(self.alert_window),
            for_ms: ms(self.alert_for),
            strong_z: self.alert_strong_z,
            quiet_ms: ms(self.alert_quiet),
            min_attempts: self.alert_min_attempts,
            min_excess: self.alert_min_excess,
            z: self.alert_z,
            min_ratio: self.alert_min_ratio,
            runbooks: runbooks.clone(),
            ..DetectorConfig::default()
        };
        cfg.short_window_ms = cfg.short_window_ms.min(cfg.window_ms);
        if let Some(path) = &self.silences {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading --silences {}", path.display()))?;
            cfg.silences = parse_silences(&text)
                .map_err(|e| anyhow::anyhow!("--silences {}: {e}", path.display()))?;
        }
        cfg.validate().map_err(|e| anyhow::anyhow!(e))?;
        Ok(cfg)
    }
}

fn parse_span(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e} (e.g. 30s, 5m)"))?;
    if d > Duration::from_secs(86_400) {
        return Err(format!("`{s}`: at most 24h"));
    }
    Ok(d)
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = parse_span(s)?;
    if d < Duration::from_secs(1) || d.subsec_nanos() != 0 {
        return Err(format!("`{s}`: whole seconds, at least 1s"));
    }
    Ok(d)
}

fn parse_minutes(s: &str) -> Result<Duration, String> {
    let d = parse_span(s)?;
    if d.is_zero() || d.as_secs() % 60 != 0 || d.subsec_nanos() != 0 {
        return Err(format!("`{s}`: whole minutes, at least 1m"));
    }
    Ok(d)
}

fn parse_positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("`{s}`: expected a number >= 0")),
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        detector: DetectorArgs,
    }

    fn parse(args: &[&str]) -> Result<DetectorArgs, String> {
        Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .map(|c| c.detector)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_flag_defaults_are_the_detectors_defaults() {
        let cfg = parse(&[]).unwrap().config(&Runbooks::builtin()).unwrap();
        let want = DetectorConfig::default();
        assert_eq!(
            (
                cfg.interval_ms,
                cfg.window_ms,
                cfg.short_window_ms,
                cfg.for_ms,
                cfg.quiet_ms
            ),
            (
                want.interval_ms,
                want.window_ms,
                want.short_window_ms,
                want.for_ms,
                want.quiet_ms
            )
        );
        assert_eq!(
            (
                cfg.min_attempts,
                cfg.min_excess,
                cfg.z,
                cfg.min_ratio,
                cfg.strong_z
            ),
            (
                want.min_attempts,
                want.min_excess,
                want.z,
                want.min_ratio,
                want.strong_z
            )
        );
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        for (args, why) in [
            (&["--alert-interval", "500ms"][..], "whole seconds"),
            (&["--alert-interval", "2d"], "at most 24h"),
            (&["--alert-window", "90s"], "whole minutes"),
            (&["--alert-for", "soon"], "e.g. 30s"),
            (&["--alert-min-excess=-1"], ">= 0"),
            (&["--alert-z", "NaN"], ">= 0"),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.contains(why), "{args:?}: {err}");
        }
        let weak = parse(&["--alert-strong-z", "2"])
            .unwrap()
            .config(&Runbooks::builtin())
            .unwrap_err();
        assert!(format!("{weak:#}").contains("strong z"), "{weak:#}");
        let missing = parse(&["--silences", "/nonexistent/silences.toml"])
            .unwrap()
            .config(&Runbooks::builtin())
            .unwrap_err();
        assert!(
            format!("{missing:#}").contains("/nonexistent/silences.toml"),
            "{missing:#}"
        );
    }
}
