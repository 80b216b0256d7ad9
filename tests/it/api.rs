//! The SQL API over a real socket (CONTRACT section 6): `POST /api/sql` in
//! JSON, CSV and Arrow IPC; the saved queries; bearer-token auth; and
//! hostile requests, each answered with the right 4xx and a JSON error,
//! never a 5xx. A health check answers at once while a heavy query runs.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use analytics::{Analytics, AnalyticsConfig, Limits};
use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use arrow::ipc::reader::StreamReader;
use dashboards::api::{ApiState, ApiToken, check_bind};
use dashboards::ops::OpsState;
use ingest::decode::{Decoder, DecoderConfig, Source, UserKeyHasher, rejected_batch};
use ingest::sink::{FlushRange, ParquetSink, SinkOptions};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::support::http::{self, Response};

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.expect("clock after 1970").as_millis() as i64
}

const HEAVY: &str = "SELECT count(*) FROM generate_series(1, 100000000000) WHERE value % 7 = 3";

/// Ten minutes ago: 3 network_error failures on web/alipay, 1
/// payment_declined on ios_app/credit_card, 2 successes, 1 malformed line.
fn fixture(data_dir: &Path) {
    let ts = now_ms() - 600_000;
    let mut lines = Vec::new();
    for i in 0..3 {
        lines.push(format!(
            r#"{{"event_id":"net-{i}","ts":{ts},"outcome":"failure","channel":"web","failure_cause":"network_error","payment_method":"alipay","error_message":"<img src=x onerror=alert(1)>"}}"#
        ));
    }
    lines.push(format!(
        r#"{{"event_id":"dec-0","ts":{ts},"outcome":"failure","channel":"ios_app","failure_cause":"payment_declined","payment_method":"credit_card","latency_ms":1200}}"#
    ));
    for i in 0..2 {
        lines.push(format!(
            r#"{{"event_id":"ok-{i}","ts":{ts},"outcome":"success","channel":"web","payment_method":"alipay"}}"#
        ));
    }
    lines.push("{not json".to_string());
    let users = UserKeyHasher::new(b"it-api-secret-0123456789").expect("secret");
    let mut decoder = Decoder::new(DecoderConfig::new(users));
    let sink = ParquetSink::new(data_dir, SinkOptions::default());
    // Two flushes: their dictionaries differ, as files and live rows do.
    for (first, chunk) in [(0, &lines[..3]), (3, &lines[3..])] {
        for (i, line) in chunk.iter().enumerate() {
            let src = Source {
                topic: "order-attempts",
                partition: 0,
                offset: first + i as i64,
                now_ms: now_ms(),
            };
            decoder.decode(line.as_bytes(), &src);
        }
        let accepted = decoder.finish_batch().expect("batch");
        let rejected = rejected_batch(&decoder.take_rejected()).expect("rejected");
        let range = FlushRange {
            topic: "order-attempts".into(),
            partition: 0,
            first,
            last: first + chunk.len() as i64 - 1,
        };
        sink.write_flush(&range, &[accepted], Some(&rejected), now_ms())
            .expect("flush");
    }
}

/// The HTTP app of `orderpulse serve` (without ingest) on a free port.
struct Server {
    addr: SocketAddr,
    stop: CancellationToken,
    _rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(token: Option<&str>) -> Server {
        Server::start_with(token, dashboards::api::MAX_IN_FLIGHT)
    }

    fn start_with(token: Option<&str>, max_in_flight: usize) -> Server {
        let dir = tempfile::tempdir().unwrap();
        fixture(dir.path());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut config = AnalyticsConfig::new(dir.path()).unwrap();
        config.limits = Limits {
            timeout: Duration::from_secs(3),
            max_rows: 1_000,
            threads: 2,
            ..Limits::default()
        };
        let stop = CancellationToken::new();
        let addr = rt.block_on(async {
            let analytics = Analytics::new(config).await.expect("analytics");
            let router = dashboards::app::router(
                OpsState {
                    registry: prometheus::Registry::new(),
                    health: model::health::Health::new(),
                },
                ApiState {
                    token: ApiToken::new(token),
                    max_in_flight,
                    ..ApiState::new(analytics)
                },
            );
            let (addr, _task) =
                dashboards::ops::serve("127.0.0.1:0".parse().unwrap(), router, stop.clone())
                    .await
                    .expect("bind");
            addr
        });
        Server {
            addr,
            stop,
            _rt: rt,
            _dir: dir,
        }
    }

    fn sql(&self, query: &str, body: &[u8]) -> Response {
        http::post_json(self.addr, &format!("/api/sql{query}"), &[], body).expect("answer")
    }

    fn get(&self, path: &str) -> Response {
        http::get(self.addr, path, &[]).expect("answer")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn sql_body(sql: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({ "sql": sql })).unwrap()
}

/// Asserts the headers every response carries.
fn assert_security_headers(r: &Response) {
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'self'")
    );
}

/// Asserts a JSON error with `status`; returns its message.
fn assert_error(r: &Response, status: u16, what: &str) -> String {
    assert_eq!(r.status, status, "{what}: {}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"), "{what}");
    assert_security_headers(r);
    let body = r.json();
    let message = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: {body}"));
    assert!(!message.is_empty(), "{what}");
    message.to_string()
}

#[test]
fn sql_answers_as_json_csv_and_arrow() {
    let s = Server::start(None);
    let query = "SELECT failure_cause, count(*) AS n, max(latency_ms) AS slowest \
                 FROM order_attempts WHERE outcome = 'failure' \
                 GROUP BY failure_cause ORDER BY n DESC";

    let r = s.sql("", &sql_body(query));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_security_headers(&r);
    let body = r.json();
    assert_eq!(body["columns"], json!(["failure_cause", "n", "slowest"]));
    assert_eq!(body["types"], json!(["Utf8", "Int64", "Int64"]));
    assert_eq!(
        body["rows"],
        json!([["network_error", 3, null], ["payment_declined", 1, 1200]])
    );

    let r = s.sql("?format=csv", &sql_body(query));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(
        r.text(),
        "failure_cause,n,slowest\nnetwork_error,3,\npayment_declined,1,1200\n"
    );

    let r = s.sql("?format=arrow", &sql_body(query));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.apache.arrow.stream")
    );
    let reader = StreamReader::try_new(std::io::Cursor::new(r.body), None).expect("IPC stream");
    let schema = reader.schema();
    assert_eq!(schema.field(1).name(), "n");
    let batches: Vec<_> = reader.collect::<Result<_, _>>().expect("batches");
    let counts: Vec<i64> = batches
        .iter()
        .flat_map(|b| b.column(1).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    assert_eq!(counts, vec![3, 1]);

    // Every column of the table, dictionaries and timestamps included, from
    // two files with different dictionaries: one valid IPC stream.
    let r = s.sql(
        "?format=arrow",
        &sql_body("SELECT * FROM order_attempts ORDER BY event_id"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let reader = StreamReader::try_new(std::io::Cursor::new(r.body), None).expect("IPC stream");
    assert_eq!(
        reader.schema().fields().len(),
        26,
        "CONTRACT section 4 columns"
    );
    let batches: Vec<_> = reader.collect::<Result<_, _>>().expect("batches");
    let channels: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let c = arrow::compute::cast(
                b.column_by_name("channel").unwrap(),
                &arrow::datatypes::DataType::Utf8,
            )
            .unwrap();
            c.as_string::<i32>()
                .iter()
                .map(|v| v.unwrap_or("").to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(channels, ["ios_app", "web", "web", "web", "web", "web"]);

    // An empty result still names its columns, in every format.
    let empty = "SELECT event_id FROM order_attempts WHERE false";
    assert_eq!(
        s.sql("", &sql_body(empty)).json(),
        json!({"columns": ["event_id"], "types": ["Utf8"], "rows": []})
    );
    assert_eq!(s.sql("?format=csv", &sql_body(empty)).text(), "event_id\n");
    let r = s.sql("?format=arrow", &sql_body(empty));
    let reader = StreamReader::try_new(std::io::Cursor::new(r.body), None).expect("IPC");
    assert_eq!(reader.schema().field(0).name(), "event_id");

    // Event text comes back as data, verbatim: a client renders it as text.
    let r = s.sql(
        "",
        &sql_body(
            "SELECT DISTINCT error_message FROM order_attempts WHERE error_message IS NOT NULL",
        ),
    );
    assert_eq!(r.json()["rows"], json!([["<img src=x onerror=alert(1)>"]]));
    // Rejected records are a table too.
    let r = s.sql("", &sql_body("SELECT reason FROM rejected_events"));
    assert_eq!(r.json()["rows"], json!([["invalid_json"]]));
}

#[test]
fn saved_queries_are_listed_and_run_with_parameters() {
    let s = Server::start(None);
    let r = s.get("/api/queries");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_security_headers(&r);
    let list = r.json();
    let queries = list["queries"].as_array().expect("queries");
    assert!(queries.len() >= 6, "{list}");
    let by_cause = queries
        .iter()
        .find(|q| q["name"] == "failures_by_cause")
        .expect("failures_by_cause listed");
    assert!(!by_cause["purpose"].as_str().unwrap().is_empty());
    assert_eq!(by_cause["url"], "/api/queries/failures_by_cause");
    assert_eq!(
        by_cause["params"][0],
        json!({"name": "start", "type": "timestamp", "default": "now-24h",
               "description": "window start, inclusive (RFC 3339 or now-24h)"})
    );
    let columns: Vec<&str> = by_cause["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["failure_cause", "failures", "share"]);
    assert_eq!(by_cause["minutes_form"], true);
    let retry = queries
        .iter()
        .find(|q| q["name"] == "retry_recovery_rate")
        .expect("retry_recovery_rate listed");
    assert_eq!(
        retry["minutes_form"], true,
        "its failed orders come from order_attempts_failures"
    );
    for q in queries {
        for name in ["name", "purpose", "params", "columns", "minutes_form"] {
            assert!(!q[name].is_null(), "{name} missing in {q}");
        }
    }

    let r = s.get("/api/queries/failures_by_cause?start=now-1h&end=now");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"columns": ["failure_cause", "failures", "share"],
               "types": ["Utf8", "Int64", "Float64"],
               "rows": [["network_error", 3, 0.75], ["payment_declined", 1, 0.25]]})
    );
    // RFC 3339 with an offset, percent-encoded as a browser sends it.
    let start = "2000-01-01T08%3A00%3A00%2B08%3A00";
    let r = s.get(&format!(
        "/api/queries/failures_by_cause?start={start}&format=csv"
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"failures_by_cause.csv\"")
    );
    assert_eq!(
        r.text(),
        "failure_cause,failures,share\nnetwork_error,3,0.75\npayment_declined,1,0.25\n"
    );
    // The window excludes the fixture: no rows, still the columns.
    let r = s.get("/api/queries/failures_by_cause?start=now-2m");
    assert_eq!(r.json()["rows"], json!([]));
    let r = s.get("/api/queries/failure_rate_trend?start=now-1h&bucket=5%20minutes&format=arrow");
    assert_eq!(r.status, 200, "{}", r.text());
    let rows: usize = StreamReader::try_new(std::io::Cursor::new(r.body), None)
        .expect("IPC")
        .map(|b| b.expect("batch").num_rows())
        .sum();
    assert!(rows >= 1, "a bucket with the fixture's failures");

    assert_error(&s.get("/api/queries/nope"), 404, "unknown query");
    let m = assert_error(
        &s.get("/api/queries/failures_by_cause?colour=red"),
        400,
        "unknown parameter",
    );
    assert!(m.contains("colour"), "{m}");
    assert_error(
        &s.get("/api/queries/failures_by_cause?start=yesterday-ish"),
        400,
        "malformed value",
    );
    assert_error(
        &s.get("/api/queries/failures_by_cause?start=now-1h&start=now-2h"),
        400,
        "repeated parameter",
    );
    assert_error(
        &s.get("/api/queries/failure_rate_trend?bucket=0%20seconds"),
        400,
        "zero bucket",
    );
    assert_error(
        &s.get("/api/queries/failures_by_cause?format=xml"),
        400,
        "unknown format",
    );
    assert_error(
        &s.get("/api/queries/%2e%2e%2f%2e%2e%2fetc%2fpasswd"),
        404,
        "path traversal",
    );
}

#[test]
fn the_token_guards_the_api_and_non_loopback_binds_need_one() {
    const TOKEN: &str = "it-api-token-4f1c9a";
    let s = Server::start(Some(TOKEN));
    let body = sql_body("SELECT count(*) AS n FROM order_attempts");
    let post = |headers: &[(&str, &str)]| {
        http::post_json(s.addr, "/api/sql", headers, &body).expect("answer")
    };
    let r = post(&[]);
    assert_error(&r, 401, "no token");
    assert!(
        r.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer"))
    );
    assert_error(
        &post(&[("Authorization", "Bearer wrong")]),
        401,
        "wrong token",
    );
    let prefix = &TOKEN[..TOKEN.len() - 1];
    let prefixed = format!("Bearer {prefix}");
    assert_error(&post(&[("Authorization", &prefixed)]), 401, "a prefix");
    let basic = format!("Basic {TOKEN}");
    assert_error(&post(&[("Authorization", &basic)]), 401, "wrong scheme");
    let bearer = format!("Bearer {TOKEN}");
    let r = post(&[("Authorization", &bearer)]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["rows"], json!([[6]]));
    assert_error(&s.get("/api/queries"), 401, "list without token");
    let r = http::get(s.addr, "/api/queries", &[("Authorization", &bearer)]).unwrap();
    assert_eq!(r.status, 200);
    let r = http::get(
        s.addr,
        "/api/queries/failures_by_cause",
        &[("authorization", &bearer)],
    );
    assert_eq!(r.unwrap().status, 200);
    // A huge body without the token is refused before it is read.
    let huge = vec![b' '; 10 << 20];
    assert_error(
        &http::post_json(s.addr, "/api/sql", &[], &huge).expect("answer"),
        401,
        "huge body, no token",
    );
    // Operations routes stay open: probes and Prometheus carry no token.
    for path in ["/healthz", "/metrics", "/"] {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert_security_headers(&r);
    }

    // Start-up refuses a non-loopback bind without a token.
    let token = ApiToken::new(Some(TOKEN));
    for addr in ["0.0.0.0:8080", "[::]:8080", "10.1.2.3:8080"] {
        let addr: SocketAddr = addr.parse().unwrap();
        let err = check_bind(addr, None).expect_err("refused");
        assert!(err.to_string().contains("ORDERPULSE_API_TOKEN"), "{err}");
        check_bind(addr, token.as_ref()).expect("allowed with a token");
    }
    check_bind("127.0.0.1:8080".parse().unwrap(), None).expect("loopback is fine");
}

#[test]
fn hostile_requests_get_a_4xx_json_error_never_a_5xx() {
    let s = Server::start(None);
    let chain = format!("SELECT {}1", "1+".repeat(2_000));
    let parens = format!("SELECT {}1{}", "(".repeat(50_000), ")".repeat(50_000));
    let long = format!("SELECT 1 /* {} */", "x".repeat(200_000));
    let many = "SELECT value FROM generate_series(1, 100000)";
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("not JSON", b"SELECT 1".to_vec(), 400),
        ("empty body", Vec::new(), 400),
        ("JSON array", b"[\"SELECT 1\"]".to_vec(), 400),
        ("no sql field", b"{\"query\": \"SELECT 1\"}".to_vec(), 400),
        ("sql is a number", b"{\"sql\": 5}".to_vec(), 400),
        ("sql is null", b"{\"sql\": null}".to_vec(), 400),
        ("truncated JSON", b"{\"sql\": \"SELECT".to_vec(), 400),
        (
            "raw NUL bytes",
            b"{\"sql\": \"SELECT 1\0\0\"}".to_vec(),
            400,
        ),
        ("escaped NUL", sql_body("SELECT 1\0"), 422),
        (
            "invalid UTF-8",
            b"{\"sql\": \"SELECT '\xff\xfe'\"}".to_vec(),
            400,
        ),
        (
            "deep JSON",
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
            400,
        ),
        ("empty SQL", sql_body(""), 400),
        ("syntax error", sql_body("SELEKT 1"), 400),
        ("unknown table", sql_body("SELECT * FROM nope"), 400),
        (
            "unknown column",
            sql_body("SELECT nope FROM order_attempts"),
            400,
        ),
        ("2 000-term expression", sql_body(&chain), 422),
        ("50 000 parentheses", sql_body(&parens), 422),
        ("over the SQL length limit", sql_body(&long), 422),
        ("too many rows", sql_body(many), 422),
        ("DROP", sql_body("DROP TABLE order_attempts"), 400),
        ("CREATE TABLE", sql_body("CREATE TABLE t AS SELECT 1"), 400),
        (
            "INSERT",
            sql_body("INSERT INTO order_attempts SELECT * FROM order_attempts"),
            400,
        ),
        (
            "COPY",
            sql_body("COPY (SELECT 1) TO '/tmp/orderpulse-api-copy.csv'"),
            400,
        ),
        (
            "SET",
            sql_body("SET datafusion.execution.batch_size = 1"),
            400,
        ),
        (
            "external table",
            sql_body("CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/'"),
            400,
        ),
        ("file read", sql_body("SELECT * FROM '/etc/passwd'"), 400),
        (
            "read_csv",
            sql_body("SELECT * FROM read_csv('/etc/passwd')"),
            400,
        ),
        (
            "two statements",
            sql_body("SELECT 1; DROP TABLE order_attempts"),
            400,
        ),
    ];
    for (what, body, status) in &cases {
        let r = s.sql("", body);
        let message = assert_error(&r, *status, what);
        assert!(message.len() < 10_000, "{what}: a short message");
    }
    assert!(
        !Path::new("/tmp/orderpulse-api-copy.csv").exists(),
        "COPY wrote"
    );

    // 10 MB: refused by the body limit, whether it announces its length...
    let huge = sql_body(&"x".repeat(10 << 20));
    assert_error(&s.sql("", &huge), 413, "10 MB body");
    // ...or streams it in chunks without one.
    let chunked = {
        let mut b = Vec::new();
        for _ in 0..20 {
            b.extend_from_slice(format!("{:x}\r\n", 1 << 19).as_bytes());
            b.extend(std::iter::repeat_n(b'x', 1 << 19));
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(b"0\r\n\r\n");
        b
    };
    let r = raw_post_chunked(s.addr, &chunked);
    assert_error(&r, 413, "10 MB chunked body");

    assert_error(
        &s.sql("?format=parquet", &sql_body("SELECT 1")),
        400,
        "bad format",
    );
    assert_error(
        &s.sql("?format=csv&format=json", &sql_body("SELECT 1")),
        400,
        "two formats",
    );
    assert_error(&s.get("/api/nope"), 404, "unknown API route");
    let r = s.get("/api/sql");
    assert_eq!(r.status, 405, "GET /api/sql");
    assert_security_headers(&r);

    // And the server is fine afterwards.
    let r = s.sql("", &sql_body("SELECT count(*) AS n FROM order_attempts"));
    assert_eq!(r.json()["rows"], json!([[6]]));
}

/// A chunked POST to /api/sql (the body already chunk-encoded).
fn raw_post_chunked(addr: SocketAddr, chunked: &[u8]) -> Response {
    http::request(
        addr,
        "POST",
        "/api/sql",
        &[
            ("Transfer-Encoding", "chunked"),
            ("Content-Type", "application/json"),
        ],
        Some(chunked),
    )
    .expect("answer")
}

#[test]
fn health_answers_at_once_while_a_heavy_query_runs_and_the_query_times_out() {
    let s = Server::start(None);
    let addr = s.addr;
    let heavy = std::thread::spawn(move || {
        let started = Instant::now();
        let r = http::post_json(addr, "/api/sql", &[], &sql_body(HEAVY)).expect("answer");
        (r, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let t = Instant::now();
        let r = s.get("/healthz");
        slowest = slowest.max(t.elapsed());
        assert_eq!(r.status, 200);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!heavy.is_finished(), "the heavy query was still running");
    assert!(
        slowest < Duration::from_millis(500),
        "/healthz took {slowest:?}"
    );
    let (r, took) = heavy.join().unwrap();
    let message = assert_error(&r, 408, "heavy query");
    assert!(message.contains("time limit"), "{message}");
    assert!(
        took < Duration::from_secs(10),
        "cancelled in time: {took:?}"
    );
    // The runtime is free again.
    let r = s.sql("", &sql_body("SELECT 1 AS one"));
    assert_eq!(r.json()["rows"], json!([[1]]));
}

#[test]
fn requests_past_the_in_flight_cap_are_shed_with_503() {
    let s = Server::start_with(None, 1);
    let addr = s.addr;
    let heavy = std::thread::spawn(move || {
        http::post_json(addr, "/api/sql", &[], &sql_body(HEAVY)).expect("answer")
    });
    std::thread::sleep(Duration::from_millis(500));
    let r = s.sql("", &sql_body("SELECT 1"));
    assert_error(&r, 503, "second request while one runs");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(s.get("/healthz").status, 200, "ops routes are not capped");
    assert_error(&heavy.join().unwrap(), 408, "heavy query");
    let r = s.sql("", &sql_body("SELECT 1 AS one"));
    assert_eq!(r.json()["rows"], json!([[1]]), "a permit is free again");
}
