//! The Postgres wire endpoint (`dashboards::pg`) with the real `psql` client
//! (Debian postgresql-client): connect, a saved query's SQL agrees with
//! `Analytics::query`, typed results, errors for bad SQL, psql's `\d`
//! catalog queries, refused statements and hostile input, the server still
//! serving after all that, and the token as the password; and a real driver
//! (tokio-postgres) preparing statements and binding typed parameters.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::ledger::store_ndjson;
use analytics::{Analytics, AnalyticsConfig};
use arrow::util::display::array_value_to_string;
use tokio_util::sync::CancellationToken;

/// The `psql` binary, or a failure saying how to install it.
fn psql_binary() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("psql"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("psql not found on PATH: apt-get install postgresql-client (the PG wire tests run the real client)")
    })
}

/// Simulated traffic (one hour from 2026-11-01T23:30Z, a payment outage,
/// malformed records) decoded and flushed into `data_dir` by the real
/// decoder and sink; returns the accepted events.
fn simulated_data_dir(data_dir: &Path) -> u64 {
    let ndjson = data_dir.join("sim.ndjson");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orderpulse"))
        .args([
            "simulate",
            "--start",
            "2026-11-01T23:30:00Z",
            "--duration",
            "1h",
        ])
        .args(["--rate", "5", "--seed", "11", "--output"])
        .arg(&ndjson)
        .args([
            "--scenario",
            "payment-outage,malformed:share=0.02,oversized=0",
        ])
        .output()
        .expect("run orderpulse simulate");
    assert!(out.status.success(), "simulate: {}", text(&out.stderr));
    let stats = store_ndjson(&ndjson, data_dir, b"it-pg-secret-0123456789");
    stats.accepted
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

struct Server {
    addr: SocketAddr,
    analytics: Analytics,
    shutdown: CancellationToken,
    accepted: u64,
    _dir: tempfile::TempDir,
}

async fn start(token: Option<&str>) -> Server {
    let dir = tempfile::tempdir().expect("dir");
    let accepted = simulated_data_dir(dir.path());
    let config = AnalyticsConfig::new(dir.path()).expect("config");
    let analytics = Analytics::new(config).await.expect("analytics");
    let shutdown = CancellationToken::new();
    let (addr, _task) = dashboards::pg::serve(
        "127.0.0.1:0".parse().expect("addr"),
        analytics.clone(),
        token.map(str::to_string),
        shutdown.clone(),
    )
    .await
    .expect("serve");
    Server {
        addr,
        analytics,
        shutdown,
        accepted,
        _dir: dir,
    }
}

/// Runs the real psql: unaligned, tuples only, no psqlrc, never prompting,
/// stopping at the first error; `args` follow (e.g. `-c SQL`).
async fn psql(addr: SocketAddr, password: Option<&str>, args: &[&str]) -> Output {
    let conn = format!(
        "host=127.0.0.1 port={} user=analyst dbname=orderpulse connect_timeout=10",
        addr.port()
    );
    let mut cmd = tokio::process::Command::new(psql_binary());
    cmd.arg(conn)
        .args(["-X", "-w", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .args(args)
        .env_remove("PGPASSWORD")
        .env_remove("PGSERVICE")
        .env("PGSSLMODE", "disable");
    if let Some(password) = password {
        cmd.env("PGPASSWORD", password);
    }
    let run = cmd.output();
    tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("psql finished within 60 s")
        .expect("run psql")
}

/// psql's stdout for `sql`, asserting success.
async fn ok(addr: SocketAddr, sql: &str) -> String {
    let out = psql(addr, None, &["-c", sql]).await;
    assert!(
        out.status.success(),
        "`{sql}` failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// psql's stderr for `sql`, asserting it failed with an ERROR.
async fn fails(addr: SocketAddr, sql: &str) -> String {
    let out = psql(addr, None, &["-c", sql]).await;
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success(),
        "`{sql}` succeeded: {}",
        text(&out.stdout)
    );
    assert!(stderr.contains("ERROR"), "`{sql}`: {stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_queries_the_tables_and_catalog_under_the_guardrails() {
    let server = start(None).await;
    let addr = server.addr;

    // Connect and count: the same rows the decoder accepted.
    assert_eq!(ok(addr, "SELECT 1").await.trim(), "1");
    let count = ok(addr, "SELECT count(*) FROM order_attempts").await;
    assert_eq!(count.trim(), server.accepted.to_string());

    // A saved query's SQL with its parameters substituted returns the rows
    // Analytics::query returns.
    let saved = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("queries/failures_by_cause.sql"),
    )
    .expect("saved query");
    let (start, end) = ("2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z");
    let sql = saved
        .replace("$start", &format!("TIMESTAMP '{start}'"))
        .replace("$end", &format!("TIMESTAMP '{end}'"));
    let via_pg = psql(addr, None, &["--csv", "-c", &sql]).await;
    assert!(via_pg.status.success(), "{}", text(&via_pg.stderr));
    let pg_rows: Vec<Vec<String>> = text(&via_pg.stdout)
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let params = [
        ("start".to_string(), start.to_string()),
        ("end".to_string(), end.to_string()),
    ];
    let expected = server
        .analytics
        .query("failures_by_cause", &params)
        .await
        .expect("saved query");
    let mut direct: Vec<Vec<String>> = Vec::new();
    for batch in &expected.batches {
        for row in 0..batch.num_rows() {
            direct.push(
                batch
                    .columns()
                    .iter()
                    .map(|c| array_value_to_string(c, row).expect("cell"))
                    .collect(),
            );
        }
    }
    assert!(direct.len() > 1, "the outage gives several causes");
    assert_eq!(pg_rows, direct, "psql rows vs Analytics::query");

    // Typed results: integers are integers, timestamps timestamps.
    let script = server._dir.path().join("gdesc.sql");
    std::fs::write(
        &script,
        "SELECT count(*) AS n, max(ts) AS last, min(latency_ms) AS l FROM order_attempts \\gdesc\n",
    )
    .expect("script");
    let described = psql(addr, None, &["-f", script.to_str().expect("utf-8 path")]).await;
    assert!(described.status.success(), "{}", text(&described.stderr));
    let types = text(&described.stdout);
    assert!(types.contains("n|bigint"), "{types}");
    assert!(types.contains("last|timestamp"), "{types}");
    assert!(types.contains("l|bigint"), "{types}");

    // Bad SQL: an ERROR with a clear message, a non-zero exit.
    let err = fails(addr, "SELEC 1").await;
    assert!(err.to_lowercase().contains("selec"), "{err}");
    let err = fails(addr, "SELECT no_such_column FROM order_attempts").await;
    assert!(err.contains("no_such_column"), "{err}");

    // psql's catalog commands.
    let dt = ok(addr, "\\dt").await;
    for table in ["order_attempts", "rejected_events", "alerts"] {
        assert!(dt.contains(table), "\\dt lacks {table}: {dt}");
    }
    let d = ok(addr, "\\d").await;
    assert!(d.contains("order_attempts"), "\\d: {d}");
    let d = ok(addr, "\\d order_attempts").await;
    for column in ["event_id", "failure_cause", "latency_ms", "ts"] {
        assert!(d.contains(column), "\\d order_attempts lacks {column}: {d}");
    }

    // Session SETs drivers send are accepted; the rest is refused.
    ok(addr, "SET datestyle = 'ISO, MDY'").await;
    ok(addr, "SET client_encoding = 'UTF8'").await;
    ok(addr, "SET extra_float_digits = 3").await;
    ok(addr, "SET application_name = 'it'").await;
    for sql in [
        "CREATE TABLE t (a INT)",
        "CREATE VIEW v AS SELECT 1",
        "DROP TABLE order_attempts",
        "INSERT INTO order_attempts (event_id) VALUES ('x')",
        "DELETE FROM order_attempts",
        "COPY (SELECT 1) TO '/tmp/orderpulse-pg-copy.csv'",
        "SET datafusion.execution.batch_size = 1",
        "DECLARE c CURSOR FOR SELECT 1",
    ] {
        let err = fails(addr, sql).await;
        assert!(err.contains("refused"), "`{sql}`: {err}");
    }
    assert!(!Path::new("/tmp/orderpulse-pg-copy.csv").exists());

    // Hostile input: an error, not a crash.
    let chain = vec!["1"; 2000].join("+");
    let err = fails(addr, &format!("SELECT {chain}")).await;
    assert!(err.contains("nests"), "{err}");
    let nested = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
    fails(addr, &nested).await;

    // Still serving.
    let count = ok(addr, "SELECT count(*) FROM order_attempts").await;
    assert_eq!(count.trim(), server.accepted.to_string());
    server.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_psql_must_send_it_as_the_password() {
    let server = start(Some("s3cret-token")).await;
    let denied = psql(server.addr, None, &["-c", "SELECT 1"]).await;
    assert!(!denied.status.success(), "no password got in");
    let wrong = psql(server.addr, Some("nope"), &["-c", "SELECT 1"]).await;
    assert!(!wrong.status.success(), "a wrong password got in");
    assert!(
        text(&wrong.stderr).contains("Password authentication failed"),
        "{}",
        text(&wrong.stderr)
    );
    let right = psql(server.addr, Some("s3cret-token"), &["-c", "SELECT 1"]).await;
    assert!(right.status.success(), "{}", text(&right.stderr));
    assert_eq!(text(&right.stdout).trim(), "1");

    // No token: only loopback may be bound.
    let refused = dashboards::pg::serve(
        "0.0.0.0:0".parse().expect("addr"),
        server.analytics.clone(),
        None,
        CancellationToken::new(),
    )
    .await;
    let err = refused.expect_err("a non-loopback bind without a token is refused");
    assert!(err.to_string().contains("ORDERPULSE_API_TOKEN"), "{err}");
    server.shutdown.cancel();
}

/// A real driver (tokio-postgres, the extended query protocol): statements
/// prepared once with typed `$n` parameters and executed with different
/// values, typed results in binary format, the saved query's SQL agreeing
/// with `Analytics::query`, hostile values bound as data (never as SQL), and
/// clear errors for bad SQL and wrongly typed parameters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_prepares_statements_and_binds_typed_parameters() {
    use std::time::{Duration, SystemTime};

    let server = start(None).await;
    let conn = format!(
        "host=127.0.0.1 port={} user=analyst dbname=orderpulse connect_timeout=10",
        server.addr.port()
    );
    let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
        .await
        .expect("tokio-postgres connects");
    let driver = tokio::spawn(connection);
    let at = |rfc3339: &str| -> SystemTime {
        let ms = chrono::DateTime::parse_from_rfc3339(rfc3339)
            .expect("time")
            .timestamp_millis();
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms as u64)
    };

    // The saved query, prepared as a statement: its $start/$end become $1/$2.
    let saved = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("queries/failures_by_cause.sql"),
    )
    .expect("saved query")
    .replace("$start", "$1")
    .replace("$end", "$2");
    let statement = client
        .prepare(&saved)
        .await
        .expect("prepare the saved query");
    let (start, end) = ("2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z");
    let rows = client
        .query(&statement, &[&at(start), &at(end)])
        .await
        .expect("execute with bound timestamps");
    let got: Vec<(String, i64, f64)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let params = [
        ("start".to_string(), start.to_string()),
        ("end".to_string(), end.to_string()),
    ];
    let direct = server
        .analytics
        .query("failures_by_cause", &params)
        .await
        .expect("saved query");
    let mut want = Vec::new();
    for batch in &direct.batches {
        for row in 0..batch.num_rows() {
            let cell = |c: usize| array_value_to_string(batch.column(c), row).expect("cell");
            want.push((
                cell(0),
                cell(1).parse::<i64>().expect("count"),
                cell(2).parse::<f64>().expect("share"),
            ));
        }
    }
    assert!(want.len() > 1, "the outage gives several causes");
    assert_eq!(got, want, "driver rows vs Analytics::query");

    // The same statement again with other values: an empty window.
    let none = client
        .query(&statement, &[&at(end), &at(end)])
        .await
        .expect("execute again");
    assert!(none.is_empty(), "{} rows in an empty window", none.len());

    // A text parameter: values are data, never SQL.
    let by_channel = client
        .prepare("SELECT count(*) FROM order_attempts WHERE channel = $1")
        .await
        .expect("prepare");
    let web: i64 = client
        .query_one(&by_channel, &[&"web"])
        .await
        .expect("web")
        .get(0);
    assert!(web > 0, "no web attempts");
    for hostile in [
        "web' OR '1'='1",
        "web'; DROP TABLE order_attempts; --",
        "\u{0}",
        &"x".repeat(100_000),
    ] {
        let n: i64 = client
            .query_one(&by_channel, &[&hostile])
            .await
            .expect("a hostile value is just a value")
            .get(0);
        assert_eq!(n, 0, "{:?}", &hostile[..hostile.len().min(40)]);
    }
    let total: i64 = client
        .query_one("SELECT count(*) FROM order_attempts", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(total as u64, server.accepted, "still every row");

    // Errors: bad SQL at prepare, a parameter of the wrong type at bind,
    // a refused statement; the connection stays usable after each.
    let bad = client
        .prepare("SELEC oops")
        .await
        .expect_err("bad SQL is refused");
    assert!(bad.as_db_error().is_some(), "{bad:?}");
    let wrong_type = client
        .query(&statement, &[&"yesterday", &at(end)])
        .await
        .expect_err("a text value for a timestamp parameter");
    assert!(!wrong_type.to_string().is_empty());
    let refused = client
        .query("DROP TABLE order_attempts", &[])
        .await
        .expect_err("writes are refused");
    assert!(refused.as_db_error().is_some(), "{refused:?}");
    let one: i64 = client
        .query_one("SELECT CAST(1 AS BIGINT)", &[])
        .await
        .expect("still serving")
        .get(0);
    assert_eq!(one, 1);

    drop(client);
    let _ = driver.await;
    server.shutdown.cancel();
}
