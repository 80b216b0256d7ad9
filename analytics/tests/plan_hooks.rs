//! The hooks for a path that parses and plans SQL itself (the Postgres wire):
//! `guard::check_text`, `guard::check_statement` and `Analytics::run_plan`
//! apply the same guardrails as `Analytics::sql`.

#[path = "support/fixture.rs"]
mod fixture;

use std::time::Duration;

use analytics::guard::{check_statement, check_text};
use analytics::{Analytics, AnalyticsConfig, Error, Limits};
use datafusion::sql::parser::DFParser;

async fn start_with(limits: Limits) -> (tempfile::TempDir, Analytics) {
    let dir = tempfile::tempdir().expect("dir");
    fixture::fixed(dir.path());
    let mut config = AnalyticsConfig::new(dir.path()).expect("config");
    config.limits = limits;
    let a = Analytics::new(config).await.expect("analytics");
    (dir, a)
}

fn parse(sql: &str) -> datafusion::sql::parser::Statement {
    DFParser::parse_sql(sql)
        .expect("parses")
        .pop_front()
        .expect("one statement")
}

#[test]
fn check_text_refuses_long_nul_and_deep_text_without_parsing() {
    let limits = Limits {
        max_sql_bytes: 10_000,
        ..Limits::default()
    };
    check_text("SELECT count(*) FROM order_attempts", &limits).expect("plain query");
    let chain = vec!["1"; 2000].join("+");
    let err = check_text(&format!("SELECT {chain}"), &limits).expect_err("deep");
    assert!(matches!(err, Error::Limit(_)), "{err}");
    let err = check_text(&format!("SELECT {}", "x".repeat(10_001)), &limits).expect_err("long");
    assert!(err.to_string().contains("10000-byte limit"), "{err}");
    let err = check_text("SELECT 1\0", &limits).expect_err("nul");
    assert!(err.to_string().contains("NUL"), "{err}");
}

#[test]
fn check_statement_lets_only_queries_through() {
    for sql in [
        "SELECT 1",
        "WITH t AS (SELECT 1) SELECT * FROM t",
        "SHOW TABLES",
    ] {
        check_statement(&parse(sql)).unwrap_or_else(|e| panic!("`{sql}`: {e}"));
    }
    for sql in [
        "INSERT INTO t VALUES (1)",
        "CREATE TABLE t (a INT)",
        "SET datafusion.execution.batch_size = 1",
        "COPY (SELECT 1) TO '/tmp/x.parquet'",
        "CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '/tmp'",
    ] {
        let err = check_statement(&parse(sql)).expect_err(sql);
        assert!(matches!(err, Error::ReadOnly(_)), "`{sql}`: {err}");
    }
}

#[tokio::test]
async fn run_plan_applies_the_caps_the_time_limit_and_the_read_only_check() {
    let (_dir, a) = start_with(Limits {
        max_rows: 100,
        timeout: Duration::from_millis(500),
        ..Limits::default()
    })
    .await;
    let ctx = a.session().expect("session");
    let plan = |sql: &str| {
        let ctx = ctx.clone();
        let sql = sql.to_string();
        async move { ctx.state().create_logical_plan(&sql).await.expect("plans") }
    };
    let out = a
        .run_plan(
            ctx.clone(),
            plan("SELECT count(*) AS n FROM order_attempts").await,
        )
        .await
        .expect("runs");
    assert_eq!(out.rows, 1);
    let err = a
        .run_plan(
            ctx.clone(),
            plan("SELECT value FROM generate_series(1, 1000)").await,
        )
        .await
        .expect_err("row cap");
    assert!(err.to_string().contains("100 rows"), "{err}");
    let slow = "SELECT count(*) FROM generate_series(1, 100000000000) WHERE value % 7 = 3";
    let err = a
        .run_plan(ctx.clone(), plan(slow).await)
        .await
        .expect_err("time limit");
    assert!(matches!(err, Error::Timeout(_)), "{err}");
    let err = a
        .run_plan(ctx.clone(), plan("CREATE VIEW v AS SELECT 1").await)
        .await
        .expect_err("read-only plan");
    assert!(err.is_user_error(), "{err}");
    assert!(ctx.table("v").await.is_err(), "the view was not created");
}
