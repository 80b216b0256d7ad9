//! The scanner against the JSON grammar, with serde_json as the oracle.

use proptest::prelude::*;

use super::*;

fn obj(line: &str) -> RawEvent<'_> {
    let mut ev = RawEvent::default();
    match parse(line, &mut ev, &mut KeyOrder::default()) {
        Ok(None) => ev,
        other => panic!("{line:?}: {other:?}"),
    }
}

fn shape(line: &str) -> Result<Option<&'static str>, String> {
    let mut ev = RawEvent::default();
    parse(line, &mut ev, &mut KeyOrder::default())
}

#[test]
fn every_field_name_is_recognised_and_near_misses_are_not() {
    for f in F::ALL {
        assert_eq!(F::from_key(f.name()), Some(f));
        let mut near = f.name().to_string();
        near.pop();
        near.push('X');
        assert_eq!(F::from_key(&near), None, "{near}");
    }
    assert_eq!(F::from_key(""), None);
    assert_eq!(F::from_key("Event_id"), None);
    // A key spelled with escapes is the same key.
    let mut ev = obj(r#"{"event_id":"x"}"#);
    assert!(matches!(ev.take(F::EventId), Val::Str(_)));
}

#[test]
fn borrows_plain_strings_and_owns_escaped_ones() {
    let mut ev =
        obj(r#"{"event_id":"a1","error_message":"line\nbreak \u00e9\ud83d\ude00 \"q\" \\ \/"}"#);
    assert!(matches!(ev.take(F::EventId), Val::Str(Cow::Borrowed("a1"))));
    match ev.take(F::ErrorMessage) {
        Val::Str(Cow::Owned(s)) => assert_eq!(s, "line\nbreak é😀 \"q\" \\ /"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn records_types_unknown_and_repeated_keys() {
    let mut ev = obj(
        r#" { "latency_ms" : -3 , "amount_minor":12,"attempt":1.5,"ts":null,"os":[1,{"a":2}],"browser":{"x":[]},"extra":{"deep":[1,2,{"k":"v"}]},"x2":1e5,"channel":"a","channel":"b","region":true,"locale":false,"currency":-0,"app_version":18446744073709551616} "#,
    );
    assert_eq!(ev.take(F::LatencyMs), Val::Int(-3));
    assert_eq!(ev.take(F::AmountMinor), Val::UInt(12));
    assert_eq!(ev.take(F::Attempt), Val::Float);
    assert_eq!(ev.take(F::Ts), Val::Null);
    assert_eq!(ev.take(F::Os), Val::Array);
    assert_eq!(ev.take(F::Browser), Val::Object);
    assert_eq!(ev.take(F::Region), Val::Bool(true));
    assert_eq!(ev.take(F::Locale), Val::Bool(false));
    assert_eq!(ev.take(F::Currency), Val::Int(0));
    assert_eq!(ev.take(F::AppVersion), Val::Float);
    assert_eq!(ev.take(F::EventId), Val::Absent);
    assert_eq!(ev.unknown_fields, 2);
    assert_eq!(ev.repeated, Some(F::Channel));
}

#[test]
fn integer_edges() {
    let mut ev = obj(
        r#"{"latency_ms":-9223372036854775808,"amount_minor":18446744073709551615,"attempt":-9223372036854775809}"#,
    );
    assert_eq!(ev.take(F::LatencyMs), Val::Int(i64::MIN));
    assert_eq!(ev.take(F::AmountMinor), Val::UInt(u64::MAX));
    assert_eq!(ev.take(F::Attempt), Val::Float);
}

#[test]
fn non_objects_are_named() {
    for (line, kind) in [
        ("[1,2]", "array"),
        ("[]", "array"),
        ("\"x\"", "string"),
        ("12", "number"),
        ("-1.5e3", "number"),
        ("true", "boolean"),
        ("null", "null"),
    ] {
        assert_eq!(shape(line), Ok(Some(kind)), "{line}");
    }
    assert_eq!(shape("{}"), Ok(None));
}

#[test]
fn broken_json_is_an_error() {
    for line in [
        "{",
        "}",
        "{\"a\":}",
        "{'a':1}",
        "{\"a\":1}x",
        "{\"a\":1}{}",
        "",
        "  ",
        "nul",
        "tru",
        "{\"a\":1,}",
        "{,}",
        "{\"a\" 1}",
        "{\"a\":[1,]}",
        "{\"a\":[1 2]}",
        "{\"a\":{\"b\"}}",
        "{\"a\":{\"b\":1,}}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":+1}",
        "{\"a\":-}",
        "{\"a\":1e}",
        "{\"a\":\"tab\there\"}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\udc00\"}",
        "{\"a\":\"unterminated}",
        "{\"a\":[}",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
        "[1,2",
    ] {
        assert!(shape(line).is_err(), "{line:?} should not parse");
    }
}

#[test]
fn nesting_up_to_the_limit_parses_and_brackets_in_strings_do_not_count() {
    // The event object is level 1, so a field may hold MAX_DEPTH - 1 levels.
    let inner = format!(
        "{}1{}",
        "[".repeat(MAX_DEPTH - 1),
        "]".repeat(MAX_DEPTH - 1)
    );
    assert!(shape(&format!("{{\"extra\":{inner}}}")).is_ok());
    assert!(shape(&format!("{{\"os\":{inner}}}")).is_ok());
    let line = format!("{{\"error_message\":\"{}\\\"\"}}", "[{".repeat(1000));
    assert!(shape(&line).is_ok());
    let too_deep = format!("{{\"extra\":[{inner}]}}");
    assert_eq!(
        shape(&too_deep).unwrap_err(),
        "nesting deeper than 32 levels"
    );
    let top = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert_eq!(shape(&top), Ok(Some("array")));
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for open in ["[", "{\"a\":"] {
        for depth in [MAX_DEPTH + 1, 300, 200_000] {
            assert!(shape(&open.repeat(depth)).is_err());
            assert!(shape(&format!("{{\"extra\":{}}}", open.repeat(depth))).is_err());
            assert!(shape(&format!("{{\"os\":{}}}", open.repeat(depth))).is_err());
        }
    }
}

#[test]
fn scan_plain_finds_the_first_special_byte_in_any_position() {
    for len in 0..40 {
        for special in [b'"', b'\\', 0x00, 0x1f] {
            let mut bytes = vec![b'a'; len];
            bytes.extend_from_slice("é€".as_bytes());
            let at = bytes.len();
            bytes.push(special);
            bytes.extend_from_slice(b"zz\"");
            let text = String::from_utf8(bytes).unwrap();
            let s = Scanner {
                text: &text,
                b: text.as_bytes(),
                i: 0,
            };
            assert_eq!(s.scan_plain(0), at, "len {len} special {special:#x}");
        }
    }
}

// ---- serde_json as the oracle --------------------------------------------------

fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        (any::<i32>(), 0u32..1000, -30i32..30).prop_map(|(a, b, e)| format!("{a}.{b}e{e}")),
        "\\PC{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        Just(r#""esc \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00""#.to_string()),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "event_id",
                        "ts",
                        "os",
                        "attempt",
                        "x",
                        "latency_ms"
                    ]),
                    inner
                ),
                0..5
            )
            .prop_map(|kv| {
                let body: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
                format!("{{ {} }}", body.join(" ,"))
            }),
        ]
    })
}

/// Cuts, duplicates or replaces one byte of valid JSON.
fn mutated() -> impl Strategy<Value = String> {
    (
        json_value(),
        any::<usize>(),
        prop::sample::select(vec![
            "", "\"", "\\", ",", ":", "}", "]", "{", "[", "0", "-", ".", "e", " ", "\u{1}", "é",
            "nul",
        ]),
    )
        .prop_map(|(s, at, with)| {
            let mut cut = at % (s.len() + 1);
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            let mut end = (cut + 1).min(s.len());
            while !s.is_char_boundary(end) {
                end += 1;
            }
            format!("{}{}{}", &s[..cut], with, &s[end..])
        })
}

fn agrees_with_serde_json(text: &str) -> Result<(), TestCaseError> {
    let ours = shape(text);
    let theirs = serde_json::from_str::<serde_json::Value>(text);
    if let Err(e) = &theirs
        && e.to_string().starts_with("number out of range")
    {
        // serde_json refuses floats beyond f64 (and stops there, so it says
        // nothing of the rest); the grammar allows them, and we never compute
        // a float (it is the wrong type for every field). No verdict.
        return Ok(());
    }
    prop_assert_eq!(
        ours.is_ok(),
        theirs.is_ok(),
        "{:?}: ours {:?}, serde_json {:?}",
        text,
        ours,
        theirs.as_ref().err()
    );
    if let (Ok(None), Ok(serde_json::Value::Object(map))) = (&ours, &theirs) {
        let mut ev = RawEvent::default();
        parse(text, &mut ev, &mut KeyOrder::default()).unwrap();
        for (key, f) in [
            ("event_id", F::EventId),
            ("ts", F::Ts),
            ("os", F::Os),
            ("attempt", F::Attempt),
            ("latency_ms", F::LatencyMs),
        ] {
            let ours = ev.take(f);
            let expect = match map.get(key) {
                None => Val::Absent,
                Some(serde_json::Value::Null) => Val::Null,
                Some(serde_json::Value::Bool(b)) => Val::Bool(*b),
                Some(serde_json::Value::Number(n)) => match (n.as_u64(), n.as_i64()) {
                    (Some(u), _) => Val::UInt(u),
                    (None, Some(i)) => Val::Int(i),
                    _ => Val::Float,
                },
                Some(serde_json::Value::String(s)) => Val::Str(Cow::Owned(s.clone())),
                Some(serde_json::Value::Array(_)) => Val::Array,
                Some(serde_json::Value::Object(_)) => Val::Object,
            };
            let ours = match ours {
                Val::Str(s) => Val::Str(Cow::Owned(s.into_owned())),
                // "-0": the integer 0 for us, the float -0.0 for serde_json.
                Val::Int(0) if expect == Val::Float => Val::Float,
                other => other,
            };
            prop_assert_eq!(&ours, &expect, "{} in {:?}", key, text);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn valid_json_agrees_with_serde_json(text in json_value()) {
        agrees_with_serde_json(&text)?;
    }

    #[test]
    fn mutated_json_agrees_with_serde_json(text in mutated()) {
        agrees_with_serde_json(&text)?;
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,64}") {
        let _ = shape(&text);
    }
}

// ---- the fast pass against the scanner ----------------------------------------

/// Every field the two passes found, as values.
fn found<'a>(ev: &mut RawEvent<'a>) -> Vec<Val<'a>> {
    F::ALL.iter().map(|&f| ev.take(f)).collect()
}

thread_local! {
    /// The key order learned over every earlier case of a test on this
    /// thread: mostly wrong guesses for a new random object.
    static LEARNED: std::cell::RefCell<KeyOrder> = std::cell::RefCell::default();
}

/// When the fast pass takes `text`, the scanner finds the same object; and
/// the fast pass finds the same whatever key order it expects: none, the one
/// learned from earlier texts, and the text's own (learned by the first
/// parse with it).
fn fast_agrees_with_scanner(text: &str) -> Result<bool, TestCaseError> {
    let mut learned = LEARNED.with(|o| o.borrow().clone());
    let mut scan_ev = RawEvent::default();
    let scanned = scan(text, &mut scan_ev);
    let scan_found = found(&mut scan_ev);
    let mut taken = None;
    for order in [&mut KeyOrder::default(), &mut learned.clone(), &mut learned] {
        let mut fast_ev = RawEvent::default();
        let took = fast::object(text, &mut fast_ev, order).is_some();
        prop_assert!(taken.is_none_or(|t| t == took), "{:?}", text);
        taken = Some(took);
        if !took {
            continue;
        }
        prop_assert_eq!(&scanned, &Ok(None), "{:?}", text);
        prop_assert_eq!(fast_ev.unknown_fields, scan_ev.unknown_fields, "{:?}", text);
        prop_assert_eq!(fast_ev.repeated, scan_ev.repeated, "{:?}", text);
        prop_assert_eq!(&found(&mut fast_ev), &scan_found, "{:?}", text);
    }
    LEARNED.with(|o| *o.borrow_mut() = learned);
    Ok(taken == Some(true))
}

/// A flat object over every field name and some others, with values of every
/// type, spaced or not, sometimes with a key twice.
fn flat_object() -> impl Strategy<Value = String> {
    let mut names: Vec<String> = F::ALL.iter().map(|f| f.name().to_string()).collect();
    names.extend(["x", "", "event_idx", "a_very_long_unknown_key_name", "é"].map(String::from));
    let value = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        "[1-9][0-9]{19,23}".prop_map(|n| n.to_string()),
        (any::<i32>(), 0u32..1000).prop_map(|(a, b)| format!("{a}.{b}")),
        (any::<i32>(), -30i32..30).prop_map(|(a, e)| format!("{a}e{e}")),
        (any::<i16>(), 0u32..99, 0i32..30).prop_map(|(a, b, e)| format!("{a}.{b}E+{e}")),
        prop::sample::select(vec!["0", "-0", "0.0", "-0e0", "1E2"]).prop_map(String::from),
        "[^\\\\\"\\p{Cc}]{0,40}".prop_map(|s| format!("\"{s}\"")),
    ];
    (
        prop::collection::vec((prop::sample::select(names), value), 0..26),
        prop::sample::select(vec!["", " ", "  "]),
    )
        .prop_map(|(kv, sp)| {
            let body: Vec<String> = kv
                .iter()
                .map(|(k, v)| format!("{sp}\"{k}\"{sp}:{sp}{v}{sp}"))
                .collect();
            format!("{sp}{{{}}}{sp}", body.join(","))
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn fast_pass_agrees_with_the_scanner_on_flat_objects(text in flat_object()) {
        prop_assert!(fast_agrees_with_scanner(&text)?, "the fast pass gave up on {:?}", text);
    }

    #[test]
    fn fast_pass_agrees_with_the_scanner_on_any_json(text in json_value()) {
        fast_agrees_with_scanner(&text)?;
    }

    #[test]
    fn fast_pass_agrees_with_the_scanner_on_broken_json(text in mutated()) {
        fast_agrees_with_scanner(&text)?;
    }
}

#[test]
fn fast_pass_leaves_escapes_control_characters_nesting_and_errors_to_the_scanner() {
    let line = r#"{"event_id":"e1","ts":1793491200003,"outcome":"success","latency_ms":522}"#;
    assert!(fast_agrees_with_scanner(line).unwrap());
    let long = format!(r#"{{"error_message":"{}"}}"#, "x".repeat(fast::MAX_LEN));
    for text in [
        r#"{"event_id":"e\"1"}"#,
        "{\"event_id\":\t\"e1\"}",
        "{\"event_id\":\"e1\"}\n",
        r#"{"event_id":"e1","x":[1]}"#,
        r#"{"event_id":"e1","x":{}}"#,
        r#"{"event_id":"e1",}"#,
        r#"{"event_id":"e1""#,
        r#"{"event_id":01}"#,
        r#"{"event_id":nul}"#,
        r#"{"event_id":"e1"} x"#,
        r#"["event_id"]"#,
        &long,
    ] {
        let mut ev = RawEvent::default();
        let mut order = KeyOrder::default();
        assert!(
            fast::object(text, &mut ev, &mut order).is_none(),
            "{text:?}"
        );
    }
    // …and the whole parse still reads them as the scanner does.
    assert_eq!(
        obj(&long).take(F::ErrorMessage),
        Val::Str(Cow::Owned("x".repeat(fast::MAX_LEN)))
    );
    let mut ev = obj(r#"{"event_id":"e\"1","x":[1]}"#);
    assert_eq!(ev.take(F::EventId), Val::Str(Cow::Owned("e\"1".into())));
    assert_eq!(ev.unknown_fields, 1);
}

#[test]
fn keys_matched_a_word_at_a_time_agree_with_from_key() {
    let mut keys: Vec<String> = vec![String::new()];
    for f in F::ALL {
        let name = f.name();
        keys.push(name.to_string());
        keys.push(format!("{name}x"));
        keys.push(format!("x{name}"));
        keys.push(name[..name.len() - 1].to_string());
        keys.push(name.to_uppercase());
        let mut near = name.to_string();
        near.pop();
        near.push('X');
        keys.push(near);
    }
    keys.extend((1..=20).map(|n| "a".repeat(n)));
    for key in &keys {
        // Padded so the word path runs, and unpadded so the scan path does.
        for pad in ["", "                "] {
            let line = format!("{{\"{key}\":7{pad}}}");
            let mut ev = obj(&line);
            match F::from_key(key) {
                Some(f) => {
                    assert_eq!(ev.take(f), Val::UInt(7), "{line}");
                    assert_eq!(ev.unknown_fields, 0, "{line}");
                }
                None => assert_eq!(ev.unknown_fields, 1, "{line}"),
            }
            // Escaped spellings of the same key go the slow way and agree.
            let escaped = key.replace('_', "\\u005f");
            let line = format!("{{\"{escaped}\":7{pad}}}");
            let ev = obj(&line);
            assert_eq!(
                ev.unknown_fields,
                u32::from(F::from_key(key).is_none()),
                "{line}"
            );
        }
    }
}
