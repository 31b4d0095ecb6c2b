//! Property tests of the XML-RPC codec (`uyuni_api::codec`): arbitrary input never panics,
//! structure-aware mutations of valid bodies never panic, deep nesting and oversized or
//! entity-laden bodies are refused or handled without blowing the stack or the memory, and
//! values survive a render/parse round trip.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::Index;
use uyuni_api::codec::{
    MAX_NESTING, parse_call, parse_response, render_call, render_fault, render_response,
};
use uyuni_api::{DateTime, Fault, Value};

/// Both decoders on one body: a result either way, never a panic.
fn decode_all(body: &str) {
    let _ = parse_call(body);
    let _ = parse_response(body);
}

// ---------------------------------------------------------------- generators

/// Characters XML 1.0 can carry (`Char` production), biased towards markup and entities.
fn xml_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('a', 'z'),
        3 => prop::sample::select(vec![
            '<', '>', '&', '"', '\'', ';', '/', ']', '[', '=', '!', '?', ' ', '\n', '\t', '\r',
            '-', ':', '#', 'é', 'ß', '€', '中', '🦀', '\u{a0}', '\u{feff}',
        ]),
        1 => any::<char>().prop_filter("an XML Char", |c| is_xml_char(*c)),
    ]
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// Text with XML special characters, markup-looking fragments and unicode.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => vec(xml_char(), 0..12).prop_map(String::from_iter),
        1 => prop::sample::select(vec![
            "]]>", "<![CDATA[", "&amp;", "&lt;", "&#65;", "<value>", "</string>", "<fault>",
            "<!--", "-->", "<dateTime.iso8601>", "  ", "\r\n",
        ])
        .prop_map(str::to_string),
    ];
    vec(piece, 0..5).prop_map(|p| p.concat())
}

/// A struct member name. dxr 0.9 refuses a `<name>` whose text is empty or blank (see
/// `blank_member_names_are_a_typed_error`), so names have one non-blank character at least.
fn member_name() -> impl Strategy<Value = String> {
    text().prop_filter("not blank", |s| !s.trim().is_empty())
}

/// Uyuni's `YYYYMMDDTHH:MM:SS`.
fn datetime() -> impl Strategy<Value = DateTime> {
    (
        1000u16..=9999,
        1u8..=12,
        1u8..=28,
        0u8..24,
        0u8..60,
        0u8..60,
    )
        .prop_map(|(y, mo, d, h, mi, s)| {
            format!("{y:04}{mo:02}{d:02}T{h:02}:{mi:02}:{s:02}")
                .parse::<DateTime>()
                .expect("a valid date")
        })
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::Integer),
        any::<i64>().prop_map(Value::Long),
        any::<bool>().prop_map(Value::Boolean),
        text().prop_map(Value::String),
        any::<f64>()
            .prop_filter("finite", |d| d.is_finite())
            .prop_map(Value::Double),
        vec(any::<u8>(), 0..40).prop_map(Value::Base64),
        datetime().prop_map(Value::DateTime),
        Just(Value::Nil),
    ]
}

/// A random value tree: scalars of every Uyuni type, nested structs and arrays.
fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 48, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Value::Array),
            btree_map(member_name(), inner, 0..5).prop_map(Value::Struct),
        ]
    })
}

fn method() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_]{0,12}(\\.[a-zA-Z][a-zA-Z0-9_]{0,12}){0,2}"
}

fn fault() -> impl Strategy<Value = Fault> {
    (any::<i32>(), text()).prop_map(|(code, string)| Fault::new(code, string))
}

/// A valid body of any of the three kinds.
fn valid_body() -> impl Strategy<Value = String> {
    prop_oneof![
        (method(), vec(value(), 0..4))
            .prop_map(|(m, p)| render_call(&m, &p).expect("render a call")),
        value().prop_map(|v| render_response(&v).expect("render a response")),
        fault().prop_map(|f| render_fault(&f)),
    ]
}

/// Fragments worth splicing into a body.
const SPLICES: &[&str] = &[
    "<",
    ">",
    "&",
    "]]>",
    "<![CDATA[",
    "<!--",
    "-->",
    "<value>",
    "</value>",
    "<value><array><data>",
    "</data></array>",
    "<struct><member>",
    "<name>",
    "</member>",
    "</params>",
    "<param>",
    "<methodName>",
    "<fault>",
    "<int>99999999999</int>",
    "<i4>-2147483649</i4>",
    "<i8>99999999999999999999999</i8>",
    "<double>1e99999</double>",
    "<double>NaN</double>",
    "<boolean>2</boolean>",
    "<base64>!!!=</base64>",
    "<nil/>",
    "<dateTime.iso8601>99999999T99:99:99</dateTime.iso8601>",
    "<dateTime.iso8601>2020-02-30T25:61:61.5+99:99</dateTime.iso8601>",
    "<dateTime.iso8601>+999+1+1T+1:+1:+1</dateTime.iso8601>",
    "<dateTime.iso8601>",
    "<?xml version=\"1.0\"?>",
    "<!DOCTYPE x [<!ENTITY a \"&b;&b;\"><!ENTITY b \"bb\">]>",
    "&a;",
    "&#0;",
    "&#x110000;",
    "&#xD800;",
    "&#99999999999;",
    "&lt",
    "\u{0}",
    "\u{fffe}",
    "\u{1f980}",
    "<a b=\">\"/>",
    "</x>",
];

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(Index),
    Delete(Index, usize),
    Duplicate(Index, usize),
    Swap(Index, Index, usize),
    Splice(Index, &'static str),
    Byte(Index, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => any::<Index>().prop_map(Mutation::Truncate),
        2 => (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        2 => (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        2 => (any::<Index>(), any::<Index>(), 1usize..32)
            .prop_map(|(a, b, n)| Mutation::Swap(a, b, n)),
        4 => (any::<Index>(), prop::sample::select(SPLICES))
            .prop_map(|(i, s)| Mutation::Splice(i, s)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Byte(i, b)),
    ]
}

/// Apply a mutation to the bytes of a body (which may then not be UTF-8 any more).
fn mutate(buf: &mut Vec<u8>, m: &Mutation) {
    let len = buf.len();
    let at = |i: &Index| if len == 0 { 0 } else { i.index(len + 1) };
    match m {
        Mutation::Truncate(i) => buf.truncate(at(i)),
        Mutation::Delete(i, n) => {
            let s = at(i);
            let e = (s + n).min(len);
            buf.drain(s..e);
        }
        Mutation::Duplicate(i, n) => {
            let s = at(i);
            let e = (s + n).min(len);
            let copy = buf[s..e].to_vec();
            buf.splice(e..e, copy);
        }
        Mutation::Swap(a, b, n) => {
            let (a, b) = (at(a), at(b));
            let (lo, hi) = (a.min(b), a.max(b));
            let n = (*n).min(hi - lo).min(len - hi);
            if n > 0 {
                let (left, right) = buf.split_at_mut(hi);
                left[lo..lo + n].swap_with_slice(&mut right[..n]);
            }
        }
        Mutation::Splice(i, s) => {
            let p = at(i);
            buf.splice(p..p, s.bytes());
        }
        Mutation::Byte(i, b) => {
            if len > 0 {
                let p = i.index(len);
                buf[p] = *b;
            }
        }
    }
}

// ---------------------------------------------------------------- never panic

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        decode_all(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        decode_all(&s);
    }

    /// Tag soup: the XML-RPC vocabulary in random order, so the parser gets past the prolog.
    #[test]
    fn tag_soup_never_panics(parts in vec(
        prop_oneof![
            3 => prop::sample::select(SPLICES).prop_map(str::to_string),
            1 => prop::sample::select(vec![
                "<methodCall>", "</methodCall>", "<methodResponse>", "</methodResponse>",
                "<params>", "</param>", "</methodName>", "</fault>", "<array>", "<data>",
                "</struct>", "<string>", "</string>", "<i8>", "</i8>", "</name>", "a.b",
                "faultCode", "faultString", "</int>", "<int>", "7",
            ]).prop_map(str::to_string),
            1 => text(),
        ],
        0..40,
    )) {
        decode_all(&parts.concat());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Valid bodies of random value trees, then one to four random mutations.
    #[test]
    fn mutated_bodies_never_panic(body in valid_body(), ms in vec(mutation(), 1..5)) {
        let mut buf = body.into_bytes();
        for m in &ms {
            mutate(&mut buf, m);
        }
        decode_all(&String::from_utf8_lossy(&buf));
    }
}

// ---------------------------------------------------------------- round trips

fn same_value(a: &Value, b: &Value) -> bool {
    // f64 compares -0.0 == 0.0; everything else is plain equality.
    a == b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn calls_round_trip(m in method(), params in vec(value(), 0..4)) {
        let xml = render_call(&m, &params).expect("render");
        let call = parse_call(&xml).map_err(|e| TestCaseError::fail(format!("{e}\n{xml}")))?;
        prop_assert_eq!(&call.method, &m);
        prop_assert_eq!(call.params.len(), params.len());
        for (a, b) in call.params.iter().zip(&params) {
            prop_assert!(same_value(a, b), "{:?} != {:?}\n{}", a, b, xml);
        }
        // Rendering what was parsed gives the same bytes again.
        prop_assert_eq!(render_call(&call.method, &call.params).expect("render"), xml);
    }

    #[test]
    fn responses_round_trip(v in value()) {
        let xml = render_response(&v).expect("render");
        let back = parse_response(&xml).map_err(|e| TestCaseError::fail(format!("{e}\n{xml}")))?;
        let back = back.map_err(|f| TestCaseError::fail(format!("a fault: {f}\n{xml}")))?;
        prop_assert!(same_value(&back, &v), "{:?} != {:?}\n{}", back, v, xml);
        prop_assert_eq!(render_response(&back).expect("render"), xml);
    }

    #[test]
    fn faults_round_trip(f in fault()) {
        let xml = render_fault(&f);
        let back = parse_response(&xml).map_err(|e| TestCaseError::fail(format!("{e}\n{xml}")))?;
        prop_assert_eq!(back, Err(f.clone()));
        prop_assert_eq!(render_fault(&f), xml);
    }
}

// ---------------------------------------------------------------- nesting, size, entities

/// A call whose one parameter is `depth` arrays (or structs) deep.
fn nested_call(depth: usize, structs: bool) -> String {
    let (open, close) = if structs {
        (
            "<value><struct><member><name>k</name>",
            "</member></struct></value>",
        )
    } else {
        ("<value><array><data>", "</data></array></value>")
    };
    let mut s = String::from("<methodCall><methodName>a.b</methodName><params><param>");
    s.push_str(&open.repeat(depth));
    s.push_str("<value><int>1</int></value>");
    s.push_str(&close.repeat(depth));
    s.push_str("</param></params></methodCall>");
    s
}

/// Run `f` on a thread with the stack of a tokio worker (2 MiB), where the stand-in decodes.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no stack overflow, no panic")
}

#[test]
fn deep_nesting_is_a_typed_error_not_a_stack_overflow() {
    on_small_stack(|| {
        for structs in [false, true] {
            // As deep as the guard allows: parsed.
            let call = parse_call(&nested_call(MAX_NESTING, structs)).expect("at the limit");
            let mut v = &call.params[0];
            let mut depth = 0;
            loop {
                v = match v {
                    Value::Array(a) => &a[0],
                    Value::Struct(m) => &m["k"],
                    _ => break,
                };
                depth += 1;
            }
            assert_eq!(depth, MAX_NESTING);
            // One more, and far more: refused with a message that says why.
            for depth in [MAX_NESTING + 1, 1_000, 10_000, 100_000] {
                let err = parse_call(&nested_call(depth, structs)).expect_err("too deep");
                assert!(err.to_string().contains("nested"), "{err}");
                let body = nested_call(depth, structs)
                    .replace("methodCall><methodName>a.b</methodName>", "methodResponse>")
                    .replace("</methodCall", "</methodResponse");
                let err = parse_response(&body).expect_err("too deep");
                assert!(err.to_string().contains("nested"), "{err}");
            }
        }
        // Deep nesting of other elements (skipped by the parser, not recursed into).
        let deep = format!(
            "<methodCall><methodName>a.b</methodName><params><param><value>{}x{}</value></param></params></methodCall>",
            "<x>".repeat(100_000),
            "</x>".repeat(100_000)
        );
        decode_all(&deep);
        decode_all(&"<value>".repeat(100_000));
        decode_all(&"<array><data><value>".repeat(100_000));
        // Markup in CDATA, comments and text does not count as nesting.
        let cdata = format!(
            "<methodCall><methodName>a.b</methodName><params><param><value><string><![CDATA[{}]]></string></value></param><!-- {} --></params></methodCall>",
            "<array>".repeat(1_000),
            "<struct>".repeat(1_000)
        );
        let call = parse_call(&cdata).expect("CDATA is text");
        assert_eq!(call.params, vec![Value::String("<array>".repeat(1_000))]);
    });
}

#[test]
fn deep_values_render_and_round_trip_at_the_limit() {
    on_small_stack(|| {
        let mut v = Value::Integer(1);
        for i in 0..MAX_NESTING {
            v = if i % 2 == 0 {
                Value::Array(vec![v])
            } else {
                Value::Struct(BTreeMap::from([("k".to_string(), v)]))
            };
        }
        let xml = render_response(&v).expect("render");
        assert_eq!(parse_response(&xml).expect("parse"), Ok(v.clone()));
        let xml = render_call("a.b", std::slice::from_ref(&v)).expect("render");
        assert_eq!(parse_call(&xml).expect("parse").params, vec![v]);
    });
}

#[test]
fn billion_laughs_is_refused() {
    let mut dtd = String::from("<!ENTITY lol0 \"lol\">");
    for i in 1..10 {
        dtd.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">",
            format!("&lol{};", i - 1).repeat(10)
        ));
    }
    let body = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [{dtd}]><methodCall><methodName>a.b</methodName><params><param><value><string>&lol9;</string></value></param></params></methodCall>"
    );
    let start = Instant::now();
    assert!(parse_call(&body).is_err());
    let body = body
        .replace("methodCall><methodName>a.b</methodName>", "methodResponse>")
        .replace("</methodCall", "</methodResponse");
    assert!(parse_response(&body).is_err());
    // An external entity is not fetched either.
    let xxe = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><methodCall><methodName>a.b</methodName><params><param><value><string>&e;</string></value></param></params></methodCall>";
    assert!(parse_call(xxe).is_err());
    // Generous bounds (a loaded 2-core CI machine): an expansion would take far longer.
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    // A DOCTYPE without entities is ignored, as Uyuni's parser does.
    let call = parse_call(
        "<?xml version=\"1.0\"?><!DOCTYPE methodCall><methodCall><methodName>a.b</methodName></methodCall>",
    )
    .expect("plain DOCTYPE");
    assert_eq!(call.method, "a.b");
}

#[test]
fn bodies_over_16_mib_are_handled_in_linear_time() {
    let mb = 17 << 20;
    // One huge string.
    let body = format!(
        "<methodCall><methodName>a.b</methodName><params><param><value><string>{}</string></value></param></params></methodCall>",
        "x&amp;".repeat(mb / 9)
    );
    let start = Instant::now();
    let call = parse_call(&body).expect("a big string");
    assert!(matches!(&call.params[..], [Value::String(s)] if s.len() == mb / 9 * 2));
    // Many small values.
    let mut body = String::from("<methodResponse><params><param><value><array><data>");
    let item = "<value><struct><member><name>id</name><value><i8>1000010000</i8></value></member></struct></value>";
    let n = mb / item.len() + 1;
    body.push_str(&item.repeat(n));
    body.push_str("</data></array></value></param></params></methodResponse>");
    let v = parse_response(&body).expect("parse").expect("no fault");
    assert!(matches!(&v, Value::Array(a) if a.len() == n));
    // Garbage of that size: an error, quickly, and the message stays short.
    let err = parse_call(&"<".repeat(mb)).expect_err("garbage");
    assert!(err.to_string().len() < 400);
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
}

/// A known limit of dxr 0.9: a struct member whose name is empty or blank (Python's
/// `xmlrpc.client` renders `{"": 1}` as `<name></name>`) is refused, not decoded; it is an
/// error, never a panic, and the rendering side produces such bodies only for such keys.
#[test]
fn blank_member_names_are_a_typed_error() {
    for name in [
        "<name></name>",
        "<name/>",
        "<name> </name>",
        "<name>\n</name>",
    ] {
        let body = format!(
            "<methodCall><methodName>a.b</methodName><params><param><value><struct><member>{name}<value><int>1</int></value></member></struct></value></param></params></methodCall>"
        );
        assert!(parse_call(&body).is_err(), "{name}");
    }
}

/// Inputs that once failed (kept as plain tests besides proptest-regressions/).
#[test]
fn regressions() {
    for body in [
        // A zoned date whose closing tag is missing.
        "<methodCall><methodName>a.b</methodName><params><param><value><dateTime.iso8601>2020-01-01T00:00:00Z",
        "<dateTime.iso8601></dateTime.iso8601><dateTime.iso8601>T",
        "<methodResponse><fault><value><int>1</int></value></fault></methodResponse>",
        "<methodResponse><fault></fault></methodResponse>",
    ] {
        decode_all(body);
    }
}
