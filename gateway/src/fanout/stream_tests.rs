//! The streamed merged list over fake nodes (pieces of 5 bytes each).

use std::sync::atomic::AtomicUsize;

use futures::StreamExt as _;
use serde_json::Value as Json;
use uyuni_api::Fault;
use uyuni_api::json::to_json;

use super::Fanout;
use super::fake::{Fake, cred};
use super::stream::{Format, Streamed};
use crate::pool::Answer;
use crate::rawstream::{MERGED_HEAD, MERGED_TAIL};

/// The merged list streamed: its pieces joined, or where it broke off.
async fn stream(fake: &Fake, strict: bool) -> Result<(Streamed, Vec<u8>, Option<String>), Fault> {
    let turn = AtomicUsize::new(0);
    let fanout = Fanout::new(fake, &turn);
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
    let ids: Vec<i64> = decoded(&doc)
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["id"].as_i64())
        .collect();
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
async fn a_faulting_node_is_left_out_when_others_answered() {
    // The policy of the buffered merge, kept (the seam: `stream::decide`).
    let fake = Fake::three().script(
        "b",
        "system.listSystems",
        Answer::Fault(Fault::new(-1, "boom")),
    );
    let (s, doc, broke) = stream(&fake, false).await.expect("answered");
    assert_eq!(broke, None);
    assert!(s.missing.is_empty());
    assert_eq!(decoded(&doc).as_array().map(Vec::len), Some(3));
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
