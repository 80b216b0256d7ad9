//! The ceiling for `orderpulse ingest`: a bare rdkafka consumer with the same
//! client settings as `ingest::consume::run` that only counts records and
//! bytes. `scripts/bench-ingest.sh` runs it against the same topic as ingest
//! (see BENCHMARKS.md, "Ingest").
//!
//! ```sh
//! cargo run --release -p ingest --example bare_consumer -- \
//!     --brokers 127.0.0.1:9092 --topic order-attempts --group bare-1 --records 2000000
//! ```
//!
//! It joins the group, counts until it has seen `--records` records (or
//! `--timeout` passes), and prints one JSON object on stdout: records,
//! payload bytes, the seconds from the first record to the last, the rates,
//! the seconds the group join took, and its own peak RSS (`VmHWM`).

use std::error::Error;
use std::time::{Duration, Instant};

use ingest::consume::{IngestConfig, client_config};
use ingest::decode::UserKeyHasher;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;

struct Args {
    brokers: String,
    topic: String,
    group: String,
    records: u64,
    timeout: Duration,
    kafka_options: Vec<(String, String)>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        brokers: "127.0.0.1:9092".into(),
        topic: "order-attempts".into(),
        group: "bare-consumer".into(),
        records: 0,
        timeout: Duration::from_secs(600),
        kafka_options: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--brokers" => args.brokers = value()?,
            "--topic" => args.topic = value()?,
            "--group" => args.group = value()?,
            "--records" => {
                args.records = value()?.parse().map_err(|e| format!("--records: {e}"))?;
            }
            "--timeout-secs" => {
                let secs: u64 = value()?
                    .parse()
                    .map_err(|e| format!("--timeout-secs: {e}"))?;
                args.timeout = Duration::from_secs(secs);
            }
            "--kafka-option" => {
                let kv = value()?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("--kafka-option {kv}: expected KEY=VALUE"))?;
                args.kafka_options.push((k.into(), v.into()));
            }
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: bare_consumer --brokers B --topic T \
                     --group G --records N [--timeout-secs S] [--kafka-option K=V]..."
                ));
            }
        }
    }
    if args.records == 0 {
        return Err("--records N (how many records to count before stopping) is required".into());
    }
    Ok(args)
}

/// Peak resident set size of this process in KiB, from /proc (Linux).
fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    // Exactly the client settings of ingest::consume::run.
    let mut config = IngestConfig::new(
        &args.brokers,
        &args.topic,
        std::env::temp_dir(),
        UserKeyHasher::from_config(None, true)?,
    );
    config.group = args.group.clone();
    config.kafka_options = args.kafka_options.clone();
    let client = client_config(&config);
    let consumer: BaseConsumer = client.create()?;
    consumer.subscribe(&[&args.topic])?;

    let started = Instant::now();
    let deadline = started + args.timeout;
    let (mut records, mut bytes, mut errors) = (0u64, 0u64, 0u64);
    let mut first: Option<Instant> = None;
    let mut last = started;
    while records < args.records && Instant::now() < deadline {
        // The same poll as the ingest worker's loop.
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let now = Instant::now();
                first.get_or_insert(now);
                last = now;
                records += 1;
                bytes += m.payload_len() as u64;
            }
            // enable.partition.eof reports each caught-up partition.
            Some(Err(KafkaError::PartitionEOF(_))) => {}
            Some(Err(_)) => errors += 1,
            None => {}
        }
    }
    let first = first.unwrap_or(last);
    let seconds = last.duration_since(first).as_secs_f64().max(1e-9);
    let out = serde_json::json!({
        "records": records,
        "bytes": bytes,
        "seconds": seconds,
        "records_per_s": records as f64 / seconds,
        "mb_per_s": bytes as f64 / seconds / 1e6,
        "join_seconds": first.duration_since(started).as_secs_f64(),
        "consumer_errors": errors,
        "vm_hwm_kib": vm_hwm_kib(),
        "complete": records >= args.records,
    });
    println!("{out}");
    if records < args.records {
        return Err(format!(
            "saw {records} of {} records before the timeout",
            args.records
        )
        .into());
    }
    Ok(())
}
