//! Live rows end to end: an event consumed by an in-process ingest worker is
//! answered by SQL within 2 seconds, long before any flush, and is counted
//! exactly once across the flush that later stores it.

use std::time::{Duration, Instant};

use analytics::{Analytics, AnalyticsConfig};
use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use ingest::consume::{self, IngestConfig};
use ingest::decode::UserKeyHasher;
use model::LiveRows;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use tokio_util::sync::CancellationToken;

use crate::support::TansuBroker;
use crate::support::ledger::{now_ms, parquet_files};

const TOPIC: &str = "order-attempts";

fn event(id: &str) -> String {
    format!(
        r#"{{"event_id":"{id}","ts":{},"outcome":"failure","channel":"web","failure_cause":"network_error","payment_method":"alipay"}}"#,
        now_ms() - 1_000
    )
}

fn produce(broker: &TansuBroker, ids: &[String]) {
    let producer: BaseProducer = broker.client_config().create().expect("producer");
    for (i, id) in ids.iter().enumerate() {
        let value = event(id);
        let key = i.to_string();
        producer
            .send(BaseRecord::to(TOPIC).key(&key).payload(&value))
            .expect("queue a record");
    }
    producer
        .flush(Duration::from_secs(10))
        .expect("acknowledged");
}

async fn count(analytics: &Analytics, filter: &str) -> i64 {
    let out = analytics
        .sql(&format!(
            "SELECT count(*) AS n FROM order_attempts WHERE {filter}"
        ))
        .await
        .expect("query");
    out.batches[0]
        .column(0)
        .as_primitive::<Int64Type>()
        .value(0)
}

#[test]
fn consumed_events_are_queryable_within_two_seconds_and_counted_once() {
    let broker = TansuBroker::start();
    broker.create_topic(TOPIC, 2);
    let dir = tempfile::tempdir().unwrap();
    let live = LiveRows::new();
    let mut config = IngestConfig::new(
        &broker.bootstrap(),
        TOPIC,
        dir.path().to_path_buf(),
        UserKeyHasher::from_config(None, true).unwrap(),
    );
    config.group = "live-test".into();
    config.dlq_topic = None;
    // Nothing is flushed while the test looks: every answer comes from live rows.
    config.flush_interval = Duration::from_secs(3600);
    config.live = live.clone();
    let shutdown = CancellationToken::new();
    let worker = {
        let shutdown = shutdown.clone();
        std::thread::spawn(move || consume::run(config, &shutdown))
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut analytics_config = AnalyticsConfig::new(dir.path()).unwrap();
    analytics_config.live = Some(live.clone());
    let analytics = rt
        .block_on(Analytics::new(analytics_config))
        .expect("analytics");

    let first: Vec<String> = (0..500).map(|i| format!("first-{i}")).collect();
    produce(&broker, &first);
    let deadline = Instant::now() + Duration::from_secs(60);
    while rt.block_on(count(&analytics, "event_id LIKE 'first-%'")) < 500 {
        assert!(
            Instant::now() < deadline,
            "the first events never became queryable"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        parquet_files(dir.path()).is_empty(),
        "answered from live rows, not files"
    );

    // Now that the worker is running and assigned: one event, timed.
    produce(&broker, &["timed".to_string()]);
    let acked = Instant::now();
    while rt.block_on(count(&analytics, "event_id = 'timed'")) < 1 {
        assert!(
            acked.elapsed() < Duration::from_secs(2),
            "an acknowledged event was not queryable within 2 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Stop: the worker flushes and releases; the rows are now in files, once.
    shutdown.cancel();
    let report = worker.join().expect("worker thread").expect("worker");
    assert_eq!(report.records, 501);
    assert!(!parquet_files(dir.path()).is_empty());
    assert_eq!(live.rows(), 0, "released after the flush");
    assert_eq!(rt.block_on(count(&analytics, "true")), 501);
}
