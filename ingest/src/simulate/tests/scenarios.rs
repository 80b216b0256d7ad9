//! Each incident scenario changes what it names and nothing else, and the
//! truth file says what the data shows (over the shared 80-minute run).

use super::*;

#[test]
fn payment_outage_raises_that_methods_declines_only() {
    let s = shared();
    let declined = |in_window: bool, method: &'static str| {
        share(
            s.events_in(OUTAGE, in_window),
            |e| e.method() == method,
            |e| e.is(FailureCause::PaymentDeclined),
        )
        .0
    };
    let (before, during) = (declined(false, "alipay"), declined(true, "alipay"));
    assert!(during > 5.0 * before, "alipay declines {before} → {during}");
    let (before, during) = (
        declined(false, "credit_card"),
        declined(true, "credit_card"),
    );
    assert!(
        (during - before).abs() < 0.012,
        "credit_card declines {before} → {during}"
    );
    let truth = s
        .truth
        .incidents
        .iter()
        .find(|i| i.scenario == "payment-outage")
        .unwrap();
    let before = declined(false, "alipay");
    let base = truth.baseline_cause_rate.unwrap();
    assert!(
        (before - base).abs() < 0.3 * base,
        "quiet alipay declines {before} vs truth {base}"
    );
}

#[test]
fn maintenance_fails_everything_everywhere_for_its_window() {
    let s = shared();
    for ch in Channel::ALL {
        let (during, n) = share(
            s.events.iter().filter(|(t, _)| within(*t, MAINTENANCE)),
            |e| e.channel() == ch.as_str(),
            |e| e.is(FailureCause::SystemMaintenance),
        );
        assert!(during > 0.4 && n > 500, "{ch}: {during} of {n}");
    }
    let (outside, _) = share(
        s.events.iter().filter(|(t, _)| quiet(*t)),
        |_| true,
        |e| e.is(FailureCause::SystemMaintenance),
    );
    assert!(outside < 0.002, "{outside}");
}

#[test]
fn network_degradation_hits_one_channel() {
    let s = shared();
    let rate = |in_window: bool, ch: &'static str| {
        share(
            s.events_in(DEGRADATION, in_window),
            |e| e.channel() == ch,
            |e| e.is(FailureCause::NetworkError),
        )
        .0
    };
    assert!(rate(true, "android_app") > 4.0 * rate(false, "android_app"));
    for ch in ["web", "ios_app", "wechat_mini_program"] {
        let (before, during) = (rate(false, ch), rate(true, ch));
        assert!((during - before).abs() < 0.006, "{ch}: {before} → {during}");
    }
}

#[test]
fn bad_release_breaks_one_app_version() {
    let s = shared();
    let outdated = |in_window: bool, v: &'static str| {
        share(
            s.events_in(RELEASE, in_window),
            |e| e.app_version.as_deref() == Some(v),
            |e| e.is(FailureCause::ClientOutdated),
        )
    };
    let (before, n_before) = outdated(false, "6.4.0");
    let (during, _) = outdated(true, "6.4.0");
    assert!(n_before > 10_000, "6.4.0 has real traffic: {n_before}");
    assert!(before < 0.005 && during > 0.2, "6.4.0: {before} → {during}");
    let (other, n) = outdated(true, "6.3.2");
    assert!(other < 0.01 && n > 1000, "6.3.2 during: {other}");
    let (web, _) = share(
        s.events.iter().filter(|(t, _)| within(*t, RELEASE)),
        |e| e.channel() == "web",
        |e| e.is(FailureCause::ClientOutdated),
    );
    assert!(web < 0.03, "{web}");
}

#[test]
fn promo_surge_triples_traffic_but_not_the_failure_rate() {
    let s = shared();
    let count = |f: &dyn Fn(i64) -> bool| s.events.iter().filter(|(t, _)| f(*t)).count() as f64;
    let quiet_minutes = 80.0
        - [OUTAGE, MAINTENANCE, DEGRADATION, RELEASE, SURGE]
            .iter()
            .map(|(a, b)| (b + 2 - a) as f64)
            .sum::<f64>();
    let per_minute_quiet = count(&quiet) / quiet_minutes;
    let per_minute_surge = count(&|t| within(t, SURGE)) / (SURGE.1 - SURGE.0) as f64;
    let ratio = per_minute_surge / per_minute_quiet;
    assert!((2.4..3.6).contains(&ratio), "surge traffic ×{ratio}");
    let (before, _) = share(
        s.events.iter().filter(|(t, _)| quiet(*t)),
        |_| true,
        Ev::failed,
    );
    let (during, _) = share(
        s.events.iter().filter(|(t, _)| within(*t, SURGE)),
        |_| true,
        Ev::failed,
    );
    assert!(
        (during - before).abs() < 0.004,
        "failure rate {before} → {during}"
    );
}

#[test]
fn truth_matches_the_generated_data() {
    let s = shared();
    let json = serde_json::to_string(&s.truth).unwrap();
    let back: Truth = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s.truth);
    assert_eq!(s.truth.start, "2026-11-01T00:00:00.000Z");
    assert_eq!(s.truth.end, "2026-11-01T01:20:00.000Z");
    assert_eq!(s.truth.generated.events as usize, s.events.len());
    assert_eq!(s.truth.incidents.len(), 5);

    let (quiet_rate, _) = share(
        s.events.iter().filter(|(t, _)| quiet(*t)),
        |_| true,
        Ev::failed,
    );
    let base = s.truth.baseline_failure_rate;
    assert!(
        (quiet_rate - base).abs() < 0.1 * base,
        "baseline {quiet_rate} vs truth {base}"
    );

    for inc in &s.truth.incidents {
        let start = chrono::DateTime::parse_from_rfc3339(&inc.start)
            .unwrap()
            .timestamp_millis();
        let end = chrono::DateTime::parse_from_rfc3339(&inc.end)
            .unwrap()
            .timestamp_millis();
        let matches = |e: &Ev| {
            inc.slice.iter().all(|(dim, value)| match dim.as_str() {
                "channel" => &e.channel() == value,
                "payment_method" => &e.method() == value,
                "app_version" => e.app_version.as_ref() == Some(value),
                "failure_cause" => true,
                other => panic!("unknown slice dimension {other}"),
            })
        };
        let failure = |e: &Ev| match inc.slice.get("failure_cause") {
            Some(c) => e.cause().as_ref() == Some(c),
            None => e.failed(),
        };
        let in_window = s.events.iter().filter(|(t, _)| (start..end).contains(t));
        let (measured, n) = share(in_window, matches, failure);
        let expected = inc.expected_failure_rate.unwrap();
        let sigma = (expected * (1.0 - expected) / n as f64).sqrt();
        assert!(
            (measured - expected).abs() < 4.0 * sigma + 0.1 * expected,
            "{}: measured {measured} over {n} attempts, truth {expected}",
            inc.scenario
        );
        if !inc.decoy {
            assert!(
                expected > 1.5 * inc.baseline_failure_rate.unwrap(),
                "{inc:?}"
            );
        }
    }
}
