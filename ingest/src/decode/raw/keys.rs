//! Keys of up to 16 bytes matched a word at a time: the scanner reads the
//! bytes after a key's opening quote as two little-endian words, finds the
//! closing quote in them without a loop, and compares the masked words with
//! constants made from the field names (checked against [`F::from_key`] by
//! the tests). [`NAMES`] holds the same names as words built from
//! [`F::name`], for [`is_key`]: whether a key is one expected field.

use super::F;

/// Little-endian word of the eight bytes at `at`, if there are eight.
#[inline(always)]
pub(super) fn word_at(b: &[u8], at: usize) -> Option<u64> {
    let chunk = b.get(at..at.checked_add(8)?)?;
    let mut w = [0u8; 8];
    w.copy_from_slice(chunk);
    Some(u64::from_le_bytes(w))
}

/// High bit set in each byte of `x` that is `"`, `\\` or a control character;
/// the lowest flagged byte is exact (later flags may be borrow artefacts).
#[inline(always)]
pub(super) fn special_bytes(x: u64) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let quote = x ^ (LO * u64::from(b'"'));
    let slash = x ^ (LO * u64::from(b'\\'));
    ((quote.wrapping_sub(LO) & !quote)
        | (slash.wrapping_sub(LO) & !slash)
        | (x.wrapping_sub(LO * 0x20) & !x))
        & HI
}

/// The low `n` bytes of `w` (n < 8).
#[inline(always)]
fn low_bytes(w: u64, n: u32) -> u64 {
    w & ((1u64 << (8 * n)) - 1)
}

/// The field of a plain key of `len` ≤ 16 bytes whose first eight bytes are
/// `w0` and next eight `w1` (little-endian; bytes past the key are ignored,
/// and `w1` is not read for a key of at most eight).
#[inline(always)]
pub(super) fn field(len: u32, w0: u64, w1: u64) -> Option<F> {
    let masked = |w, n| if n >= 8 { w } else { low_bytes(w, n) };
    if len <= 8 {
        short_key(len, masked(w0, len))
    } else {
        long_key(len - 8, w0, masked(w1, len - 8))
    }
}

/// The field of a key of `len` ≤ 8 bytes whose bytes are `w` (little-endian).
#[inline(always)]
fn short_key(len: u32, w: u64) -> Option<F> {
    match (len, w) {
        // event_id
        (8, 0x6469_5f74_6e65_7665) => Some(F::EventId),
        // ts
        (2, 0x0000_0000_0000_7374) => Some(F::Ts),
        // outcome
        (7, 0x0065_6d6f_6374_756f) => Some(F::Outcome),
        // channel
        (7, 0x006c_656e_6e61_6863) => Some(F::Channel),
        // stage
        (5, 0x0000_0065_6761_7473) => Some(F::Stage),
        // order_id
        (8, 0x6469_5f72_6564_726f) => Some(F::OrderId),
        // user_id
        (7, 0x0064_695f_7265_7375) => Some(F::UserId),
        // region
        (6, 0x0000_6e6f_6967_6572) => Some(F::Region),
        // locale
        (6, 0x0000_656c_6163_6f6c) => Some(F::Locale),
        // os
        (2, 0x0000_0000_0000_736f) => Some(F::Os),
        // browser
        (7, 0x0072_6573_776f_7262) => Some(F::Browser),
        // network
        (7, 0x006b_726f_7774_656e) => Some(F::Network),
        // currency
        (8, 0x7963_6e65_7272_7563) => Some(F::Currency),
        // attempt
        (7, 0x0074_706d_6574_7461) => Some(F::Attempt),
        _ => None,
    }
}

/// The field of a key of 8 + `len` bytes (`len` ≤ 8): words `w0`, `w1`.
#[inline(always)]
fn long_key(len: u32, w0: u64, w1: u64) -> Option<F> {
    match (len, w0, w1) {
        // failure_cause
        (5, 0x5f65_7275_6c69_6166, 0x0000_0065_7375_6163) => Some(F::FailureCause),
        // payment_method
        (6, 0x5f74_6e65_6d79_6170, 0x0000_646f_6874_656d) => Some(F::PaymentMethod),
        // session_id
        (2, 0x5f6e_6f69_7373_6573, 0x0000_0000_0000_6469) => Some(F::SessionId),
        // error_code
        (2, 0x6f63_5f72_6f72_7265, 0x0000_0000_0000_6564) => Some(F::ErrorCode),
        // error_message
        (5, 0x656d_5f72_6f72_7265, 0x0000_0065_6761_7373) => Some(F::ErrorMessage),
        // app_version
        (3, 0x7372_6576_5f70_7061, 0x0000_0000_006e_6f69) => Some(F::AppVersion),
        // latency_ms
        (2, 0x5f79_636e_6574_616c, 0x0000_0000_0000_736d) => Some(F::LatencyMs),
        // amount_minor
        (4, 0x6d5f_746e_756f_6d61, 0x0000_0000_726f_6e69) => Some(F::AmountMinor),
        _ => None,
    }
}

/// A field name as words to compare with: its length, its first and next
/// eight bytes (little-endian), and masks of the bytes that belong to it.
#[derive(Clone, Copy)]
pub(super) struct Name {
    pub(super) len: usize,
    words: [u64; 2],
    masks: [u64; 2],
}

/// Every field name ([`F::name`], all of at most 16 bytes) as [`Name`]s.
pub(super) const NAMES: [Name; F::COUNT] = {
    let mut names = [Name {
        len: 0,
        words: [0; 2],
        masks: [0; 2],
    }; F::COUNT];
    let mut f = 0;
    while f < F::COUNT {
        let b = F::ALL[f].name().as_bytes();
        assert!(b.len() <= 16);
        let mut i = 0;
        while i < b.len() {
            names[f].words[i / 8] |= (b[i] as u64) << (8 * (i % 8));
            names[f].masks[i / 8] |= 0xFF << (8 * (i % 8));
            i += 1;
        }
        names[f].len = b.len();
        f += 1;
    }
    names
};

/// Whether the key whose bytes start at `at` is `f`'s name: its bytes, then
/// its closing quote (no byte of a name is a quote, so that quote is the
/// first one after `at`, as a search for the next quote would find).
#[inline(always)]
pub(super) fn is_key(b: &[u8], at: usize, f: F) -> bool {
    let n = &NAMES[f as usize];
    let Some(w0) = word_at(b, at) else {
        return false;
    };
    // Both words whatever the name's length, without a branch on it (the
    // expected names alternate between short and long ones): a name of at
    // most eight bytes has no bytes in the second word's mask, and a longer
    // one does not match the zeros that stand in for missing text.
    let w1 = word_at(b, at + 8).unwrap_or(0);
    let differ = ((w0 & n.masks[0]) ^ n.words[0]) | ((w1 & n.masks[1]) ^ n.words[1]);
    differ == 0 && b.get(at + n.len) == Some(&b'"')
}
