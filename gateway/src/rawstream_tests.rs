use super::*;
use crate::rawmerge::concat_systems;
use uyuni_api::Value;
use uyuni_api::codec::{parse_response, render_fault, render_response};
use uyuni_api::value::{StructBuilder, int, string};

fn node(ids: &[i64]) -> String {
    let items = ids
        .iter()
        .map(|id| {
            StructBuilder::new()
                .field("id", int(*id))
                .field("name", string(format!("s{id} <&> ümlaut € id")))
                // An item with a list of its own: a `</data>` that does not end the list.
                .field("tags", Value::Array(vec![string("a"), string("b")]))
                .build()
        })
        .collect();
    render_response(&Value::Array(items)).expect("render")
}

/// A seeded xorshift: the same pieces in every run.
fn pieces(seed: u64, max: usize) -> impl FnMut() -> usize {
    let mut x = seed.max(1);
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % max as u64) as usize + 1
    }
}

/// The merged document as the streaming path writes it.
fn streamed(parts: &[(u32, String)], sizes: &mut dyn FnMut() -> usize) -> String {
    let mut doc = MERGED_HEAD.as_bytes().to_vec();
    for (slot, text) in parts {
        let items = rewrite_in_pieces(*slot, text.as_bytes(), sizes)
            .expect("streams")
            .expect("a list");
        doc.extend(items);
    }
    doc.extend(MERGED_TAIL.as_bytes());
    String::from_utf8(doc).expect("utf-8")
}

/// `a == b`, or a panic showing where they part.
fn assert_same(a: &str, b: &str, what: &str) {
    if a == b {
        return;
    }
    let at = a
        .bytes()
        .zip(b.bytes())
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let around = |s: &str| {
        String::from_utf8_lossy(&s.as_bytes()[at.saturating_sub(60)..(at + 60).min(s.len())])
            .into_owned()
    };
    panic!(
        "{what}: differ at byte {at} (lengths {} and {}):\n{}\n{}",
        a.len(),
        b.len(),
        around(a),
        around(b)
    );
}

fn sample() -> Vec<(u32, String)> {
    vec![
        (0, node(&[1_000_010_000, 1_000_010_001, 1_000_010_002])),
        (1, node(&[])),
        (2, node(&[1_000_010_000, 1_000_010_009])),
        (
            3,
            node(&(0..200).map(|i| 1_000_010_000 + i).collect::<Vec<_>>()),
        ),
    ]
}

#[test]
fn byte_by_byte_is_the_buffered_merge() {
    let parts = sample();
    let buffered = concat_systems(parts.clone()).expect("fast path");
    assert_same(&streamed(&parts, &mut || 1), &buffered, "byte by byte");
}

#[test]
fn random_pieces_are_the_buffered_merge() {
    let parts = sample();
    let buffered = concat_systems(parts.clone()).expect("fast path");
    for seed in 1..=40 {
        for max in [3, 17, 100, 5000, 70_000] {
            assert_same(
                &streamed(&parts, &mut pieces(seed, max)),
                &buffered,
                &format!("seed {seed}, pieces up to {max}"),
            );
        }
    }
    // And the merged document decodes, with the ids translated.
    let v = parse_response(&buffered).expect("xml").expect("value");
    let ids: Vec<i64> = uyuni_api::json::to_json(&v)
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["id"].as_i64())
        .collect();
    assert_eq!(ids.len(), 205);
    assert_eq!(ids[3], 1_002_010_000);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn whitespace_between_tags_and_a_long_tail_area() {
    let doc = "<?xml version=\"1.0\"?>\n<methodResponse>\n <params>\n  <param>\n   <value>\n    \
               <array>\n     <data>\n      <value><struct><member><name>id</name>\n  <value> <int> \
               1000010005 </int></value></member></struct></value>\n     </data>\n    </array>\n   \
               </value>\n  </param>\n </params>\n</methodResponse>\n";
    for max in [1, 2, 7, 1000] {
        let out = rewrite_in_pieces(4, doc.as_bytes(), &mut pieces(9, max))
            .expect("streams")
            .expect("a list");
        let out = String::from_utf8(out).expect("utf-8");
        // The number's own whitespace goes with it, as in the buffered merge.
        assert!(out.contains("<int>1004010005</int>"), "{out}");
        assert!(!out.contains("</data>"), "{out}");
    }
}

#[test]
fn a_fault_is_decoded_whole() {
    let doc = render_fault(&Fault::xmlrpc(2950, "Could not find session"));
    for max in [1, 5, 10_000] {
        let got = rewrite_in_pieces(0, doc.as_bytes(), &mut pieces(3, max)).expect("a fault");
        assert_eq!(got.map_err(|f| f.code), Err(2950));
    }
}

#[test]
fn malformed_answers_are_typed_errors() {
    let run = |doc: &[u8]| rewrite_in_pieces(1, doc, &mut pieces(5, 11));
    // Another shape: a scalar.
    let scalar = render_response(&int(1)).expect("render");
    assert!(matches!(
        run(scalar.as_bytes()),
        Err(StreamError::NotAList(_))
    ));
    // Cut off in the middle of the list, or before its head.
    let whole = node(&[1_000_010_000, 1_000_010_001]);
    assert_eq!(
        run(&whole.as_bytes()[..whole.len() / 2]),
        Err(StreamError::Truncated)
    );
    assert_eq!(run(&whole.as_bytes()[..20]), Err(StreamError::Truncated));
    // An id that is not a number, or that cannot be translated.
    let bad = whole.replacen("<i4>1000010000</i4>", "<string>x</string>", 1);
    assert_ne!(bad, whole);
    assert_eq!(run(bad.as_bytes()), Err(StreamError::BadId));
    let far = node(&[7]);
    assert_eq!(run(far.as_bytes()), Err(StreamError::Untranslatable(7)));
    // Not UTF-8 (a lone continuation byte), and garbage.
    let mut bytes = whole.clone().into_bytes();
    let at = whole.find("s1000010000").expect("name");
    bytes[at] = 0x80;
    assert_eq!(run(&bytes), Err(StreamError::NotUtf8));
    assert!(run(b"<html>502 Bad Gateway</html>").is_err());
    assert!(run(&[b' '; MAX_HEAD + 10]).is_err());
    // A fault document that is not one.
    let not_fault = b"<?xml version=\"1.0\"?><methodResponse><fault>oops</fault></methodResponse>";
    assert!(matches!(run(not_fault), Err(StreamError::BadFault(_))));
}

#[test]
fn held_back_no_more_than_the_hold() {
    // After each piece, everything but the last HOLD bytes (and an unfinished id) is out.
    let doc = node(&(0..2000).map(|i| 1_000_010_000 + i).collect::<Vec<_>>());
    let mut rw = NodeRewriter::new(0);
    let mut out = Vec::new();
    for piece in doc.as_bytes().chunks(10_000) {
        rw.feed(piece, &mut out).expect("feed");
        assert!(rw.pending.len() <= HOLD + 64, "{}", rw.pending.len());
    }
    assert_eq!(rw.head(), &Head::Items);
    assert_eq!(rw.finish(&mut out).expect("finish"), None);
}
