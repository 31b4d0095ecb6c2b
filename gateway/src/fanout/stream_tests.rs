//! The streamed merged list over fake nodes (pieces of 5 bytes each).

use std::sync::atomic::AtomicUsize;

use futures::StreamExt as _;
use serde_json::Value as Json;
use uyuni_api::Fault;
use uyuni_api::json::to_json;

use super::Fanout;
use super::fake::{Fake, cred};
use super::stream::{Format, Order, Streamed};
use crate::pool::Answer;
use crate::rawstream::{MERGED_HEAD, MERGED_TAIL};

/// The merged list streamed in slot order: its pieces joined, or where it broke off.
async fn stream(fake: &Fake, strict: bool) -> Result<(Streamed, Vec<u8>, Option<String>), Fault> {
    stream_in(fake, strict, Order::Slot).await
}

/// The merged list streamed in `order`.
async fn stream_in(
    fake: &Fake,
    strict: bool,
    order: Order,
) -> Result<(Streamed, Vec<u8>, Option<String>), Fault> {
    let turn = AtomicUsize::new(0);
    let fanout = Fanout::new(fake, &turn).in_order(order);
    let mut s = fanout
        .merged_stream(&cred(), "system.listSystems", vec![], strict, Format::Xml)
        .await?;
    let mut doc = MERGED_HEAD.as_bytes().to_vec();
    let mut broke = None;
    while let Some(piece) = s.body.next().await {
        match piece {
            Ok(b) => doc.extend_from_slice(&b),
            Err(e) => {
                broke = Some(e.to_string());
                break;
            }
        }
    }
    if broke.is_none() {
        doc.extend(MERGED_TAIL.as_bytes());
    }
    Ok((s, doc, broke))
}

/// The `id` members of a merged document's items, in its order.
fn ids_of(doc: &[u8]) -> Vec<i64> {
    decoded(doc)
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["id"].as_i64())
        .collect()
}

fn decoded(doc: &[u8]) -> Json {
    let text = std::str::from_utf8(doc).expect("utf-8");
    to_json(
        &uyuni_api::codec::parse_response(text)
            .expect("document")
            .expect("value"),
    )
}

#[tokio::test]
async fn the_streamed_list_is_the_decoded_merge_with_the_missing_node_named() {
    let fake = Fake::three().unreachable("c");
    let (s, doc, broke) = stream(&fake, false).await.expect("answered");
    assert_eq!(broke, None);
    assert_eq!(s.missing, vec!["c".to_string()]);
    let merged = fake.run("system.listSystems", vec![]).result.expect("list");
    assert_eq!(decoded(&doc), to_json(&merged));
    let ids: Vec<i64> = ids_of(&doc);
    assert_eq!(
        ids,
        vec![1_000_010_000, 1_000_010_001, 1_001_010_000, 1_001_010_005]
    );
}

#[tokio::test]
async fn strict_with_a_node_missing_is_a_fault_before_anything_is_sent() {
    let fake = Fake::three().unreachable("b");
    let f = stream(&fake, true).await.expect_err("a fault");
    assert!(
        f.string.contains("Cluster node unavailable: b"),
        "{}",
        f.string
    );
}

#[tokio::test]
async fn every_node_faulting_answers_the_first_fault() {
    let fake = ["a", "b", "c"].iter().fold(Fake::three(), |f, n| {
        f.script(
            n,
            "system.listSystems",
            Answer::Fault(Fault::new(2950, "No session")),
        )
    });
    let f = stream(&fake, false).await.expect_err("a fault");
    assert_eq!(f.code, 2950);
    // Nothing answering at all: unavailable, naming them.
    let fake = Fake::three()
        .unreachable("a")
        .unreachable("b")
        .unreachable("c");
    let f = stream(&fake, false).await.expect_err("a fault");
    assert!(f.string.contains("a, b, c"), "{}", f.string);
}

#[tokio::test]
async fn a_faulting_node_is_left_out_and_named_under_partial_and_fails_the_call_under_fail() {
    // The partial policy of the buffered merge (docs/GATEWAY.md#partial-answers), decided
    // before the first byte (`stream::decide`).
    let fake = Fake::three().script(
        "b",
        "system.listSystems",
        Answer::Fault(Fault::new(-1, "boom")),
    );
    let (s, doc, broke) = stream(&fake, false).await.expect("answered");
    assert_eq!(broke, None);
    assert_eq!(s.missing, vec!["b".to_string()]);
    assert_eq!(decoded(&doc).as_array().map(Vec::len), Some(3));
    let f = stream(&fake, true).await.expect_err("fail policy");
    assert_eq!(f.code, -1);
    assert!(
        f.string.starts_with("cluster node b: ") && f.string.contains("boom"),
        "{f:?}"
    );
}

#[tokio::test]
async fn an_untranslatable_system_id_fails_the_call_and_is_never_sent() {
    // A node answering a system id more than a slot's range past its base: shown unchanged
    // it would read as another slot's system (gwids: every id translated or a fault).
    let item = |id: i64| {
        uyuni_api::value::StructBuilder::new()
            .field("id", uyuni_api::value::int(id))
            .field("name", uyuni_api::value::string("x"))
            .build()
    };
    let fake = Fake::three().script(
        "b",
        "system.listSystems",
        Answer::Value(uyuni_api::Value::Array(vec![item(1_001_000_001)])),
    );
    for strict in [false, true] {
        // Found while the heads are read, it is the call's fault; found after the answer has
        // begun (here: the node's pieces are 5 bytes, the id comes after its head), it cuts
        // the answer off. Either way the node's id is never sent on.
        match stream(&fake, strict).await {
            Err(f) => {
                assert_eq!(f.code, -1);
                assert!(f.string.contains("no cluster-wide id"), "{f:?}");
            }
            Ok((_, doc, broke)) => {
                let why = broke.expect("cut off");
                assert!(why.contains("node b failed mid-answer"), "{why}");
                assert!(why.contains("cannot be shown as a gateway id"), "{why}");
                let text = String::from_utf8(doc).expect("utf-8");
                assert!(!text.contains("1001000001"), "{text}");
                assert!(!text.contains("</methodResponse>"), "{text}");
            }
        }
    }
    // The decoding path answers the same.
    let out = fake.run("system.listSystems", vec![]);
    assert!(
        out.result
            .expect_err("refused")
            .string
            .contains("no cluster-wide id")
    );
}

#[tokio::test]
async fn a_node_failing_mid_answer_cuts_the_answer_off() {
    let fake = Fake::three().cut_mid_answer("b");
    let (_, doc, broke) = stream(&fake, false).await.expect("begun");
    let why = broke.expect("the body ends with an error");
    assert!(why.contains("node b failed mid-answer"), "{why}");
    // What was sent is node a's whole part and never a closed document.
    let text = String::from_utf8(doc).expect("utf-8");
    assert!(text.contains("<i4>1000010001</i4>"), "{text}");
    assert!(!text.contains("</methodResponse>"), "{text}");
}

#[tokio::test]
async fn no_node_at_all_is_an_empty_list() {
    let fake = Fake::default();
    let (s, doc, broke) = stream(&fake, false).await.expect("answered");
    assert_eq!((s.missing.len(), broke), (0, None));
    assert_eq!(decoded(&doc), serde_json::json!([]));
}

#[tokio::test]
async fn the_json_api_gets_the_same_list_item_by_item() {
    let fake = Fake::three().unreachable("c");
    let turn = AtomicUsize::new(0);
    let fanout = Fanout::new(&fake, &turn);
    let mut s = fanout
        .merged_stream(&cred(), "system.listSystems", vec![], false, Format::Json)
        .await
        .expect("answered");
    let mut items = Vec::new();
    while let Some(piece) = s.body.next().await {
        items.extend_from_slice(&piece.expect("whole"));
    }
    // Every item comes with a comma in front (the JSON API drops the first).
    assert_eq!(items.first(), Some(&b','));
    let list: Json = serde_json::from_slice(&[b"[", &items[1..], b"]"].concat()).expect("json");
    let merged = fake.run("system.listSystems", vec![]).result.expect("list");
    assert_eq!(list, to_json(&merged));
    assert_eq!(s.missing, vec!["c".to_string()]);
}

/// A node's list of `n` systems (a server's ids, from 1 000 010 000), each item a few hundred bytes, so a
/// node's part takes several pieces of [`super::stream::CHUNK`].
fn big_list(n: i64) -> Answer {
    let items = (0..n)
        .map(|i| {
            uyuni_api::value::StructBuilder::new()
                .field("id", uyuni_api::value::int(1_000_010_000 + i))
                .field("name", uyuni_api::value::string(format!("{i:0>200}")))
                .build()
        })
        .collect();
    Answer::Value(uyuni_api::Value::Array(items))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_arrival_order_every_item_comes_once_whole_and_each_nodes_in_its_own_order() {
    let fake = Fake::three()
        .script("a", "system.listSystems", big_list(3000))
        .script("b", "system.listSystems", big_list(2000))
        .script("c", "system.listSystems", big_list(1));
    let (s, doc, broke) = stream_in(&fake, false, Order::Arrival)
        .await
        .expect("answered");
    assert_eq!((s.missing.len(), broke), (0, None));
    // The document decodes (pieces hold whole items only), ...
    let ids: Vec<i64> = ids_of(&doc);
    // ... holds the slot-order merge's items, each once, ...
    let (_, slot_doc, _) = stream(&fake, false).await.expect("answered");
    let mut want: Vec<i64> = ids_of(&slot_doc);
    assert_eq!(want.len(), 5001);
    // (Slot order, its pieces cut anywhere: the merged list is in id order.)
    assert!(want.windows(2).all(|w| w[0] < w[1]));
    let mut got = ids.clone();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want);
    // ... and each node's items in that node's order.
    for base in [1_000_000_000, 1_001_000_000, 1_002_000_000] {
        let own: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| (base..base + 1_000_000).contains(id))
            .collect();
        assert!(own.windows(2).all(|w| w[0] < w[1]), "slot base {base}");
    }
}

#[tokio::test]
async fn in_arrival_order_a_node_failing_mid_answer_still_cuts_the_answer_off() {
    let fake = Fake::three().cut_mid_answer("b");
    let (_, doc, broke) = stream_in(&fake, false, Order::Arrival)
        .await
        .expect("begun");
    let why = broke.expect("the body ends with an error");
    assert!(why.contains("node b failed mid-answer"), "{why}");
    let text = String::from_utf8(doc).expect("utf-8");
    assert!(!text.contains("</methodResponse>"), "{text}");
}
