//! The JSON layer of the decoder: one line of text → the raw values of the
//! fields orderpulse knows, borrowed from the input where possible.
//!
//! A scanner written for this one shape, a flat object, because it is the hot
//! path and the general parsers were measured slower here (sonic-rs,
//! serde_json and simd-json through serde: see `benches/decode.rs` and
//! BENCHMARKS.md). It is still a complete, strict JSON parser — every value,
//! including those of unknown keys, is checked against the grammar of RFC 8259
//! — and its tests compare it with serde_json on generated input. What it
//! skips is work we do not need: it never builds values for unknown keys,
//! never parses floats (a float is always the wrong type for our fields), and
//! copies a string only when it has escapes.
//!
//! Two passes share the work. [`fast::object`] takes the common case — a flat
//! object on one line, without escapes or control characters — with the
//! positions of all its quotes found up front in one vectorised pass; it gives
//! up on anything else, every error included, and the scanner then parses the
//! text from the start. So the scanner alone decides what is valid JSON, and
//! the tests check that the fast pass finds exactly what the scanner finds.
//!
//! Nesting is walked iteratively and limited to [`MAX_DEPTH`] levels, so hostile
//! input cannot overflow the stack.

use std::borrow::Cow;

pub(crate) use fast::KeyOrder;
pub(crate) use fields::F;
use keys::{field, special_bytes, word_at};

mod fast;
mod fields;
mod keys;

/// Deepest nesting of arrays and objects accepted, the event object included.
pub(crate) const MAX_DEPTH: usize = 32;

/// One JSON value of a known field, as the tests inspect it.
#[cfg(test)]
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) enum Val<'a> {
    /// The key was not in the object.
    #[default]
    Absent,
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    /// A number with a fraction or exponent, or an integer beyond 64 bits.
    Float,
    Str(Cow<'a, str>),
    Array,
    Object,
}

/// A value as the validator reads it: small, with strings lent from the
/// [`RawEvent`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Lent<'r> {
    /// Absent or null.
    None,
    Str(&'r str),
    Int(i64),
    UInt(u64),
    /// Any other value (a boolean, a float or an integer beyond 64 bits, an
    /// array, an object), by its kind.
    Other(Kind),
}

/// What a known field held, as found: the type, and for strings and integers
/// where the text is. Twelve bytes, so a whole [`RawEvent`] is cheap to fill.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Kind {
    #[default]
    Absent,
    Null,
    True,
    False,
    /// An integer lexeme (`-?digits`); its value
    /// (and whether it fits 64 bits) is worked out when read.
    Int,
    /// A number with a fraction or exponent.
    Float,
    /// A string without escapes.
    Str,
    /// A string with escapes, decoded into the scratch buffer (where is in
    /// [`RawEvent::escaped`]).
    Esc,
    Array,
    Object,
}

impl Kind {
    /// The JSON type name, for rejection details.
    pub(crate) fn type_name(self) -> &'static str {
        match self {
            Kind::Absent => "absent",
            Kind::Null => "null",
            Kind::True | Kind::False => "boolean",
            Kind::Int => "integer",
            Kind::Float => "number",
            Kind::Str | Kind::Esc => "string",
            Kind::Array => "array",
            Kind::Object => "object",
        }
    }
}

/// One known field as found: its kind, and the text of a string without
/// escapes or of an integer (kept here so reading it needs no bounds checks).
#[derive(Debug, Clone, Copy, Default)]
struct Slot<'a> {
    kind: Kind,
    text: &'a str,
}

impl Slot<'static> {
    const EMPTY: Self = Slot {
        kind: Kind::Absent,
        text: "",
    };
}

/// The known fields of one JSON object, as found.
#[derive(Debug)]
pub(crate) struct RawEvent<'a> {
    text: &'a str,
    slots: [Slot<'a>; F::COUNT],
    /// Decoded strings that had escapes (rare), back to back…
    scratch: String,
    /// …each field's at `escaped[f].0..escaped[f].1`.
    escaped: [(u32, u32); F::COUNT],
    /// Keys that are not CONTRACT fields (ignored, counted).
    pub(crate) unknown_fields: u32,
    /// The first known key that appeared twice, if any.
    pub(crate) repeated: Option<F>,
}

impl Default for RawEvent<'_> {
    /// Built from constants in place: the derived default filled a temporary
    /// through `<[Slot; 22]>::default` and copied ~750 bytes per event.
    #[inline(always)]
    fn default() -> Self {
        RawEvent {
            text: "",
            slots: [Slot::EMPTY; F::COUNT],
            scratch: String::new(),
            escaped: [(0, 0); F::COUNT],
            unknown_fields: 0,
            repeated: None,
        }
    }
}

impl<'a> RawEvent<'a> {
    /// Forgets what a failed fast pass found (it never writes escapes).
    #[cold]
    fn clear(&mut self) {
        self.slots = [Slot::EMPTY; F::COUNT];
        self.unknown_fields = 0;
        self.repeated = None;
    }

    /// The value of `f`, its text lent from the line or the scratch buffer.
    #[inline(always)]
    pub(crate) fn val(&self, f: F) -> Lent<'_> {
        // By reference, field by field: copying the whole slot would load its
        // byte-wide kind within a wider word, which stalls on the byte store
        // the scanner just made (no store-to-load forwarding).
        let slot = &self.slots[f as usize];
        match slot.kind {
            Kind::Absent | Kind::Null => Lent::None,
            Kind::Str => Lent::Str(slot.text),
            Kind::Esc => Lent::Str(self.unescaped(f)),
            Kind::Int => int_value(slot.text),
            other => Lent::Other(other),
        }
    }

    #[cold]
    fn unescaped(&self, f: F) -> &str {
        let (start, end) = self.escaped[f as usize];
        self.scratch
            .get(start as usize..end as usize)
            .unwrap_or_default()
    }

    /// Moves the value of `f` out: plain strings borrowed from the line,
    /// escaped ones owned.
    #[cfg(test)]
    pub(crate) fn take(&mut self, f: F) -> Val<'a> {
        let slot = std::mem::take(&mut self.slots[f as usize]);
        match slot.kind {
            Kind::Absent => Val::Absent,
            Kind::Null => Val::Null,
            Kind::True => Val::Bool(true),
            Kind::False => Val::Bool(false),
            Kind::Int => match int_value(slot.text) {
                Lent::Int(n) => Val::Int(n),
                Lent::UInt(n) => Val::UInt(n),
                _ => Val::Float,
            },
            Kind::Float => Val::Float,
            Kind::Str => Val::Str(Cow::Borrowed(slot.text)),
            Kind::Esc => Val::Str(Cow::Owned(self.unescaped(f).to_owned())),
            Kind::Array => Val::Array,
            Kind::Object => Val::Object,
        }
    }
}

/// The value of a checked integer lexeme `-?(0|[1-9][0-9]*)`: integers that fit
/// 64 bits as such, any other as a float.
#[inline]
fn int_value(lexeme: &str) -> Lent<'static> {
    let (neg, digits) = match lexeme.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, lexeme),
    };
    let m = if digits.len() <= 19 {
        // At most 19 digits cannot overflow u64.
        digits
            .bytes()
            .fold(0u64, |m, d| m * 10 + u64::from(d.wrapping_sub(b'0')))
    } else {
        match digits.parse::<u64>() {
            Ok(m) => m,
            Err(_) => return Lent::Other(Kind::Float),
        }
    };
    if neg {
        // "-0" is an integer 0; anything below i64::MIN is a float.
        if m <= i64::MAX as u64 + 1 {
            Lent::Int((m as i64).wrapping_neg())
        } else {
            Lent::Other(Kind::Float)
        }
    } else {
        Lent::UInt(m)
    }
}

/// Parses one line (or one whole message) of JSON text into `ev`: by
/// [`fast::object`] when it is a flat object without escapes, else by the
/// scanner.
///
/// `Ok(None)`: it was an object and `ev` holds its known fields.
/// `Ok(Some(kind))`: valid JSON, but a `kind` ("array", "string", …), not an object.
/// `Err(detail)`: not valid JSON.
pub(crate) fn parse<'a>(
    text: &'a str,
    ev: &mut RawEvent<'a>,
    order: &mut KeyOrder,
) -> Result<Option<&'static str>, String> {
    if u32::try_from(text.len()).is_err() {
        return Err("invalid JSON: text longer than 4 GiB".into());
    }
    ev.text = text;
    if fast::object(text, ev, order).is_some() {
        return Ok(None);
    }
    ev.clear();
    scan(text, ev)
}

/// [`parse`] by the scanner alone: any JSON text, every error named.
fn scan<'a>(text: &'a str, ev: &mut RawEvent<'a>) -> Result<Option<&'static str>, String> {
    let mut s = Scanner {
        text,
        b: text.as_bytes(),
        i: 0,
    };
    s.ws();
    let shape = match s.peek() {
        Some(b'{') => {
            s.object(ev)?;
            None
        }
        Some(c) => {
            let kind = match c {
                b'[' => "array",
                b'"' => "string",
                b't' | b'f' => "boolean",
                b'n' => "null",
                _ => "number",
            };
            s.skip_value(0)?;
            Some(kind)
        }
        None => return Err("empty input".into()),
    };
    s.ws();
    if s.i != s.b.len() {
        return Err(s.error("trailing characters after the JSON value"));
    }
    Ok(shape)
}

struct Scanner<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn error(&self, what: &str) -> String {
        format!("invalid JSON: {what} at byte {}", self.i)
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8, what: &str) -> Result<(), String> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    /// The event object: known keys captured, unknown keys skipped.
    fn object(&mut self, ev: &mut RawEvent<'a>) -> Result<(), String> {
        self.i += 1; // '{'
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a key"));
            }
            let field = self.key()?;
            self.eat(b':', "expected ':'")?;
            self.ws();
            match field {
                Some(f) => {
                    let slot = &mut ev.slots[f as usize];
                    if slot.kind != Kind::Absent && ev.repeated.is_none() {
                        ev.repeated = Some(f);
                    }
                    self.value(&mut ev.scratch, &mut ev.escaped[f as usize], slot)?;
                }
                None => {
                    self.skip_value(1)?;
                    ev.unknown_fields = ev.unknown_fields.saturating_add(1);
                }
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    /// A key at `"`: the field it names, if any.
    #[inline(always)]
    fn key(&mut self) -> Result<Option<F>, String> {
        match self.short_key() {
            Some(field) => Ok(field),
            None => self.key_slow(),
        }
    }

    /// A key of at most 16 plain bytes, matched a word at a time with no scan
    /// loop; `None` for anything else (longer, escaped, or broken).
    #[inline(always)]
    fn short_key(&mut self) -> Option<Option<F>> {
        let start = self.i + 1;
        let w0 = word_at(self.b, start)?;
        let flags = special_bytes(w0);
        if flags != 0 {
            let len = flags.trailing_zeros() / 8;
            if self.b.get(start + len as usize) != Some(&b'"') {
                return None;
            }
            self.i = start + len as usize + 1;
            return Some(field(len, w0, 0));
        }
        let w1 = word_at(self.b, start + 8)?;
        let flags = special_bytes(w1);
        if flags == 0 {
            return None;
        }
        let len = flags.trailing_zeros() / 8;
        if self.b.get(start + 8 + len as usize) != Some(&b'"') {
            return None;
        }
        self.i = start + 8 + len as usize + 1;
        Some(field(8 + len, w0, w1))
    }

    #[cold]
    fn key_slow(&mut self) -> Result<Option<F>, String> {
        let start = self.i + 1;
        let end = self.scan_plain(start);
        if self.b.get(end) == Some(&b'"') {
            self.i = end + 1;
            return Ok(F::from_key(&self.text[start..end]));
        }
        // Escapes (or an error).
        Ok(F::from_key(&self.string()?))
    }

    /// A value of a known field, at depth 1, recorded in `slot` (written in
    /// place: a slot returned by value is stored and reloaded piecewise).
    #[inline(always)]
    fn value(
        &mut self,
        scratch: &mut String,
        escaped: &mut (u32, u32),
        slot: &mut Slot<'a>,
    ) -> Result<(), String> {
        let start = self.i;
        let kind = match self.peek() {
            Some(b'"') => return self.string_value(scratch, escaped, slot),
            Some(b'-' | b'0'..=b'9') => match self.number()? {
                true => Kind::Float,
                false => Kind::Int,
            },
            Some(b'n') => self.literal("null").map(|_| Kind::Null)?,
            Some(b't') => self.literal("true").map(|_| Kind::True)?,
            Some(b'f') => self.literal("false").map(|_| Kind::False)?,
            Some(b'[') => self.skip_value(1).map(|_| Kind::Array)?,
            Some(b'{') => self.skip_value(1).map(|_| Kind::Object)?,
            _ => return Err(self.error("expected a value")),
        };
        slot.kind = kind;
        slot.text = self.text.get(start..self.i).unwrap_or_default();
        Ok(())
    }

    /// A string value at `"`: its text, or decoded into `scratch` (at
    /// `escaped`) when it has escapes.
    #[inline(always)]
    fn string_value(
        &mut self,
        scratch: &mut String,
        escaped: &mut (u32, u32),
        slot: &mut Slot<'a>,
    ) -> Result<(), String> {
        let start = self.i + 1;
        let end = self.scan_plain(start);
        if self.b.get(end) == Some(&b'"') {
            self.i = end + 1;
            slot.kind = Kind::Str;
            slot.text = self.text.get(start..end).unwrap_or_default();
            return Ok(());
        }
        let from = scratch.len();
        scratch.push_str(&self.string()?);
        slot.kind = Kind::Esc;
        // `parse` refuses text over 4 GiB, so both fit.
        *escaped = (from as u32, scratch.len() as u32);
        Ok(())
    }

    fn literal(&mut self, word: &str) -> Result<(), String> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.error("invalid literal"))
        }
    }

    /// A number per RFC 8259; true when it has a fraction or an exponent.
    /// Its value is not computed here (see [`int_value`]).
    fn number(&mut self) -> Result<bool, String> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.i += 1;
                }
            }
            _ => return Err(self.error("invalid number")),
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.i += 1;
            float = true;
            self.digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            float = true;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            self.digits()?;
        }
        Ok(float)
    }

    fn digits(&mut self) -> Result<(), String> {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        if self.i == start {
            Err(self.error("invalid number"))
        } else {
            Ok(())
        }
    }

    /// A string at `"`: borrowed when it has no escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, String> {
        self.i += 1; // opening quote
        let start = self.i;
        let end = self.scan_plain(start);
        match self.b.get(end) {
            Some(b'"') => {
                self.i = end + 1;
                Ok(Cow::Borrowed(&self.text[start..end]))
            }
            Some(b'\\') => {
                self.i = end;
                let mut out = String::with_capacity(end - start + 16);
                out.push_str(&self.text[start..end]);
                self.escaped_rest(&mut out)?;
                Ok(Cow::Owned(out))
            }
            Some(_) => {
                self.i = end;
                Err(self.error("control character in a string"))
            }
            None => {
                self.i = end;
                Err(self.error("unterminated string"))
            }
        }
    }

    /// The rest of a string from its first backslash, unescaped into `out`.
    fn escaped_rest(&mut self, out: &mut String) -> Result<(), String> {
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.i += 1;
                            let c = self.unicode_escape()?;
                            out.push(c);
                            continue;
                        }
                        _ => return Err(self.error("invalid escape")),
                    };
                    self.i += 1;
                    out.push(c);
                }
                Some(_) => {
                    let start = self.i;
                    let end = self.scan_plain(start);
                    if end == start {
                        return Err(self.error("control character in a string"));
                    }
                    out.push_str(&self.text[start..end]);
                    self.i = end;
                }
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    /// After `\u`: four hex digits, a surrogate pair taken whole.
    fn unicode_escape(&mut self) -> Result<char, String> {
        let hi = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            if !self.b[self.i..].starts_with(b"\\u") {
                return Err(self.error("lone surrogate in a \\u escape"));
            }
            self.i += 2;
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(self.error("lone surrogate in a \\u escape"));
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else if (0xDC00..0xE000).contains(&hi) {
            return Err(self.error("lone surrogate in a \\u escape"));
        } else {
            hi
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid \\u escape"))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .b
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.error("short \\u escape"))?;
        let mut v = 0u32;
        for &d in digits {
            let n = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.error("invalid \\u escape"))?;
            v = v * 16 + n;
        }
        self.i += 4;
        Ok(v)
    }

    /// Index of the first `"`, `\` or control character at or after `from`
    /// (or the end). Eight bytes at a time: strings are most of an event.
    fn scan_plain(&self, from: usize) -> usize {
        const LO: u64 = 0x0101_0101_0101_0101;
        const HI: u64 = 0x8080_8080_8080_8080;
        let b = self.b;
        let mut i = from;
        while let Some(chunk) = b.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let x = u64::from_le_bytes(word);
            let quote = x ^ (LO * u64::from(b'"'));
            let slash = x ^ (LO * u64::from(b'\\'));
            // A byte is flagged when it is zero in `quote` or `slash`, or
            // below 0x20 in `x` (high bit clear before and set after the
            // subtraction). Bytes ≥ 0x80 never match the control test.
            let special = (quote.wrapping_sub(LO) & !quote)
                | (slash.wrapping_sub(LO) & !slash)
                | (x.wrapping_sub(LO * 0x20) & !x);
            let special = special & HI;
            if special != 0 {
                // The lowest flagged byte is exact; later flags may be
                // borrow artefacts, but we stop at the first anyway.
                return i + (special.trailing_zeros() / 8) as usize;
            }
            i += 8;
        }
        while let Some(&c) = b.get(i) {
            if c == b'"' || c == b'\\' || c < 0x20 {
                return i;
            }
            i += 1;
        }
        i
    }

    /// Checks and skips one value of any type, iteratively. `depth` is the
    /// nesting depth of the value's container.
    fn skip_value(&mut self, depth: usize) -> Result<(), String> {
        // Bit n of `stack` is 1 when the container at level n is an object.
        let mut stack: u64 = 0;
        let mut level = 0usize;
        loop {
            // A value starts here.
            self.ws();
            match self.peek() {
                Some(open @ (b'{' | b'[')) => {
                    if depth + level + 1 > MAX_DEPTH {
                        return Err(format!("nesting deeper than {MAX_DEPTH} levels"));
                    }
                    self.i += 1;
                    self.ws();
                    let close = if open == b'{' { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.i += 1;
                    } else {
                        let is_obj = open == b'{';
                        if is_obj {
                            stack |= 1 << level;
                        } else {
                            stack &= !(1 << level);
                        }
                        level += 1;
                        if is_obj {
                            self.key_colon()?;
                        }
                        continue;
                    }
                }
                Some(b'"') => {
                    self.string()?;
                }
                Some(b'-' | b'0'..=b'9') => {
                    self.number()?;
                }
                Some(b'n') => self.literal("null")?,
                Some(b't') => self.literal("true")?,
                Some(b'f') => self.literal("false")?,
                _ => return Err(self.error("expected a value")),
            }
            // A value ended: close what it completes.
            loop {
                if level == 0 {
                    return Ok(());
                }
                let in_obj = stack & (1 << (level - 1)) != 0;
                self.ws();
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        if in_obj {
                            self.key_colon()?;
                        }
                        break;
                    }
                    Some(b'}') if in_obj => {
                        self.i += 1;
                        level -= 1;
                    }
                    Some(b']') if !in_obj => {
                        self.i += 1;
                        level -= 1;
                    }
                    _ => return Err(self.error("expected ',' or a closing bracket")),
                }
            }
        }
    }

    /// Inside an object: a key string and its colon.
    fn key_colon(&mut self) -> Result<(), String> {
        self.ws();
        if self.peek() != Some(b'"') {
            return Err(self.error("expected a key"));
        }
        self.string()?;
        self.eat(b':', "expected ':'")
    }
}

#[cfg(test)]
mod tests;
