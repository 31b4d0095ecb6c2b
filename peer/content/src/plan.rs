//! What a node's content store should hold, and whom to ask: pure functions of the metastore's
//! records, no I/O.

use std::collections::BTreeSet;

use crdt_store::HoldingsRecord;

pub use crdt_store::repo_id;

pub use crdt_store::{audiences, wanted};

/// Whom a node of `my_zone` asks for repository `repo` (at `manifest`): other nodes of the
/// repository's zone or of `my_zone` that are not known to be down, those holding it
/// completely first (by name), then the rest (a node still fetching may already hold the
/// file asked for).
pub fn providers<'a>(
    me: &str,
    my_zone: &str,
    repo_zone: &str,
    repo: &str,
    manifest: &str,
    holdings: &'a [HoldingsRecord],
    down: &BTreeSet<String>,
) -> Vec<&'a HoldingsRecord> {
    let mut out: Vec<&HoldingsRecord> = holdings
        .iter()
        .filter(|h| h.node != me && !down.contains(&h.node))
        .filter(|h| h.zone == repo_zone || h.zone == my_zone)
        .collect();
    out.sort_by_key(|h| {
        let complete = h.repos.get(repo).is_some_and(|m| m == manifest);
        (!complete, h.node.clone())
    });
    out
}

/// The order this node fetches files in: a permutation of its own (a stable hash of node
/// and file), so that nodes fetching the same repository at once hold different files
/// early and can serve each other (swarming), not all queue on the same file.
pub fn fetch_order<T>(me: &str, items: &mut [T], hash_of: impl Fn(&T) -> &str) {
    items.sort_by_cached_key(|it| {
        let mut h = blake3::Hasher::new();
        h.update(me.as_bytes());
        h.update(b"\0");
        h.update(hash_of(it).as_bytes());
        *h.finalize().as_bytes()
    });
}

/// Providers for the `i`-th file: the list rotated by `i`, so parallel fetches spread over
/// every provider instead of all starting with the first.
pub fn rotated<T: Clone>(providers: &[T], i: usize) -> Vec<T> {
    if providers.is_empty() {
        return Vec::new();
    }
    let k = i % providers.len();
    providers[k..]
        .iter()
        .chain(&providers[..k])
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crdt_store::{RepoRecord, SubscriptionRecord};

    fn repo(zone: &str, name: &str) -> RepoRecord {
        RepoRecord {
            zone: zone.into(),
            name: name.into(),
            manifest: "m".into(),
            files: 1,
            bytes: 1,
            version: 1,
            deleted: false,
            imported_by: "n".into(),
            updated_at: 1,
        }
    }

    fn sub(subscriber: &str, zone: &str, name: &str, deleted: bool) -> SubscriptionRecord {
        SubscriptionRecord {
            subscriber: subscriber.into(),
            zone: zone.into(),
            name: name.into(),
            deleted,
            updated_at: 1,
        }
    }

    fn holding(node: &str, zone: &str, complete: bool) -> HoldingsRecord {
        HoldingsRecord {
            node: node.into(),
            zone: zone.into(),
            endpoint: String::new(),
            addrs: vec![],
            repos: if complete {
                [("dc1/sles".to_string(), "m".to_string())].into()
            } else {
                Default::default()
            },
            clm: Default::default(),
            updated_at: 1,
        }
    }

    #[test]
    fn a_zone_gets_its_own_and_subscribed_repositories_only() {
        let mut gone = repo("dc1", "old");
        gone.deleted = true;
        let repos = vec![
            repo("dc1", "sles"),
            repo("dc1", "rhel"),
            gone,
            repo("dc2", "x"),
        ];
        let subs = vec![
            sub("store7", "dc1", "sles", false),
            sub("store8", "dc1", "sles", true),
            sub("store9", "dc1", "missing", false),
        ];
        let names = |z: &str| {
            wanted(z, &repos, &subs)
                .iter()
                .map(|r| repo_id(&r.zone, &r.name))
                .collect::<Vec<_>>()
        };
        assert_eq!(names("dc1"), ["dc1/sles", "dc1/rhel"]);
        assert_eq!(names("dc2"), ["dc2/x"]);
        assert_eq!(names("store7"), ["dc1/sles"]);
        assert!(names("store8").is_empty(), "unsubscribed");
        assert!(names("store9").is_empty());
        let aud = audiences(&repos, &subs);
        assert_eq!(
            aud["dc1/sles"]
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["dc1", "store7"]
        );
    }

    #[test]
    fn complete_holders_first_down_and_foreign_zones_left_out() {
        let h = vec![
            holding("b", "dc1", false),
            holding("me", "dc1", true),
            holding("c", "dc1", true),
            holding("d", "dc1", true),
            holding("x", "dc9", true),
            holding("s2", "store7", false),
        ];
        let down: BTreeSet<String> = ["d".to_string()].into();
        let names = |my_zone: &str| {
            providers("me", my_zone, "dc1", "dc1/sles", "m", &h, &down)
                .iter()
                .map(|h| h.node.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(names("dc1"), ["c", "b"]);
        assert_eq!(names("store7"), ["c", "b", "s2"]);
    }

    #[test]
    fn orders_differ_per_node_and_rotation_covers_all() {
        let files: Vec<String> = (0..50).map(|i| format!("h{i}")).collect();
        let (mut a, mut b) = (files.clone(), files.clone());
        fetch_order("n1", &mut a, |s| s);
        fetch_order("n2", &mut b, |s| s);
        assert_ne!(a, b);
        let mut again = files.clone();
        fetch_order("n1", &mut again, |s| s);
        assert_eq!(a, again, "stable");
        assert_eq!(rotated(&[1, 2, 3], 4), [2, 3, 1]);
        assert!(rotated::<u8>(&[], 3).is_empty());
    }
}
