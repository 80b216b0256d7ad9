//! `orderpulse backtest` end to end: a simulated run with one clear
//! incident and one decoy, replayed with its ground truth; and what it says
//! about bad input.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn orderpulse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orderpulse"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("ORDERPULSE_DATA_DIR")
        .output()
        .expect("run orderpulse")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Three hours from 09:00 Shanghai: a promo surge (traffic x3, rates flat)
/// at 1 h, an Alipay outage (declines x25) at 2 h.
fn simulate(dir: &Path) -> (String, String) {
    let events = dir.join("events.ndjson");
    let truth = dir.join("truth.json");
    let out = orderpulse(&[
        "simulate",
        "--start",
        "2026-11-01T09:00:00+08:00",
        "--duration",
        "3h",
        "--rate",
        "20",
        "--seed",
        "7",
        "--scenario",
        "promo-surge:at=1h,for=20m,factor=3,payment-outage:at=2h,for=15m,method=alipay,factor=25",
        "--output",
        events.to_str().unwrap(),
        "--truth",
        truth.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "simulate: {}", text(&out.stderr));
    (
        events.to_string_lossy().into_owned(),
        truth.to_string_lossy().into_owned(),
    )
}

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
        .timestamp_millis()
}

#[test]
fn backtest_catches_the_outage_with_its_slice_and_contributor_and_not_the_decoy() {
    let dir = tempfile::tempdir().unwrap();
    let (events, truth) = simulate(dir.path());
    let out = orderpulse(&[
        "backtest", "--input", &events, "--truth", &truth, "--format", "json",
    ]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "backtest: {err}");
    let truth: Value = serde_json::from_str(&std::fs::read_to_string(&truth).unwrap()).unwrap();
    let incidents = truth["incidents"].as_array().unwrap();
    let window = |scenario: &str| {
        let i = incidents
            .iter()
            .find(|i| i["scenario"] == scenario)
            .unwrap_or_else(|| panic!("no {scenario} in the truth"));
        (
            ms(i["start"].as_str().unwrap()),
            ms(i["end"].as_str().unwrap()),
        )
    };
    let (outage_start, outage_end) = window("payment-outage");
    let (surge_start, surge_end) = window("promo-surge");

    let alerts: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    for a in &alerts {
        for key in [
            "id",
            "status",
            "slice",
            "started_at",
            "resolved_at",
            "window_seconds",
            "attempts",
            "failures",
            "failure_rate",
            "baseline_rate",
            "score",
            "contributors",
            "runbook",
        ] {
            assert!(a.get(key).is_some(), "{key} missing: {a}");
        }
    }
    let started = |a: &Value| ms(a["started_at"].as_str().unwrap());
    // The outage: caught within 2 minutes, naming Alipay and declines.
    let caught: Vec<&Value> = alerts
        .iter()
        .filter(|a| (outage_start..outage_end).contains(&started(a)))
        .collect();
    assert!(!caught.is_empty(), "outage missed: {alerts:#?}\n{err}");
    let first = caught[0];
    assert!(started(first) - outage_start <= 120_000, "late: {first}");
    let mut named: Vec<(String, String)> = first["slice"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let top = &first["contributors"][0];
    named.push((
        top["dimension"].as_str().unwrap_or_default().to_string(),
        top["value"].as_str().unwrap_or_default().to_string(),
    ));
    for want in [
        ("payment_method", "alipay"),
        ("failure_cause", "payment_declined"),
    ] {
        assert!(
            named.iter().any(|(k, v)| k == want.0 && v == want.1),
            "{want:?} not named by {first}"
        );
    }
    assert!(
        first["runbook"].as_str().unwrap().contains("declined"),
        "{first}"
    );
    assert_eq!(first["status"], "resolved", "{first}");
    // The decoy: nothing during the surge (nor in the 5 minutes after).
    let during_surge: Vec<&Value> = alerts
        .iter()
        .filter(|a| (surge_start..surge_end + 300_000).contains(&started(a)))
        .collect();
    assert!(
        during_surge.is_empty(),
        "the promo surge alerted: {during_surge:#?}"
    );
    // No alert outside the outage at all on this run.
    assert_eq!(caught.len(), alerts.len(), "{alerts:#?}");
    // The score, on stderr in JSON mode.
    let recall = err
        .lines()
        .find(|l| l.starts_with("recall"))
        .unwrap_or_else(|| panic!("no score in {err}"));
    assert!(
        recall.split_whitespace().nth(1) == Some("100.0%"),
        "{recall}"
    );
    assert!(err.contains("static rule"), "{err}");
}

#[test]
fn backtest_skips_and_counts_malformed_lines_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let (events, truth) = simulate(dir.path());
    // A few thousand good lines with broken ones between them.
    let good: Vec<String> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .take(3_000)
        .map(str::to_string)
        .collect();
    let mixed = dir.path().join("mixed.ndjson");
    let mut f = std::fs::File::create(&mixed).unwrap();
    for (i, line) in good.iter().enumerate() {
        writeln!(f, "{line}").unwrap();
        if i == 10 {
            writeln!(f, "{{not json").unwrap();
            writeln!(f, "[1, 2, 3]").unwrap();
            writeln!(f).unwrap();
            writeln!(f, "{{\"event_id\": \"x\", \"ts\": \"yesterday\", \"outcome\": \"success\", \"channel\": \"web\"}}").unwrap();
            // A 3 MiB line: over the 1 MiB event limit, skipped unread.
            writeln!(f, "{{\"event_id\": \"{}\"}}", "a".repeat(3 << 20)).unwrap();
            f.write_all(&[0xff, 0xfe, b'\n']).unwrap();
        }
    }
    drop(f);
    let mixed = mixed.to_string_lossy().into_owned();
    let out = orderpulse(&["backtest", "--input", &mixed]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("3006 lines: 3000 accepted, 5 rejected, 0 duplicates, 1 blank"),
        "{err}"
    );
    for reason in [
        "invalid_json 1",
        "not_an_object 1",
        "invalid_timestamp 1",
        "message_too_large 1",
        "invalid_utf8 1",
    ] {
        assert!(err.contains(reason), "{reason} not in {err}");
    }
    assert!(
        text(&out.stdout).contains("alerts"),
        "{}",
        text(&out.stdout)
    );

    let garbage = dir.path().join("garbage.ndjson");
    std::fs::write(&garbage, "nope\n{}\n").unwrap();
    let not_json = dir.path().join("truth.txt");
    std::fs::write(&not_json, "not a truth file").unwrap();
    let g = garbage.to_string_lossy().into_owned();
    let nj = not_json.to_string_lossy().into_owned();
    let missing = dir
        .path()
        .join("missing.ndjson")
        .to_string_lossy()
        .into_owned();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--input", &missing], "opening --input"),
        (vec!["--input", &g], "no valid events"),
        (
            vec!["--input", &events, "--truth", &nj],
            "not a simulator truth file",
        ),
        (
            vec!["--input", &events, "--truth", &missing],
            "reading --truth",
        ),
        (
            vec![
                "--input",
                &events,
                "--from",
                "2026-11-02T00:00:00Z",
                "--to",
                "2026-11-01T00:00:00Z",
            ],
            "--from must be before --to",
        ),
        (vec!["--input", &events, "--from", "tuesday"], "RFC 3339"),
        (
            vec!["--input", &events, "--alert-interval", "0s"],
            "at least 1s",
        ),
        (
            vec!["--input", &events, "--alert-interval", "soon"],
            "e.g. 30s",
        ),
        (
            vec!["--input", &events, "--alert-window", "90s"],
            "whole minutes",
        ),
        (
            vec!["--input", &events, "--static-threshold", "150"],
            "percentage",
        ),
        (vec!["--from", "2026-11-01T00:00:00Z"], "--from and --to"),
        (vec!["--input", &events, "--silences", &nj], "--silences"),
        (
            vec!["--input", &events, "--truth", &truth, "--format", "yaml"],
            "invalid value",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec!["backtest"];
        all.extend(args.iter().copied());
        let out = orderpulse(&all);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(want), "{args:?}: {want:?} not in {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn backtest_over_the_data_dir_catches_what_the_file_replay_catches() {
    let dir = tempfile::tempdir().unwrap();
    let (events, truth) = simulate(dir.path());
    let data = dir.path().join("data");
    crate::support::ledger::store_ndjson(
        Path::new(&events),
        &data,
        b"it-backtest-secret-0123456789",
    );
    let data = data.to_string_lossy().into_owned();
    let run = |extra: &[&str]| {
        let mut args = vec!["backtest", "--truth", &truth, "--format", "json"];
        args.extend_from_slice(extra);
        let out = orderpulse(&args);
        let err = text(&out.stderr);
        assert!(out.status.success(), "{args:?}: {err}");
        let alerts: Vec<Value> = text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (alerts, err)
    };
    let (from_dir, err) = run(&[
        "--data-dir",
        &data,
        "--from",
        "2026-11-01T01:00:00Z",
        "--to",
        "2026-11-01T04:00:00Z",
    ]);
    let (from_file, _) = run(&["--input", &events]);
    assert!(err.contains("aggregate rows"), "{err}");
    let recall = err
        .lines()
        .find(|l| l.starts_with("recall"))
        .unwrap_or_default();
    assert_eq!(recall.split_whitespace().nth(1), Some("100.0%"), "{err}");
    let slices = |a: &[Value]| a.iter().map(|x| x["slice"].clone()).collect::<Vec<_>>();
    assert!(!from_dir.is_empty());
    assert_eq!(
        slices(&from_dir),
        slices(&from_file),
        "{from_dir:#?}\n{from_file:#?}"
    );
}
