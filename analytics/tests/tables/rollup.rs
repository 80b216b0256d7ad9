//! The rollup behind the dashboard overview equals a count in plain Rust
//! over the same events, for windows in each level's time range, with live
//! rows (covered and uncovered by a flush), after a flush lands and after
//! one is deleted; and it declines what it cannot count exactly.

use std::collections::BTreeMap;
use std::sync::Arc;

use analytics::rollup::{Counts, LEVELS, Overview, OverviewRequest};
use analytics::{Analytics, AnalyticsConfig};
use chrono::DateTime;
use model::LiveRows;

use super::fixture;

const NOW: i64 = fixture::INGEST_MS; // 2026-11-02T03:00:00Z
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

#[derive(Debug, Clone)]
struct Ev {
    ts: i64,
    failed: bool,
    /// failure_cause, channel, payment_method, region, app_version.
    dims: [Option<String>; 5],
}

/// `n` events over the four days before `NOW`, ms-precise, with NULLs.
fn events(n: usize, seed: u64) -> Vec<(Ev, String)> {
    let mut s = seed;
    let mut next = move |m: u64| {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (s >> 33) % m
    };
    let pick = |i: u64, xs: &[&str]| xs.get(i as usize).map(|x| x.to_string());
    (0..n)
        .map(|i| {
            let ts = NOW - 1 - next(4 * DAY as u64) as i64;
            let failed = next(10) < 3;
            let cause = failed
                .then(|| {
                    pick(
                        next(3),
                        &["network_error", "payment_declined", "system_maintenance"],
                    )
                })
                .flatten();
            let channel = pick(next(3), &["web", "ios_app", "wechat_mini_program"]);
            let method = pick(next(4), &["alipay", "wechat_pay", "credit_card"]);
            let region = pick(next(3), &["cn-east", "eu-west"]);
            let version = pick(next(5), &["5.0.0", "5.1.0", "5.2.0", "6.0.0"]);
            let mut extra: Vec<(&str, &str)> = Vec::new();
            for (k, v) in [
                ("failure_cause", &cause),
                ("payment_method", &method),
                ("region", &region),
                ("app_version", &version),
            ] {
                if let Some(v) = v {
                    extra.push((k, v));
                }
            }
            let iso = DateTime::from_timestamp_millis(ts)
                .expect("ts")
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let line = fixture::event(
                &format!("r{seed}-{i}"),
                &iso,
                if failed { "failure" } else { "success" },
                channel.as_deref().expect("channel"),
                &extra,
            );
            let ev = Ev {
                ts,
                failed,
                dims: [cause, channel, method, region, version],
            };
            (ev, line)
        })
        .collect()
}

/// What an overview says, in plain maps.
#[derive(Debug, PartialEq, Eq)]
struct Said {
    totals: (Counts, Counts),
    values: BTreeMap<(usize, Option<String>), (Counts, Counts)>,
    heat: BTreeMap<(Option<String>, Option<String>), Counts>,
    trend: BTreeMap<(i64, Option<String>), Counts>,
}

fn said(o: &Overview) -> Said {
    let s = |v: &Option<Arc<str>>| v.as_deref().map(str::to_string);
    Said {
        totals: (o.total_now, o.total_base),
        values: o
            .values
            .iter()
            .map(|v| ((v.dimension, s(&v.value)), (v.now, v.base)))
            .collect(),
        heat: o.heat.iter().map(|(c, p, n)| ((s(c), s(p)), *n)).collect(),
        trend: o.trend.iter().map(|(b, c, n)| ((*b, s(c)), *n)).collect(),
    }
}

fn add(c: &mut Counts, failed: bool) {
    c.attempts += 1;
    c.failures += u64::from(failed);
}

/// The same, counted over `evs` for the window the rollup says it counted.
fn expected(evs: &[&Ev], w: &OverviewRequest) -> Said {
    let mut out = Said {
        totals: Default::default(),
        values: BTreeMap::new(),
        heat: BTreeMap::new(),
        trend: BTreeMap::new(),
    };
    for e in evs {
        let now = e.ts >= w.start_ms && e.ts < w.end_ms;
        let base = e.ts >= w.base_start_ms && e.ts < w.base_end_ms;
        for (hit, is_now) in [(now, true), (base, false)] {
            if !hit {
                continue;
            }
            add(
                if is_now {
                    &mut out.totals.0
                } else {
                    &mut out.totals.1
                },
                e.failed,
            );
            for (d, v) in e.dims.iter().enumerate() {
                let entry = out.values.entry((d, v.clone())).or_default();
                add(if is_now { &mut entry.0 } else { &mut entry.1 }, e.failed);
            }
        }
        if now {
            add(
                out.heat
                    .entry((e.dims[1].clone(), e.dims[2].clone()))
                    .or_default(),
                e.failed,
            );
            let bucket = e.ts.div_euclid(w.bucket_ms) * w.bucket_ms;
            add(
                out.trend.entry((bucket, e.dims[0].clone())).or_default(),
                e.failed,
            );
        }
    }
    out
}

fn request(start: i64, end: i64, bucket_ms: i64) -> OverviewRequest {
    OverviewRequest {
        start_ms: start,
        end_ms: end,
        base_start_ms: start - (end - start),
        base_end_ms: start,
        bucket_ms,
    }
}

/// Windows in each level's range: the last hour (10 s edges, 30 s
/// buckets), the last day, three to two days back (minute edges), and a
/// comparison period twenty days back is covered by whole hours.
fn windows() -> Vec<OverviewRequest> {
    vec![
        request(NOW - HOUR - 1_234, NOW - 1, 30_000),
        request(NOW - DAY + 77, NOW, 900_000),
        request(NOW - 3 * DAY + 61_001, NOW - 2 * DAY - 5 * HOUR - 3, HOUR),
        OverviewRequest {
            base_start_ms: NOW - 20 * DAY + 1,
            base_end_ms: NOW - 19 * DAY,
            ..request(NOW - 2 * HOUR, NOW, 60_000)
        },
    ]
}

async fn check(a: &Analytics, evs: &[&Ev]) {
    for q in windows() {
        let got = a
            .rollup_overview(q, NOW)
            .await
            .expect("rollup")
            .unwrap_or_else(|| panic!("declined {q:?}"));
        let w = got.window;
        // Edges moved forward by less than a slot of the coarsest level.
        for (asked, counted) in [
            (q.start_ms, w.start_ms),
            (q.end_ms, w.end_ms),
            (q.base_start_ms, w.base_start_ms),
            (q.base_end_ms, w.base_end_ms),
        ] {
            assert!(
                counted >= asked && counted - asked < LEVELS[2],
                "{asked} → {counted}"
            );
        }
        assert!(w.end_ms - w.start_ms > 0);
        let want = expected(evs, &w);
        assert!(want.totals.0.attempts > 0, "an empty window {q:?}");
        assert_eq!(said(&got), want, "window {q:?} counted as {w:?}");
    }
}

#[tokio::test]
async fn the_rollup_equals_a_plain_count_of_the_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = events(12_000, 1);
    let lines: Vec<String> = all.iter().map(|(_, l)| l.clone()).collect();
    // Stored: offsets 0..4000 and 4000..8000 of partition 0, 0..2000 of 1.
    let first = fixture::write_flush(dir.path(), 0, 0, &lines[0..4000]);
    fixture::write_flush(dir.path(), 0, 4000, &lines[4000..8000]);
    fixture::write_flush(dir.path(), 1, 0, &lines[8000..10_000]);
    // Live: partition 1's next 1000 (not stored) and partition 0's first
    // 4000 again (stored: must not count twice).
    let live = LiveRows::new();
    live.push_attempts(fixture::live(1, 2000, &lines[10_000..11_000]).0);
    live.push_attempts(fixture::live(0, 0, &lines[0..4000]).0);
    let mut config = AnalyticsConfig::new(dir.path()).expect("config");
    config.live = Some(live.clone());
    let a = Analytics::new(config).await.expect("analytics");
    let evs = |r: std::ops::Range<usize>| -> Vec<&Ev> { all[r].iter().map(|(e, _)| e).collect() };
    check(&a, &evs(0..11_000)).await;

    // The rows of the last 1000 land in a flush: counted once, from it.
    fixture::write_flush(dir.path(), 1, 2000, &lines[10_000..11_000]);
    live.push_attempts(fixture::live(1, 3000, &lines[11_000..12_000]).0);
    check(&a, &evs(0..12_000)).await;

    // A flush deleted (as retention would): its days are counted again
    // from the files left, and its live copy, no longer covered by a file,
    // counts instead until it is released.
    for f in &first {
        std::fs::remove_file(f).expect("remove");
    }
    check(&a, &evs(0..12_000)).await;
    live.release(fixture::TOPIC, 0, 3999);
    check(&a, &evs(4000..12_000)).await;
}

#[tokio::test]
async fn what_the_rollup_cannot_count_exactly_is_declined() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = events(500, 2);
    let lines: Vec<String> = all.iter().map(|(_, l)| l.clone()).collect();
    fixture::write_flush(dir.path(), 0, 0, &lines);
    let a = Analytics::new(AnalyticsConfig::new(dir.path()).expect("config"))
        .await
        .expect("analytics");
    // 10 s buckets three days back, where only minutes are kept.
    let q = request(NOW - 3 * DAY, NOW - 3 * DAY + HOUR, 10_000);
    assert_eq!(a.rollup_overview(q, NOW).await.expect("rollup"), None);
    // A 7 s bucket nowhere on a grid.
    let q = request(NOW - HOUR, NOW, 7_000);
    assert_eq!(a.rollup_overview(q, NOW).await.expect("rollup"), None);
    // An empty or inverted window.
    let q = request(NOW, NOW, 10_000);
    assert_eq!(a.rollup_overview(q, NOW).await.expect("rollup"), None);
    // The same hour at 10 s is fine.
    let q = request(NOW - HOUR, NOW, 10_000);
    assert!(a.rollup_overview(q, NOW).await.expect("rollup").is_some());
}

#[tokio::test]
async fn too_many_distinct_values_make_it_decline_rather_than_grow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = analytics::rollup::MAX_VALUES + 2;
    let lines: Vec<String> = (0..n)
        .map(|i| {
            fixture::event(
                &format!("v{i}"),
                "2026-11-02T02:30:00Z",
                "success",
                "web",
                &[("app_version", &format!("9.{i}"))],
            )
        })
        .collect();
    let live = LiveRows::new();
    live.push_attempts(fixture::live(0, 0, &lines).0);
    let mut config = AnalyticsConfig::new(dir.path()).expect("config");
    config.live = Some(live);
    let a = Analytics::new(config).await.expect("analytics");
    let q = request(NOW - HOUR, NOW, 60_000);
    assert_eq!(a.rollup_overview(q, NOW).await.expect("rollup"), None);
}

/// Rows of a query as text, one string per row.
async fn rows(a: &Analytics, sql: &str) -> Vec<String> {
    let out = a.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&out.batches)
        .expect("format")
        .to_string();
    text.lines()
        .filter(|l| l.starts_with('|'))
        .skip(1)
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn the_rollup_is_a_table_that_adds_up_to_order_attempts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = events(6_000, 3);
    let lines: Vec<String> = all.iter().map(|(_, l)| l.clone()).collect();
    fixture::write_flush(dir.path(), 0, 0, &lines[0..5000]);
    let live = LiveRows::new();
    live.push_attempts(fixture::live(0, 5000, &lines[5000..6000]).0);
    let mut config = AnalyticsConfig::new(dir.path()).expect("config");
    config.live = Some(live);
    let a = Analytics::new(config).await.expect("analytics");
    // Hour slots are kept for every day (finer ones only for recent days,
    // and these events are weeks old).
    for (dimension, column) in [
        ("failure_cause", "failure_cause"),
        ("channel", "channel"),
        ("payment_method", "payment_method"),
        ("region", "region"),
        ("app_version", "app_version"),
        ("all", "NULL"),
    ] {
        for window in [
            "TRUE".to_string(),
            "{ts} >= TIMESTAMP '2026-11-01T00:00:00Z' AND {ts} < TIMESTAMP '2026-11-01T06:00:00Z'"
                .to_string(),
        ] {
            let rollup = format!(
                "SELECT value, sum(attempts) AS a, sum(failures) AS f FROM order_attempts_rollup \
                 WHERE slot_seconds = 3600 AND dimension = '{dimension}' AND {} \
                 GROUP BY value ORDER BY value NULLS FIRST",
                window.replace("{ts}", "slot_start")
            );
            let raw = format!(
                "SELECT CAST({column} AS VARCHAR) AS value, count(*) AS a, \
                 count(*) FILTER (WHERE outcome = 'failure') AS f FROM order_attempts \
                 WHERE {} GROUP BY 1 ORDER BY 1 NULLS FIRST",
                window.replace("{ts}", "ts")
            );
            let want = rows(&a, &raw).await;
            assert!(!want.is_empty(), "{raw}");
            assert_eq!(rows(&a, &rollup).await, want, "{dimension}, {window}");
        }
    }
    // Every length the rollup keeps for a day adds up to the same total.
    let lengths = rows(
        &a,
        "SELECT slot_seconds, sum(attempts) FROM order_attempts_rollup \
         WHERE dimension = 'all' GROUP BY 1 ORDER BY 1",
    )
    .await;
    assert_eq!(
        lengths.len(),
        1,
        "only hours are kept this far back: {lengths:?}"
    );
    assert!(lengths[0].contains("6000"), "{lengths:?}");
    // A length asked for by equality is the only one built, and still
    // answers in full (none is kept at 60 s this far back: NULL).
    for (length, want) in [(3600, Some("6000")), (60, None)] {
        let total = rows(
            &a,
            &format!(
                "SELECT sum(attempts) IS NULL, sum(attempts) FROM order_attempts_rollup \
                 WHERE slot_seconds = {length} AND dimension = 'all'"
            ),
        )
        .await;
        match want {
            Some(n) => assert!(
                total[0].contains(n) && total[0].contains("false"),
                "{total:?}"
            ),
            None => assert!(total[0].contains("true"), "{length}: {total:?}"),
        }
    }
}
