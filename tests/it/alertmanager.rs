//! Alert delivery to a real Alertmanager (Debian `prometheus-alertmanager`,
//! started by the test on free 127.0.0.1 ports, clustering off): a firing
//! spike alert shows up in Alertmanager's v2 API with the CONTRACT labels
//! and annotations, even when Alertmanager comes up only after the alert
//! was raised; it stays active while re-sent, and disappears once resolved.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dashboards::alerting::{AlertingConfig, Notifier};
use model::alert::{Alert, AlertStatus, Contributor};
use prometheus::Registry;
use tokio_util::sync::CancellationToken;

use crate::support::http;
use crate::support::process::free_addr;

/// The Alertmanager binary, or a failure saying how to install it.
fn alertmanager_binary() -> PathBuf {
    ["prometheus-alertmanager", "alertmanager"]
        .iter()
        .find_map(|name| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "Alertmanager not found on PATH: apt-get install prometheus-alertmanager \
                 (the alert delivery test runs the real one)"
            )
        })
}

struct Alertmanager {
    child: Child,
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    fn start(addr: std::net::SocketAddr) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n",
        )
        .expect("config");
        let log = std::fs::File::create(dir.path().join("alertmanager.log")).expect("log");
        let child = Command::new(alertmanager_binary())
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start Alertmanager");
        let am = Self {
            child,
            addr,
            _dir: dir,
        };
        am.wait("ready", |am| {
            http::get(am.addr, "/-/ready", &[]).is_some_and(|r| r.status == 200)
        });
        am
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("alertmanager.log")).unwrap_or_default()
    }

    /// The alerts Alertmanager lists (active, not resolved).
    fn alerts(&self) -> Vec<serde_json::Value> {
        http::get(self.addr, "/api/v2/alerts", &[])
            .filter(|r| r.status == 200)
            .and_then(|r| r.json().as_array().cloned())
            .unwrap_or_default()
    }

    fn wait(&self, what: &str, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if done(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("Alertmanager: {what} not within 30 s; log:\n{}", self.log());
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spike(status: AlertStatus) -> Alert {
    let now = chrono::Utc::now();
    let at =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    Alert {
        id: "spike-wechat-pay-1".into(),
        status,
        slice: [
            ("channel".to_string(), "wechat_mini_program".to_string()),
            ("payment_method".to_string(), "wechat_pay".to_string()),
        ]
        .into(),
        started_at: at(now - chrono::Duration::minutes(3)),
        resolved_at: (status == AlertStatus::Resolved).then(|| at(now)),
        window_seconds: 300,
        attempts: 2400,
        failures: 310,
        failure_rate: 310.0 / 2400.0,
        baseline_rate: 0.02,
        score: 21.5,
        contributors: vec![Contributor {
            dimension: "failure_cause".into(),
            value: "payment_declined".into(),
            share: 0.87,
        }],
        runbook: model::runbooks::Runbooks::builtin().text("payment_declined"),
    }
}

#[test]
fn spike_alerts_reach_a_real_alertmanager_and_resolve() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let addr = free_addr();
    let config = AlertingConfig {
        alertmanager_url: Some(format!("http://{addr}/")),
        resend_interval: Duration::from_secs(1),
        max_backoff: Duration::from_millis(500),
        timeout: Duration::from_secs(2),
        generator_url: Some("http://127.0.0.1:8080/".into()),
        ..AlertingConfig::default()
    };
    let registry = Registry::new();
    let shutdown = CancellationToken::new();
    let (notifier, tasks) = rt
        .block_on(async { Notifier::start(&config, Some(&registry), &shutdown) })
        .expect("notifier");

    // Raised while Alertmanager is still down: retried until it is up.
    notifier.notify(&[spike(AlertStatus::Firing)]);
    std::thread::sleep(Duration::from_secs(2));
    let am = Alertmanager::start(addr);
    am.wait("the firing alert", |am| !am.alerts().is_empty());
    let alerts = am.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(
        alert["labels"],
        serde_json::json!({
            "alertname": "OrderFailureSpike",
            "channel": "wechat_mini_program",
            "payment_method": "wechat_pay",
        })
    );
    assert_eq!(alert["status"]["state"], "active", "{alert}");
    let notes = &alert["annotations"];
    assert!(
        notes["runbook"]
            .as_str()
            .unwrap_or("")
            .contains("payment provider"),
        "{notes}"
    );
    assert!(
        notes["description"]
            .as_str()
            .unwrap_or("")
            .contains("failure_cause=payment_declined (87 %)"),
        "{notes}"
    );
    assert_eq!(notes["alert_id"], "spike-wechat-pay-1");
    assert_eq!(alert["generatorURL"], "http://127.0.0.1:8080/");

    // Re-sent every second, it stays active past its first endsAt window.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        am.alerts().len(),
        1,
        "the firing alert expired while re-sent"
    );

    // Resolved: gone from the active alerts.
    notifier.notify(&[spike(AlertStatus::Resolved)]);
    am.wait("the alert to resolve", |am| am.alerts().is_empty());

    let mut metrics = Vec::new();
    prometheus::Encoder::encode(
        &prometheus::TextEncoder::new(),
        &registry.gather(),
        &mut metrics,
    )
    .expect("metrics");
    let metrics = String::from_utf8(metrics).expect("utf-8");
    assert!(
        metrics.contains(
            r#"orderpulse_alert_notifications_total{outcome="retried",receiver="alertmanager"}"#
        ),
        "the first tries failed while it was down:\n{metrics}"
    );
    shutdown.cancel();
    rt.block_on(async {
        for t in tasks {
            t.await.expect("delivery task");
        }
    });
}
