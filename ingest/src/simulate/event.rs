//! One simulated order attempt and its JSON form (CONTRACT section 1).
//!
//! A small hand-rolled writer: field names are constants, numbers go
//! through `itoa`, strings are escaped per RFC 8259 (quote, backslash and
//! control characters; everything else is written as UTF-8). A [`Tamper`]
//! lets [`super::malformed`] drop or replace one field without a second
//! writer.

use model::vocab::{Channel, FailureCause as Cause, PaymentMethod as Method, Stage};

use super::model::mix64;

/// How the `ts` field is written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum TsForm {
    /// RFC 3339 with milliseconds and a numeric offset in minutes, e.g.
    /// `2026-11-01T10:00:00.123+08:00`.
    Offset(i32),
    /// RFC 3339 with milliseconds in UTC, `...Z`.
    Utc,
    /// Integer epoch milliseconds.
    EpochMs,
}

/// The fields of CONTRACT section 1, in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    EventId,
    Ts,
    Outcome,
    Channel,
    FailureCause,
    PaymentMethod,
    Stage,
    OrderId,
    SessionId,
    UserId,
    ErrorCode,
    ErrorMessage,
    Region,
    Locale,
    AppVersion,
    Os,
    Browser,
    Network,
    LatencyMs,
    AmountMinor,
    Currency,
    Attempt,
}

impl Field {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Field::EventId => "event_id",
            Field::Ts => "ts",
            Field::Outcome => "outcome",
            Field::Channel => "channel",
            Field::FailureCause => "failure_cause",
            Field::PaymentMethod => "payment_method",
            Field::Stage => "stage",
            Field::OrderId => "order_id",
            Field::SessionId => "session_id",
            Field::UserId => "user_id",
            Field::ErrorCode => "error_code",
            Field::ErrorMessage => "error_message",
            Field::Region => "region",
            Field::Locale => "locale",
            Field::AppVersion => "app_version",
            Field::Os => "os",
            Field::Browser => "browser",
            Field::Network => "network",
            Field::LatencyMs => "latency_ms",
            Field::AmountMinor => "amount_minor",
            Field::Currency => "currency",
            Field::Attempt => "attempt",
        }
    }
}

/// One attempt, everything borrowed from static tables or kept as numbers
/// until it is written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event {
    pub(crate) id: (u64, u64),
    pub(crate) ts_ms: i64,
    pub(crate) ts_form: TsForm,
    /// `Some` for a failure.
    pub(crate) cause: Option<Cause>,
    pub(crate) channel: Channel,
    pub(crate) method: Method,
    pub(crate) stage: Stage,
    pub(crate) order: u64,
    pub(crate) session: u64,
    pub(crate) user: Option<u32>,
    /// Error code and message (failures only).
    pub(crate) error: Option<(&'static str, &'static str)>,
    pub(crate) region: &'static str,
    pub(crate) locale: &'static str,
    pub(crate) app_version: Option<&'static str>,
    pub(crate) os: &'static str,
    pub(crate) browser: Option<&'static str>,
    pub(crate) network: Option<&'static str>,
    pub(crate) latency_ms: u32,
    pub(crate) amount_minor: i64,
    pub(crate) currency: &'static str,
    pub(crate) attempt: u8,
    /// A vocabulary field written with a non-normalised spelling, and which
    /// spelling ([`respell`]).
    pub(crate) spelling: Option<(Field, u8)>,
}

/// A change to one field, for broken records.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Tamper<'a> {
    None,
    /// Leave the field out.
    Omit(Field),
    /// Write the field (present or not) with this raw JSON value.
    Set(Field, &'a [u8]),
}

/// Appends the JSON object of `ev` (with `tamper` applied) to `out`.
pub(crate) fn write_event(ev: &Event, tamper: Tamper<'_>, out: &mut Vec<u8>) {
    let mut w = Writer {
        out,
        first: true,
        tamper,
    };
    w.out.push(b'{');
    w.field(Field::EventId, true, |o| write_ulid(o, ev.ts_ms, ev.id));
    w.field(Field::Ts, true, |o| write_ts(o, ev.ts_ms, ev.ts_form));
    let outcome = if ev.cause.is_some() {
        "failure"
    } else {
        "success"
    };
    w.vocab(Field::Outcome, Some(outcome), ev.spelling);
    w.vocab(Field::Channel, Some(ev.channel.as_str()), ev.spelling);
    w.vocab(
        Field::FailureCause,
        ev.cause.map(Cause::as_str),
        ev.spelling,
    );
    w.vocab(Field::PaymentMethod, Some(ev.method.as_str()), ev.spelling);
    w.vocab(Field::Stage, Some(ev.stage.as_str()), ev.spelling);
    w.field(Field::OrderId, true, |o| {
        write_prefixed_hex(o, "ord_", ev.order)
    });
    w.field(Field::SessionId, true, |o| {
        o.extend_from_slice(b"\"s_");
        push_hex(o, ev.session, 12);
        o.push(b'"');
    });
    w.field(Field::UserId, ev.user.is_some(), |o| {
        o.extend_from_slice(b"\"u");
        o.extend_from_slice(itoa::Buffer::new().format(ev.user.unwrap_or(0)).as_bytes());
        o.push(b'"');
    });
    let (code, message) = ev.error.unzip();
    w.str(Field::ErrorCode, code);
    w.str(Field::ErrorMessage, message);
    w.str(Field::Region, Some(ev.region));
    w.str(Field::Locale, Some(ev.locale));
    w.str(Field::AppVersion, ev.app_version);
    w.str(Field::Os, Some(ev.os));
    w.str(Field::Browser, ev.browser);
    w.str(Field::Network, ev.network);
    w.int(Field::LatencyMs, i64::from(ev.latency_ms));
    w.int(Field::AmountMinor, ev.amount_minor);
    w.str(Field::Currency, Some(ev.currency));
    w.int(Field::Attempt, i64::from(ev.attempt));
    w.out.push(b'}');
}

struct Writer<'a, 'b> {
    out: &'a mut Vec<u8>,
    first: bool,
    tamper: Tamper<'b>,
}

impl Writer<'_, '_> {
    fn key(&mut self, f: Field) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(f.name().as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    #[inline]
    fn field(&mut self, f: Field, present: bool, value: impl FnOnce(&mut Vec<u8>)) {
        match self.tamper {
            Tamper::Omit(g) if g == f => return,
            Tamper::Set(g, raw) if g == f => {
                self.key(f);
                self.out.extend_from_slice(raw);
                return;
            }
            _ => {}
        }
        if present {
            self.key(f);
            value(self.out);
        }
    }

    fn str(&mut self, f: Field, s: Option<&str>) {
        self.field(f, s.is_some(), |o| write_str(o, s.unwrap_or_default()));
    }

    fn int(&mut self, f: Field, n: i64) {
        self.field(f, true, |o| {
            o.extend_from_slice(itoa::Buffer::new().format(n).as_bytes())
        });
    }

    fn vocab(&mut self, f: Field, s: Option<&str>, spelling: Option<(Field, u8)>) {
        match spelling {
            Some((g, variant)) if g == f => self.field(f, s.is_some(), |o| {
                let mut tmp = String::with_capacity(32);
                respell(s.unwrap_or_default(), variant, &mut tmp);
                write_str(o, &tmp);
            }),
            _ => self.str(f, s),
        }
    }
}

/// Writes `s` as a JSON string.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(bytes);
    } else {
        for &b in bytes {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b if b < 0x20 => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(b >> 4)]);
                    out.push(HEX[usize::from(b & 0xf)]);
                }
                b => out.push(b),
            }
        }
    }
    out.push(b'"');
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(out: &mut Vec<u8>, v: u64, digits: u32) {
    for i in (0..digits).rev() {
        out.push(HEX[((v >> (i * 4)) & 0xf) as usize]);
    }
}

/// A ULID (26 characters of Crockford base32: 48 bits of milliseconds
/// then 80 bits that are unique per event), as event ids often are.
fn write_ulid(out: &mut Vec<u8>, ts_ms: i64, (hi, lo): (u64, u64)) {
    const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let time = u128::from(ts_ms.clamp(0, (1 << 48) - 1) as u64);
    let v = (time << 80) | (u128::from(hi) << 16) | u128::from(lo & 0xffff);
    out.push(b'"');
    for i in (0..26).rev() {
        out.push(CROCKFORD[((v >> (i * 5)) & 0x1f) as usize]);
    }
    out.push(b'"');
}

fn write_prefixed_hex(out: &mut Vec<u8>, prefix: &str, v: u64) {
    out.push(b'"');
    out.extend_from_slice(prefix.as_bytes());
    push_hex(out, v, 16);
    out.push(b'"');
}

/// The `order_id` string of order key `v` (also the Kafka message key).
pub(crate) fn order_id(v: u64) -> String {
    let mut out = Vec::with_capacity(22);
    write_prefixed_hex(&mut out, "ord_", v);
    String::from_utf8_lossy(&out[1..out.len() - 1]).into_owned()
}

/// Event id bits of the `seq`-th event of a run with id key `key`: the
/// high half is a bijection of `seq`, so ids never repeat within a run.
pub(crate) fn event_id(key: u64, seq: u64) -> (u64, u64) {
    let hi = mix64(seq ^ key);
    (hi, mix64(hi ^ key.rotate_left(17)))
}

/// Writes `ts` in the given form (with quotes for the string forms).
pub(crate) fn write_ts(out: &mut Vec<u8>, ts_ms: i64, form: TsForm) {
    match form {
        TsForm::EpochMs => out.extend_from_slice(itoa::Buffer::new().format(ts_ms).as_bytes()),
        TsForm::Utc => {
            out.push(b'"');
            write_rfc3339(out, ts_ms, 0);
            out.push(b'"');
        }
        TsForm::Offset(minutes) => {
            out.push(b'"');
            write_rfc3339(out, ts_ms, minutes);
            out.push(b'"');
        }
    }
}

/// `YYYY-MM-DDThh:mm:ss.mmm` then `Z` (offset 0) or `±hh:mm`, for years
/// 0000–9999.
pub(crate) fn write_rfc3339(out: &mut Vec<u8>, ts_ms: i64, offset_minutes: i32) {
    let local = ts_ms + i64::from(offset_minutes) * 60_000;
    let days = local.div_euclid(86_400_000);
    let ms_of_day = local.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    push_num(out, y, 4);
    out.push(b'-');
    push_num(out, m, 2);
    out.push(b'-');
    push_num(out, d, 2);
    out.push(b'T');
    push_num(out, ms_of_day / 3_600_000, 2);
    out.push(b':');
    push_num(out, ms_of_day / 60_000 % 60, 2);
    out.push(b':');
    push_num(out, ms_of_day / 1000 % 60, 2);
    out.push(b'.');
    push_num(out, ms_of_day % 1000, 3);
    if offset_minutes == 0 {
        out.push(b'Z');
    } else {
        out.push(if offset_minutes < 0 { b'-' } else { b'+' });
        let m = i64::from(offset_minutes.unsigned_abs());
        push_num(out, m / 60, 2);
        out.push(b':');
        push_num(out, m % 60, 2);
    }
}

fn push_num(out: &mut Vec<u8>, v: i64, digits: u32) {
    let v = v.clamp(0, 10i64.pow(digits) - 1);
    for i in (0..digits).rev() {
        out.push(b'0' + (v / 10i64.pow(i) % 10) as u8);
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Writes a non-normalised spelling of a normalised vocabulary value `s`
/// (lowercase, `_`-separated): the decoder's normalisation (trim,
/// lowercase, `-` and space to `_`) turns each back into `s`.
/// Variants: 0 `Mobile-Web`, 1 `MOBILE_WEB`, 2 ` MOBILE_WEB `, 3 `Mobile Web`,
/// 4 `mobile-web ` (trailing space).
pub(crate) fn respell(s: &str, variant: u8, out: &mut String) {
    if variant == 2 {
        out.push(' ');
    }
    let mut word_start = true;
    for c in s.chars() {
        let c = match (c, variant) {
            ('_', 0 | 4) => '-',
            ('_', 3) => ' ',
            (c, 1 | 2) => c.to_ascii_uppercase(),
            (c, 0 | 3) if word_start => c.to_ascii_uppercase(),
            (c, _) => c,
        };
        word_start = c == '-' || c == ' ';
        out.push(c);
    }
    if variant == 2 || variant == 4 {
        out.push(' ');
    }
}

/// Number of spellings [`respell`] knows.
pub(crate) const SPELLINGS: u8 = 5;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, SecondsFormat, Utc};

    #[test]
    fn rfc3339_matches_chrono() {
        for &ms in &[
            0i64,
            946_684_799_999,
            1_793_491_200_123,
            1_709_210_096_007, // 2024-02-29
            4_102_444_800_000, // 2100-01-01
            -86_400_001,
        ] {
            let mut out = Vec::new();
            write_rfc3339(&mut out, ms, 0);
            let want = DateTime::<Utc>::from_timestamp_millis(ms)
                .unwrap()
                .to_rfc3339_opts(SecondsFormat::Millis, true);
            assert_eq!(String::from_utf8(out).unwrap(), want);
            for off in [480, -300, 330, 60] {
                let mut out = Vec::new();
                write_rfc3339(&mut out, ms, off);
                let s = String::from_utf8(out).unwrap();
                let parsed = DateTime::parse_from_rfc3339(&s).unwrap();
                assert_eq!(parsed.timestamp_millis(), ms, "{s}");
                assert_eq!(parsed.offset().local_minus_utc(), off * 60, "{s}");
            }
        }
    }

    #[test]
    fn strings_are_escaped() {
        for s in [
            "plain",
            "quote \" and \\ back",
            "tab\tnl\ncr\r\u{1}",
            "支付失败 ✓",
        ] {
            let mut out = Vec::new();
            write_str(&mut out, s);
            let back: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn respellings_normalise_back() {
        for s in [
            "mobile_web",
            "failure",
            "wechat_mini_program",
            "credit_card",
        ] {
            let mut seen = std::collections::BTreeSet::new();
            for v in 0..SPELLINGS {
                let mut out = String::new();
                respell(s, v, &mut out);
                assert_eq!(model::vocab::normalise(&out), s, "{out:?}");
                assert_ne!(out, s, "variant {v} of {s} is already normal");
                seen.insert(out);
            }
            if s.contains('_') {
                assert_eq!(seen.len(), usize::from(SPELLINGS));
            }
        }
        let mut out = String::new();
        respell("mobile_web", 0, &mut out);
        assert_eq!(out, "Mobile-Web");
    }

    #[test]
    fn event_ids_are_unique_ulids() {
        let mut seen = std::collections::BTreeSet::new();
        for seq in 0..10_000 {
            let mut out = Vec::new();
            write_ulid(&mut out, 1_793_491_200_000, event_id(42, seq));
            assert_eq!(out.len(), 28);
            assert!(
                out.starts_with(b"\"01M6A6FT"),
                "{}",
                String::from_utf8_lossy(&out)
            );
            assert!(seen.insert(out));
        }
        assert_eq!(order_id(0xab).len(), 20);
    }
}
