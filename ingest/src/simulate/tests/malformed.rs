//! The malformed scenario: broken records, each tagged with its reason, and
//! records sent twice (producer retries).

use super::*;

#[test]
fn malformed_covers_every_reason_and_says_which() {
    let (records, truth) = run(config(10, 150.0, "malformed:share=0.1"));
    let now = now_ms();
    let mut counted = [0u64; Reason::ALL.len()];
    let (mut batches, mut batch_events) = (0u64, 0u64);
    for r in &records {
        match r.expected_rejection {
            Some(reason) => {
                counted[reason.index()] += 1;
                assert!(!r.value.contains(&b'\n'), "a newline in a broken record");
                let faults = contract_faults(&r.value, now);
                assert_eq!(
                    faults,
                    BTreeSet::from([reason]),
                    "{}",
                    String::from_utf8_lossy(&r.value[..r.value.len().min(600)])
                );
                if reason == Reason::MessageTooLarge {
                    assert!(r.value.len() < (1 << 20) + 1024, "{}", r.value.len());
                }
            }
            None => {
                let lines = r.value.split(|&b| b == b'\n').count() as u64;
                if lines > 1 {
                    batches += 1;
                    batch_events += lines;
                }
                for line in r.value.split(|&b| b == b'\n') {
                    assert!(contract_faults(line, now).is_empty());
                }
            }
        }
    }
    for reason in Reason::ALL {
        assert!(counted[reason.index()] > 0, "no {reason} record");
    }
    assert_eq!(counted[Reason::MessageTooLarge.index()], 3);
    let inc = &truth.incidents[0];
    let rejections = inc.rejections.as_ref().unwrap();
    for reason in Reason::ALL {
        assert_eq!(
            rejections[reason.as_str()],
            counted[reason.index()],
            "{reason}"
        );
    }
    assert!(batches > 100);
    assert_eq!(inc.ndjson_messages, Some(batches));
    assert_eq!(inc.ndjson_events, Some(batch_events));
    let broken: u64 = counted.iter().sum();
    assert_eq!(truth.generated.malformed_records, broken);
    let share = (broken + batches) as f64 / records.len() as f64;
    assert!((0.08..0.12).contains(&share), "{share}");
}

#[test]
fn duplicates_resend_valid_records_and_the_decoder_skips_exactly_those() {
    let (records, truth) = run(config(
        20,
        50.0,
        "malformed:share=0.02,oversized=0,duplicates=0.05",
    ));
    let resent = records
        .windows(2)
        .filter(|w| w[0].value == w[1].value && w[0].expected_rejection.is_none())
        .count() as u64;
    assert!(resent > 500, "about 5 % of ~60 000 records: {resent}");
    assert_eq!(truth.generated.duplicate_records, resent);
    assert_eq!(truth.generated.records, records.len() as u64);
    let users = crate::decode::UserKeyHasher::new(b"test-secret-0123456789").unwrap();
    let mut d = crate::decode::Decoder::new(crate::decode::DecoderConfig::new(users));
    for (i, r) in records.iter().enumerate() {
        let src = crate::decode::Source {
            topic: "t",
            partition: 0,
            offset: i as i64,
            now_ms: r.event_time_ms,
        };
        d.decode(&r.value, &src);
    }
    assert_eq!(d.stats().duplicates, resent);
    // Without the parameter nothing is sent twice, and the bytes are those of before.
    let (plain, _) = run(config(20, 50.0, "malformed:share=0.02,oversized=0"));
    assert!(plain.windows(2).all(|w| w[0].value != w[1].value));
}
