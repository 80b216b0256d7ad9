//! `orderpulse sql` and `orderpulse query` end to end: a data directory made
//! from `orderpulse simulate --output` through the real decoder and Parquet
//! sink, then the binary's output formats, exit codes and messages.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::ledger::store_ndjson;
use serde_json::Value;

fn orderpulse(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orderpulse"))
        .args(args)
        .env("ORDERPULSE_DATA_DIR", data_dir)
        .env("NO_COLOR", "1")
        .env_remove("ORDERPULSE_FORMAT")
        .env_remove("ORDERPULSE_QUERIES_DIR")
        .output()
        .expect("run orderpulse")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Simulated traffic decoded and flushed (1 000 records per flush) into
/// `data_dir`; returns (accepted events, rejected records).
fn simulated_data_dir(data_dir: &Path) -> (u64, u64) {
    let ndjson = data_dir.join("sim.ndjson");
    let out = orderpulse(
        data_dir,
        &[
            "simulate",
            "--start",
            "2026-11-01T23:30:00Z",
            "--duration",
            "1h",
            "--rate",
            "5",
            "--seed",
            "7",
            "--scenario",
            "payment-outage,malformed:share=0.02,oversized=0",
            "--output",
            ndjson.to_str().expect("utf-8 path"),
        ],
    );
    assert!(out.status.success(), "simulate: {}", text(&out.stderr));
    let stats = store_ndjson(&ndjson, data_dir, b"it-sql-secret-0123456789");
    (stats.accepted, stats.rejected_total())
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

#[test]
fn sql_and_saved_queries_print_tables_csv_and_json() {
    let dir = tempfile::tempdir().expect("dir");
    let (accepted, rejected) = simulated_data_dir(dir.path());
    assert!(
        accepted > 10_000 && rejected > 100,
        "{accepted} / {rejected}"
    );

    // JSON: columns and rows, numbers as numbers.
    let out = orderpulse(
        dir.path(),
        &[
            "sql",
            "--format",
            "json",
            "SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM order_attempts",
        ],
    );
    let v = json(&out);
    assert_eq!(v["columns"], serde_json::json!(["n", "ids"]));
    assert_eq!(v["rows"][0][0].as_u64(), Some(accepted));
    assert_eq!(v["rows"][0][1].as_u64(), Some(accepted));
    let err = text(&out.stderr);
    assert!(err.contains("1 row in") && err.contains(" s"), "{err}");

    let v = json(&orderpulse(
        dir.path(),
        &[
            "sql",
            "--format",
            "json",
            "SELECT count(*) FROM rejected_events",
        ],
    ));
    assert_eq!(v["rows"][0][0].as_u64(), Some(rejected));

    // The table: aligned, with the header and NULL shown.
    let out = orderpulse(
        dir.path(),
        &[
            "sql",
            "SELECT channel, count(*) AS attempts, NULL AS nothing FROM order_attempts \
             GROUP BY channel ORDER BY channel",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("+-") && lines[1].contains("| channel"),
        "{table}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.chars().count() == lines[0].chars().count()),
        "{table}"
    );
    assert!(
        table.contains("| android_app") && table.contains("NULL"),
        "{table}"
    );
    assert!(
        text(&out.stderr).contains("5 rows in"),
        "{}",
        text(&out.stderr)
    );

    // CSV: a header line, then one line per row; dictionaries decoded.
    let out = orderpulse(
        dir.path(),
        &[
            "sql",
            "--format",
            "csv",
            "SELECT channel, count(*) AS attempts FROM order_attempts GROUP BY channel ORDER BY channel",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    let mut csv_lines = csv.lines();
    assert_eq!(csv_lines.next(), Some("channel,attempts"));
    let total: u64 = csv_lines
        .map(|l| {
            l.split(',')
                .nth(1)
                .and_then(|n| n.parse::<u64>().ok())
                .expect("count")
        })
        .sum();
    assert_eq!(total, accepted);

    // A saved query agrees with plain SQL over the same window.
    let window = [
        "--param",
        "start=2026-11-01T23:30:00Z",
        "--param",
        "end=2026-11-02T00:30:00Z",
    ];
    let mut args = vec!["query", "failures_by_cause", "--format", "json"];
    args.extend(window);
    let v = json(&orderpulse(dir.path(), &args));
    let from_saved: u64 = v["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r[1].as_u64().expect("failures"))
        .sum();
    let v = json(&orderpulse(
        dir.path(),
        &[
            "sql",
            "--format",
            "json",
            "SELECT count(*) FROM order_attempts WHERE outcome = 'failure' \
             AND ts >= TIMESTAMP '2026-11-01T23:30:00Z' AND ts < TIMESTAMP '2026-11-02T00:30:00Z'",
        ],
    ));
    assert_eq!(Some(from_saved), v["rows"][0][0].as_u64());
    assert!(from_saved > 0);

    // A bucketed trend over the same window, as CSV.
    let mut args = vec![
        "query",
        "failure_rate_trend",
        "--format",
        "csv",
        "--param",
        "bucket=10 minutes",
    ];
    args.extend(window);
    let out = orderpulse(dir.path(), &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    assert!(
        csv.starts_with("bucket,failure_cause,attempts,failures,failure_rate\n"),
        "{csv}"
    );
    assert!(csv.contains("2026-11-01T23:40:00Z,"), "{csv}");
}

#[test]
fn query_list_names_every_saved_query_with_its_parameters() {
    let dir = tempfile::tempdir().expect("dir");
    let out = orderpulse(dir.path(), &["query", "--list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list = text(&out.stdout);
    for name in [
        "failures_by_cause",
        "failures_by_channel",
        "failures_by_payment_method",
        "failure_rate_trend",
        "cause_channel_payment",
        "top_error_codes",
        "retry_recovery_rate",
        "failure_rate_by_app_version",
        "latency_percentiles_by_channel",
        "rejected_by_reason",
    ] {
        assert!(
            list.contains(&format!("{name}\n")),
            "{name} missing:\n{list}"
        );
    }
    assert!(
        list.contains("--param bucket=<interval>  default 1 hour"),
        "{list}"
    );
}

#[test]
fn errors_exit_non_zero_with_one_clear_line() {
    let dir = tempfile::tempdir().expect("dir");
    let cases: &[(&[&str], &str)] = &[
        (&["sql", "DROP TABLE order_attempts"], "read-only"),
        (
            &["sql", "COPY (SELECT 1) TO '/tmp/orderpulse-it-copy.csv'"],
            "read-only",
        ),
        (&["sql", "SELEC 1"], "SELEC"),
        (&["sql", "SELECT nope FROM order_attempts"], "nope"),
        (&["sql", ""], "no statement"),
        (&["query", "nope"], "no saved query named `nope`"),
        (
            &["query", "failures_by_cause", "--param", "start=yesterday"],
            "parameter `start`",
        ),
        (
            &["query", "failures_by_cause", "--param", "bucket=1h"],
            "unknown parameter",
        ),
    ];
    for (args, needle) in cases {
        let out = orderpulse(dir.path(), args);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    assert!(!Path::new("/tmp/orderpulse-it-copy.csv").exists());
    // A malformed flag is clap's usage error (exit 2).
    let out = orderpulse(
        dir.path(),
        &["query", "failures_by_cause", "--param", "start"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // A broken saved query in --queries-dir stops start-up, naming the file.
    let queries = tempfile::tempdir().expect("dir");
    std::fs::write(
        queries.path().join("bad.sql"),
        "-- bad: x\n-- column: n bigint\nSELECT nope\n",
    )
    .expect("write");
    let out = orderpulse(
        dir.path(),
        &[
            "sql",
            "--queries-dir",
            queries.path().to_str().expect("utf-8"),
            "SELECT 1",
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("saved query `bad`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn minutes_forms_and_backfill_from_the_command_line() {
    let dir = tempfile::tempdir().expect("dir");
    simulated_data_dir(dir.path());
    // Data stored before minutes files existed: `backfill` writes them.
    let minutes = dir.path().join("order_attempts_minutes");
    let written = std::fs::read_dir(&minutes)
        .expect("ingest wrote minutes files")
        .count();
    assert!(written > 0);
    std::fs::remove_dir_all(&minutes).expect("remove");
    let out = orderpulse(dir.path(), &["backfill"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stderr);
    assert!(!said.starts_with("0 minutes files"), "{said}");
    assert!(said.contains("minutes files written"), "{said}");
    assert_eq!(
        std::fs::read_dir(&minutes).expect("written").count(),
        written
    );
    let again = orderpulse(dir.path(), &["backfill"]);
    assert!(
        text(&again.stderr).starts_with("0 minutes files written"),
        "{}",
        text(&again.stderr)
    );

    // The same rows either way; stderr says which form ran.
    let window = [
        "--param",
        "start=2026-11-01T23:30:00Z",
        "--param",
        "end=2026-11-02T00:17:00Z",
    ];
    let run = |form: &str| {
        let mut args = vec![
            "query",
            "failures_by_channel",
            "--format",
            "csv",
            "--form",
            form,
        ];
        args.extend(window);
        let out = orderpulse(dir.path(), &args);
        assert!(out.status.success(), "{form}: {}", text(&out.stderr));
        (text(&out.stdout), text(&out.stderr))
    };
    let (auto, auto_note) = run("auto");
    let (events, events_note) = run("events");
    assert_eq!(auto, events);
    assert!(auto.lines().count() > 2, "{auto}");
    assert!(auto_note.contains("per-minute counts"), "{auto_note}");
    assert!(!events_note.contains("per-minute"), "{events_note}");

    // A bucket that is not whole minutes has no minutes form.
    let mut args = vec![
        "query",
        "failure_rate_trend",
        "--form",
        "minutes",
        "--param",
        "bucket=90s",
    ];
    args.extend(window);
    let out = orderpulse(dir.path(), &args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no minutes form"),
        "{}",
        text(&out.stderr)
    );
    let out = orderpulse(
        dir.path(),
        &["query", "failures_by_channel", "--form", "fast"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}
