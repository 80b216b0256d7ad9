//! Broken records for the `malformed` scenario: every way CONTRACT section 1
//! lets a record fail, each with the one reason code the decoder must give.
//!
//! Each broken record has exactly one fault, built from a real event, so
//! the expected reason is unambiguous whatever order a decoder checks
//! things in. None contains a newline (a newline would make it an NDJSON
//! message of several lines, each judged on its own). Out-of-range
//! timestamps are far from the run (before 2000, or a century ahead, or
//! epoch seconds / microseconds mistaken for milliseconds), so they stay
//! out of range whatever the ingest clock says.

use model::Reason;
use model::vocab::{FailureCause as Cause, Stage};
use rand::Rng;

use super::event::{Event, Field, Tamper, write_event, write_rfc3339, write_str};

/// What to do with a record picked for breaking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Breakage {
    /// Replace it with a record the decoder rejects for this reason.
    Reject(Reason),
    /// Send it in one NDJSON message together with a few more valid events.
    Batch,
}

/// The reasons drawn at random: all but `message_too_large`, which is
/// scheduled (a handful per run).
const DRAWN: [Reason; 10] = [
    Reason::InvalidUtf8,
    Reason::InvalidJson,
    Reason::NotAnObject,
    Reason::MissingField,
    Reason::WrongType,
    Reason::InvalidValue,
    Reason::InvalidTimestamp,
    Reason::TimestampOutOfRange,
    Reason::MissingFailureCause,
    Reason::FieldTooLong,
];

/// The 1 MiB limit of CONTRACT section 1.
pub(crate) const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// Draws a kind of breakage, each reason and NDJSON batches equally often.
pub(crate) fn choose(rng: &mut impl Rng) -> Breakage {
    let k = rng.random_range(0..=DRAWN.len());
    DRAWN
        .get(k)
        .map_or(Breakage::Batch, |r| Breakage::Reject(*r))
}

/// Writes a record broken so that the decoder rejects it for `reason`.
pub(crate) fn write_broken(reason: Reason, ev: &Event, rng: &mut impl Rng, out: &mut Vec<u8>) {
    let mut ev = *ev;
    ev.spelling = None;
    let mut raw = Vec::new();
    match reason {
        Reason::InvalidUtf8 => {
            let (field, bytes): (Field, &[u8]) = match rng.random_range(0..3) {
                // Latin-1 "ü" from a legacy client.
                0 => (Field::ErrorMessage, b"\"Zahlung f\xfcr Karte abgelehnt\""),
                1 => (Field::Os, b"\"Android 14 \xff\xfe\""),
                // A Chinese character cut after two of its three bytes.
                _ => (Field::ErrorMessage, b"\"\xe7\xbd\x91\xe7\xbb\""),
            };
            write_event(&ev, Tamper::Set(field, bytes), out);
        }
        Reason::InvalidJson => invalid_json(&ev, rng, out),
        Reason::NotAnObject => match rng.random_range(0..6) {
            0 => {
                out.push(b'[');
                write_event(&ev, Tamper::None, out);
                out.push(b']');
            }
            1 => {
                // Double-encoded: the event as a JSON string.
                write_event(&ev, Tamper::None, &mut raw);
                write_str(out, &String::from_utf8_lossy(&raw));
            }
            2 => out.extend_from_slice(itoa::Buffer::new().format(ev.amount_minor).as_bytes()),
            3 => out.extend_from_slice(b"null"),
            4 => out.extend_from_slice(b"true"),
            _ => out.extend_from_slice(b"[]"),
        },
        Reason::MissingField => {
            let field =
                [Field::EventId, Field::Ts, Field::Outcome, Field::Channel][rng.random_range(0..4)];
            write_event(&ev, Tamper::Omit(field), out);
        }
        Reason::WrongType => {
            let order = itoa::Buffer::new().format(ev.order % 1_000_000).to_string();
            let variants: [(Field, &[u8]); 11] = [
                (Field::LatencyMs, b"\"523\""),
                (Field::AmountMinor, b"\"12900\""),
                (Field::Attempt, b"\"1\""),
                (Field::EventId, order.as_bytes()),
                (Field::Channel, b"3"),
                (Field::Outcome, b"true"),
                (Field::Ts, b"{\"seconds\":1793491200}"),
                (Field::UserId, order.as_bytes()),
                (Field::OrderId, b"{\"id\":123}"),
                (Field::LatencyMs, b"523.5"),
                (Field::Region, b"[\"cn-east\"]"),
            ];
            let (field, value) = variants[rng.random_range(0..variants.len())];
            write_event(&ev, Tamper::Set(field, value), out);
        }
        Reason::InvalidValue => {
            let variants: [(Field, &[u8]); 10] = [
                (Field::LatencyMs, b"-120"),
                (Field::AmountMinor, b"-500"),
                (Field::Currency, b"\"rmb\""),
                (Field::Currency, b"\"RMB1\""),
                (Field::Currency, b"\"CN\""),
                (Field::Attempt, b"0"),
                (Field::Attempt, b"-1"),
                (Field::Outcome, b"\"maybe\""),
                (Field::Outcome, b"\"pending\""),
                // A success that names a failure cause.
                (Field::FailureCause, b"\"network_error\""),
            ];
            let (field, value) = variants[rng.random_range(0..variants.len())];
            if field == Field::FailureCause {
                make_success(&mut ev);
            }
            write_event(&ev, Tamper::Set(field, value), out);
        }
        Reason::InvalidTimestamp => {
            invalid_timestamp(ev.ts_ms, rng, &mut raw);
            write_event(&ev, Tamper::Set(Field::Ts, &raw), out);
        }
        Reason::TimestampOutOfRange => {
            const YEAR_MS: i64 = 31_556_952_000;
            match rng.random_range(0..5) {
                0 => raw.extend_from_slice(b"\"1999-12-31T23:59:59.999Z\""),
                1 => raw.extend_from_slice(b"0"),
                // Epoch seconds or microseconds mistaken for milliseconds.
                2 => raw.extend_from_slice(itoa::Buffer::new().format(ev.ts_ms / 1000).as_bytes()),
                3 => raw.extend_from_slice(
                    itoa::Buffer::new()
                        .format(ev.ts_ms.saturating_mul(1000))
                        .as_bytes(),
                ),
                _ => {
                    raw.push(b'"');
                    write_rfc3339(&mut raw, ev.ts_ms + 100 * YEAR_MS, 480);
                    raw.push(b'"');
                }
            }
            write_event(&ev, Tamper::Set(Field::Ts, &raw), out);
        }
        Reason::MissingFailureCause => {
            make_failure(&mut ev);
            if rng.random::<bool>() {
                write_event(&ev, Tamper::Omit(Field::FailureCause), out);
            } else {
                write_event(&ev, Tamper::Set(Field::FailureCause, b"null"), out);
            }
        }
        Reason::FieldTooLong => {
            let (field, limit, prefix) = [
                (Field::EventId, 128, "evt-"),
                (Field::OrderId, 128, "ord_"),
                (Field::SessionId, 128, "s_"),
                (Field::UserId, 128, "u"),
                (Field::ErrorCode, 128, "E_"),
                (Field::Region, 64, "cn-east-"),
                (Field::Locale, 35, "zh-Hans-CN-u-ca-chinese-"),
                (Field::AppVersion, 64, "6.4.0-build."),
                (
                    Field::Os,
                    64,
                    "Mozilla/5.0 (Linux; Android 14; 23127PN0CC Build/UKQ1) ",
                ),
                (
                    Field::Browser,
                    64,
                    "Chrome/131.0.6778.135 Mobile Safari/537.36 ",
                ),
                (Field::Network, 64, "wifi;"),
            ][rng.random_range(0..11)];
            if field == Field::ErrorCode {
                make_failure(&mut ev);
            }
            let len = limit + 1 + rng.random_range(0..40);
            let mut s = String::with_capacity(len);
            s.push_str(prefix);
            while s.len() < len {
                s.push(char::from(
                    b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)],
                ));
            }
            s.truncate(len);
            write_str(&mut raw, &s);
            write_event(&ev, Tamper::Set(field, &raw), out);
        }
        Reason::MessageTooLarge => oversized(&ev, rng, out),
    }
}

/// An event whose error message is a stack trace making the value just
/// over 1 MiB.
fn oversized(ev: &Event, rng: &mut impl Rng, out: &mut Vec<u8>) {
    let mut ev = *ev;
    make_failure(&mut ev);
    let start = out.len();
    write_event(&ev, Tamper::Set(Field::ErrorMessage, b"\"\""), out);
    let base = out.len() - start;
    out.truncate(start);
    let target = MAX_MESSAGE_BYTES + 1 + rng.random_range(0..512);
    let filler = target - base;
    const FRAME: &str = "at com.shop.checkout.PaymentService.submit(PaymentService.java:214) | ";
    let mut message = String::with_capacity(filler + 2);
    message.push('"');
    while message.len() < filler + 1 {
        message.push_str(FRAME);
    }
    message.truncate(filler + 1);
    message.push('"');
    write_event(
        &ev,
        Tamper::Set(Field::ErrorMessage, message.as_bytes()),
        out,
    );
}

fn invalid_json(ev: &Event, rng: &mut impl Rng, out: &mut Vec<u8>) {
    let start = out.len();
    match rng.random_range(0..8) {
        0 => {
            // Cut short (at a character boundary, so it stays UTF-8).
            write_event(ev, Tamper::None, out);
            let len = out.len() - start;
            let mut cut = start + rng.random_range(1..len - 1);
            while out[cut] & 0xc0 == 0x80 {
                cut -= 1;
            }
            out.truncate(cut);
        }
        1 => {
            write_event(ev, Tamper::None, out);
            out.pop();
            out.extend_from_slice(b",}");
        }
        2 => {
            write_event(ev, Tamper::None, out);
            out.extend_from_slice(b"}");
        }
        3 => {
            write_event(ev, Tamper::None, out);
            // {"event_id": → {'event_id':
            out[start + 1] = b'\'';
            out[start + 10] = b'\'';
        }
        4 => {
            write_event(ev, Tamper::None, out);
            // {"event_id": → {event_id:
            out.remove(start + 10);
            out.remove(start + 1);
        }
        5 => write_event(ev, Tamper::Set(Field::LatencyMs, b"NaN"), out),
        6 => write_event(ev, Tamper::Set(Field::Region, b"\"cn-east"), out),
        _ => out.extend_from_slice(
            b"<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>",
        ),
    }
}

fn invalid_timestamp(ts_ms: i64, rng: &mut impl Rng, raw: &mut Vec<u8>) {
    let mut iso = Vec::with_capacity(32);
    write_rfc3339(&mut iso, ts_ms, 0); // YYYY-MM-DDThh:mm:ss.mmmZ
    raw.push(b'"');
    match rng.random_range(0..8) {
        // No offset.
        0 => raw.extend_from_slice(&iso[..iso.len() - 1]),
        1 => {
            iso[5..7].copy_from_slice(b"13");
            raw.extend_from_slice(&iso);
        }
        2 => {
            iso[8..10].copy_from_slice(b"32");
            raw.extend_from_slice(&iso);
        }
        3 => {
            iso[11..13].copy_from_slice(b"25");
            raw.extend_from_slice(&iso);
        }
        4 => {
            // 2026/11/01 10:00:00
            iso[4] = b'/';
            iso[7] = b'/';
            iso[10] = b' ';
            raw.extend_from_slice(&iso[..19]);
        }
        5 => raw.extend_from_slice(itoa::Buffer::new().format(ts_ms).as_bytes()),
        6 => raw.extend_from_slice(b"yesterday"),
        _ => {}
    }
    raw.push(b'"');
}

fn make_failure(ev: &mut Event) {
    if ev.cause.is_none() {
        ev.cause = Some(Cause::NetworkError);
        ev.stage = Stage::Payment;
        ev.error = Some(("NET_TIMEOUT", "网络连接超时，请检查网络后重试"));
    }
}

fn make_success(ev: &mut Event) {
    ev.cause = None;
    ev.error = None;
    ev.stage = Stage::Confirmation;
}
