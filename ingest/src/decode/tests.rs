//! The decoder's rules, one test per rule and per reason code, plus property
//! tests over arbitrary bytes.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int32Type, Int64Type, TimestampMillisecondType};
use model::schema::col;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

/// 2026-11-24T12:00:00Z, the injected ingest clock.
const NOW: i64 = 1_795_521_600_000;

fn src(offset: i64) -> Source<'static> {
    Source {
        topic: "order-attempts",
        partition: 2,
        offset,
        now_ms: NOW,
    }
}

fn decoder() -> Decoder {
    let users = UserKeyHasher::new(b"test-secret-0123456789").expect("secret");
    Decoder::new(DecoderConfig::new(users))
}

fn valid() -> Value {
    json!({
        "event_id": "e-1",
        "ts": "2026-11-24T19:59:58.250+08:00",
        "outcome": "failure",
        "channel": "ios_app",
        "failure_cause": "payment_declined",
        "payment_method": "credit_card",
        "stage": "payment",
        "order_id": "o-9",
        "session_id": "s-3",
        "user_id": "u-7",
        "error_code": "CARD_DECLINED_51",
        "error_message": "Your card was declined",
        "region": "cn-east",
        "locale": "zh-CN",
        "app_version": "5.2.1",
        "os": "iOS 18.1",
        "browser": null,
        "network": "wifi",
        "latency_ms": 812,
        "amount_minor": 12900,
        "currency": "CNY",
        "attempt": 1
    })
}

/// Decodes one message; returns the outcome, the batch and the rejections.
fn run(value: &[u8]) -> (MessageOutcome, RecordBatch, Vec<Rejected>, DecodeStats) {
    let mut d = decoder();
    let out = d.decode(value, &src(41));
    let batch = d.finish_batch().expect("batch");
    (out, batch, d.take_rejected(), d.stats().clone())
}

fn with(mutate: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Vec<u8> {
    let mut v = valid();
    mutate(v.as_object_mut().expect("object"));
    serde_json::to_vec(&v).expect("json")
}

/// Asserts that the message is rejected with `reason` and a detail
/// mentioning `detail_has`.
#[track_caller]
fn assert_rejected(value: &[u8], reason: Reason, detail_has: &str) {
    let (out, batch, rejected, stats) = run(value);
    assert_eq!(out.accepted, 0, "accepted unexpectedly");
    assert_eq!(out.rejected, 1);
    assert_eq!(batch.num_rows(), 0);
    assert_eq!(rejected.len(), 1);
    let r = &rejected[0];
    assert_eq!(r.reason, reason, "detail: {}", r.detail);
    assert!(
        r.detail.contains(detail_has),
        "detail {:?} should mention {detail_has:?}",
        r.detail
    );
    assert_eq!(stats.rejected(reason), 1);
    assert_eq!(r.offset, 41);
    assert_eq!(r.partition, 2);
    assert_eq!(r.topic, "order-attempts");
}

fn str_col(batch: &RecordBatch, i: usize) -> Vec<Option<String>> {
    let a = batch.column(i);
    let a = arrow::compute::cast(a, &arrow::datatypes::DataType::Utf8).expect("cast");
    a.as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

#[test]
fn accepts_a_valid_event_into_every_column() {
    let (out, batch, rejected, stats) = run(&serde_json::to_vec(&valid()).unwrap());
    assert_eq!(
        out,
        MessageOutcome {
            accepted: 1,
            rejected: 0,
            duplicates: 0
        }
    );
    assert!(rejected.is_empty());
    assert_eq!(stats.accepted, 1);
    assert_eq!(batch.schema(), model::schema::order_attempts_schema());
    assert_eq!(batch.num_rows(), 1);
    let ts = batch
        .column(col::TS)
        .as_primitive::<TimestampMillisecondType>();
    assert_eq!(ts.value(0), NOW - 1750); // 19:59:58.250+08:00 = 11:59:58.250Z
    let s = |i| str_col(&batch, i)[0].clone();
    assert_eq!(s(col::EVENT_ID).as_deref(), Some("e-1"));
    assert_eq!(s(col::OUTCOME).as_deref(), Some("failure"));
    assert_eq!(s(col::CHANNEL).as_deref(), Some("ios_app"));
    assert_eq!(s(col::FAILURE_CAUSE).as_deref(), Some("payment_declined"));
    assert_eq!(s(col::PAYMENT_METHOD).as_deref(), Some("credit_card"));
    assert_eq!(s(col::STAGE).as_deref(), Some("payment"));
    assert_eq!(s(col::ORDER_ID).as_deref(), Some("o-9"));
    assert_eq!(s(col::SESSION_ID).as_deref(), Some("s-3"));
    assert_eq!(s(col::ERROR_CODE).as_deref(), Some("CARD_DECLINED_51"));
    assert_eq!(
        s(col::ERROR_MESSAGE).as_deref(),
        Some("Your card was declined")
    );
    assert_eq!(s(col::REGION).as_deref(), Some("cn-east"));
    assert_eq!(s(col::LOCALE).as_deref(), Some("zh-CN"));
    assert_eq!(s(col::APP_VERSION).as_deref(), Some("5.2.1"));
    assert_eq!(s(col::OS).as_deref(), Some("iOS 18.1"));
    assert_eq!(s(col::BROWSER), None);
    assert_eq!(s(col::NETWORK).as_deref(), Some("wifi"));
    assert_eq!(s(col::CURRENCY).as_deref(), Some("CNY"));
    assert_eq!(s(col::KAFKA_TOPIC).as_deref(), Some("order-attempts"));
    let i64s = |i| batch.column(i).as_primitive::<Int64Type>().value(0);
    assert_eq!(i64s(col::LATENCY_MS), 812);
    assert_eq!(i64s(col::AMOUNT_MINOR), 12900);
    assert_eq!(i64s(col::KAFKA_OFFSET), 41);
    let i32s = |i| batch.column(i).as_primitive::<Int32Type>().value(0);
    assert_eq!(i32s(col::ATTEMPT), 1);
    assert_eq!(i32s(col::KAFKA_PARTITION), 2);
    let ingested = batch
        .column(col::INGESTED_AT)
        .as_primitive::<TimestampMillisecondType>();
    assert_eq!(ingested.value(0), NOW);
}

#[test]
fn user_id_is_stored_only_as_its_keyed_hash() {
    let (_, batch, _, _) = run(&serde_json::to_vec(&valid()).unwrap());
    let key = str_col(&batch, col::USER_KEY)[0].clone().expect("user_key");
    let users = UserKeyHasher::new(b"test-secret-0123456789").unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(key, users.hash_hex("u-7", &mut buf));
    assert!(!key.contains("u-7"));
    for f in batch.schema().fields() {
        assert_ne!(f.name(), "user_id");
    }
    let (_, batch, _, _) = run(&with(|m| {
        m.remove("user_id");
    }));
    assert_eq!(str_col(&batch, col::USER_KEY)[0], None);
}

#[test]
fn optional_fields_may_be_absent_or_null() {
    let minimal = br#"{"event_id":"m","ts":1795521600000,"outcome":"success","channel":"web","payment_method":null}"#;
    let (out, batch, _, _) = run(minimal);
    assert_eq!(out.accepted, 1);
    for i in [
        col::FAILURE_CAUSE,
        col::PAYMENT_METHOD,
        col::STAGE,
        col::ORDER_ID,
        col::ERROR_MESSAGE,
        col::CURRENCY,
    ] {
        assert!(batch.column(i).is_null(0), "column {i}");
    }
    assert!(batch.column(col::LATENCY_MS).is_null(0));
    assert!(batch.column(col::ATTEMPT).is_null(0));
}

#[test]
fn both_timestamp_forms_are_accepted_and_stored_as_utc_ms() {
    for (ts, expect) in [
        (json!("2026-11-24T12:00:00Z"), NOW),
        (json!("2026-11-24T20:00:00.5+08:00"), NOW + 500),
        (json!(NOW - 7), NOW - 7),
    ] {
        let (out, batch, rej, _) = run(&with(|m| {
            m.insert("ts".into(), ts.clone());
        }));
        assert_eq!(out.accepted, 1, "{ts}: {rej:?}");
        let got = batch
            .column(col::TS)
            .as_primitive::<TimestampMillisecondType>()
            .value(0);
        assert_eq!(got, expect, "{ts}");
    }
}

#[test]
fn normalises_vocabulary_strings() {
    let (out, batch, _, stats) = run(&with(|m| {
        m.insert("outcome".into(), json!(" FAILURE "));
        m.insert("channel".into(), json!("Mobile-Web"));
        m.insert("failure_cause".into(), json!("Network Error"));
        m.insert("payment_method".into(), json!("WeChat-Pay"));
        m.insert("stage".into(), json!("CHECKOUT"));
    }));
    assert_eq!(out.accepted, 1);
    let s = |i| str_col(&batch, i)[0].clone().unwrap();
    assert_eq!(s(col::OUTCOME), "failure");
    assert_eq!(s(col::CHANNEL), "mobile_web");
    assert_eq!(s(col::FAILURE_CAUSE), "network_error");
    assert_eq!(s(col::PAYMENT_METHOD), "wechat_pay");
    assert_eq!(s(col::STAGE), "checkout");
    assert_eq!(stats.unknown_values.iter().sum::<u64>(), 0);
}

#[test]
fn unknown_vocabulary_values_are_kept_and_counted_per_field() {
    let (out, batch, _, stats) = run(&with(|m| {
        m.insert("channel".into(), json!("Smart-TV"));
        m.insert("failure_cause".into(), json!("cosmic_ray"));
        m.insert("payment_method".into(), json!("paypal"));
        m.insert("stage".into(), json!("review"));
    }));
    assert_eq!(out.accepted, 1);
    let s = |i| str_col(&batch, i)[0].clone().unwrap();
    assert_eq!(s(col::CHANNEL), "smart_tv");
    assert_eq!(s(col::FAILURE_CAUSE), "cosmic_ray");
    assert_eq!(s(col::PAYMENT_METHOD), "paypal");
    assert_eq!(s(col::STAGE), "review");
    for f in VocabField::ALL {
        assert_eq!(stats.unknown_values(f), 1, "{f:?}");
    }
}

#[test]
fn unknown_fields_are_ignored_and_counted() {
    let (out, _, _, stats) = run(&with(|m| {
        m.insert(
            "coupon".into(),
            json!({"code": "X", "nested": [1, 2, {"a": null}]}),
        );
        m.insert("vip".into(), json!(true));
    }));
    assert_eq!(out.accepted, 1);
    assert_eq!(stats.unknown_fields, 2);
}

#[test]
fn empty_optional_vocabulary_values_are_null() {
    let (out, batch, _, _) = run(&with(|m| {
        m.insert("payment_method".into(), json!("  "));
    }));
    assert_eq!(out.accepted, 1);
    assert!(batch.column(col::PAYMENT_METHOD).is_null(0));
}

#[test]
fn error_message_is_truncated_to_1024_characters() {
    let long = "网".repeat(1500);
    let (out, batch, _, stats) = run(&with(|m| {
        m.insert("error_message".into(), json!(long));
    }));
    assert_eq!(out.accepted, 1);
    let msg = str_col(&batch, col::ERROR_MESSAGE)[0].clone().unwrap();
    assert_eq!(msg.chars().count(), ERROR_MESSAGE_MAX_CHARS);
    assert_eq!(stats.truncated_error_messages, 1);
}

#[test]
fn hostile_text_is_stored_verbatim_not_interpreted() {
    let (out, batch, _, _) = run(&with(|m| {
        m.insert(
            "error_message".into(),
            json!("<img src=x onerror=alert(1)>\u{0}\"'"),
        );
    }));
    assert_eq!(out.accepted, 1);
    let msg = str_col(&batch, col::ERROR_MESSAGE)[0].clone().unwrap();
    assert_eq!(msg, "<img src=x onerror=alert(1)>\u{0}\"'");
}

// ---- one test per reason code -------------------------------------------------

#[test]
fn reason_invalid_utf8() {
    assert_rejected(b"{\"event_id\":\"\xff\xfe\"}", Reason::InvalidUtf8, "UTF-8");
}

#[test]
fn reason_invalid_json() {
    assert_rejected(b"{\"event_id\": ", Reason::InvalidJson, "");
    assert_rejected(b"   ", Reason::InvalidJson, "empty");
    assert_rejected(b"", Reason::InvalidJson, "empty");
    assert_rejected(
        br#"{"event_id":"a","event_id":"b"}"#,
        Reason::InvalidJson,
        "event_id",
    );
    assert_rejected(&b"[".repeat(100_000), Reason::InvalidJson, "");
}

#[test]
fn reason_not_an_object() {
    assert_rejected(b"[1,2,3]", Reason::NotAnObject, "array");
    assert_rejected(b"\"hello\"", Reason::NotAnObject, "string");
    assert_rejected(b"42", Reason::NotAnObject, "number");
    assert_rejected(b"null", Reason::NotAnObject, "null");
}

#[test]
fn reason_missing_field() {
    for field in ["event_id", "ts", "outcome", "channel"] {
        assert_rejected(
            &with(|m| {
                m.remove(field);
            }),
            Reason::MissingField,
            field,
        );
        assert_rejected(
            &with(|m| {
                m.insert(field.into(), Value::Null);
            }),
            Reason::MissingField,
            field,
        );
    }
}

#[test]
fn reason_wrong_type() {
    for (field, value) in [
        ("event_id", json!(12)),
        ("ts", json!(true)),
        ("ts", json!(1.795e12)),
        ("outcome", json!(["failure"])),
        ("channel", json!({"name": "web"})),
        ("payment_method", json!(3)),
        ("order_id", json!(12345)),
        ("user_id", json!(false)),
        ("latency_ms", json!("812")),
        ("latency_ms", json!(8.5)),
        ("amount_minor", json!(1e30)),
        ("attempt", json!("1")),
        ("currency", json!(156)),
        ("error_message", json!(["x"])),
    ] {
        assert_rejected(
            &with(|m| {
                m.insert(field.into(), value.clone());
            }),
            Reason::WrongType,
            field,
        );
    }
}

#[test]
fn reason_invalid_value() {
    for (field, value) in [
        ("event_id", json!("")),
        ("outcome", json!("maybe")),
        ("channel", json!("   ")),
        ("latency_ms", json!(-1)),
        ("amount_minor", json!(-500)),
        ("amount_minor", json!(u64::MAX)),
        ("attempt", json!(0)),
        ("attempt", json!(3_000_000_000u64)),
        ("currency", json!("rmb")),
        ("currency", json!("CN")),
        ("currency", json!("CNYY")),
    ] {
        assert_rejected(
            &with(|m| {
                m.insert(field.into(), value.clone());
            }),
            Reason::InvalidValue,
            field,
        );
    }
    // failure_cause present on a success
    assert_rejected(
        &with(|m| {
            m.insert("outcome".into(), json!("success"));
        }),
        Reason::InvalidValue,
        "failure_cause",
    );
}

#[test]
fn reason_invalid_timestamp() {
    for ts in [
        "yesterday",
        "2026-11-24T12:00:00",
        "2026-11-24",
        "2026-02-30T00:00:00Z",
        "1795521600000",
    ] {
        assert_rejected(
            &with(|m| {
                m.insert("ts".into(), json!(ts));
            }),
            Reason::InvalidTimestamp,
            "ts",
        );
    }
}

#[test]
fn reason_timestamp_out_of_range() {
    for ts in [
        json!("1999-12-31T23:59:59.999Z"),
        json!(0),
        json!(-5),
        json!(NOW + 24 * 3_600_000 + 1),
        json!("2026-11-25T13:00:00Z"),
        json!(u64::MAX),
    ] {
        assert_rejected(
            &with(|m| {
                m.insert("ts".into(), ts.clone());
            }),
            Reason::TimestampOutOfRange,
            "ts",
        );
    }
    // Exactly at the bounds is fine.
    for ts in [json!("2000-01-01T00:00:00Z"), json!(NOW + 24 * 3_600_000)] {
        let (out, _, rej, _) = run(&with(|m| {
            m.insert("ts".into(), ts.clone());
        }));
        assert_eq!(out.accepted, 1, "{ts}: {rej:?}");
    }
}

#[test]
fn reason_missing_failure_cause() {
    assert_rejected(
        &with(|m| {
            m.remove("failure_cause");
        }),
        Reason::MissingFailureCause,
        "failure_cause",
    );
    for v in [Value::Null, json!(""), json!("  ")] {
        assert_rejected(
            &with(|m| {
                m.insert("failure_cause".into(), v.clone());
            }),
            Reason::MissingFailureCause,
            "failure_cause",
        );
    }
}

#[test]
fn reason_field_too_long() {
    for (field, max) in [
        ("event_id", 128),
        ("order_id", 128),
        ("session_id", 128),
        ("user_id", 128),
        ("error_code", 128),
        ("region", 64),
        ("locale", 35),
        ("app_version", 64),
        ("os", 64),
        ("browser", 64),
        ("network", 64),
    ] {
        // At the limit, counted in characters (multi-byte ones too): accepted.
        let (out, _, rej, _) = run(&with(|m| {
            m.insert(field.into(), json!("é".repeat(max)));
        }));
        assert_eq!(out.accepted, 1, "{field} at {max}: {rej:?}");
        assert_rejected(
            &with(|m| {
                m.insert(field.into(), json!("x".repeat(max + 1)));
            }),
            Reason::FieldTooLong,
            field,
        );
    }
}

#[test]
fn reason_message_too_large() {
    let mut big = with(|m| {
        m.insert("error_message".into(), json!("x".repeat(MAX_MESSAGE_BYTES)));
    });
    assert!(big.len() > MAX_MESSAGE_BYTES);
    assert_rejected(&big, Reason::MessageTooLarge, "bytes");
    let (_, _, rejected, _) = run(&big);
    assert_eq!(
        rejected[0].raw, big,
        "the original bytes are kept for the dead letter"
    );
    // Exactly at the limit is decoded normally.
    big.truncate(0);
    let pad = MAX_MESSAGE_BYTES - serde_json::to_vec(&valid()).unwrap().len() - 13;
    let at_limit = with(|m| {
        m.insert("padding".into(), json!("p".repeat(pad)));
    });
    assert_eq!(at_limit.len(), MAX_MESSAGE_BYTES);
    assert_eq!(run(&at_limit).0.accepted, 1);
}

#[test]
fn every_reason_code_has_a_test() {
    // The tests above are named reason_<code>; this list must name every code.
    let tested = [
        "invalid_utf8",
        "invalid_json",
        "not_an_object",
        "missing_field",
        "wrong_type",
        "invalid_value",
        "invalid_timestamp",
        "timestamp_out_of_range",
        "missing_failure_cause",
        "field_too_long",
        "message_too_large",
    ];
    let src = include_str!("tests.rs");
    for r in Reason::ALL {
        assert!(tested.contains(&r.as_str()), "{r} untested");
        assert!(
            src.contains(&format!("fn reason_{}()", r.as_str())),
            "{r} has no test fn"
        );
    }
}

// ---- NDJSON, duplicates, batches ------------------------------------------------

fn line(id: &str) -> String {
    let mut v = valid();
    v["event_id"] = json!(id);
    serde_json::to_string(&v).unwrap()
}

#[test]
fn ndjson_lines_are_judged_one_by_one() {
    let msg = format!("{}\n{{broken\n\n{}\n[1]\n", line("a"), line("b"));
    let (out, batch, rejected, _) = run(msg.as_bytes());
    assert_eq!(
        out,
        MessageOutcome {
            accepted: 2,
            rejected: 2,
            duplicates: 0
        }
    );
    assert_eq!(batch.num_rows(), 2);
    let reasons: Vec<_> = rejected.iter().map(|r| (r.reason, r.line)).collect();
    assert_eq!(
        reasons,
        vec![(Reason::InvalidJson, 1), (Reason::NotAnObject, 4)]
    );
    assert_eq!(rejected[0].raw, b"{broken");
}

#[test]
fn a_bad_utf8_line_does_not_sink_its_neighbours() {
    let mut msg = line("a").into_bytes();
    msg.extend_from_slice(b"\n{\"event_id\":\"\xc3\x28\"}\n");
    msg.extend_from_slice(line("b").as_bytes());
    let (out, _, rejected, _) = run(&msg);
    assert_eq!(
        out,
        MessageOutcome {
            accepted: 2,
            rejected: 1,
            duplicates: 0
        }
    );
    assert_eq!(rejected[0].reason, Reason::InvalidUtf8);
    assert_eq!(rejected[0].line, 1);
}

#[test]
fn a_pretty_printed_object_is_one_event() {
    let msg = serde_json::to_string_pretty(&valid()).unwrap();
    assert!(msg.lines().count() > 5);
    let (out, _, _, _) = run(msg.as_bytes());
    assert_eq!(
        out,
        MessageOutcome {
            accepted: 1,
            rejected: 0,
            duplicates: 0
        }
    );
}

#[test]
fn duplicates_are_skipped_and_counted_not_rejected() {
    let mut d = decoder();
    let a = line("dup");
    assert_eq!(d.decode(a.as_bytes(), &src(1)).accepted, 1);
    let out = d.decode(a.as_bytes(), &src(2));
    assert_eq!(
        out,
        MessageOutcome {
            accepted: 0,
            rejected: 0,
            duplicates: 1
        }
    );
    let ndjson = format!("{a}\n{}\n{a}", line("fresh"));
    let out = d.decode(ndjson.as_bytes(), &src(3));
    assert_eq!(
        out,
        MessageOutcome {
            accepted: 1,
            rejected: 0,
            duplicates: 2
        }
    );
    assert_eq!(d.stats().duplicates, 3);
    assert_eq!(d.finish_batch().unwrap().num_rows(), 2);
    assert!(d.take_rejected().is_empty());
}

#[test]
fn an_escaped_event_id_is_the_same_id_as_its_plain_spelling() {
    // The window is keyed on the decoded id (the scanner's unescaped text),
    // whichever of the two spellings comes first.
    let mut d = decoder();
    let respell = |id: &str, escaped_id: &str| {
        let plain = line(id);
        let escaped = plain.replace(
            &format!(r#""event_id":"{id}""#),
            &format!(r#""event_id":"{escaped_id}""#),
        );
        assert_ne!(escaped, plain, "the id was respelled");
        escaped
    };
    assert_eq!(d.decode(line("dup").as_bytes(), &src(1)).accepted, 1);
    let escaped = respell("dup", r"d\u0075p");
    assert_eq!(d.decode(escaped.as_bytes(), &src(2)).duplicates, 1);
    let escaped = respell("dup2", r"dup\u0032");
    assert_eq!(d.decode(escaped.as_bytes(), &src(3)).accepted, 1);
    assert_eq!(d.decode(line("dup2").as_bytes(), &src(4)).duplicates, 1);
    assert_eq!(d.stats().duplicates, 2);
}

#[test]
fn a_rejected_event_does_not_claim_its_id() {
    let mut d = decoder();
    let mut bad = valid();
    bad["event_id"] = json!("x");
    bad["latency_ms"] = json!(-1);
    assert_eq!(d.decode(bad.to_string().as_bytes(), &src(1)).rejected, 1);
    assert_eq!(d.decode(line("x").as_bytes(), &src(2)).accepted, 1);
}

#[test]
fn batches_restart_empty_and_dictionaries_stay_valid() {
    let mut d = decoder();
    for i in 0..100 {
        let mut v = valid();
        v["event_id"] = json!(format!("e{i}"));
        v["region"] = json!(format!("r{}", i % 7));
        v["channel"] = json!(if i % 3 == 0 { "kiosk" } else { "web" });
        d.decode(v.to_string().as_bytes(), &src(i));
    }
    let b1 = d.finish_batch().unwrap();
    assert_eq!(b1.num_rows(), 100);
    b1.columns()
        .iter()
        .for_each(|c| c.to_data().validate_full().expect("valid array"));
    let regions = str_col(&b1, col::REGION);
    assert_eq!(regions[8].as_deref(), Some("r1"));
    let channels = str_col(&b1, col::CHANNEL);
    assert_eq!(channels[0].as_deref(), Some("kiosk"));
    assert_eq!(channels[1].as_deref(), Some("web"));
    assert_eq!(d.pending_rows(), 0);
    d.decode(line("later").as_bytes(), &src(200));
    let b2 = d.finish_batch().unwrap();
    assert_eq!(b2.num_rows(), 1);
    assert_eq!(str_col(&b2, col::REGION)[0].as_deref(), Some("cn-east"));
}

#[test]
fn rejected_batch_has_the_contract_schema() {
    let (_, _, rejected, _) = run(b"{\"event_id\":\"\xff\"}\n{oops}\n[]");
    assert_eq!(rejected.len(), 3);
    let batch = rejected_batch(&rejected).unwrap();
    assert_eq!(batch.schema(), model::schema::rejected_events_schema());
    assert_eq!(batch.num_rows(), 3);
    let reasons = str_col(&batch, 0);
    assert_eq!(reasons[0].as_deref(), Some("invalid_utf8"));
    assert_eq!(reasons[1].as_deref(), Some("invalid_json"));
    assert_eq!(reasons[2].as_deref(), Some("not_an_object"));
    let raw = str_col(&batch, 2);
    assert_eq!(raw[0].as_deref(), Some("{\"event_id\":\"\u{fffd}\"}"));
}

// ---- properties -----------------------------------------------------------------

/// Non-blank lines of a message, the most events it can hold.
fn non_blank_lines(b: &[u8]) -> usize {
    b.split(|&c| c == b'\n')
        .filter(|l| !l.trim_ascii().is_empty())
        .count()
}

fn arb_event_line() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        Just(json!(null)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<bool>().prop_map(|b| json!(b)),
        "\\PC{0,20}".prop_map(|s| json!(s)),
        Just(json!("2026-11-24T10:00:00Z")),
        Just(json!("failure")),
        Just(json!("success")),
        Just(json!("web")),
        Just(json!([1, {"a": 2}])),
    ];
    let keys = prop::sample::select(vec![
        "event_id",
        "ts",
        "outcome",
        "channel",
        "failure_cause",
        "payment_method",
        "latency_ms",
        "attempt",
        "currency",
        "junk",
    ]);
    prop::collection::vec((keys, field), 0..10).prop_map(|kv| {
        let mut m = serde_json::Map::new();
        for (k, v) in kv {
            m.insert(k.to_string(), v);
        }
        Value::Object(m).to_string()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_every_line_is_accounted(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut d = decoder();
        let out = d.decode(&bytes, &src(0));
        let rows = d.finish_batch().unwrap().num_rows() as u32;
        let rejected = d.take_rejected().len() as u32;
        prop_assert_eq!(rows, out.accepted);
        prop_assert_eq!(rejected, out.rejected);
        prop_assert!(out.total() >= 1);
        prop_assert!(out.total() as usize <= non_blank_lines(&bytes).max(1));
    }

    #[test]
    fn ndjson_accepted_plus_rejected_equals_lines(lines in prop::collection::vec(arb_event_line(), 1..20)) {
        // Distinct event ids per line so no duplicates interfere; lines stay single-line JSON.
        let msg = lines.join("\n");
        let mut d = decoder();
        d.dedup = DedupWindow::new(0);
        let out = d.decode(msg.as_bytes(), &src(0));
        let expected = if lines.len() == 1 { 1 } else { lines.len() as u32 };
        prop_assert_eq!(out.accepted + out.rejected, expected, "{}", msg);
        prop_assert_eq!(d.finish_batch().unwrap().num_rows() as u32, out.accepted);
        prop_assert_eq!(d.take_rejected().len() as u32, out.rejected);
    }

    #[test]
    fn mutated_valid_events_never_panic(pos in 0usize..400, byte in any::<u8>(), cut in 0usize..400) {
        let mut v = serde_json::to_vec(&valid()).unwrap();
        let p = pos % v.len();
        v[p] = byte;
        v.truncate(cut.max(1).min(v.len()));
        let mut d = decoder();
        let out = d.decode(&v, &src(0));
        // A mutation can add a newline, making two lines.
        prop_assert!(out.total() >= 1);
        prop_assert!(out.total() as usize <= non_blank_lines(&v).max(1));
        prop_assert_eq!(d.take_rejected().len() as u32, out.rejected);
    }
}
