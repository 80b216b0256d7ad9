//! `serve` restarted while alerts fire: the `alerts` table remembers what
//! the previous process left firing, and the new one carries on from it
//! instead of paging again or leaving an ended alert firing forever.

use analytics::detect::{Detector, DetectorConfig};
use analytics::{Analytics, AnalyticsConfig};
use model::live::{LiveBatch, LiveRows};

use super::*;
use crate::test_support::batch;

const MIN: i64 = 60_000;

/// One minute of web/alipay traffic at `t`: 100 attempts, `declined` of
/// them failing with payment_declined.
fn minute(lines: &mut Vec<String>, t: i64, declined: usize) {
    for i in 0..100 {
        let n = lines.len();
        let (outcome, cause) = if i < declined {
            ("failure", "\"payment_declined\"")
        } else {
            ("success", "null")
        };
        lines.push(format!(
            r#"{{"event_id":"e{n}","ts":{t},"outcome":"{outcome}","channel":"web","failure_cause":{cause},"payment_method":"alipay","kafka_topic":"order-attempts","kafka_partition":0,"kafka_offset":{n},"ingested_at":{t}}}"#
        ));
    }
}

fn push(live: &LiveRows, lines: &[String]) {
    live.push_attempts(LiveBatch {
        topic: "order-attempts".into(),
        partition: 0,
        first: 0,
        last: lines.len() as i64,
        batch: batch(model::schema::order_attempts_schema(), lines),
    });
}

fn watch(analytics: &Analytics, notifier: Notifier, store: Option<AlertStore>) -> Watch {
    Watch {
        analytics: analytics.clone(),
        detector: Detector::new(DetectorConfig::default()).unwrap(),
        notifier,
        store,
        view: AlertsView::enabled(),
        firing_gauge: None,
        config: WatchConfig {
            interval: Duration::from_secs(1),
            lateness: Duration::ZERO,
            history: Duration::from_secs(4 * 3600),
        },
        silences: None,
    }
}

/// Every row of the alerts table under `dir`.
fn table_rows(dir: &std::path::Path) -> Vec<Alert> {
    analytics::table::plain_files(&dir.join(ALERTS_DIR))
        .unwrap()
        .iter()
        .flat_map(|f| super::super::store::read_file(f).unwrap())
        .collect()
}

/// Live rows of three hours of 2 % declines, then the 12 minutes before
/// `end` at 40 %; the engine over them and its data directory.
struct Spike {
    end: i64,
    lines: Vec<String>,
    live: LiveRows,
    analytics: Analytics,
    dir: tempfile::TempDir,
}

async fn spike() -> Spike {
    let end = chrono::Utc::now().timestamp_millis() / MIN * MIN;
    let mut lines = Vec::new();
    for m in (1..=180).rev() {
        minute(&mut lines, end - m * MIN, if m <= 12 { 40 } else { 2 });
    }
    let live = LiveRows::new();
    push(&live, &lines);
    let dir = tempfile::tempdir().unwrap();
    let mut config = AnalyticsConfig::new(dir.path()).unwrap();
    config.live = Some(live.clone());
    let analytics = Analytics::new(config).await.unwrap();
    Spike {
        end,
        lines,
        live,
        analytics,
        dir,
    }
}

fn silent_notifier() -> Notifier {
    let shutdown = CancellationToken::new();
    Notifier::start(&AlertingConfig::default(), None, &shutdown)
        .unwrap()
        .0
}

/// What pages on the spike (a detector alone, nothing stored or sent).
async fn paged(s: &Spike) -> Alert {
    let mut probe = watch(&s.analytics, silent_notifier(), None);
    probe.warm_up(s.end).await.unwrap();
    let mut paged = probe.detector.firing();
    assert_eq!(paged.len(), 1, "{paged:#?}");
    paged.remove(0)
}

#[tokio::test]
async fn a_restart_resumes_what_was_firing_and_resolves_what_ended_meanwhile() {
    let s = spike().await;
    let (end, analytics, dir) = (s.end, &s.analytics, &s.dir);
    let paged = [paged(&s).await];

    // What the previous process left in the alerts table: that slice,
    // firing since before (its own id and start), and a slice that is
    // quiet now, firing when it stopped.
    let store = AlertStore::new(dir.path());
    let earlier = Alert {
        id: "from-before".into(),
        started_at: analytics::detect::rfc3339(end - 10 * MIN),
        ..paged[0].clone()
    };
    let ended = Alert {
        id: "ended-meanwhile".into(),
        slice: BTreeMap::from([("channel".into(), "ios_app".into())]),
        started_at: analytics::detect::rfc3339(end - 90 * MIN),
        ..paged[0].clone()
    };
    store.append(&[earlier.clone(), ended.clone()]).unwrap();
    store
        .append(&[alert("long-done", AlertStatus::Firing)])
        .unwrap();
    store
        .append(&[alert("long-done", AlertStatus::Resolved)])
        .unwrap();
    // A damaged file costs only itself.
    let damaged = dir
        .path()
        .join(ALERTS_DIR)
        .join("alerts-0-0-000000.parquet");
    std::fs::write(&damaged, b"PAR1 not really").unwrap();
    let left: Vec<String> = store
        .still_firing()
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(left, ["ended-meanwhile", "from-before"]);
    std::fs::remove_file(&damaged).unwrap();

    // The new process, with a webhook and an Alertmanager.
    let (hook, webhook) = start_receiver(vec![]).await;
    let (am_base, am) = start_receiver_at(vec![], "/api/v2/alerts").await;
    let shutdown = CancellationToken::new();
    let delivery = AlertingConfig {
        alertmanager_url: Some(am_base),
        ..fast(hook)
    };
    let (notifier, tasks) = Notifier::start(&delivery, None, &shutdown).unwrap();
    let mut w = watch(analytics, notifier, Some(AlertStore::new(dir.path())));
    let counted = w.warm_up(end).await.unwrap();

    // The view shows the recorded alert still firing, under its own id and
    // start, and the ended one resolved.
    let (_, shown) = w.view.snapshot();
    let ids: Vec<(&str, AlertStatus)> = shown.iter().map(|a| (a.id.as_str(), a.status)).collect();
    assert_eq!(
        ids,
        [
            ("from-before", AlertStatus::Firing),
            ("ended-meanwhile", AlertStatus::Resolved)
        ]
    );
    assert_eq!(shown[0].started_at, earlier.started_at);
    // The webhook hears only of the ended one (it was told of the other
    // when it started); Alertmanager gets both, the firing one re-sent.
    wait_for("the webhook", || {
        webhook.accepted.lock().unwrap().len() == 1
    })
    .await;
    let told = webhook.accepted.lock().unwrap()[0].clone();
    assert_eq!(
        (told["id"].as_str(), told["status"].as_str()),
        (Some("ended-meanwhile"), Some("resolved"))
    );
    wait_for("Alertmanager", || {
        let posts = am.accepted.lock().unwrap();
        let ids: Vec<&str> = posts
            .iter()
            .flat_map(|p| p.as_array().unwrap().iter())
            .filter_map(|a| a["annotations"]["alert_id"].as_str())
            .collect();
        ids.contains(&"from-before") && ids.contains(&"ended-meanwhile")
    })
    .await;
    // The table gained the resolution and no second firing row.
    let rows = table_rows(dir.path());
    let mut firing: Vec<&str> = rows
        .iter()
        .filter(|a| a.status == AlertStatus::Firing)
        .map(|a| a.id.as_str())
        .collect();
    firing.sort_unstable();
    assert_eq!(firing, ["ended-meanwhile", "from-before", "long-done"]);
    assert!(
        rows.iter()
            .any(|a| a.id == "ended-meanwhile" && a.status == AlertStatus::Resolved)
    );

    // The declines end: when the slice resolves, it closes the recorded alert.
    let mut lines = s.lines.clone();
    let before = lines.len();
    for m in 0..15 {
        minute(&mut lines, end + m * MIN, 2);
    }
    push(&s.live, &lines[before..]);
    w.step(counted, end + 15 * MIN).await.unwrap();
    let resolved: Vec<String> = table_rows(dir.path())
        .into_iter()
        .filter(|a| a.status == AlertStatus::Resolved)
        .map(|a| a.id)
        .collect();
    assert!(
        resolved.contains(&"from-before".to_string()),
        "{resolved:?}"
    );
    assert!(w.detector.firing().is_empty());
    shutdown.cancel();
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn an_api_silence_holds_the_page_from_the_warm_up_and_lifting_it_pages() {
    let s = spike().await;
    let paged = paged(&s).await;
    let book = SilenceBook::open(Vec::new(), Some(s.dir.path().join("silences.json"))).unwrap();
    let silence = book
        .add(
            silences::NewSilence {
                slice: paged.slice.clone(),
                start: None,
                end: None,
                duration: Some("2h".into()),
                comment: "provider maintenance".into(),
            },
            s.end - 30 * MIN,
        )
        .unwrap();
    let mut w = watch(&s.analytics, silent_notifier(), None);
    w.silences = Some(book.clone());
    let mut counted = w.warm_up(s.end).await.unwrap();
    assert_eq!(w.view.firing(), 0, "{:#?}", w.view.snapshot());
    assert!(w.detector.stats().silenced > 0);
    // Lifted: the next runs page the slice (still above its baseline).
    assert!(book.remove(&silence.id).unwrap());
    for t in [30_000, 60_000] {
        counted = w.step(counted, s.end + t).await.unwrap();
    }
    let (_, shown) = w.view.snapshot();
    assert_eq!(shown.len(), 1, "{shown:#?}");
    assert_eq!(shown[0].slice, paged.slice);
}
