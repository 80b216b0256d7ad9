//! The JSON layer of the decoder: one line of text → the raw values of the
//! fields orderpulse knows, borrowed from the input where possible.
//!
//! A serde visitor rather than a derived struct, so that every problem keeps
//! its own reason code: a value of the wrong JSON type is recorded as it is
//! (and judged later by the validator as `wrong_type`), unknown keys are
//! skipped and counted, a repeated key is remembered and refused.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One JSON value as the validator needs to see it.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) enum Val<'a> {
    /// The key was not in the object.
    #[default]
    Absent,
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(Cow<'a, str>),
    Array,
    Object,
}

impl Val<'_> {
    /// The JSON type name, for rejection details.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Val::Absent => "absent",
            Val::Null => "null",
            Val::Bool(_) => "boolean",
            Val::Int(_) | Val::UInt(_) => "integer",
            Val::Float(_) => "number",
            Val::Str(_) => "string",
            Val::Array => "array",
            Val::Object => "object",
        }
    }
}

macro_rules! fields {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// The fields of CONTRACT section 1, in a fixed order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum F { $($variant),+ }

        impl F {
            pub(crate) const COUNT: usize = [$($name),+].len();

            pub(crate) const fn name(self) -> &'static str {
                match self { $(F::$variant => $name),+ }
            }

            fn from_key(key: &str) -> Option<F> {
                match key { $($name => Some(F::$variant),)+ _ => None }
            }
        }
    };
}

fields! {
    EventId => "event_id",
    Ts => "ts",
    Outcome => "outcome",
    Channel => "channel",
    FailureCause => "failure_cause",
    PaymentMethod => "payment_method",
    Stage => "stage",
    OrderId => "order_id",
    SessionId => "session_id",
    UserId => "user_id",
    ErrorCode => "error_code",
    ErrorMessage => "error_message",
    Region => "region",
    Locale => "locale",
    AppVersion => "app_version",
    Os => "os",
    Browser => "browser",
    Network => "network",
    LatencyMs => "latency_ms",
    AmountMinor => "amount_minor",
    Currency => "currency",
    Attempt => "attempt",
}

/// The known fields of one JSON object, as found.
#[derive(Debug, Default)]
pub struct RawEvent<'a> {
    vals: [Val<'a>; F::COUNT],
    /// Keys that are not CONTRACT fields (ignored, counted).
    pub(crate) unknown_fields: u32,
    /// The first known key that appeared twice, if any.
    pub(crate) repeated: Option<F>,
}

impl<'a> RawEvent<'a> {
    /// Moves the value of `f` out (the validator reads each field once).
    pub(crate) fn take(&mut self, f: F) -> Val<'a> {
        std::mem::take(&mut self.vals[f as usize])
    }
}

/// A parsed line: an object, or the JSON type it was instead.
// Returned by value once per line: boxing the large variant would add an
// allocation to every event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Top<'a> {
    Object(RawEvent<'a>),
    NotAnObject(&'static str),
}

/// Deepest nesting of arrays and objects accepted. Events are flat; the
/// limit exists because the JSON parser skips ignored values recursively, so
/// hostile nesting must be refused before it reaches the parser.
pub(crate) const MAX_DEPTH: usize = 32;

/// Parses one line of JSON text.
pub(crate) fn parse(line: &str) -> Result<Top<'_>, String> {
    if nesting_exceeds(line.as_bytes(), MAX_DEPTH) {
        return Err(format!("nesting deeper than {MAX_DEPTH} levels"));
    }
    sonic_rs::from_str::<Top<'_>>(line).map_err(|e| e.to_string())
}

/// Whether arrays/objects nest deeper than `limit`, ignoring brackets inside
/// strings. The vectorised count of opening brackets settles almost every
/// event (a flat object has one); only messages with many are walked.
fn nesting_exceeds(b: &[u8], limit: usize) -> bool {
    if memchr::memchr2_iter(b'{', b'[', b).take(limit + 1).count() <= limit {
        return false;
    }
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    for &c in b {
        if in_str {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

impl<'de> de::Deserialize<'de> for Top<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TopVisitor)
    }
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Top<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top<'de>, A::Error> {
        let mut ev = RawEvent::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key.0 {
                Some(f) => {
                    let val = map.next_value::<Val<'de>>()?;
                    let slot = &mut ev.vals[f as usize];
                    if *slot != Val::Absent && ev.repeated.is_none() {
                        ev.repeated = Some(f);
                    }
                    *slot = val;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                    ev.unknown_fields = ev.unknown_fields.saturating_add(1);
                }
            }
        }
        Ok(Top::Object(ev))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Top<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Top::NotAnObject("array"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Top<'de>, E> {
        Ok(Top::NotAnObject("string"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Top<'de>, E> {
        Ok(Top::NotAnObject("boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Top<'de>, E> {
        Ok(Top::NotAnObject("number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Top<'de>, E> {
        Ok(Top::NotAnObject("number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Top<'de>, E> {
        Ok(Top::NotAnObject("number"))
    }

    fn visit_unit<E>(self) -> Result<Top<'de>, E> {
        Ok(Top::NotAnObject("null"))
    }

    fn visit_none<E>(self) -> Result<Top<'de>, E> {
        Ok(Top::NotAnObject("null"))
    }
}

/// An object key: `Some(field)` for a CONTRACT field, `None` for any other.
struct Key(Option<F>);

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Key, E> {
        Ok(Key(F::from_key(key)))
    }
}

impl<'de> de::Deserialize<'de> for Val<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValVisitor)
    }
}

struct ValVisitor;

impl<'de> Visitor<'de> for ValVisitor {
    type Value = Val<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Val<'de>, E> {
        Ok(Val::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Val<'de>, E> {
        Ok(Val::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Val<'de>, E> {
        Ok(Val::UInt(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Val<'de>, E> {
        Ok(Val::Float(v))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Val<'de>, E> {
        Ok(Val::Null)
    }

    fn visit_none<E>(self) -> Result<Val<'de>, E> {
        Ok(Val::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Val<'de>, D::Error> {
        <Val<'de> as de::Deserialize<'de>>::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Val::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Val::Object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(line: &str) -> RawEvent<'_> {
        match parse(line).expect("parses") {
            Top::Object(ev) => ev,
            Top::NotAnObject(kind) => panic!("not an object: {kind}"),
        }
    }

    #[test]
    fn borrows_plain_strings_and_owns_escaped_ones() {
        let mut ev = obj(r#"{"event_id":"a1","error_message":"line\nbreak"}"#);
        assert!(matches!(ev.take(F::EventId), Val::Str(Cow::Borrowed("a1"))));
        match ev.take(F::ErrorMessage) {
            Val::Str(s) => assert_eq!(s, "line\nbreak"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn records_types_unknown_and_repeated_keys() {
        let mut ev = obj(
            r#"{"latency_ms":-3,"amount_minor":12,"attempt":1.5,"ts":null,"os":[1,{"a":2}],"browser":{"x":[]},"extra":{"deep":[1,2]},"x2":1,"channel":"a","channel":"b"}"#,
        );
        assert_eq!(ev.take(F::LatencyMs), Val::Int(-3));
        assert_eq!(ev.take(F::AmountMinor), Val::UInt(12));
        assert_eq!(ev.take(F::Attempt), Val::Float(1.5));
        assert_eq!(ev.take(F::Ts), Val::Null);
        assert_eq!(ev.take(F::Os), Val::Array);
        assert_eq!(ev.take(F::Browser), Val::Object);
        assert_eq!(ev.take(F::EventId), Val::Absent);
        assert_eq!(ev.unknown_fields, 2);
        assert_eq!(ev.repeated, Some(F::Channel));
    }

    #[test]
    fn non_objects_are_named() {
        for (line, kind) in [
            ("[1,2]", "array"),
            ("\"x\"", "string"),
            ("12", "number"),
            ("-1.5", "number"),
            ("true", "boolean"),
            ("null", "null"),
        ] {
            assert!(
                matches!(parse(line), Ok(Top::NotAnObject(k)) if k == kind),
                "{line}"
            );
        }
    }

    #[test]
    fn broken_json_is_an_error() {
        for line in [
            "{",
            "{\"a\":}",
            "{'a':1}",
            "{\"a\":1}x",
            "",
            "nul",
            "{\"a\":1,}",
        ] {
            assert!(parse(line).is_err(), "{line:?} should not parse");
        }
    }

    #[test]
    fn nesting_up_to_the_limit_parses_and_brackets_in_strings_do_not_count() {
        let inner = format!(
            "{}1{}",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        let line = format!("{{\"extra\":{inner}}}");
        assert!(matches!(parse(&line), Ok(Top::Object(_))));
        let line = format!("{{\"error_message\":\"{}\\\"\"}}", "[{".repeat(1000));
        assert!(matches!(parse(&line), Ok(Top::Object(_))), "{line}");
        let line = format!("{{\"extra\":{inner},\"x\":[[[]]]}}");
        assert!(matches!(parse(&line), Ok(Top::Object(_))));
        let too_deep = format!("{{\"extra\":[{inner}]}}");
        assert_eq!(
            parse(&too_deep).unwrap_err(),
            "nesting deeper than 32 levels"
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        for open in ["[", "{\"a\":"] {
            for depth in [MAX_DEPTH, 100, 300, 200_000] {
                let line = open.repeat(depth);
                assert!(parse(&line).is_err());
                let line = format!("{{\"extra\":{}}}", open.repeat(depth));
                assert!(parse(&line).is_err());
                let line = format!("{{\"os\":{}}}", open.repeat(depth));
                assert!(parse(&line).is_err());
            }
        }
    }
}
