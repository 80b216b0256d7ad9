//! `orderpulse query <name> --param k=v`: run a saved query
//! (`queries/<name>.sql`), or list them with `--list`.

use analytics::Form;
use anyhow::bail;
use clap::Args;

use super::sql::{AnalyticsArgs, one_line, write_stdout};

const AFTER_HELP: &str = "\
PARAMETERS:
  start, end   RFC 3339 (2026-11-01T00:00:00+08:00) or relative: now, now-24h,
               now-7d. The window is start <= ts < end; default the last 24 h.
  bucket       a length: 1 minute, 5 minutes, 1 hour, 1 day (or 1m, 1h, 1d).
  Values are bound as typed parameters, never pasted into the SQL.

MINUTES FORMS:
  The counting queries (failures_by_*, cause_channel_payment, top_error_codes,
  failure_rate_by_app_version, failure_rate_trend with a bucket of whole
  minutes, rejected_by_reason) are answered from the per-minute counts in
  order_attempts_minutes (rejected_events_minutes) for the window's whole
  minutes, and from the events for the part-minutes at its ends: the same
  rows, read from about a thousandth of the data. latency_percentiles_by_channel
  reads whole hours from order_attempts_latency_hours (exact percentiles);
  retry_recovery_rate finds its failed orders in order_attempts_failures
  instead of scanning every attempt. The summary on stderr says when;
  --form events runs the query as written (queries/<name>.sql).

EXAMPLES:
  orderpulse query --list
  orderpulse query failures_by_cause --param start=now-1h
  orderpulse query failure_rate_trend --param bucket='5 minutes' --format csv";

/// Run a saved query by name, or list them.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct QueryArgs {
    /// The saved query's name (see --list).
    #[arg(value_name = "NAME", required_unless_present = "list")]
    name: Option<String>,

    /// A parameter NAME=VALUE, repeatable (e.g. --param start=now-1h).
    /// In the environment variable, separate several with ';'.
    #[arg(
        long = "param",
        short = 'p',
        env = "ORDERPULSE_QUERY_PARAMS",
        value_name = "NAME=VALUE",
        value_parser = parse_param,
        value_delimiter = ';'
    )]
    params: Vec<(String, String)>,

    /// Which text runs: auto (the minutes form where the query has one and
    /// the parameters allow it), events (the query over order_attempts
    /// alone), minutes (the minutes form, or an error).
    #[arg(
        long,
        value_enum,
        default_value = "auto",
        env = "ORDERPULSE_QUERY_FORM"
    )]
    form: FormArg,

    /// List the saved queries with their purpose, parameters and columns.
    #[arg(long, env = "ORDERPULSE_QUERY_LIST", conflicts_with = "name")]
    list: bool,

    #[command(flatten)]
    analytics: AnalyticsArgs,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FormArg {
    Auto,
    Events,
    Minutes,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("`{s}`: expected NAME=VALUE, e.g. start=now-1h")),
    }
}

pub(crate) async fn run(args: QueryArgs) -> anyhow::Result<()> {
    let analytics = args.analytics.start().await?;
    if args.list {
        let mut text = String::new();
        for q in analytics.saved_queries().iter() {
            text.push_str(&format!("{}\n    {}\n", q.name, q.purpose));
            for p in &q.params {
                text.push_str(&format!(
                    "    --param {}=<{}>  default {}  {}\n",
                    p.name,
                    p.kind.as_str(),
                    p.default,
                    p.description
                ));
            }
            let columns: Vec<&str> = q.columns.iter().map(|c| c.name.as_str()).collect();
            text.push_str(&format!("    columns: {}\n\n", columns.join(", ")));
        }
        return write_stdout(text.as_bytes());
    }
    let Some(name) = args.name else {
        bail!("name a saved query, or use --list");
    };
    let out = analytics
        .query_as(
            &name,
            &args.params,
            match args.form {
                FormArg::Auto => Form::Auto,
                FormArg::Events => Form::Events,
                FormArg::Minutes => Form::Minutes,
            },
        )
        .await
        .map_err(one_line)?;
    args.analytics.print(&out)
}
