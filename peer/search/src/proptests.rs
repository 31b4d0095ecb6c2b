//! The index answers exactly what the reference matcher ([`Expr::matches`]) answers over the
//! same records, in the documented order, after any sequence of inserts, updates and removals,
//! and paging with cursors returns the full list.

use std::collections::BTreeMap;

use crdt_store::{SystemRecord, SystemStatus};
use proptest::prelude::*;

use super::index::{Cursor, SearchIndex};
use super::query::{Expr, parse};

fn fingerprint() -> impl Strategy<Value = String> {
    prop_oneof![
        // Canonical (packed in the index).
        (0u8..6, 0u8..3).prop_map(|(a, b)| format!("{a:02x}:{b:02x}:ee")),
        // Anything else.
        (0u8..6).prop_map(|a| format!("RAW-{a}")),
    ]
}

fn record() -> impl Strategy<Value = SystemRecord> {
    let names = prop_oneof![
        Just("web01.acme.org"),
        Just("Web02.acme.org"),
        Just("db01.acme.org"),
        Just("db01.store1.acme.org"),
        Just("cache"),
        Just("école.fr"),
    ];
    let vocab = |v: &'static [&'static str]| proptest::sample::subsequence(v.to_vec(), 0..=2);
    (
        fingerprint(),
        names,
        any::<bool>(),
        0usize..4,
        (
            vocab(&["db", "web", "web-front", "Web"]),
            vocab(&["ubuntu-18-lts", "sles15"]),
        ),
        vocab(&["pool", "updates"]),
        (proptest::option::of(0u8..3), proptest::option::of(0u8..2)),
    )
        .prop_map(
            |(fp, name, other_host, st, (tags, groups), channels, (node, zone))| SystemRecord {
                uyuni_ids: Default::default(),
                fingerprint: fp,
                minion_id: name.to_string(),
                hostname: if other_host {
                    format!("h-{name}")
                } else {
                    name.to_string()
                },
                status: [
                    SystemStatus::New,
                    SystemStatus::Onboarded,
                    SystemStatus::Orphan,
                    SystemStatus::Deleted,
                ][st],
                banned: false,
                node: node.map(|n| format!("dc1-peer{n}")),
                previous_node: None,
                zone: zone.map(|z| format!("dc{z}")),
                tags: tags.into_iter().map(String::from).collect(),
                groups: groups.into_iter().map(String::from).collect(),
                channels: channels.into_iter().map(String::from).collect(),
                registered_at: 0,
                updated_at: 0,
            },
        )
}

fn query() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("tag:db"),
        Just("tag:web*"),
        Just("tag:Web"),
        Just("group:ubuntu-18-lts"),
        Just("group:*"),
        Just("channel:pool"),
        Just("zone:dc1"),
        Just("node:dc1-peer1"),
        Just("node:dc1-peer?"),
        Just("status:onboarded"),
        Just("status:o*"),
        Just("web*.acme.org"),
        Just("WEB*"),
        Just("db01*"),
        Just("*store*"),
        Just("h-*"),
        Just("École*"),
        Just("name:cache"),
        Just("fp:0"),
        Just("fp:RAW"),
        Just("fp:01:0?"),
    ]
    .prop_map(String::from);
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} || {b}")),
            inner.clone().prop_map(|a| format!("not ({a})")),
            inner.prop_map(|a| format!("!{a}")),
        ]
    })
}

#[derive(Debug, Clone)]
enum Op {
    Put(Box<SystemRecord>),
    Remove(String),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        prop_oneof![
            4 => record().prop_map(|r| Op::Put(Box::new(r))),
            1 => fingerprint().prop_map(Op::Remove),
        ],
        0..60,
    )
}

fn naive(model: &BTreeMap<String, SystemRecord>, e: &Expr) -> Vec<String> {
    let mut v: Vec<&SystemRecord> = model.values().filter(|r| e.matches(r)).collect();
    v.sort_by(|a, b| {
        (
            a.minion_id.to_ascii_lowercase(),
            &a.minion_id,
            &a.fingerprint,
        )
            .cmp(&(
                b.minion_id.to_ascii_lowercase(),
                &b.minion_id,
                &b.fingerprint,
            ))
    });
    v.into_iter().map(|r| r.fingerprint.clone()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn index_agrees_with_the_reference_matcher(ops in ops(), queries in proptest::collection::vec(query(), 1..6), settle in any::<bool>(), page in 1usize..5) {
        let mut ix = SearchIndex::new();
        let mut model = BTreeMap::new();
        for op in ops {
            match op {
                Op::Put(r) => {
                    ix.upsert(&r);
                    model.insert(r.fingerprint.clone(), *r);
                }
                Op::Remove(fp) => {
                    ix.remove(&fp);
                    model.remove(&fp);
                }
            }
        }
        if settle {
            ix.settle();
        }
        prop_assert_eq!(ix.len(), model.len());
        for q in queries {
            let e = parse(&q).map_err(|e| TestCaseError::fail(format!("{q}: {e}")))?;
            let want = naive(&model, &e);
            let got = ix.search(&e, None, 10_000);
            prop_assert_eq!(&got.fingerprints, &want, "query {}", q);
            prop_assert_eq!(got.total, want.len());
            prop_assert!(got.next.is_none());
            let mut all = ix.matching(&e);
            all.sort();
            let mut sorted = want.clone();
            sorted.sort();
            prop_assert_eq!(all, sorted);
            // Paging with cursors (through their opaque form) gives the same list.
            let mut paged = Vec::new();
            let mut cursor: Option<Cursor> = None;
            loop {
                let p = ix.search(&e, cursor.as_ref(), page);
                prop_assert_eq!(p.total, want.len());
                paged.extend(p.fingerprints);
                match p.next {
                    Some(c) => cursor = Some(Cursor::decode(&c.encode()).map_err(|e| TestCaseError::fail(e.to_string()))?),
                    None => break,
                }
            }
            prop_assert_eq!(paged, want);
        }
    }
}
