//! The Prometheus and Grafana files in `dashboards/` against the real
//! tools: `promtool check rules` and `promtool test rules` on
//! `dashboards/prometheus/alerts.yml`; a real Prometheus (Debian
//! `prometheus`) scraping `orderpulse serve` fed by the simulator through a
//! real broker, whose `orderpulse_order_failures_total` series carry bounded
//! labels and add up to what the Parquet files hold, with the rules loaded
//! and healthy; and `dashboards/grafana/orderpulse.json`, whose PromQL
//! Prometheus answers and whose SQL panels psql runs on the PG wire.
//! Every metric either file names must be one orderpulse exports.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use model::metrics;
use model::vocab::{Channel, FailureCause, OTHER, Outcome, PaymentMethod};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::Value;

use crate::support::ledger::{self, parquet_files};
use crate::support::process::{Running, acknowledged, free_addr};
use crate::support::prometheus::{Prometheus, on_path, promtool};
use crate::support::{TansuBroker, http};

const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/dashboards/prometheus/alerts.yml"
);
const RULES_TEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/dashboards/prometheus/alerts_test.yml"
);
const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/dashboards/grafana/orderpulse.json"
);
const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
const RUNBOOK_PREFIX: &str = "https://github.com/orderpulse/orderpulse/blob/main/README.md#";
const TOPIC: &str = "order-attempts";
/// The `payment_method` label of an attempt without a payment method.
const NO_METHOD: &str = ingest::metrics::NO_PAYMENT_METHOD;

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn promtool_checks_and_unit_tests_the_rules() {
    let out = run(Command::new(promtool()).args(["check", "rules", RULES]));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("SUCCESS"), "{}", text(&out));

    let out = run(Command::new(promtool()).args(["test", "rules", RULES_TEST]));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("SUCCESS"), "{}", text(&out));

    // The check is not a formality: a broken expression and a broken
    // expectation are both refused.
    let dir = tempfile::tempdir().unwrap();
    let rules = std::fs::read_to_string(RULES).unwrap();
    let broken = dir.path().join("alerts.yml");
    let good = "expr: orderpulse_ingest_broker_up == 0";
    assert!(rules.contains(good));
    std::fs::write(
        &broken,
        rules.replace(good, "expr: orderpulse_ingest_broker_up =="),
    )
    .unwrap();
    let out = run(Command::new(promtool())
        .arg("check")
        .arg("rules")
        .arg(&broken));
    assert!(!out.status.success(), "{}", text(&out));
    std::fs::write(dir.path().join("alerts.yml"), &rules).unwrap();
    let tests = std::fs::read_to_string(RULES_TEST).unwrap();
    assert!(tests.contains("value: 0.25"));
    let wrong = dir.path().join("alerts_test.yml");
    std::fs::write(&wrong, tests.replace("value: 0.25", "value: 0.5")).unwrap();
    let out = run(Command::new(promtool())
        .arg("test")
        .arg("rules")
        .arg(&wrong));
    assert!(!out.status.success(), "{}", text(&out));
}

/// Identifiers of a PromQL expression (metric, rule and label names, and
/// words inside strings): runs of `[A-Za-z0-9_:]`.
fn tokens(expr: &str) -> impl Iterator<Item = &str> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|t| !t.is_empty())
}

/// Checks that `expr` names only exported metrics and defined recording
/// rules; adds the metrics it names to `used`.
#[track_caller]
fn check_names(what: &str, expr: &str, records: &BTreeSet<String>, used: &mut BTreeSet<String>) {
    for t in tokens(expr) {
        if t.contains(':') {
            if t.contains("orderpulse") {
                assert!(
                    records.contains(t),
                    "{what}: no recording rule {t} in {expr}"
                );
            }
        } else if t.starts_with("orderpulse_") {
            assert!(
                metrics::is_exported(t),
                "{what}: {t} is not a metric orderpulse exports (model::metrics::ALL): {expr}"
            );
            used.insert(t.to_string());
        }
    }
}

/// GitHub's anchors of the README's headings.
fn readme_anchors() -> BTreeSet<String> {
    std::fs::read_to_string(README)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|h| {
            h.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// The rule groups as a real Prometheus parsed them (`/api/v1/rules`).
fn rule_groups(prometheus: &Prometheus) -> Vec<Value> {
    prometheus.api("/api/v1/rules")["groups"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn rules_of(groups: &[Value]) -> impl Iterator<Item = &Value> {
    groups
        .iter()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
}

#[test]
fn rules_and_dashboard_name_only_exported_metrics_and_document_every_alert() {
    // Prometheus itself parses the rules (no targets needed for that).
    let prometheus = Prometheus::start(&[], &[Path::new(RULES)]);
    let groups = rule_groups(&prometheus);
    let names: Vec<&str> = groups.iter().filter_map(|g| g["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "orderpulse-failure-rates",
            "orderpulse-ingest",
            "orderpulse-orders"
        ]
    );
    let records: BTreeSet<String> = rules_of(&groups)
        .filter(|r| r["type"] == "recording")
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    for cut in ["failure_cause", "channel", "payment_method"] {
        let name = format!("{cut}:orderpulse_order_failure_ratio:rate5m");
        assert!(records.contains(&name), "{name} missing: {records:?}");
    }
    let anchors = readme_anchors();
    let mut used = BTreeSet::new();
    let mut alerts = 0;
    for rule in rules_of(&groups) {
        let name = rule["name"].as_str().unwrap();
        check_names(name, rule["query"].as_str().unwrap(), &records, &mut used);
        if rule["type"] != "alerting" {
            continue;
        }
        alerts += 1;
        assert!(rule["duration"].as_f64().unwrap() > 0.0, "{name}: no `for`");
        let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
        assert!(
            ["critical", "warning", "info"].contains(&severity),
            "{name}: severity {severity:?}"
        );
        let annotation = |key: &str| rule["annotations"][key].as_str().unwrap_or_default();
        assert!(annotation("summary").len() > 10, "{name}: summary");
        assert!(annotation("description").len() > 30, "{name}: description");
        let anchor = annotation("runbook_url")
            .strip_prefix(RUNBOOK_PREFIX)
            .unwrap_or_else(|| panic!("{name}: runbook_url {}", annotation("runbook_url")));
        assert!(
            anchors.contains(anchor),
            "{name}: no README heading #{anchor}"
        );
    }
    assert!(alerts >= 8, "{alerts} alerts");
    for needed in [
        metrics::ORDER_FAILURES_TOTAL,
        metrics::ORDER_ATTEMPTS_TOTAL,
        metrics::INGEST_LAG_RECORDS,
        metrics::INGEST_LAG_SECONDS,
        metrics::INGEST_BROKER_UP,
        metrics::INGEST_STORAGE_WRITABLE,
        metrics::INGEST_REJECTED_TOTAL,
        metrics::INGEST_DEAD_LETTERS_TOTAL,
        metrics::INGEST_RECORDS_TOTAL,
        metrics::ALERTS_FIRING,
    ] {
        assert!(used.contains(needed), "no rule on {needed}");
    }

    // The dashboard: importable JSON on both data sources, PromQL on
    // exported metrics only.
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap())
        .expect("orderpulse.json is JSON");
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 39);
    let vars = dashboard["templating"]["list"].as_array().unwrap();
    let var = |name: &str| vars.iter().find(|v| v["name"] == name);
    assert_eq!(var("DS_PROMETHEUS").unwrap()["query"], "prometheus");
    assert_eq!(
        var("DS_ORDERPULSE_SQL").unwrap()["query"],
        "grafana-postgresql-datasource"
    );
    let mut used = BTreeSet::new();
    for v in vars.iter().filter(|v| v["type"] == "query") {
        let q = v["definition"].as_str().unwrap();
        check_names(v["name"].as_str().unwrap(), q, &BTreeSet::new(), &mut used);
    }
    let (mut ids, mut sql_panels) = (BTreeSet::new(), 0);
    for panel in dashboard["panels"].as_array().unwrap() {
        let title = panel["title"].as_str().unwrap();
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "{title}: id twice"
        );
        assert!(panel["gridPos"]["w"].as_u64().unwrap() <= 24, "{title}");
        if panel["type"] == "row" {
            continue;
        }
        let source = panel["datasource"]["uid"].as_str().unwrap();
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], source, "{title}");
            match source {
                "${DS_PROMETHEUS}" => {
                    let expr = t["expr"].as_str().unwrap();
                    check_names(title, expr, &BTreeSet::new(), &mut used);
                }
                "${DS_ORDERPULSE_SQL}" => {
                    let sql = t["rawSql"].as_str().unwrap();
                    assert!(sql.contains("FROM order_attempts"), "{title}: {sql}");
                    sql_panels += 1;
                }
                other => panic!("{title}: data source {other}"),
            }
        }
    }
    assert!(sql_panels >= 1);
    for needed in [
        metrics::ORDER_FAILURES_TOTAL,
        metrics::ORDER_ATTEMPTS_TOTAL,
        metrics::INGEST_RECORDS_TOTAL,
        metrics::INGEST_LAG_RECORDS,
        metrics::INGEST_LAG_SECONDS,
        metrics::INGEST_REJECTED_TOTAL,
    ] {
        assert!(used.contains(needed), "no panel on {needed}");
    }
}

/// The three labels of a failure series, or of an attempt series with its
/// outcome in place of the cause.
type Slice = (String, String, String);

/// Failures by (cause, channel, method) and attempts by (outcome, channel,
/// method) in the stored `order_attempts` files, each value as its metric
/// label: the word, `other` outside the vocabulary, `none` for no method.
fn stored_slices(data_dir: &Path) -> (BTreeMap<Slice, u64>, BTreeMap<Slice, u64>) {
    let (mut failures, mut attempts) = (BTreeMap::new(), BTreeMap::new());
    for path in parquet_files(&data_dir.join(model::files::ATTEMPTS_DIR)) {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let column = |name: &str| {
                let c = batch.column_by_name(name).unwrap();
                arrow::compute::cast(c, &DataType::Utf8).unwrap()
            };
            let (outcome, channel) = (column("outcome"), column("channel"));
            let (method, cause) = (column("payment_method"), column("failure_cause"));
            let (outcome, channel) = (outcome.as_string::<i32>(), channel.as_string::<i32>());
            let (method, cause) = (method.as_string::<i32>(), cause.as_string::<i32>());
            for i in 0..batch.num_rows() {
                let c = Channel::label(channel.value(i)).to_string();
                let m = if method.is_valid(i) {
                    PaymentMethod::label(method.value(i)).to_string()
                } else {
                    NO_METHOD.to_string()
                };
                let o = Outcome::label(outcome.value(i)).to_string();
                *attempts.entry((o, c.clone(), m.clone())).or_default() += 1;
                if cause.is_valid(i) {
                    let f = FailureCause::label(cause.value(i)).to_string();
                    *failures.entry((f, c, m)).or_default() += 1;
                }
            }
        }
    }
    (failures, attempts)
}

/// The samples of `name` in a Prometheus text exposition, summed.
fn exposition_sum(body: &str, name: &str) -> f64 {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let rest = series.strip_prefix(name)?;
            (rest.is_empty() || rest.starts_with('{')).then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

fn value(sample: &Value) -> f64 {
    sample["value"][1].as_str().unwrap().parse().unwrap()
}

fn label<'a>(sample: &'a Value, name: &str) -> &'a str {
    sample["metric"][name].as_str().unwrap_or_default()
}

fn wait_until(
    what: &str,
    within: Duration,
    logs: &dyn Fn() -> String,
    mut ok: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {within:?}\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Events a simulator never sends: words outside every vocabulary, a
/// non-normalised spelling, and no payment method.
fn produce_odd_events(broker: &TansuBroker) -> u64 {
    let ts = ledger::now_ms() - 60_000;
    let events = [
        format!(
            r#"{{"event_id":"odd-1","ts":{ts},"outcome":"failure","channel":"smart_fridge","failure_cause":"cosmic_rays","payment_method":"seashells"}}"#
        ),
        format!(
            r#"{{"event_id":"odd-2","ts":{ts},"outcome":"failure","channel":"web","failure_cause":"network_error"}}"#
        ),
        format!(
            r#"{{"event_id":"odd-3","ts":{ts},"outcome":"Success","channel":"Smart Fridge","payment_method":"Credit-Card"}}"#
        ),
    ];
    let producer: BaseProducer = broker.client_config().create().expect("producer");
    for (i, value) in events.iter().enumerate() {
        let key = i.to_string();
        producer
            .send(BaseRecord::to(TOPIC).key(&key).payload(value))
            .expect("queue a record");
    }
    producer
        .flush(Duration::from_secs(10))
        .expect("acknowledged");
    events.len() as u64
}

#[test]
fn prometheus_scrapes_serve_and_its_series_match_the_stored_events() {
    let broker = TansuBroker::start();
    broker.create_topic(TOPIC, 2);
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let log = dir.path().join("serve.log");
    let (addr, pg) = (free_addr(), free_addr());
    let out = run(Command::new(env!("CARGO_BIN_EXE_orderpulse"))
        .args([
            "simulate",
            "--brokers",
            &broker.bootstrap(),
            "--topic",
            TOPIC,
        ])
        .args(["--seed", "5", "--rate", "100", "--duration", "2m"])
        // Flat: the diurnal curve would make the traffic (and the failures
        // the assertions below count on) depend on the hour the test runs.
        .args([
            "--flat",
            "--start",
            &(ledger::now_ms() - 3_600_000).to_string(),
        ])
        .args([
            "--scenario",
            "payment-outage,malformed:share=0.02,oversized=0",
        ]));
    let records = acknowledged(&out) + produce_odd_events(&broker);
    let serve = Running(
        Command::new(env!("CARGO_BIN_EXE_orderpulse"))
            .args(["serve", "--brokers", &broker.bootstrap(), "--topic", TOPIC])
            .args(["--data-dir", data_dir.to_str().unwrap(), "--dlq-topic", ""])
            .args([
                "--http-addr",
                &addr.to_string(),
                "--pg-addr",
                &pg.to_string(),
            ])
            .args(["--flush-interval", "1s"])
            .env(
                "ORDERPULSE_USER_KEY_SECRET",
                "prometheus-test-secret-0123456789",
            )
            .env_remove("ORDERPULSE_API_TOKEN")
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("start serve"),
    );
    let prometheus = Prometheus::start(&[addr], &[Path::new(RULES)]);
    let logs = || {
        format!(
            "serve log:\n{}\nprometheus log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default(),
            prometheus.log()
        )
    };
    let exposition = || {
        http::get(addr, "/metrics", &[])
            .map(|r| r.text())
            .unwrap_or_default()
    };

    // Everything consumed and flushed (no live rows left).
    wait_until(
        "every record stored",
        Duration::from_secs(90),
        &logs,
        || {
            let m = exposition();
            exposition_sum(&m, metrics::INGEST_RECORDS_TOTAL) >= records as f64
                && exposition_sum(&m, metrics::INGEST_LIVE_ROWS) == 0.0
                && exposition_sum(&m, metrics::ORDER_ATTEMPTS_TOTAL) > 0.0
        },
    );
    let (failures, attempts) = stored_slices(&data_dir);
    let stored_failures: u64 = failures.values().sum();
    assert!(stored_failures > 100, "{failures:?}");

    // Prometheus scraped the final counts (1 s scrapes).
    let failures_query = "orderpulse_order_failures_total";
    wait_until(
        "a scrape of the final counts",
        Duration::from_secs(30),
        &logs,
        || {
            prometheus
                .query(&format!("sum({failures_query})"))
                .first()
                .map(value)
                == Some(stored_failures as f64)
        },
    );
    let series = prometheus.query(failures_query);
    let causes: Vec<&str> = FailureCause::ALL.iter().map(|c| c.as_str()).collect();
    let channels: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
    let methods: Vec<&str> = PaymentMethod::ALL.iter().map(|c| c.as_str()).collect();
    let mut scraped = BTreeMap::new();
    for s in &series {
        let names: BTreeSet<&str> = s["metric"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            names,
            BTreeSet::from([
                "__name__",
                "channel",
                "failure_cause",
                "instance",
                "job",
                "payment_method"
            ]),
            "{s}"
        );
        assert_eq!(label(s, "job"), "orderpulse");
        assert_eq!(label(s, "instance"), addr.to_string());
        let (f, c, m) = (
            label(s, "failure_cause"),
            label(s, "channel"),
            label(s, "payment_method"),
        );
        assert!(causes.contains(&f) || f == OTHER, "{s}");
        assert!(channels.contains(&c) || c == OTHER, "{s}");
        assert!(methods.contains(&m) || m == OTHER || m == NO_METHOD, "{s}");
        let key = (f.to_string(), c.to_string(), m.to_string());
        assert!(scraped.insert(key, value(s) as u64).is_none(), "{s} twice");
    }
    assert_eq!(
        scraped, failures,
        "failures per slice: Prometheus vs the Parquet files"
    );
    let odd = (OTHER.to_string(), OTHER.to_string(), OTHER.to_string());
    assert_eq!(scraped.get(&odd), Some(&1), "unknown words are `other`");
    let no_method = (
        "network_error".to_string(),
        "web".to_string(),
        NO_METHOD.to_string(),
    );
    assert_eq!(
        scraped.get(&no_method),
        Some(&1),
        "no payment method is `none`"
    );

    let by_slice = prometheus
        .query("sum by (outcome, channel, payment_method) (orderpulse_order_attempts_total)");
    let scraped: BTreeMap<Slice, u64> = by_slice
        .iter()
        .map(|s| {
            let key = (
                label(s, "outcome"),
                label(s, "channel"),
                label(s, "payment_method"),
            );
            ((key.0.into(), key.1.into(), key.2.into()), value(s) as u64)
        })
        .collect();
    assert_eq!(
        scraped, attempts,
        "attempts per slice: Prometheus vs the Parquet files"
    );

    // The rules load and evaluate without errors.
    wait_until(
        "every rule evaluated",
        Duration::from_secs(30),
        &logs,
        || rules_of(&rule_groups(&prometheus)).all(|r| r["health"] == "ok"),
    );
    for rule in rules_of(&rule_groups(&prometheus)) {
        assert_eq!(rule["health"], "ok", "{rule}");
        assert!(
            rule["lastError"].as_str().unwrap_or_default().is_empty(),
            "{rule}"
        );
    }
    // A ratio needs two scrapes of a counter, then an evaluation.
    let ratio = "channel:orderpulse_order_failure_ratio:rate5m";
    wait_until(
        "the channel ratios recorded",
        Duration::from_secs(30),
        &logs,
        || {
            let channels: BTreeSet<String> = prometheus
                .query(ratio)
                .iter()
                .map(|s| label(s, "channel").to_string())
                .collect();
            channels.contains("web") && channels.contains(OTHER)
        },
    );
    let ratios = prometheus.query(ratio);
    for s in &ratios {
        let v = value(s);
        assert!(v.is_nan() || (0.0..=1.0).contains(&v), "{s}");
    }
    // A healthy ingest raises none of the alerts about ingest health.
    let alerts = prometheus.api("/api/v1/alerts");
    for a in alerts["alerts"].as_array().unwrap() {
        let name = a["labels"]["alertname"].as_str().unwrap_or_default();
        assert!(
            ![
                "OrderpulseTargetDown",
                "OrderpulseBrokerUnreachable",
                "OrderpulseStorageNotWritable",
                "OrderpulseIngestStalled",
            ]
            .contains(&name),
            "{a}"
        );
    }

    dashboard_queries_answer(&prometheus, pg);

    // Real trouble raises the alerts about it (pending: their `for` is
    // minutes): the broker goes away, then orderpulse itself.
    drop(broker);
    wait_until(
        "OrderpulseBrokerUnreachable active",
        Duration::from_secs(60),
        &logs,
        || alert_active(&prometheus, "OrderpulseBrokerUnreachable", addr),
    );
    drop(serve);
    wait_until(
        "OrderpulseTargetDown active",
        Duration::from_secs(30),
        &logs,
        || alert_active(&prometheus, "OrderpulseTargetDown", addr),
    );
}

/// Whether `alertname` is pending or firing for the target `instance`.
fn alert_active(prometheus: &Prometheus, alertname: &str, instance: SocketAddr) -> bool {
    let alerts = prometheus.api("/api/v1/alerts");
    alerts["alerts"].as_array().into_iter().flatten().any(|a| {
        a["labels"]["alertname"] == alertname
            && a["labels"]["instance"] == instance.to_string().as_str()
            && ["pending", "firing"].contains(&a["state"].as_str().unwrap_or_default())
    })
}

/// Every PromQL of the dashboard (its variables set to "All") is answered
/// by the Prometheus that scrapes orderpulse, the main panels with data; the
/// SQL panels run through psql on orderpulse's PG wire with Grafana's
/// `$__timeFilter` expanded as Grafana does.
fn dashboard_queries_answer(prometheus: &Prometheus, pg: SocketAddr) {
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap()).unwrap();
    let with_data = [
        "Attempts / s",
        "Failure rate by cause",
        "Failure rate by channel",
        "Failure rate by payment method",
        "Attempts / s by outcome",
        "Ingest throughput",
        "Lag (seconds)",
        "Health",
    ];
    // The variables' `label_values(metric, label)`, asked as Grafana does.
    for v in dashboard["templating"]["list"].as_array().unwrap() {
        let Some(q) = v["definition"].as_str() else {
            continue;
        };
        let (metric, label) = q
            .strip_prefix("label_values(")
            .and_then(|r| r.strip_suffix(')'))
            .and_then(|r| r.split_once(','))
            .unwrap_or_else(|| panic!("not label_values(metric, label): {q}"));
        let path = format!(
            "/api/v1/label/{}/values?match%5B%5D={}",
            label.trim(),
            metric.trim()
        );
        let values = prometheus.api(&path);
        assert!(
            values.as_array().is_some_and(|v| v.len() > 1),
            "{q}: {values}"
        );
    }
    let mut sql_rows = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        let title = panel["title"].as_str().unwrap();
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                let expr = expr
                    .replace("$__rate_interval", "5m")
                    .replace("$channel", ".*")
                    .replace("$payment_method", ".*")
                    .replace("$failure_cause", ".*");
                let result = prometheus.query(&expr);
                if with_data.contains(&title) && target["refId"] == "A" {
                    assert!(!result.is_empty(), "{title}: no data for {expr}");
                }
            }
            if let Some(sql) = target["rawSql"].as_str() {
                let sql = expand_time_filter(sql);
                let out = run(Command::new(psql())
                    .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", &sql])
                    .arg(format!(
                        "host={} port={} user=grafana dbname=orderpulse sslmode=disable",
                        pg.ip(),
                        pg.port()
                    )));
                assert!(out.status.success(), "{title}: {sql}\n{}", text(&out));
                let rows = String::from_utf8_lossy(&out.stdout).lines().count();
                assert!(rows > 0, "{title}: no rows for {sql}");
                assert_eq!(driver_rows(pg, &sql), rows, "{title}: {sql}");
                sql_rows += rows;
            }
        }
    }
    assert!(sql_rows > 0);
}

/// Rows of `sql` through a driver that, like Grafana's (pgx), uses the
/// extended query protocol (parse, bind, execute) where psql sends text.
fn driver_rows(pg: SocketAddr, sql: &str) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let conn = format!(
            "host={} port={} user=grafana dbname=orderpulse connect_timeout=10",
            pg.ip(),
            pg.port()
        );
        let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
            .await
            .expect("tokio-postgres connects");
        let driver = tokio::spawn(connection);
        let rows = client
            .query(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        drop(client);
        let _ = driver.await;
        rows.len()
    })
}

/// Grafana's `$__timeFilter(col)` for the last two hours:
/// `col BETWEEN '<from>' AND '<to>'` in RFC 3339, UTC.
fn expand_time_filter(sql: &str) -> String {
    let rfc3339 = |ms: i64| {
        let out = run(Command::new("date").args([
            "-u",
            "-d",
            &format!("@{}", ms / 1000),
            "+%Y-%m-%dT%H:%M:%SZ",
        ]));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let now = ledger::now_ms();
    let (from, to) = (rfc3339(now - 2 * 3_600_000), rfc3339(now + 60_000));
    let mut out = sql.to_string();
    while let Some(at) = out.find("$__timeFilter(") {
        let rest = &out[at + "$__timeFilter(".len()..];
        let end = rest.find(')').expect("closing parenthesis");
        let column = rest[..end].trim().to_string();
        let expanded = format!("{column} BETWEEN '{from}' AND '{to}'");
        out.replace_range(at..at + "$__timeFilter(".len() + end + 1, &expanded);
    }
    out
}

fn psql() -> PathBuf {
    on_path("psql", "apt-get install postgresql-client")
}
