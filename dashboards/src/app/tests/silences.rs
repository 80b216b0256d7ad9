//! `/api/silences`: the detector's silences set, listed and removed over
//! HTTP, kept across a restart, bad requests refused with the reason.

use super::*;

async fn delete(router: &Router, path: &str) -> Answer {
    send(router, Request::delete(path).body(Body::empty()).unwrap()).await
}

/// A router whose detector keeps its API silences in `dir`, plus one
/// silence from a `--silences` file.
async fn silence_router(dir: &std::path::Path) -> (Router, crate::alerting::SilenceBook) {
    let from_file = analytics::detect::parse_silences(
        "[[silence]]\nslice = { channel = \"web\" }\nstart = \"2026-01-01T00:00:00Z\"\nend = \"2026-01-02T00:00:00Z\"\n",
    )
    .expect("file silences");
    let book = crate::alerting::SilenceBook::open(from_file, Some(dir.join("silences.json")))
        .expect("book");
    let analytics = Analytics::new(AnalyticsConfig::new(dir).expect("config"))
        .await
        .expect("analytics");
    let router = router(
        OpsState {
            registry: prometheus::Registry::new(),
            health: model::health::Health::new(),
        },
        ApiState {
            silences: Some(book.clone()),
            ..ApiState::new(analytics)
        },
    );
    (router, book)
}

fn post_json(path: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// Silences through the API: added, listed with the file's, given to the
/// detector (the book's contents), kept across a restart,
/// removed; bad requests are refused with the reason.
#[tokio::test]
async fn silences_are_added_listed_kept_and_removed_through_the_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (r, book) = silence_router(dir.path()).await;
    let added = send(
        &r,
        post_json(
            "/api/silences",
            r#"{"slice": {"payment_method": "Alipay"}, "duration": "2h", "comment": "provider maintenance"}"#,
        ),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text());
    let added = added.json();
    let id = added["id"].as_str().expect("an id").to_string();
    assert_eq!(added["slice"]["payment_method"], "alipay", "normalised");
    let all = book.all();
    assert_eq!(all.len(), 2, "the file's and the API's: {all:?}");
    let now = now_ms();
    assert!(
        all[1].matches(
            &[("payment_method".to_string(), "alipay".to_string())].into(),
            now
        ),
        "{all:?}"
    );

    let list = get(&r, "/api/silences").await.json();
    let silences = list["silences"].as_array().expect("a list");
    assert_eq!(silences.len(), 2, "{list}");
    assert_eq!(silences[0]["source"], "file");
    assert_eq!(silences[0]["active"], false, "the file's is over");
    assert_eq!(silences[1]["source"], "api");
    assert_eq!(silences[1]["active"], true);
    assert_eq!(silences[1]["comment"], "provider maintenance");

    // Kept across a restart.
    let (r2, book2) = silence_router(dir.path()).await;
    assert_eq!(book2.all().len(), 2);
    let again = send(
        &r2,
        post_json(
            "/api/silences",
            r#"{"slice": {"channel": "web", "failure_cause": "network_error"}, "start": "2026-11-01T00:00:00Z", "end": "2026-11-01T01:00:00+08:00"}"#,
        ),
    )
    .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "end before start");
    assert!(
        again.text().contains("end is not after start"),
        "{}",
        again.text()
    );
    let other = send(
        &r2,
        post_json(
            "/api/silences",
            r#"{"slice": {"channel": "web"}, "start": "2026-11-01T00:00:00Z", "end": "2026-11-01T09:00:00+08:00"}"#,
        ),
    )
    .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.text());
    assert_ne!(other.json()["id"], id.as_str(), "ids are not reused");

    // Removed.
    let gone = delete(&r2, &format!("/api/silences/{id}")).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text());
    let again = delete(&r2, &format!("/api/silences/{id}")).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(book2.all().len(), 2, "the file's and the second one");
    let (_r3, book3) = silence_router(dir.path()).await;
    assert_eq!(book3.all().len(), 2);

    // Bad requests: each a 400 with the reason, nothing added.
    let long = "x".repeat(2_000);
    let huge =
        format!(r#"{{"slice": {{"channel": "web"}}, "duration": "1h", "comment": "{long}"}}"#);
    for (body, says) in [
        ("", "JSON object"),
        ("[]", "JSON object"),
        (r#"{"slice": {}, "duration": "1h"}"#, "names no dimension"),
        (
            r#"{"slice": {"region": "eu"}, "duration": "1h"}"#,
            "unknown dimension",
        ),
        (r#"{"slice": {"channel": "web"}}"#, "give `end`"),
        (
            r#"{"slice": {"channel": "web"}, "duration": "soon"}"#,
            "duration",
        ),
        (
            r#"{"slice": {"channel": "web"}, "end": "tomorrow"}"#,
            "RFC 3339",
        ),
        (
            r#"{"slice": {"channel": "web"}, "duration": "1h", "end": "2026-11-01T00:00:00Z"}"#,
            "not both",
        ),
        (
            r#"{"slice": {"channel": "web"}, "duration": "1h", "colour": 1}"#,
            "unknown field",
        ),
        (
            r#"{"slice": {"channel": 5}, "duration": "1h"}"#,
            "JSON object",
        ),
        (&huge, "longer than"),
    ] {
        let a = send(&r2, post_json("/api/silences", body)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}: {}", a.text());
        assert!(a.text().contains(says), "{body}: {}", a.text());
    }
    assert_eq!(book2.all().len(), 2);
    let big = format!(
        r#"{{"slice": {{"channel": "{}"}}, "duration": "1h"}}"#,
        "w".repeat(2 << 20)
    );
    let a = send(&r2, post_json("/api/silences", &big)).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.text());
}

/// With alerting off there are no silences to set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silences_without_alerting_are_a_clear_404() {
    let (r, _dir) = fixture().await;
    let a = get(&r, "/api/silences").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.text().contains("alerting is off"), "{}", a.text());
    let a = send(
        &r,
        post_json(
            "/api/silences",
            r#"{"slice": {"channel": "web"}, "duration": "1h"}"#,
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}
