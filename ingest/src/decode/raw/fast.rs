//! The common case first: a flat object without escapes or control
//! characters, parsed with the positions of all its quotes found up front.
//!
//! One vectorised pass (16 bytes at a time, SSE2 through `wide`) marks every
//! `"` in a bit mask and checks that the text has no `\` and no byte below
//! 0x20. Without those, every string is plain and ends at the next quote, so
//! string ends come from the mask instead of a byte scan per string. Anything
//! else — escapes, tabs or newlines, nested values, more than [`MAX_LEN`]
//! bytes, and every error — makes [`object`] give up (`None`), and the
//! scanner parses the text from the start; so this pass decides nothing the
//! scanner would decide differently (the tests compare the two).

use wide::u8x16;

use super::keys::{NAMES, field, is_key, word_at};
use super::{F, Kind, RawEvent, Scanner};

/// Longest text taken here.
pub(super) const MAX_LEN: usize = 2048;

/// One bit per byte of the text: bit `i % 64` of word `i / 64`.
type Mask = [u64; MAX_LEN / 64];

/// The known key that came after each known key (and after the object's
/// start) in the last object: producers write their keys in one order, so
/// the next key is usually the one that followed its predecessor last time,
/// and comparing its bytes with that one name is cheaper than finding the
/// key's end and matching it against them all.
#[derive(Debug, Clone)]
pub(crate) struct KeyOrder {
    /// Indexed by the previous field, [`F::COUNT`] for the object's start.
    next: [Option<F>; F::COUNT + 1],
}

impl Default for KeyOrder {
    fn default() -> Self {
        Self {
            next: [None; F::COUNT + 1],
        }
    }
}

/// Parses a flat object on `text` into `ev`; `None` when the text is not one
/// (or has anything but spaces around and between its tokens), leaving `ev`
/// to be cleared. Written for compact JSON: each space is one extra branch.
/// `order` is used and updated to find keys faster; what is parsed does not
/// depend on it.
#[inline]
pub(super) fn object<'a>(text: &'a str, ev: &mut RawEvent<'a>, order: &mut KeyOrder) -> Option<()> {
    let b = text.as_bytes();
    if b.len() > MAX_LEN {
        return None;
    }
    let mut quotes: Mask = [0; MAX_LEN / 64];
    quote_mask(b, &mut quotes)?;
    let mut i = spaces(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = spaces(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return (spaces(b, i + 1) == b.len()).then_some(());
    }
    let mut prev = F::COUNT;
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let (field, end) = match order.next[prev] {
            Some(f) if is_key(b, i + 1, f) => (Some(f), i + 1 + NAMES[f as usize].len),
            _ => {
                let end = next_quote(&quotes, i + 1)?;
                let field = key(b, text, i + 1, end);
                if field.is_some() {
                    order.next[prev] = field;
                }
                (field, end)
            }
        };
        if let Some(f) = field {
            prev = f as usize;
        }
        i = end + 1;
        if b.get(i) != Some(&b':') {
            i = spaces(b, i);
            if b.get(i) != Some(&b':') {
                return None;
            }
        }
        i += 1;
        let mut c = *b.get(i)?;
        if c == b' ' {
            i = spaces(b, i);
            c = *b.get(i)?;
        }
        let (kind, value) = if c == b'"' {
            let end = next_quote(&quotes, i + 1)?;
            let v = text.get(i + 1..end)?;
            i = end + 1;
            (Kind::Str, v)
        } else if let Some(end) = integer(b, i) {
            let v = text.get(i..end)?;
            i = end;
            (Kind::Int, v)
        } else {
            let mut s = Scanner { text, b, i };
            let kind = match c {
                b'-' | b'0'..=b'9' => match s.number().ok()? {
                    true => Kind::Float,
                    false => Kind::Int,
                },
                b'n' => s.literal("null").map(|_| Kind::Null).ok()?,
                b't' => s.literal("true").map(|_| Kind::True).ok()?,
                b'f' => s.literal("false").map(|_| Kind::False).ok()?,
                _ => return None,
            };
            let v = text.get(i..s.i)?;
            i = s.i;
            (kind, v)
        };
        match field {
            Some(f) => {
                let slot = &mut ev.slots[f as usize];
                if slot.kind != Kind::Absent && ev.repeated.is_none() {
                    ev.repeated = Some(f);
                }
                slot.kind = kind;
                slot.text = value;
            }
            None => ev.unknown_fields = ev.unknown_fields.saturating_add(1),
        }
        let mut c = *b.get(i)?;
        if c == b' ' {
            i = spaces(b, i);
            c = *b.get(i)?;
        }
        i += 1;
        match c {
            b',' => {
                if b.get(i) == Some(&b' ') {
                    i = spaces(b, i);
                }
            }
            b'}' => return (spaces(b, i) == b.len()).then_some(()),
            _ => return None,
        }
    }
}

/// The end of the integer `-?[1-9][0-9]*` or `-?0` at `i`, when that is the
/// whole number (no fraction or exponent follows); `None` for anything else,
/// which the scanner's `number` reads (or refuses, as it does `01`).
#[inline(always)]
fn integer(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + usize::from(b.get(i) == Some(&b'-'));
    let first = *b.get(j)?;
    if !first.is_ascii_digit() {
        return None;
    }
    j += 1;
    if first != b'0' {
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
    }
    match b.get(j) {
        Some(b'.' | b'e' | b'E' | b'0'..=b'9') => None,
        _ => Some(j),
    }
}

/// The first byte at or after `i` that is not a space.
#[inline(always)]
fn spaces(b: &[u8], mut i: usize) -> usize {
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

/// Marks every `"` of `b` (at most [`MAX_LEN`] bytes) in `quotes`; `None`
/// when `b` has a `\` or a control character.
#[inline(always)]
fn quote_mask(b: &[u8], quotes: &mut Mask) -> Option<()> {
    let quote = u8x16::splat(b'"');
    let slash = u8x16::splat(b'\\');
    let control = u8x16::splat(0x1f);
    let mut bad = u8x16::splat(0);
    // The quotes of 64 bytes as one word.
    let mut block = |bytes: &[u8; 64]| -> u64 {
        let mut m = 0u64;
        for (k, chunk) in bytes.chunks_exact(16).enumerate() {
            let mut a = [0u8; 16];
            a.copy_from_slice(chunk);
            let v = u8x16::from(a);
            bad |= v.cmp_eq(slash) | v.min(control).cmp_eq(v);
            m |= u64::from(v.cmp_eq(quote).move_mask() as u16) << (16 * k);
        }
        m
    };
    let mut blocks = b.chunks_exact(64);
    for (w, chunk) in quotes.iter_mut().zip(&mut blocks) {
        let mut a = [0u8; 64];
        a.copy_from_slice(chunk);
        *w = block(&a);
    }
    // The tail, padded with spaces (neither quotes nor control characters).
    let n = b.len() / 64;
    let rest = blocks.remainder();
    let mut a = [b' '; 64];
    a[..rest.len()].copy_from_slice(rest);
    if let Some(w) = quotes.get_mut(n) {
        *w = block(&a);
    }
    (bad.move_mask() == 0).then_some(())
}

/// The first quote at or after `from`.
#[inline(always)]
fn next_quote(quotes: &Mask, from: usize) -> Option<usize> {
    let mut w = from / 64;
    let mut bits = quotes.get(w)? & (!0u64 << (from % 64));
    while bits == 0 {
        w += 1;
        bits = *quotes.get(w)?;
    }
    Some(w * 64 + bits.trailing_zeros() as usize)
}

/// The field named by the plain key `text[start..end]`, a word at a time when
/// the text has eight bytes at the key's start (and at its ninth byte for a
/// longer key).
#[inline(always)]
fn key(b: &[u8], text: &str, start: usize, end: usize) -> Option<F> {
    let len = end - start;
    if len <= 16 {
        let w1 = if len > 8 {
            word_at(b, start + 8)
        } else {
            Some(0)
        };
        if let (Some(w0), Some(w1)) = (word_at(b, start), w1) {
            return field(len as u32, w0, w1);
        }
    }
    F::from_key(text.get(start..end)?)
}
