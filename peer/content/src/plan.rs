//! What a node's content store should hold, whom to ask and in which order: pure functions of
//! the metastore's records and the providers' holdings maps, no I/O.

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

/// Which files to fetch next and from whom: rarest first over the providers' holdings maps,
/// only from holders, several providers per large file. The planning function lives beside
/// the fetcher that drives it (`content_sync::plan`, used by `content_sync::swarm`, which the
/// 100-store bench drives without a peer); re-exported here with the rest of the plan.
pub use content_sync::plan::{PlanFile, PlanLimits, PlanProvider, Planned, next_fetches, tie_key};

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
}
