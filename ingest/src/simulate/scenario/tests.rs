//! Scenario parsing, display and placement in time.

use super::*;

#[test]
fn parses_names_params_and_lists() {
    let s: Scenario = "payment-outage:method=wechat_pay,at=10m,for=5m,factor=8"
        .parse()
        .unwrap();
    assert_eq!(
        s.kind,
        ScenarioKind::PaymentOutage {
            method: Method::WechatPay,
            cause: Cause::PaymentDeclined,
            magnitude: Magnitude::Factor(8.0)
        }
    );
    assert_eq!(s.timing.at, Some(Offset::After(Duration::from_secs(600))));
    assert_eq!(
        s.timing.length,
        Some(Offset::After(Duration::from_secs(300)))
    );

    let list = parse_scenarios("promo-surge, maintenance:at=50%,rate=0.2,malformed").unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[1].kind, ScenarioKind::Maintenance { rate: 0.2 });
    assert_eq!(list[1].timing.at, Some(Offset::Fraction(0.5)));
    assert_eq!(list[2].kind.name(), "malformed");

    let s: Scenario = "bad-release:version=6.2.1,channel=Android-App,rate=0.5"
        .parse()
        .unwrap();
    assert_eq!(
        s.kind,
        ScenarioKind::BadRelease {
            version: "6.2.1".into(),
            channel: Some(Channel::AndroidApp),
            magnitude: Magnitude::Rate(0.5)
        }
    );
}

#[test]
fn display_round_trips() {
    for text in [
        "steady",
        "mixed:every=2h",
        "payment-outage",
        "payment-outage:method=credit_card,cause=insufficient_funds,rate=0.2,at=1h,for=15%,every=6h",
        "network-degradation:channel=mobile_web",
        "bad-release:channel=ios_app",
        "promo-surge:factor=2.5",
        "malformed:share=0.1,oversized=0",
    ] {
        let s: Scenario = text.parse().unwrap();
        let again: Scenario = s.to_string().parse().unwrap();
        assert_eq!(s, again, "{text} → {s}");
    }
}

#[test]
fn rejects_bad_strings_with_a_reason() {
    for (text, needle) in [
        ("", "empty"),
        ("outage", "unknown scenario `outage`"),
        ("payment-outage:metod=alipay", "unknown parameter `metod`"),
        ("payment-outage:method=bitcoin", "method `bitcoin`"),
        ("payment-outage:factor=0", "factor"),
        ("payment-outage:factor=abc", "factor=abc"),
        ("payment-outage:factor=2,rate=0.1", "not both"),
        ("payment-outage:at=10m,at=20m", "twice"),
        ("maintenance:rate=1.5", "probability"),
        ("maintenance:factor=3", "unknown parameter `factor`"),
        ("network-degradation:channel=tv", "channel `tv`"),
        ("bad-release:version=9.9.9", "no traffic"),
        ("bad-release:channel=web", "app versions"),
        ("malformed:share=-0.1", "probability"),
        ("promo-surge:at=soon", "at=soon"),
        ("promo-surge:for=0s", "longer than zero"),
        ("promo-surge:at=150%", "0% to 100%"),
        ("steady:at=10m", "parameters: none"),
        ("at=10m", "before any scenario"),
        ("promo-surge:", "nothing after"),
        ("promo-surge:factor", "key=value"),
        ("promo-surge,,steady", "empty"),
    ] {
        let err = parse_scenarios(text).unwrap_err().to_string();
        assert!(err.contains(needle), "{text:?}: {err}");
    }
    assert!("steady,promo-surge".parse::<Scenario>().is_err());
}

#[test]
fn resolves_defaults_relative_to_the_run() {
    let hour = 3_600_000;
    let list = parse_scenarios("payment-outage,malformed,steady").unwrap();
    let inc = resolve(&list, 1000, hour, 1).unwrap();
    assert_eq!(inc.len(), 2);
    let malformed = inc.iter().find(|i| i.scenario == "malformed").unwrap();
    assert_eq!((malformed.start_ms, malformed.end_ms), (1000, 1000 + hour));
    let outage = inc.iter().find(|i| i.scenario == "payment-outage").unwrap();
    assert_eq!(outage.start_ms, 1000 + hour * 4 / 10);
    assert_eq!(outage.end_ms - outage.start_ms, hour / 10);

    let every = parse_scenarios("maintenance:at=10m,for=5m,every=1h").unwrap();
    let inc = resolve(&every, 0, 5 * hour, 1).unwrap();
    assert_eq!(inc.len(), 5);
    assert_eq!(inc[4].start_ms, 4 * hour + 600_000);

    let late = parse_scenarios("promo-surge:at=2h").unwrap();
    assert!(
        resolve(&late, 0, hour, 1)
            .unwrap_err()
            .contains("run lasts 1h")
    );
    let overlap = parse_scenarios("promo-surge:for=1h,every=30m").unwrap();
    assert!(resolve(&overlap, 0, 10 * hour, 1).is_err());
}

#[test]
fn mixed_schedules_many_incidents_without_overlap() {
    let week = 7 * 24 * 3_600_000;
    let list = parse_scenarios("mixed").unwrap();
    let a = resolve(&list, 0, week, 9).unwrap();
    assert_eq!(a, resolve(&list, 0, week, 9).unwrap());
    assert_ne!(a, resolve(&list, 0, week, 10).unwrap());
    assert!(a.len() >= 80, "{}", a.len());
    for pair in a.windows(2) {
        assert!(pair[0].end_ms <= pair[1].start_ms, "{pair:?}");
    }
    let kinds: std::collections::BTreeSet<_> = a.iter().map(|i| i.scenario).collect();
    assert_eq!(kinds.len(), 5, "{kinds:?}");
}
