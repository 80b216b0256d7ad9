//! Event-time parsing: RFC 3339 strings with an offset, or epoch milliseconds.
//!
//! Hand-written because it runs once per event on the hot path: the general
//! parsers (chrono, jiff) handle many formats and cost several times more.
//! The unit tests compare it with chrono's RFC 3339 parser.

/// 2000-01-01T00:00:00Z: events before it are `timestamp_out_of_range`.
pub(crate) const MIN_TS_MS: i64 = 946_684_800_000;
/// How far ahead of the ingest clock an event may be: 24 h.
pub(crate) const MAX_AHEAD_MS: i64 = 24 * 3_600_000;

/// What a fresh [`Rfc3339`] reads from `s` (the tests' reference).
#[cfg(test)]
pub(crate) fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    Rfc3339::default().parse_ms(s)
}

/// An RFC 3339 parser that remembers the last few hours it read: the 13
/// bytes `YYYY-MM-DDThh` and the seconds they stand for. Events come in rough
/// time order, written in a few offsets (producers in several regions write
/// local time), so nearly every timestamp starts with one of the last hours
/// seen and only its minutes, seconds, fraction and offset are read (the
/// date's digits, its calendar checks and its day number cost more than the
/// rest).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rfc3339 {
    /// The first 16 bytes of recent timestamps whose hour was valid, the
    /// last three zeroed; all `0xFF` (a byte no UTF-8 text has) at first.
    hour_texts: [u128; HOURS],
    /// Each hour's date and hour in seconds since the epoch (UTC, before
    /// the offset).
    hour_secs: [i64; HOURS],
    /// Where the next new hour goes (round robin).
    next: usize,
}

/// How many recent hours are remembered.
const HOURS: usize = 4;

impl Default for Rfc3339 {
    fn default() -> Self {
        Self {
            hour_texts: [u128::MAX; HOURS],
            hour_secs: [0; HOURS],
            next: 0,
        }
    }
}

/// The bytes of `YYYY-MM-DDThh` in the first 16 of a timestamp.
const HOUR_MASK: u128 = (1 << (13 * 8)) - 1;

impl Rfc3339 {
    /// Parses `YYYY-MM-DD(T|t| )hh:mm:ss[.fraction](Z|z|±hh:mm)` to UTC
    /// epoch milliseconds (fractions below a millisecond are dropped, a leap
    /// second `:60` reads as `:59.999`); `None` for anything else. The date
    /// and hour come from a remembered hour when the text starts with one.
    pub(crate) fn parse_ms(&mut self, s: &str) -> Option<i64> {
        let b = s.as_bytes();
        let head = b.first_chunk::<16>()?;
        if b.len() < 20 {
            return None;
        }
        let hour_text = u128::from_le_bytes(*head) & HOUR_MASK;
        let hour_secs = match self.hour_texts.iter().position(|&t| t == hour_text) {
            Some(k) => self.hour_secs[k],
            None => {
                let secs = date_hour_secs(b)?;
                self.hour_texts[self.next] = hour_text;
                self.hour_secs[self.next] = secs;
                self.next = (self.next + 1) % HOURS;
                secs
            }
        };
        let minute = digits(b, 14, 2)?;
        let second = digits(b, 17, 2)?;
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        if minute > 59 || second > 60 {
            return None;
        }
        let mut i = 19;
        let mut millis = 0i64;
        if b[i] == b'.' {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if i - start < 3 {
                    millis = millis * 10 + i64::from(b[i] - b'0');
                }
                i += 1;
            }
            let n = i - start;
            if n == 0 {
                return None;
            }
            for _ in n..3 {
                millis *= 10;
            }
        }
        let offset_min: i64 = match b.get(i)? {
            b'Z' | b'z' => {
                i += 1;
                0
            }
            sign @ (b'+' | b'-') => {
                let oh = digits(b, i + 1, 2)?;
                if b.get(i + 3) != Some(&b':') {
                    return None;
                }
                let om = digits(b, i + 4, 2)?;
                if oh > 23 || om > 59 {
                    return None;
                }
                i += 6;
                let m = oh * 60 + om;
                if *sign == b'-' { -m } else { m }
            }
            _ => return None,
        };
        if i != b.len() {
            return None;
        }
        let (second, millis) = if second == 60 {
            (59, 999)
        } else {
            (second, millis)
        };
        let secs = hour_secs + minute * 60 + second - offset_min * 60;
        Some(secs * 1_000 + millis)
    }
}

/// The date and hour of `YYYY-MM-DD(T|t| )hh` at the start of `b` (which has
/// at least 16 bytes) as seconds since the epoch, if they are valid.
fn date_hour_secs(b: &[u8]) -> Option<i64> {
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3_600)
}

/// `n` ASCII digits at `at` as a number.
fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let s = b.get(at..at + n)?;
    let mut v = 0i64;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chrono_ms(s: &str) -> Option<i64> {
        chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| d.timestamp_millis())
    }

    #[test]
    fn known_values() {
        assert_eq!(parse_rfc3339_ms("2000-01-01T00:00:00Z"), Some(MIN_TS_MS));
        assert_eq!(
            parse_rfc3339_ms("2026-11-24T21:12:09.123+08:00"),
            chrono_ms("2026-11-24T21:12:09.123+08:00")
        );
        assert_eq!(
            parse_rfc3339_ms("2026-11-24 21:12:09.1234567-05:30"),
            chrono_ms("2026-11-24T21:12:09.1234567-05:30")
        );
        assert_eq!(
            parse_rfc3339_ms("2024-02-29t23:59:59.9z"),
            Some(chrono_ms("2024-02-29T23:59:59.9Z").unwrap_or_default())
        );
        assert_eq!(parse_rfc3339_ms("1969-12-31T23:59:59.999Z"), Some(-1));
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "2026-11-24",
            "2026-11-24T21:12:09",
            "2026-11-24T21:12:09+0800",
            "2026-11-24T21:12:09.Z",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-11-31T00:00:00Z",
            "2026-11-24T24:00:00Z",
            "2026-11-24T21:60:00Z",
            "2026-11-24T21:12:61Z",
            "2026-11-24T21:12:09+24:00",
            "2026/11/24T21:12:09Z",
            "2026-11-24T21:12:09Zjunk",
            "２０２６-11-24T21:12:09Z",
            "+2026-11-24T21:12:09Z",
            "2026-11-24T21:12:09.12345678901234567890123Z ",
        ] {
            assert_eq!(parse_rfc3339_ms(s), None, "{s:?}");
        }
    }

    #[test]
    fn every_digit_position_refuses_every_other_ascii_byte() {
        let valid = "2026-11-24T21:12:09.123+08:00";
        let digit_at = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
        for at in digit_at {
            for c in 0u8..128 {
                let mut b = valid.as_bytes().to_vec();
                b[at] = c;
                let s = String::from_utf8(b).expect("ASCII");
                let got = parse_rfc3339_ms(&s);
                if c.is_ascii_digit() {
                    // Still a well-formed layout: the value decides.
                    assert_eq!(got, chrono_ms(&s), "{s:?}");
                } else {
                    assert_eq!(got, None, "{s:?}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn agrees_with_chrono(
            y in 1i64..9999, mo in 1i64..=12, d in 1i64..=28, h in 0i64..24, mi in 0i64..60,
            s in 0i64..60, frac in proptest::option::of("[0-9]{1,9}"),
            off in proptest::option::of((any::<bool>(), 0i64..24, 0i64..60)),
        ) {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            let off = match off {
                None => "Z".to_string(),
                Some((neg, oh, om)) => format!("{}{oh:02}:{om:02}", if neg { '-' } else { '+' }),
            };
            let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{off}");
            prop_assert_eq!(parse_rfc3339_ms(&text), chrono_ms(&text), "{}", text);
        }

        /// One parser over a run of timestamps, most sharing an hour with
        /// the one before, some malformed in any byte: each gets what a
        /// fresh parser (checked against chrono above) gives it.
        #[test]
        fn remembering_the_hour_changes_no_result(
            steps in proptest::collection::vec(
                (0u8..6, 0i64..60, 0i64..61, 0u32..3, any::<(usize, u8)>()),
                1..60,
            ),
        ) {
            let hours = [
                "2026-11-24T21", "2026-11-24T22", "2026-11-24 21", "2024-02-29t23",
                "2026-11-25T05", "2026-11-24T13",
            ];
            let mut p = Rfc3339::default();
            for (hour, mi, se, form, (at, byte)) in steps {
                let mut text = format!("{}:{mi:02}:{se:02}.5+08:00", hours[usize::from(hour)]);
                if form == 1 {
                    text = text.replace(".5+08:00", "Z");
                }
                if form == 2 {
                    // One byte changed anywhere: the hour, its separators, the rest.
                    let mut b = text.into_bytes();
                    let at = at % b.len();
                    b[at] = byte % 128;
                    text = String::from_utf8(b).expect("ASCII");
                }
                prop_assert_eq!(p.parse_ms(&text), parse_rfc3339_ms(&text), "{}", text);
            }
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse_rfc3339_ms(&s);
        }
    }
}
