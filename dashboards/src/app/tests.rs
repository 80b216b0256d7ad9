//! Router tests without a socket: the pages, their assets and the JSON
//! endpoints behind them, over live rows built here (no ingest needed).

use std::sync::Arc;
use std::time::Duration;

use analytics::{Analytics, AnalyticsConfig, Limits};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use model::live::{LiveBatch, LiveRows};
use model::runbooks::Runbooks;
use serde_json::Value;
use tower::ServiceExt;

use super::*;
use crate::assets::{ASSETS, INDEX_HTML};
use crate::test_support::batch;

mod silences;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Ten minutes ago: 30 web/alipay attempts, 12 failing with network_error
/// (one with a hostile error_message); 20 ios_app/credit_card, 1 declined.
/// An hour and ten minutes ago (the comparison period of `now-1h`): 50
/// attempts, 1 network_error failure. Plus 3 rejected records.
async fn fixture() -> (Router, tempfile::TempDir) {
    let parts = fixture_parts().await;
    (parts.router, parts.dir)
}

/// The fixture's router and what is behind it.
struct Parts {
    router: Router,
    analytics: Analytics,
    live: LiveRows,
    dir: tempfile::TempDir,
}

async fn fixture_parts() -> Parts {
    let now = now_ms();
    let mut lines = Vec::new();
    let mut n = 0;
    let mut event = |ts: i64,
                     outcome: &str,
                     channel: &str,
                     cause: Option<&str>,
                     pm: &str,
                     msg: &str| {
        n += 1;
        let cause = cause.map_or("null".to_string(), |c| format!("\"{c}\""));
        lines.push(format!(
            r#"{{"event_id":"e{n}","ts":{ts},"outcome":"{outcome}","channel":"{channel}","failure_cause":{cause},"payment_method":"{pm}","region":"cn-east","app_version":"5.2.1","error_message":{msg},"kafka_topic":"order-attempts","kafka_partition":0,"kafka_offset":{n},"ingested_at":{now}}}"#,
            msg = serde_json::to_string(msg).unwrap(),
        ));
    };
    let recent = now - 600_000;
    for i in 0..30 {
        let failed = i < 12;
        let msg = if i == 0 {
            "<img src=x onerror=alert(1)>"
        } else {
            ""
        };
        event(
            recent,
            if failed { "failure" } else { "success" },
            "web",
            failed.then_some("network_error"),
            "alipay",
            msg,
        );
    }
    for i in 0..20 {
        let failed = i == 0;
        event(
            recent,
            if failed { "failure" } else { "success" },
            "ios_app",
            failed.then_some("payment_declined"),
            "credit_card",
            "",
        );
    }
    let earlier = now - 4_200_000;
    for i in 0..50 {
        let failed = i == 0;
        let channel = if i % 2 == 0 { "web" } else { "ios_app" };
        event(
            earlier,
            if failed { "failure" } else { "success" },
            channel,
            failed.then_some("network_error"),
            "alipay",
            "",
        );
    }
    let rejected: Vec<String> = (0..3)
        .map(|i| {
            format!(
                r#"{{"reason":"invalid_json","detail":"line 1","raw":"<script>alert({i})</script>","kafka_topic":"order-attempts","kafka_partition":0,"kafka_offset":{o},"ingested_at":{t}}}"#,
                o = 1000 + i,
                t = now - 300_000,
            )
        })
        .collect();
    let live = LiveRows::new();
    let live_batch = |batch| LiveBatch {
        topic: "order-attempts".into(),
        partition: 0,
        first: 0,
        last: 2000,
        batch,
    };
    live.push_attempts(live_batch(batch(
        model::schema::order_attempts_schema(),
        &lines,
    )));
    live.push_rejected(live_batch(batch(
        model::schema::rejected_events_schema(),
        &rejected,
    )));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = AnalyticsConfig::new(dir.path()).expect("config");
    config.live = Some(live.clone());
    config.limits = Limits {
        timeout: Duration::from_secs(10),
        threads: 1,
        ..Limits::default()
    };
    let analytics = Analytics::new(config).await.expect("analytics");
    let router = router(
        OpsState {
            registry: prometheus::Registry::new(),
            health: model::health::Health::new(),
        },
        ApiState::new(analytics.clone()),
    );
    Parts {
        router,
        analytics,
        live,
        dir,
    }
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.expect("answer");
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .expect("body")
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

async fn get(router: &Router, path: &str) -> Answer {
    send(router, Request::get(path).body(Body::empty()).unwrap()).await
}

/// The static routes with the security headers (they need no analytics).
fn static_router() -> Router {
    assets::routes().layer(axum::middleware::from_fn(security_headers))
}

#[tokio::test]
async fn assets_have_content_types_csp_and_etags_and_unknown_ones_are_404() {
    let r = static_router();
    let index = get(&r, "/").await;
    assert_eq!(index.status, StatusCode::OK);
    assert_eq!(
        index.header(header::CONTENT_TYPE),
        "text/html; charset=utf-8"
    );
    assert_eq!(
        index.header(header::CONTENT_SECURITY_POLICY),
        "default-src 'self'"
    );
    for (path, kind) in [
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/app.css", "text/css; charset=utf-8"),
        (
            "/assets/vendor/uPlot.iife.min.js",
            "text/javascript; charset=utf-8",
        ),
        ("/assets/vendor/uPlot.min.css", "text/css; charset=utf-8"),
    ] {
        let a = get(&r, path).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert_eq!(a.header(header::CONTENT_TYPE), kind, "{path}");
        assert_eq!(
            a.header(header::CONTENT_SECURITY_POLICY),
            "default-src 'self'",
            "{path}"
        );
        assert_eq!(
            a.header(header::X_CONTENT_TYPE_OPTIONS),
            "nosniff",
            "{path}"
        );
        assert_eq!(a.header(header::CACHE_CONTROL), "no-cache", "{path}");
        assert!(!a.body.is_empty(), "{path}");
        let etag = a.header(header::ETAG).to_string();
        assert!(etag.starts_with('"'), "{path}: {etag}");
        let again = send(
            &r,
            Request::get(path)
                .header(header::IF_NONE_MATCH, &etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.body.is_empty());
    }
    let long = format!("/assets/{}", "a/".repeat(5_000));
    for path in [
        "/assets/nope.js",
        "/assets/../Cargo.toml",
        "/assets/%2e%2e/src/lib.rs",
        "/assets/",
        "/assets/vendor",
        long.as_str(),
    ] {
        let a = get(&r, path).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            a.header(header::CONTENT_SECURITY_POLICY),
            "default-src 'self'",
            "{path}"
        );
    }
}

/// Every URL the page loads is one of ours, and nothing inline is left
/// for the CSP to block.
#[test]
fn the_html_and_js_reference_only_our_assets() {
    let attr_urls = |text: &str, attr: &str| -> Vec<String> {
        text.split(attr)
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap_or("").to_string())
            .collect()
    };
    let mut urls = attr_urls(INDEX_HTML, "src=\"");
    urls.extend(attr_urls(INDEX_HTML, "href=\""));
    assert!(urls.len() >= 4, "{urls:?}");
    for url in &urls {
        let ok = url.starts_with('#')
            || url
                .strip_prefix("/assets/")
                .is_some_and(|p| crate::assets::find(p).is_some());
        assert!(ok, "index.html references {url}, not an embedded asset");
    }
    let lower = INDEX_HTML.to_lowercase();
    for bad in [
        "http://",
        "https://",
        "<style",
        " style=",
        "onclick",
        "onload",
        "javascript:",
    ] {
        assert!(!lower.contains(bad), "index.html contains {bad}");
    }
    assert_eq!(
        lower.matches("<script").count(),
        lower.matches("<script src=").count()
            + lower.matches("<script type=\"module\" src=").count(),
        "inline script"
    );
    for a in ASSETS.iter().filter(|a| !a.path.starts_with("vendor/")) {
        let text = std::str::from_utf8(a.body).expect("utf-8");
        for bad in [
            "http://",
            "https://",
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "setAttribute(\"style\"",
            "new Function",
        ] {
            assert!(!text.contains(bad), "{} contains {bad}", a.path);
        }
        for import in text.split("from \"").skip(1) {
            let target = import.split('"').next().unwrap_or("");
            let path = target.strip_prefix("./").unwrap_or(target);
            assert!(
                crate::assets::find(path).is_some(),
                "{} imports {target}",
                a.path
            );
        }
    }
    // The vendored library links to its home page in its banner comment only.
    let vendor = std::str::from_utf8(
        crate::assets::find("vendor/uPlot.iife.min.js")
            .unwrap()
            .1
            .body,
    )
    .unwrap();
    let first_line_end = vendor.find('\n').unwrap_or(vendor.len());
    assert!(
        !vendor[first_line_end..].contains("http://")
            && !vendor[first_line_end..].contains("https://")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_compares_periods_and_ranks_what_changed() {
    let (r, _dir) = fixture().await;
    let a = get(&r, "/api/overview?start=now-1h").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.header(header::CONTENT_TYPE), "application/json");
    let v = a.json();
    assert_eq!(v["totals"]["attempts"], 50, "{v}");
    assert_eq!(v["totals"]["failures"], 13);
    assert_eq!(v["totals"]["base_attempts"], 50);
    assert_eq!(v["totals"]["base_failures"], 1);
    assert_eq!(v["totals"]["failure_rate"], 0.26);
    let causes = v["breakdown"]["failure_cause"].as_array().unwrap();
    assert_eq!(causes[0]["value"], "network_error", "{v}");
    assert_eq!(causes[0]["failures"], 12);
    assert_eq!(causes[0]["base_failures"], 1);
    let channels = v["breakdown"]["channel"].as_array().unwrap();
    assert_eq!(channels[0]["value"], "web");
    assert_eq!(channels[0]["failure_rate"], 0.4);
    assert_eq!(v["breakdown"]["region"][0]["value"], "cn-east");
    assert_eq!(v["breakdown"]["app_version"][0]["value"], "5.2.1");
    let cells = v["heatmap"]["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2, "{v}");
    assert_eq!(
        v["heatmap"]["channels"],
        serde_json::json!(["ios_app", "web"])
    );
    let trend = &v["trend"];
    let times = trend["times"].as_array().unwrap().len();
    assert!((119..=121).contains(&times), "{times}");
    let attempts: i64 = trend["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .sum();
    assert_eq!(attempts, 50);
    let series = trend["series"].as_array().unwrap();
    assert_eq!(series.len(), 2, "{trend}");
    assert_eq!(v["range"]["bucket_seconds"], 30);

    // A filter narrows everything to the slice.
    let v = get(&r, "/api/overview?start=now-1h&channel=ios_app")
        .await
        .json();
    assert_eq!(v["totals"]["attempts"], 20, "{v}");
    assert_eq!(v["totals"]["failures"], 1);
    assert_eq!(v["filters"]["channel"], "ios_app");
    assert_eq!(
        v["breakdown"]["failure_cause"][0]["value"],
        "payment_declined"
    );
    let v = get(
        &r,
        "/api/overview?start=now-1h&failure_cause=network_error&payment_method=alipay",
    )
    .await
    .json();
    assert_eq!(v["totals"]["failures"], 12, "{v}");
    // A value nobody sent matches nothing rather than failing.
    let v = get(&r, "/api/overview?start=now-1h&region=eu-west")
        .await
        .json();
    assert_eq!(v["totals"]["attempts"], 0, "{v}");
    // An explicit comparison period.
    let v = get(
        &r,
        "/api/overview?start=now-15m&end=now&base_start=now-2h&base_end=now-1h&bucket=1m",
    )
    .await
    .json();
    assert_eq!(v["totals"]["base_attempts"], 50, "{v}");
    // 15 one-minute buckets, 16 when the window does not start on a minute.
    let buckets = v["trend"]["times"].as_array().unwrap().len();
    assert!((15..=16).contains(&buckets), "{buckets}");
}

/// The overview without filters is counted from the rollup; over the
/// window it reports, a scan of raw events says exactly the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rollup_and_a_raw_scan_give_the_same_overview() {
    let parts = fixture_parts().await;
    for path in [
        "/api/overview?start=now-1h",
        "/api/overview?start=now-2h&bucket=1m",
        "/api/overview?start=now-24h",
        "/api/overview?start=now-15m&end=now&base_start=now-2h&base_end=now-1h&bucket=10s",
    ] {
        let mut rolled = get(&parts.router, path).await.json();
        assert_eq!(rolled["counted_from"], "rollup", "{path}: {rolled}");
        let range = &rolled["range"];
        let text = |k: &str| range[k].as_str().expect("a time").to_string();
        let pairs: Vec<(String, String)> = ["start", "end", "base_start", "base_end"]
            .iter()
            .map(|k| (k.to_string(), text(k)))
            .chain([(
                "bucket".to_string(),
                format!("{}s", range["bucket_seconds"]),
            )])
            .collect();
        let accepts = crate::board::Accepts {
            filters: true,
            base: true,
            max_limit: 0,
            reason: false,
        };
        let q = crate::board::window::parse(&pairs, now_ms(), accepts).expect("the range parses");
        let mut scanned = crate::board::overview_scan(&parts.analytics, &q)
            .await
            .expect("scan");
        assert_eq!(scanned["counted_from"], "scan");
        rolled["counted_from"] = Value::Null;
        scanned["counted_from"] = Value::Null;
        assert!(rolled["totals"]["attempts"].as_i64() > Some(0), "{rolled}");
        assert_eq!(rolled, scanned, "{path}");
    }
    // Filters are counted by a scan.
    let v = get(&parts.router, "/api/overview?channel=web").await.json();
    assert_eq!(v["counted_from"], "scan", "{v}");
}

/// Identical overview requests share an answer for about a second, then
/// see new rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_overview_requests_share_an_answer_for_a_second() {
    let parts = fixture_parts().await;
    let path = "/api/overview?start=now-30m";
    let first = get(&parts.router, path).await;
    assert_eq!(first.json()["totals"]["attempts"], 50);
    let line = format!(
        r#"{{"event_id":"late","ts":{ts},"outcome":"success","channel":"web","kafka_topic":"order-attempts","kafka_partition":1,"kafka_offset":0,"ingested_at":{ts}}}"#,
        ts = now_ms() - 60_000,
    );
    parts.live.push_attempts(LiveBatch {
        topic: "order-attempts".into(),
        partition: 1,
        first: 0,
        last: 0,
        batch: batch(model::schema::order_attempts_schema(), &[line]),
    });
    let again = get(&parts.router, path).await;
    assert_eq!(again.body, first.body, "not shared");
    // Another query string is another answer.
    let other = get(&parts.router, "/api/overview?start=now-31m").await;
    assert_eq!(other.json()["totals"]["attempts"], 51);
    tokio::time::sleep(crate::api::OVERVIEW_TTL + Duration::from_millis(100)).await;
    let later = get(&parts.router, path).await;
    assert_eq!(later.json()["totals"]["attempts"], 51);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_rejected_and_runbooks_return_text_as_data() {
    let (r, _dir) = fixture().await;
    let v = get(&r, "/api/samples?start=now-1h&channel=web&limit=5")
        .await
        .json();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5, "{v}");
    let msg_col = v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c == "error_message")
        .unwrap();
    let all = get(&r, "/api/samples?start=now-1h&limit=500").await.json();
    assert_eq!(all["rows"].as_array().unwrap().len(), 13, "{all}");
    let hostile = get(&r, "/api/samples?start=now-1h&failure_cause=network_error")
        .await
        .json();
    let messages: Vec<&str> = hostile["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r[msg_col].as_str())
        .collect();
    // Kept verbatim, as data: the page renders it as text.
    assert!(
        messages.contains(&"<img src=x onerror=alert(1)>"),
        "{hostile}"
    );

    let v = get(&r, "/api/rejected?start=now-1h").await.json();
    assert_eq!(v["totals"][0]["reason"], "invalid_json", "{v}");
    assert_eq!(v["totals"][0]["records"], 3);
    assert_eq!(v["samples"].as_array().unwrap().len(), 3);
    assert_eq!(v["samples"][0][3], "<script>alert(2)</script>");
    let total: i64 = v["trend"]["series"][0]["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .sum();
    assert_eq!(total, 3);
    let v = get(&r, "/api/rejected?start=now-1h&reason=invalid_utf8&limit=1")
        .await
        .json();
    assert_eq!(v["samples"].as_array().unwrap().len(), 0, "{v}");

    let v = get(&r, "/api/runbooks").await.json();
    let books = v["runbooks"].as_array().unwrap();
    assert_eq!(books.len(), Runbooks::builtin().iter().count());
    let net = books
        .iter()
        .find(|b| b["failure_cause"] == "network_error")
        .unwrap();
    assert!(net["steps"].as_array().unwrap().len() >= 3, "{net}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_endpoints_refuse_bad_input_with_json_errors() {
    let (r, _dir) = fixture().await;
    // Near the longest URI `http` takes (64 KiB).
    let long = "x".repeat(60_000);
    let cases = [
        "/api/overview?channel=web%27%20OR%201%3D1%20--".to_string(),
        "/api/overview?channel=".to_string(),
        format!("/api/overview?region={long}"),
        format!("/api/overview?start={long}"),
        "/api/overview?start=now&end=now-1h".to_string(),
        "/api/overview?start=yesterday".to_string(),
        "/api/overview?start=now-400d".to_string(),
        "/api/overview?start=now-7d&bucket=1s".to_string(),
        "/api/overview?bucket=fortnightly".to_string(),
        "/api/overview?base_start=now-2h".to_string(),
        "/api/overview?colour=red".to_string(),
        "/api/overview?channel=web&channel=ios_app".to_string(),
        "/api/overview?limit=5".to_string(),
        "/api/samples?limit=100000".to_string(),
        "/api/samples?limit=-1".to_string(),
        "/api/samples?base_start=now-1h&base_end=now".to_string(),
        "/api/rejected?channel=web".to_string(),
        "/api/rejected?reason=%3Cscript%3E".to_string(),
        "/api/rejected?start=2026-13-01T00:00:00Z".to_string(),
        "/api/overview?start=%ff%fe".to_string(),
    ];
    for path in &cases {
        let a = get(&r, path).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{path}: {}", a.text());
        let v = a.json();
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}: {v}"
        );
    }
    let a = get(&r, "/api/nothing-here").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.json()["error"].is_string());
    let a = send(
        &r,
        Request::post("/api/overview").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_endpoints_need_the_token_but_the_page_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let analytics = Analytics::new(AnalyticsConfig::new(dir.path()).unwrap())
        .await
        .unwrap();
    let r = router(
        OpsState {
            registry: prometheus::Registry::new(),
            health: model::health::Health::new(),
        },
        ApiState {
            token: crate::api::ApiToken::new(Some("s3cret")),
            runbooks: Arc::new(
                Runbooks::parse(
                    "[network_error]\ntitle = \"Mine\"\nsummary = \"\"\nsteps = [\"call\"]\n",
                )
                .unwrap(),
            ),
            ..ApiState::new(analytics)
        },
    );
    for path in [
        "/api/overview",
        "/api/samples",
        "/api/rejected",
        "/api/runbooks",
    ] {
        let a = get(&r, path).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}");
        let ok = send(
            &r,
            Request::get(path)
                .header(header::AUTHORIZATION, "Bearer s3cret")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(ok.status, StatusCode::OK, "{path}: {}", ok.text());
    }
    let books = send(
        &r,
        Request::get("/api/runbooks")
            .header(header::AUTHORIZATION, "Bearer s3cret")
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .json();
    assert_eq!(books["runbooks"][0]["title"], "Mine");
    // Empty data: zeros, not errors.
    let v = send(
        &r,
        Request::get("/api/overview")
            .header(header::AUTHORIZATION, "Bearer s3cret")
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .json();
    assert_eq!(v["totals"]["attempts"], 0, "{v}");
    assert_eq!(v["totals"]["failure_rate"], 0.0);
    for path in ["/", "/assets/app.js", "/assets/vendor/uPlot.iife.min.js"] {
        assert_eq!(get(&r, path).await.status, StatusCode::OK, "{path}");
    }
}
