//! `orderpulse serve` against a real broker: events produced to Kafka are
//! answered by `POST /api/sql` within 2 seconds (live rows, before any
//! flush), the operations routes answer on the same address, and SIGTERM
//! drains the worker and exits 0 within 15 seconds, with the rows stored.

use std::fs::File;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::json;

use crate::support::TansuBroker;
use crate::support::http;
use crate::support::process::{Running, free_addr};

const TOPIC: &str = "order-attempts";

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.expect("clock after 1970").as_millis() as i64
}

fn produce(broker: &TansuBroker, ids: &[String]) {
    let producer: BaseProducer = broker.client_config().create().expect("producer");
    for (i, id) in ids.iter().enumerate() {
        let value = format!(
            r#"{{"event_id":"{id}","ts":{},"outcome":"failure","channel":"web","failure_cause":"network_error","payment_method":"alipay"}}"#,
            now_ms() - 1_000
        );
        let key = i.to_string();
        producer
            .send(BaseRecord::to(TOPIC).key(&key).payload(&value))
            .expect("queue a record");
    }
    producer
        .flush(Duration::from_secs(10))
        .expect("acknowledged");
}

/// `count(*)` of `order_attempts` rows matching `filter`, over the API.
fn count(addr: SocketAddr, filter: &str) -> Option<i64> {
    let sql = format!("SELECT count(*) AS n FROM order_attempts WHERE {filter}");
    let body = serde_json::to_vec(&json!({ "sql": sql })).unwrap();
    let r = http::post_json(addr, "/api/sql", &[], &body)?;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["rows"][0][0].as_i64()
}

fn log_text(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

#[test]
fn serve_answers_sql_on_live_rows_and_stops_in_order_on_sigterm() {
    let broker = TansuBroker::start();
    broker.create_topic(TOPIC, 2);
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let log = dir.path().join("serve.log");
    let addr = free_addr();
    let pg = free_addr();
    let mut serve = Running(
        Command::new(env!("CARGO_BIN_EXE_orderpulse"))
            .args(["serve", "--brokers", &broker.bootstrap(), "--topic", TOPIC])
            .args(["--data-dir", data_dir.to_str().unwrap(), "--dlq-topic", ""])
            .args([
                "--http-addr",
                &addr.to_string(),
                "--pg-addr",
                &pg.to_string(),
            ])
            // Nothing is flushed while the test looks: answers are live rows.
            .args(["--flush-interval", "1h"])
            .env("ORDERPULSE_USER_KEY_SECRET", "serve-test-secret-0123456789")
            .env_remove("ORDERPULSE_API_TOKEN")
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("start serve"),
    );
    serve.wait_ready(addr, &log);
    for path in ["/healthz", "/metrics", "/", "/api/queries"] {
        let r = http::get(addr, path, &[]).expect("answer");
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }

    // Warm up until the worker holds its partitions, then time one event.
    let first: Vec<String> = (0..200).map(|i| format!("first-{i}")).collect();
    produce(&broker, &first);
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(addr, "event_id LIKE 'first-%'") != Some(200) {
        assert!(
            Instant::now() < deadline,
            "the first events never showed:\n{}",
            log_text(&log)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    produce(&broker, &["timed".to_string()]);
    let acked = Instant::now();
    while count(addr, "event_id = 'timed'") != Some(1) {
        assert!(
            acked.elapsed() < Duration::from_secs(2),
            "an acknowledged event was not in /api/sql within 2 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let stored = data_dir.join("order_attempts");
    assert!(
        !stored.exists() || std::fs::read_dir(&stored).unwrap().next().is_none(),
        "answered from live rows, before any flush"
    );
    let r = http::get(addr, "/api/queries/failures_by_cause?start=now-1h", &[]).unwrap();
    assert_eq!(r.json()["rows"], json!([["network_error", 201, 1.0]]));
    // The same live rows over the Postgres wire (`--pg-addr`), with real psql.
    let psql = Command::new("psql")
        .arg(format!(
            "host={} port={} user=analyst dbname=orderpulse",
            pg.ip(),
            pg.port()
        ))
        .args([
            "-X",
            "-A",
            "-t",
            "-c",
            "SELECT count(*) FROM order_attempts",
        ])
        .output()
        .expect("psql (apt-get install postgresql-client)");
    assert!(
        psql.status.success(),
        "{}",
        String::from_utf8_lossy(&psql.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&psql.stdout).trim(), "201");

    // SIGTERM: the worker drains and stores, HTTP stops last, exit 0.
    let exit = serve.sigterm(Duration::from_secs(15), &log);
    let text = log_text(&log);
    assert!(exit.success(), "{text}");
    assert!(text.contains("ingested 201 records"), "{text}");
    assert!(http::get(addr, "/healthz", &[]).is_none(), "HTTP stopped");
    let out = Command::new(env!("CARGO_BIN_EXE_orderpulse"))
        .args([
            "sql",
            "--format",
            "csv",
            "SELECT count(*) AS n FROM order_attempts",
        ])
        .env("ORDERPULSE_DATA_DIR", &data_dir)
        .output()
        .expect("orderpulse sql");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "n\n201\n");
}

#[test]
fn serve_refuses_a_public_address_without_a_token() {
    let out = Command::new(env!("CARGO_BIN_EXE_orderpulse"))
        .args([
            "serve",
            "--http-addr",
            "0.0.0.0:0",
            "--brokers",
            "127.0.0.1:1",
        ])
        .env_remove("ORDERPULSE_API_TOKEN")
        .env("ORDERPULSE_USER_KEY_SECRET", "serve-test-secret-0123456789")
        .output()
        .expect("run serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("ORDERPULSE_API_TOKEN"), "{err}");
}

#[test]
fn demo_serves_simulated_traffic_within_20_seconds_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("demo.log");
    let out = dir.path().join("demo.out");
    let addr = free_addr();
    let broker_port = free_addr().port();
    let runbooks = dir.path().join("runbooks.toml");
    std::fs::write(
        &runbooks,
        "[network_error]\ntitle = \"Our own network runbook\"\nsummary = \"s\"\nsteps = [\"call the CDN\"]\n",
    )
    .unwrap();
    let mut demo = Running(
        Command::new(env!("CARGO_BIN_EXE_orderpulse"))
            .args(["demo", "--http-addr", &addr.to_string(), "--pg-addr", ""])
            .args(["--broker-port", &broker_port.to_string(), "--rate", "200"])
            .arg("--runbooks")
            .arg(&runbooks)
            .env_remove("ORDERPULSE_API_TOKEN")
            .env_remove("ORDERPULSE_USER_KEY_SECRET")
            .env_remove("ORDERPULSE_DATA_DIR")
            .env_remove("ORDERPULSE_DEMO_DATA_DIR")
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("start demo"),
    );
    let started = Instant::now();
    // Live rows only: the demo also stores a simulated past hour
    // (`demo-history`) for the spike detector's baselines.
    let rows = |table: &str| {
        let sql = format!("SELECT count(*) FROM {table} WHERE kafka_topic = 'order-attempts'");
        let body = serde_json::to_vec(&json!({ "sql": sql })).unwrap();
        http::post_json(addr, "/api/sql", &[], &body)
            .filter(|r| r.status == 200)
            .and_then(|r| r.json()["rows"][0][0].as_i64())
            .unwrap_or(0)
    };
    while rows("order_attempts") == 0 || rows("rejected_events") == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no accepted and rejected rows within 20 s:\n{}",
            log_text(&log)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let history = {
        let sql = "SELECT count(*), min(ts) FROM order_attempts WHERE kafka_topic = 'demo-history'";
        let body = serde_json::to_vec(&json!({ "sql": sql })).unwrap();
        http::post_json(addr, "/api/sql", &[], &body)
            .expect("answer")
            .json()
    };
    assert!(
        history["rows"][0][0].as_i64().unwrap_or(0) > 10_000,
        "no seeded history: {history}"
    );
    let alerts = http::get(addr, "/api/alerts", &[]).expect("answer").json();
    assert_eq!(alerts["enabled"], true, "{alerts}");
    // The overview is counted from the rollup, history and live rows.
    let overview = http::get(addr, "/api/overview?start=now-2h", &[])
        .expect("answer")
        .json();
    assert_eq!(overview["counted_from"], "rollup", "{overview}");
    assert!(
        overview["totals"]["attempts"].as_i64().unwrap_or(0)
            + overview["totals"]["base_attempts"].as_i64().unwrap_or(0)
            > 10_000,
        "{}",
        overview["totals"]
    );
    // --runbooks replaced one cause's runbook; the others are built in.
    let books = http::get(addr, "/api/runbooks", &[])
        .expect("answer")
        .json();
    let title = |cause: &str| {
        books["runbooks"]
            .as_array()
            .and_then(|a| a.iter().find(|b| b["failure_cause"] == cause))
            .map(|b| b["title"].clone())
    };
    assert_eq!(
        title("network_error"),
        Some(json!("Our own network runbook")),
        "{books}"
    );
    assert!(title("payment_declined").is_some(), "{books}");
    // Silences through the API reach the running detector's book and are
    // kept in the data directory.
    let body = br#"{"slice": {"payment_method": "alipay"}, "duration": "1h", "comment": "demo"}"#;
    let added = http::post_json(addr, "/api/silences", &[], body).expect("answer");
    assert_eq!(added.status, 201, "{}", added.text());
    let listed = http::get(addr, "/api/silences", &[])
        .expect("answer")
        .json();
    assert_eq!(listed["silences"][0]["active"], true, "{listed}");
    let printed = std::fs::read_to_string(&out).unwrap();
    assert!(
        printed.contains(&format!("open http://{addr}/")),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("127.0.0.1:{broker_port}")),
        "the fixed broker port: {printed}"
    );
    let data_dir = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("data:"))
        .map(|d| std::path::PathBuf::from(d.trim()))
        .expect("data dir printed");
    assert!(data_dir.exists());
    assert!(
        data_dir.join("silences.json").exists(),
        "the API's silence is kept"
    );

    let exit = demo.sigterm(Duration::from_secs(15), &log);
    assert!(exit.success(), "{}", log_text(&log));
    assert!(
        !data_dir.exists(),
        "the temporary data directory is removed"
    );
}
