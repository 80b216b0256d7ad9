//! Every guardrail, each with a query that would get through without it, and
//! hostile input that must answer with an error, never a panic or a hang.

#[path = "support/fixture.rs"]
mod fixture;

use std::time::{Duration, Instant};

use analytics::{Analytics, AnalyticsConfig, Error, Limits, SavedQueries};

async fn start_with(limits: Limits) -> (tempfile::TempDir, Analytics) {
    let dir = tempfile::tempdir().expect("dir");
    fixture::fixed(dir.path());
    let mut config = AnalyticsConfig::new(dir.path()).expect("config");
    config.limits = limits;
    let a = Analytics::new(config).await.expect("analytics");
    (dir, a)
}

async fn start() -> (tempfile::TempDir, Analytics) {
    start_with(Limits::default()).await
}

#[tokio::test]
async fn writes_ddl_copy_set_and_file_reads_are_refused() {
    let (dir, a) = start().await;
    let target = dir.path().join("copied.parquet");
    let statements = [
        "INSERT INTO order_attempts SELECT * FROM order_attempts".to_string(),
        "DELETE FROM order_attempts".to_string(),
        "UPDATE order_attempts SET channel = 'web'".to_string(),
        "DROP TABLE order_attempts".to_string(),
        "CREATE TABLE t AS SELECT 1".to_string(),
        "CREATE VIEW v AS SELECT 1".to_string(),
        "SELECT 1 AS a INTO t2".to_string(),
        format!(
            "CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '{}'",
            dir.path().display()
        ),
        format!("COPY (SELECT 1) TO '{}'", target.display()),
        format!("EXPLAIN COPY (SELECT 1) TO '{}'", target.display()),
        "SET datafusion.execution.batch_size = 1".to_string(),
        "RESET datafusion.execution.batch_size".to_string(),
        "BEGIN".to_string(),
        "SELECT 1; DROP TABLE order_attempts".to_string(),
        "SELECT * FROM '/etc/passwd'".to_string(),
        format!(
            "SELECT * FROM '{}'",
            dir.path().join("order_attempts").display()
        ),
        "SELECT * FROM read_parquet('/etc/passwd')".to_string(),
        "SELECT * FROM read_csv('/etc/passwd')".to_string(),
    ];
    for sql in &statements {
        match a.sql(sql).await {
            Ok(out) => panic!("`{sql}` ran: {} rows", out.rows),
            Err(e) => assert!(
                e.is_user_error(),
                "`{sql}`: {e} should be the caller's error"
            ),
        }
    }
    assert!(!target.exists(), "COPY wrote a file");
    let err = a.sql("DROP TABLE order_attempts").await.expect_err("drop");
    assert!(err.to_string().contains("read-only"), "{err}");
    // The tables are all still there and queries still work.
    let out = a
        .sql("SELECT count(*) FROM order_attempts")
        .await
        .expect("select");
    assert_eq!(out.rows, 1);
    // Read-only statements of every shape pass.
    for sql in [
        "SELECT 1",
        "WITH x AS (SELECT 1 AS a) SELECT a FROM x",
        "VALUES (1), (2)",
        "EXPLAIN SELECT count(*) FROM order_attempts",
        "SELECT table_name FROM information_schema.tables",
        "SHOW TABLES",
        "SHOW COLUMNS FROM order_attempts",
        "SHOW datafusion.execution.batch_size",
    ] {
        a.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

#[tokio::test]
async fn sql_longer_than_the_cap_is_refused_before_parsing() {
    let limits = Limits {
        max_sql_bytes: 1_000,
        ..Limits::default()
    };
    let (_dir, a) = start_with(limits).await;
    let padded = format!("SELECT 1 /* {} */", "x".repeat(1_000));
    let err = a.sql(&padded).await.expect_err("too long");
    assert!(matches!(err, Error::Limit(_)), "{err}");
    a.sql("SELECT 1 /* short */").await.expect("short query");

    // 10 MB with the default cap: refused at once.
    let (_dir, a) = start().await;
    let huge = format!("SELECT {}", "1+".repeat(5_000_000));
    let started = Instant::now();
    let err = a.sql(&huge).await.expect_err("10 MB");
    assert!(matches!(err, Error::Limit(_)), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn deep_expressions_are_refused_not_overflowing_the_stack() {
    let (_dir, a) = start().await;
    let chain = vec!["1"; 2_000].join("+");
    let err = a
        .sql(&format!("SELECT {chain}"))
        .await
        .expect_err("2000 terms");
    assert!(matches!(err, Error::Limit(_)), "{err}");
    let parens = format!("SELECT {}1{}", "(".repeat(100_000), ")".repeat(100_000));
    let err = a.sql(&parens).await.expect_err("deep parentheses");
    assert!(matches!(err, Error::Limit(_)), "{err}");
    let calls = format!("SELECT {}1{}", "abs(".repeat(5_000), ")".repeat(5_000));
    let err = a.sql(&calls).await.expect_err("deep calls");
    assert!(matches!(err, Error::Limit(_)), "{err}");
    let nots = format!("SELECT {} true", "NOT ".repeat(5_000));
    assert!(a.sql(&nots).await.is_err());
    // Just under the limit still runs (the stack is big enough for it).
    let ok = vec!["1"; 200].join("+");
    let out = a
        .sql(&format!("SELECT {ok} AS n"))
        .await
        .expect("200 terms");
    assert_eq!(out.rows, 1);
    let where_chain = (0..100)
        .map(|i| format!("latency_ms <> {i}"))
        .collect::<Vec<_>>()
        .join(" AND ");
    a.sql(&format!(
        "SELECT count(*) FROM order_attempts WHERE {where_chain}"
    ))
    .await
    .expect("100 conditions");
}

#[tokio::test]
async fn hostile_input_gets_an_error_never_a_panic() {
    let (_dir, a) = start().await;
    for sql in [
        "",
        "   ",
        ";",
        ";;;",
        "SELECT 1\0",
        "\0",
        "SELECT '",
        "SELECT \"",
        "((((",
        "))))",
        "SELECT * FROM order_attempts ORDER BY",
        "SELECT 1/0",
        "SELECT CAST('x' AS INT)",
        "EXPLAIN EXPLAIN SELECT 1",
        "SELECT $1",
        "SELECT $start",
        "SELECT * FROM nope",
        "\u{feff}SELECT 1",
        "SELECT '😀' || '\u{202e}'",
        "SELECT 9223372036854775807 + 1",
        "SELECT repeat('x', -1)",
        "SELECT date_bin(INTERVAL '0 seconds', ts) FROM order_attempts",
    ] {
        if let Err(e) = a.sql(sql).await {
            assert!(!matches!(e, Error::Runtime(_)), "`{sql:?}`: {e}");
            assert!(!e.to_string().is_empty());
        }
    }
    for sql in ["", "   ", ";", "SELECT 1\0"] {
        assert!(a.sql(sql).await.is_err(), "{sql:?}");
    }
}

#[tokio::test]
async fn a_query_over_the_memory_limit_fails() {
    let sql = "SELECT count(DISTINCT value) FROM generate_series(1, 300000)";
    let (_dir, a) = start().await;
    a.sql(sql).await.expect("fits in the default pool");
    let (_dir, a) = start_with(Limits {
        memory_bytes: 256 << 10,
        ..Limits::default()
    })
    .await;
    let err = a.sql(sql).await.expect_err("over 256 KiB");
    assert!(matches!(err, Error::Limit(_)), "{err}");
    assert!(err.to_string().contains("memory"), "{err}");
}

#[tokio::test]
async fn a_query_over_the_time_limit_is_cancelled() {
    let (_dir, a) = start_with(Limits {
        timeout: Duration::from_millis(300),
        ..Limits::default()
    })
    .await;
    let started = Instant::now();
    let err = a
        .sql("SELECT count(*) FROM generate_series(1, 100000000000) WHERE value % 7 = 3")
        .await
        .expect_err("runs for minutes");
    assert!(matches!(err, Error::Timeout(_)), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    wait_idle(&a).await;
}

#[tokio::test]
async fn a_caller_that_stops_waiting_cancels_the_query() {
    let (_dir, a) = start().await;
    let heavy = a.sql("SELECT count(*) FROM generate_series(1, 100000000000) WHERE value % 7 = 3");
    let gave_up = tokio::time::timeout(Duration::from_millis(300), heavy).await;
    assert!(gave_up.is_err(), "the heavy query finished");
    wait_idle(&a).await;
}

/// Queries run on the analytics runtime, not the caller's.
#[tokio::test(flavor = "current_thread")]
async fn queries_run_on_their_own_runtime() {
    let (_dir, a) = start_with(Limits {
        timeout: Duration::from_secs(2),
        ..Limits::default()
    })
    .await;
    wait_idle(&a).await;
    let heavy = {
        let a = a.clone();
        tokio::spawn(async move {
            a.sql("SELECT count(*) FROM generate_series(1, 100000000000) WHERE value % 7 = 3")
                .await
        })
    };
    // The caller's single thread stays free: its timer ticks on time.
    let mut worst = Duration::ZERO;
    for _ in 0..10 {
        let before = Instant::now();
        tokio::time::sleep(Duration::from_millis(50)).await;
        worst = worst.max(before.elapsed());
    }
    assert!(
        a.running_tasks() > 0,
        "the query is not on the analytics runtime"
    );
    assert!(worst < Duration::from_secs(1), "caller stalled {worst:?}");
    let err = heavy.await.expect("join").expect_err("timeout");
    assert!(matches!(err, Error::Timeout(_)), "{err}");
}

#[tokio::test]
async fn queries_beyond_the_concurrency_cap_wait_their_turn() {
    let (_dir, a) = start_with(Limits {
        timeout: Duration::from_secs(1),
        max_concurrent: 1,
        ..Limits::default()
    })
    .await;
    let heavy = {
        let a = a.clone();
        tokio::spawn(async move {
            a.sql("SELECT count(*) FROM generate_series(1, 100000000000) WHERE value % 7 = 3")
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    a.sql("SELECT 1").await.expect("runs after its turn");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(700),
        "did not wait: {waited:?}"
    );
    let err = heavy.await.expect("join").expect_err("timeout");
    assert!(matches!(err, Error::Timeout(_)), "{err}");
}

async fn wait_idle(a: &Analytics) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while a.running_tasks() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} query tasks still running after cancellation",
            a.running_tasks()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn results_over_the_row_or_byte_cap_are_refused() {
    let (_dir, a) = start_with(Limits {
        max_rows: 100,
        max_result_bytes: 50_000,
        ..Limits::default()
    })
    .await;
    let err = a
        .sql("SELECT value FROM generate_series(1, 1000)")
        .await
        .expect_err("rows");
    assert!(matches!(err, Error::Limit(_)), "{err}");
    assert!(err.to_string().contains("100 rows"), "{err}");
    let out = a
        .sql("SELECT value FROM generate_series(1, 1000) LIMIT 100")
        .await
        .expect("100 rows");
    assert_eq!(out.rows, 100);
    let err = a
        .sql("SELECT repeat('x', 10000) FROM generate_series(1, 50)")
        .await
        .expect_err("bytes");
    assert!(matches!(err, Error::Limit(_)), "{err}");
    assert!(err.to_string().contains("bytes"), "{err}");
}

#[tokio::test]
async fn unknown_queries_and_bad_parameters_are_clear_errors() {
    let (_dir, a) = start().await;
    let p = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
    let err = a.query("nope", &[]).await.expect_err("unknown query");
    assert!(matches!(err, Error::UnknownQuery(_)), "{err}");
    let err = a
        .query("failures_by_cause", &p("bucket", "1h"))
        .await
        .expect_err("not a param");
    assert!(err.to_string().contains("it takes start, end"), "{err}");
    let err = a
        .query("failures_by_cause", &p("start", "2026-11-01' OR '1'='1"))
        .await
        .expect_err("injection");
    assert!(matches!(err, Error::Param { .. }), "{err}");
    let err = a
        .query("failure_rate_trend", &p("bucket", "1 fortnight"))
        .await
        .expect_err("bucket");
    assert!(matches!(err, Error::Param { .. }), "{err}");
    a.query("failure_rate_trend", &p("bucket", "5 minutes"))
        .await
        .expect("5 minutes");
}

#[tokio::test]
async fn a_broken_saved_query_fails_at_start_up() {
    let queries = tempfile::tempdir().expect("dir");
    std::fs::write(
        queries.path().join("broken.sql"),
        "-- broken: names a column that does not exist\n\
         -- param: start timestamp = now-1h\n\
         -- column: n bigint\n\
         SELECT count(no_such_column) AS n FROM order_attempts WHERE ts >= $start\n",
    )
    .expect("write");
    let data = tempfile::tempdir().expect("dir");
    let mut config = AnalyticsConfig::new(data.path()).expect("config");
    config.queries = SavedQueries::from_dir(queries.path()).expect("parse");
    let err = Analytics::new(config).await.expect_err("broken query");
    let text = err.to_string();
    assert!(
        text.contains("broken") && text.contains("no_such_column"),
        "{text}"
    );

    // A saved query may not write either.
    std::fs::write(
        queries.path().join("broken.sql"),
        "-- broken: drops a table\n-- column: n bigint\nDROP TABLE order_attempts\n",
    )
    .expect("write");
    let mut config = AnalyticsConfig::new(data.path()).expect("config");
    config.queries = SavedQueries::from_dir(queries.path()).expect("parse");
    assert!(Analytics::new(config).await.is_err());
}
