//! The decoder on the simulator's traffic: every record the simulator broke
//! on purpose is rejected with exactly the reason it was broken for, and
//! every other record is accepted whole.

use ingest::decode::{Decoder, DecoderConfig, Source, UserKeyHasher};
use ingest::simulate::{SimConfig, Simulator};

#[test]
fn every_malformed_record_gets_its_reason_and_every_event_is_accepted() {
    let config = SimConfig {
        seed: 11,
        start_ms: 1_793_491_200_000, // 2026-11-01T00:00:00Z
        duration_ms: 30 * 60_000,
        rate: 60.0,
        scenarios: [
            "payment-outage",
            "malformed:share=0.05",
            "mixed",
            "bad-release",
        ]
        .iter()
        .map(|s| s.parse().expect("scenario"))
        .collect(),
        ..SimConfig::default()
    };
    let users = UserKeyHasher::new(b"test-secret-0123456789").expect("secret");
    let mut decoder = Decoder::new(DecoderConfig::new(users));
    let (mut events, mut broken) = (0u64, 0u64);
    let mut reasons_seen = std::collections::BTreeSet::new();
    for (offset, record) in Simulator::new(config).enumerate() {
        let src = Source {
            topic: "order-attempts",
            partition: 0,
            offset: offset as i64,
            now_ms: record.event_time_ms + 1_000,
        };
        let out = decoder.decode(&record.value, &src);
        match record.expected_rejection {
            Some(reason) => {
                let rejected = decoder.take_rejected();
                assert_eq!(out.rejected, 1, "{reason}: {out:?}");
                assert_eq!(rejected[0].reason, reason, "{}", rejected[0].detail);
                reasons_seen.insert(reason);
                broken += 1;
            }
            None => {
                assert_eq!(out.rejected, 0, "{:?}", decoder.take_rejected());
                assert_eq!(out.duplicates, 0);
                events += u64::from(out.accepted);
            }
        }
        if decoder.pending_rows() > 8192 {
            decoder.finish_batch().expect("batch");
        }
    }
    assert_eq!(
        reasons_seen.len(),
        model::Reason::ALL.len(),
        "{reasons_seen:?}"
    );
    assert!(
        events > 50_000 && broken > 2_000,
        "{events} events, {broken} broken"
    );
    assert_eq!(decoder.stats().accepted, events);
    let unknown: u64 = decoder.stats().unknown_values.iter().sum();
    assert_eq!(unknown, 0, "the simulator only uses vocabulary values");
}
