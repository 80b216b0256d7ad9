use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use model::alert::{Alert, AlertStatus, Contributor};
use tokio_util::sync::CancellationToken;

use super::*;

mod watch;

fn alert(id: &str, status: AlertStatus) -> Alert {
    Alert {
        id: id.into(),
        status,
        slice: BTreeMap::from([("payment_method".into(), "alipay".into())]),
        started_at: "2026-11-01T10:00:00.000Z".into(),
        resolved_at: (status == AlertStatus::Resolved).then(|| "2026-11-01T10:20:00.000Z".into()),
        window_seconds: 300,
        attempts: 1200,
        failures: 96,
        failure_rate: 0.08,
        baseline_rate: 0.01,
        score: 14.2,
        contributors: vec![Contributor {
            dimension: "failure_cause".into(),
            value: "payment_declined".into(),
            share: 0.92,
        }],
        runbook: "Payments declined\n1. Check the provider".into(),
    }
}

#[test]
fn alertmanager_alerts_carry_the_slice_as_labels_and_the_rest_as_annotations() {
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-01T10:05:00Z")
        .unwrap()
        .to_utc();
    let v = postable(
        &alert("a1", AlertStatus::Firing),
        now,
        Duration::from_secs(60),
        Some("http://127.0.0.1:8080/#alerts"),
    );
    assert_eq!(
        v["labels"],
        serde_json::json!({"alertname": "OrderFailureSpike", "payment_method": "alipay"})
    );
    assert_eq!(v["startsAt"], "2026-11-01T10:00:00.000Z");
    // Firing: ends four resend intervals ahead unless re-sent.
    assert_eq!(v["endsAt"], "2026-11-01T10:09:00.000Z");
    assert_eq!(v["generatorURL"], "http://127.0.0.1:8080/#alerts");
    let notes = &v["annotations"];
    assert!(
        notes["summary"]
            .as_str()
            .unwrap()
            .contains("payment_method=alipay at 8.0 %"),
        "{notes}"
    );
    assert!(
        notes["description"]
            .as_str()
            .unwrap()
            .contains("failure_cause=payment_declined (92 %)")
    );
    assert_eq!(notes["runbook"], "Payments declined\n1. Check the provider");
    assert_eq!(notes["alert_id"], "a1");
    // Every annotation is a string, as Alertmanager requires.
    assert!(
        notes.as_object().unwrap().values().all(|v| v.is_string()),
        "{notes}"
    );

    let resolved = postable(
        &alert("a1", AlertStatus::Resolved),
        now,
        Duration::from_secs(60),
        None,
    );
    assert_eq!(resolved["endsAt"], "2026-11-01T10:20:00.000Z");
    assert!(resolved.get("generatorURL").is_none());
}

#[test]
fn receiver_urls_are_checked_with_a_reason() {
    assert!(check_url("--alert-webhook-url", "https://hooks.example.com/x?y=1").is_ok());
    for (bad, why) in [
        ("hooks.example.com/x", "not a URL"),
        ("ftp://example.com/", "not supported"),
        ("javascript:alert(1)", "not supported"),
        ("http://exa mple.com/", "not a URL"),
        ("", "not a URL"),
    ] {
        let err = check_url("--alert-webhook-url", bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--alert-webhook-url") && err.contains(why),
            "{bad:?}: {err}"
        );
    }
    let long = format!("http://example.com/{}", "a".repeat(100_000));
    assert!(
        check_url("--alert-webhook-url", &long).is_ok(),
        "long paths are a receiver's business"
    );
}

/// A webhook receiver: answers the statuses in `script` in turn (then 200)
/// and records the bodies it accepted.
#[derive(Clone, Default)]
struct Receiver {
    script: Arc<Mutex<Vec<u16>>>,
    accepted: Arc<Mutex<Vec<serde_json::Value>>>,
    calls: Arc<Mutex<usize>>,
}

async fn receive(State(r): State<Receiver>, body: String) -> StatusCode {
    *r.calls.lock().unwrap() += 1;
    let next = {
        let mut script = r.script.lock().unwrap();
        if script.is_empty() {
            200
        } else {
            script.remove(0)
        }
    };
    if next == 200 {
        r.accepted
            .lock()
            .unwrap()
            .push(serde_json::from_str(&body).unwrap());
    }
    StatusCode::from_u16(next).unwrap()
}

async fn start_receiver(script: Vec<u16>) -> (String, Receiver) {
    let (base, receiver) = start_receiver_at(script, "/hook").await;
    (format!("{base}/hook"), receiver)
}

/// A [`Receiver`] answering POSTs to `path`; returns its base URL.
async fn start_receiver_at(script: Vec<u16>, path: &str) -> (String, Receiver) {
    let receiver = Receiver {
        script: Arc::new(Mutex::new(script)),
        ..Receiver::default()
    };
    let app = Router::new()
        .route(path, post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), receiver)
}

fn fast(webhook: String) -> AlertingConfig {
    AlertingConfig {
        webhook_url: Some(webhook),
        max_backoff: Duration::from_millis(200),
        timeout: Duration::from_secs(2),
        ..AlertingConfig::default()
    }
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn a_webhook_that_fails_at_first_gets_every_alert_in_order() {
    // Down (503), overloaded (429), timing out (408), then up.
    let (url, receiver) = start_receiver(vec![503, 503, 429, 408]).await;
    let registry = Registry::new();
    let shutdown = CancellationToken::new();
    let (notifier, tasks) = Notifier::start(&fast(url), Some(&registry), &shutdown).unwrap();
    assert!(notifier.is_active());
    notifier.notify(&[
        alert("a1", AlertStatus::Firing),
        alert("a2", AlertStatus::Firing),
    ]);
    notifier.notify(&[alert("a1", AlertStatus::Resolved)]);
    wait_for("three deliveries", || {
        receiver.accepted.lock().unwrap().len() == 3
    })
    .await;
    let got: Vec<(String, String)> = receiver
        .accepted
        .lock()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap().into(),
                v["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [("a1", "firing"), ("a2", "firing"), ("a1", "resolved")].map(|(a, b)| (a.into(), b.into()))
    );
    // The whole CONTRACT object arrives.
    let first = receiver.accepted.lock().unwrap()[0].clone();
    assert_eq!(first["contributors"][0]["value"], "payment_declined");
    assert_eq!(first["slice"]["payment_method"], "alipay");
    let text = metrics_text(&registry);
    assert!(
        text.contains(
            r#"orderpulse_alert_notifications_total{outcome="delivered",receiver="webhook"} 3"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"orderpulse_alert_notifications_total{outcome="retried",receiver="webhook"} 4"#
        ),
        "{text}"
    );
    shutdown.cancel();
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn a_refused_alert_is_dropped_and_the_next_still_goes() {
    let (url, receiver) = start_receiver(vec![400]).await;
    let shutdown = CancellationToken::new();
    let registry = Registry::new();
    let (notifier, _tasks) = Notifier::start(&fast(url), Some(&registry), &shutdown).unwrap();
    notifier.notify(&[
        alert("bad", AlertStatus::Firing),
        alert("good", AlertStatus::Firing),
    ]);
    wait_for("the second alert", || {
        receiver.accepted.lock().unwrap().len() == 1
    })
    .await;
    assert_eq!(receiver.accepted.lock().unwrap()[0]["id"], "good");
    assert_eq!(
        *receiver.calls.lock().unwrap(),
        2,
        "a refused payload is not retried"
    );
    assert!(metrics_text(&registry).contains(r#"outcome="refused",receiver="webhook"} 1"#));
    shutdown.cancel();
}

#[tokio::test]
async fn a_receiver_down_for_long_costs_the_oldest_states_not_memory() {
    // Nothing listens on this port: every try fails to connect.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = AlertingConfig {
        queue_capacity: 5,
        ..fast(format!("http://127.0.0.1:{port}/hook"))
    };
    let registry = Registry::new();
    let shutdown = CancellationToken::new();
    let (notifier, tasks) = Notifier::start(&config, Some(&registry), &shutdown).unwrap();
    for i in 0..12 {
        notifier.notify(&[alert(&format!("a{i}"), AlertStatus::Firing)]);
    }
    let text = metrics_text(&registry);
    let dropped: u64 = text
        .lines()
        .find(|l| l.starts_with("orderpulse_alert_notifications_total") && l.contains("dropped"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0);
    assert!(dropped >= 6, "{text}");
    // Shutdown is bounded even though the receiver never answers.
    let started = std::time::Instant::now();
    shutdown.cancel();
    for t in tasks {
        t.await.unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn no_receiver_configured_is_a_silent_notifier_and_bad_urls_fail_start() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let shutdown = CancellationToken::new();
        let (n, tasks) = Notifier::start(&AlertingConfig::default(), None, &shutdown).unwrap();
        assert!(!n.is_active() && tasks.is_empty());
        n.notify(&[alert("a", AlertStatus::Firing)]);
        let bad = AlertingConfig {
            alertmanager_url: Some("alertmanager:9093".into()),
            ..AlertingConfig::default()
        };
        let err = Notifier::start(&bad, None, &shutdown)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("--alertmanager-url"), "{err}");
    });
}

#[tokio::test]
async fn alert_states_are_stored_as_the_alerts_table() {
    let dir = tempfile::tempdir().unwrap();
    let store = AlertStore::new(dir.path());
    assert!(store.append(&[]).unwrap().is_none());
    store.append(&[alert("a1", AlertStatus::Firing)]).unwrap();
    store.append(&[alert("a1", AlertStatus::Resolved)]).unwrap();
    let config = analytics::AnalyticsConfig::new(dir.path()).unwrap();
    let analytics = analytics::Analytics::new(config).await.unwrap();
    let out = analytics
        .sql("SELECT id, status, slice, resolved_at, attempts, contributors FROM alerts ORDER BY status")
        .await
        .unwrap();
    let rows: usize = out.batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 2);
    let text = arrow::util::pretty::pretty_format_batches(&out.batches)
        .unwrap()
        .to_string();
    assert!(text.contains(r#"{"payment_method":"alipay"}"#), "{text}");
    assert!(text.contains("2026-11-01T10:20:00"), "{text}");
    assert!(text.contains("payment_declined"), "{text}");
    // A malformed time is an error, not a row.
    let mut bad = alert("b", AlertStatus::Firing);
    bad.started_at = "yesterday".into();
    let err = store.append(&[bad]).unwrap_err().to_string();
    assert!(err.contains("yesterday"), "{err}");
    // Nothing half-written is visible.
    let names: Vec<String> = std::fs::read_dir(dir.path().join(ALERTS_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.ends_with(".parquet") && !n.starts_with('.'))
    );
}

fn metrics_text(registry: &Registry) -> String {
    use prometheus::Encoder;
    let mut out = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .unwrap();
    String::from_utf8(out).unwrap()
}
