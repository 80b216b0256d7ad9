//! Fuzzes the decoder with arbitrary message values: it must never panic,
//! every line must be accounted for (accepted, rejected or duplicate), and the
//! Arrow batches it builds must be valid.

#![no_main]

use ingest::decode::{Decoder, DecoderConfig, Source, UserKeyHasher, rejected_batch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let users = UserKeyHasher::new(b"fuzz-secret-0123456789").expect("secret");
    let mut decoder = Decoder::new(DecoderConfig::new(users));
    let src = Source {
        topic: "order-attempts",
        partition: 0,
        offset: 0,
        now_ms: 1_795_521_600_000,
    };
    // Twice, so the duplicate path runs too.
    let first = decoder.decode(data, &src);
    let second = decoder.decode(data, &src);
    assert!(first.total() >= 1);
    assert_eq!(first.total(), second.total());
    assert_eq!(second.accepted, 0, "the same events cannot be accepted twice");
    let batch = decoder.finish_batch().expect("batch");
    assert_eq!(batch.num_rows() as u32, first.accepted);
    for c in batch.columns() {
        c.to_data().validate_full().expect("valid arrow data");
    }
    let rejected = decoder.take_rejected();
    assert_eq!(rejected.len() as u32, first.rejected + second.rejected);
    rejected_batch(&rejected).expect("rejected batch");
});
