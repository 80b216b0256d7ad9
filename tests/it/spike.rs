//! Spike alerts live: `orderpulse serve` on a real broker while the
//! simulator produces in real time, steady traffic with a payment outage on
//! Alipay in the middle, after half an hour of steady history stored in the
//! data directory (baselines need history; `--alert-history` reads it). The alert on that slice must fire within two
//! detector intervals of the outage's onset (plus the counting lateness and
//! the test's polling), name the cause as its top contributor, carry the
//! runbook, land in `/api/alerts`, the `alerts` table and
//! `orderpulse_alerts_firing`, resolve after the outage ends, and nothing
//! else may fire.

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use crate::support::TansuBroker;
use crate::support::http;
use crate::support::ledger::store_ndjson_at;
use crate::support::process::{Running, free_addr};

/// Not `order-attempts`: the stored history is that topic's (partition 0).
const TOPIC: &str = "live-attempts";
const SECRET: &str = "spike-test-secret-0123456789";
const INTERVAL_S: u64 = 10;
/// `--alert-lateness`: events are counted once they are this old.
const LATENESS_S: u64 = 5;

fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

fn rfc3339_ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s:?}: {e}"))
        .timestamp_millis()
}

/// An alert as first seen by the poller, with the wall-clock time.
struct Seen {
    at_ms: i64,
    alert: Value,
}

#[test]
fn an_outage_fires_one_alert_within_two_intervals_and_resolves_after_it() {
    let broker = TansuBroker::start();
    broker.create_topic(TOPIC, 2);
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let log = dir.path().join("serve.log");

    // 30 minutes of steady history up to now, stored as ingest would.
    let history = dir.path().join("history.ndjson");
    let start = chrono::Utc::now() - chrono::Duration::minutes(30);
    let out = Command::new(env!("CARGO_BIN_EXE_orderpulse"))
        .args([
            "simulate",
            "--start",
            &start.to_rfc3339(),
            "--duration",
            "30m",
        ])
        .args(["--rate", "40", "--flat", "--seed", "20", "--output"])
        .arg(&history)
        .output()
        .expect("simulate history");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored = store_ndjson_at(
        &history,
        &data_dir,
        SECRET.as_bytes(),
        chrono::Utc::now().timestamp_millis(),
    );
    assert!(stored.accepted > 50_000, "{stored:?}");
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let addr = free_addr();
    let mut serve = Running(
        Command::new(env!("CARGO_BIN_EXE_orderpulse"))
            .args(["serve", "--brokers", &broker.bootstrap(), "--topic", TOPIC])
            .args(["--data-dir", data_dir.to_str().unwrap(), "--dlq-topic", ""])
            .args(["--http-addr", &addr.to_string(), "--pg-addr", ""])
            .args(["--flush-interval", "5s"])
            .args(["--alert-interval", &format!("{INTERVAL_S}s")])
            .args([
                "--alert-window",
                "1m",
                "--alert-for",
                "0s",
                "--alert-quiet",
                "15s",
            ])
            .args([
                "--alert-lateness",
                &format!("{LATENESS_S}s"),
                "--alert-history",
                "1h",
            ])
            .env("ORDERPULSE_USER_KEY_SECRET", SECRET)
            .env("ORDERPULSE_LOG", "info,dashboards::alerting=debug")
            .env_remove("ORDERPULSE_API_TOKEN")
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("start serve"),
    );
    serve.wait_ready(addr, &log);
    let body = serde_json::to_vec(&json!({
        "sql": "SELECT count(*) FROM order_attempts"
    }))
    .unwrap();
    let visible = http::post_json(addr, "/api/sql", &[], &body)
        .expect("answer")
        .json();
    assert_eq!(
        visible["rows"][0][0].as_u64(),
        Some(stored.accepted),
        "the stored history is not queryable: {visible}"
    );
    let before = http::get(addr, "/api/alerts", &[]).expect("answer").json();
    assert_eq!(before["enabled"], true, "{before}");
    assert_eq!(before["alerts"], json!([]), "{before}");

    // Real time: 30 s steady, 30 s of Alipay declines (40 % of its
    // attempts), then 120 s steady (the window must clear, then stay quiet; a loaded
    // CI machine delays some events past the lateness, so leave room).
    let truth = dir.path().join("truth.json");
    let sim_log = dir.path().join("simulate.log");
    let mut simulate = Command::new(env!("CARGO_BIN_EXE_orderpulse"))
        .args([
            "simulate",
            "--brokers",
            &broker.bootstrap(),
            "--topic",
            TOPIC,
        ])
        .args([
            "--rate",
            "40",
            "--flat",
            "--duration",
            "180s",
            "--seed",
            "21",
        ])
        .args([
            "--scenario",
            "payment-outage:method=alipay,at=30s,for=30s,rate=0.4",
        ])
        .arg("--truth")
        .arg(&truth)
        .stdout(Stdio::null())
        .stderr(File::create(&sim_log).unwrap())
        .spawn()
        .expect("start simulate");

    // Poll /api/alerts; note when each alert id is first seen firing and
    // resolved, and the firing gauge while something fires.
    let mut firing: Vec<Seen> = Vec::new();
    let mut resolved: Vec<Seen> = Vec::new();
    let mut gauge_while_firing = None;
    let mut sim_done: Option<Instant> = None;
    loop {
        if sim_done.is_none() && simulate.try_wait().expect("simulate").is_some() {
            sim_done = Some(Instant::now());
        }
        let now = epoch_ms(SystemTime::now());
        if let Some(r) = http::get(addr, "/api/alerts", &[]).filter(|r| r.status == 200) {
            for alert in r.json()["alerts"].as_array().cloned().unwrap_or_default() {
                let list = if alert["status"] == "firing" {
                    &mut firing
                } else {
                    &mut resolved
                };
                if !list.iter().any(|s| s.alert["id"] == alert["id"]) {
                    eprintln!("{now}: {} {}", alert["status"], alert["slice"]);
                    list.push(Seen {
                        at_ms: now,
                        alert: alert.clone(),
                    });
                }
            }
        }
        if !firing.is_empty() && resolved.len() < firing.len() && gauge_while_firing.is_none() {
            let metrics = http::get(addr, "/metrics", &[]).expect("metrics").text();
            gauge_while_firing = metrics
                .lines()
                .find(|l| l.starts_with("orderpulse_alerts_firing "))
                .map(str::to_string);
        }
        let all_resolved = !firing.is_empty() && resolved.len() >= firing.len();
        if sim_done.is_some_and(|t| all_resolved || t.elapsed() > Duration::from_secs(45)) {
            break;
        }
        assert!(
            sim_done.is_none_or(|t| t.elapsed() < Duration::from_secs(60)),
            "the loop outlived the simulator"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let sim_status = simulate.wait().expect("simulate");
    assert!(
        sim_status.success(),
        "simulate: {}",
        std::fs::read_to_string(&sim_log).unwrap_or_default()
    );

    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(&truth).expect("truth")).expect("truth JSON");
    let incident = &truth["incidents"][0];
    let (onset, end) = (
        rfc3339_ms(incident["start"].as_str().unwrap()),
        rfc3339_ms(incident["end"].as_str().unwrap()),
    );
    let describe = |list: &[Seen]| -> String {
        list.iter()
            .map(|s| {
                format!(
                    "{} at onset{:+} ms: {}",
                    s.alert["status"],
                    s.at_ms - onset,
                    s.alert["slice"]
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };

    // Only the outage fired: on Alipay × declines, on Alipay (declines its
    // top contributor), or on declines (Alipay its top contributor); nothing
    // before the onset.
    assert!(
        !firing.is_empty(),
        "no alert fired; serve log:\n{}",
        log_text()
    );
    for seen in &firing {
        let (slice, top) = (
            &seen.alert["slice"],
            &seen.alert["contributors"][0]["value"],
        );
        let (method, cause) = (&slice["payment_method"], &slice["failure_cause"]);
        let outage = (method == "alipay" && cause == "payment_declined")
            || (method == "alipay" && cause.is_null() && *top == "payment_declined")
            || (cause == "payment_declined" && method.is_null() && *top == "alipay");
        assert!(outage, "a false alert:\n{}", describe(&firing));
        assert!(
            seen.at_ms > onset,
            "fired before the onset:\n{}",
            describe(&firing)
        );
    }
    let first = &firing[0];
    let delay = first.at_ms - onset;
    eprintln!("first alert seen {delay} ms after the onset (interval {INTERVAL_S} s)");
    // Two intervals, plus the counting lateness and the 1 s poll.
    assert!(
        delay <= (2 * INTERVAL_S as i64 + LATENESS_S as i64 + 1) * 1000,
        "fired {delay} ms after the onset:\n{}",
        describe(&firing)
    );
    let alert = &first.alert;
    assert!(
        alert["failure_rate"].as_f64() > alert["baseline_rate"].as_f64(),
        "{alert}"
    );
    assert!(
        alert["runbook"]
            .as_str()
            .unwrap_or("")
            .contains("payment provider"),
        "{alert}"
    );
    let gauge = gauge_while_firing.expect("the gauge was read while firing");
    assert!(gauge.ends_with(" 1") || gauge.ends_with(" 2"), "{gauge}");

    // Resolved after the outage ended.
    assert_eq!(
        resolved.len(),
        firing.len(),
        "not resolved:\n{}\n{}",
        describe(&firing),
        describe(&resolved)
    );
    for seen in &resolved {
        let at = rfc3339_ms(seen.alert["resolved_at"].as_str().expect("resolved_at"));
        assert!(
            at >= end,
            "resolved before the outage ended:\n{}",
            describe(&resolved)
        );
    }
    let metrics = http::get(addr, "/metrics", &[]).expect("metrics").text();
    assert!(metrics.contains("orderpulse_alerts_firing 0"), "{metrics}");

    // The alerts table has both states of each alert.
    let body = serde_json::to_vec(&json!({
        "sql": "SELECT status, count(*) AS n FROM alerts GROUP BY status ORDER BY status"
    }))
    .unwrap();
    let table = http::post_json(addr, "/api/sql", &[], &body)
        .expect("answer")
        .json();
    let n = firing.len() as i64;
    assert_eq!(
        table["rows"],
        json!([["firing", n], ["resolved", n]]),
        "{table}"
    );

    let status = serve.sigterm(Duration::from_secs(20), &log);
    assert!(status.success(), "{}", log_text());
}
