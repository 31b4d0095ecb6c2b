//! Records about replicated content (issue 6): package repositories, their subscriptions, what
//! each node holds, and Content Lifecycle (CLM) documents. The content itself is never in the
//! metastore: a record names a BLAKE3 hash, and the bytes travel as verified iroh blobs.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// A package tree imported into a zone, stored under `r/<zone>/<name>`. `manifest` is the
/// hash of a JSON document listing every file (`path → hash, size`): the index is a blob of
/// its own, so that a catalogue of 100k packages does not become 100k CRDT entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoRecord {
    /// Zone that owns the content.
    pub zone: String,
    /// Repository name (`[A-Za-z0-9._-]+`), the first path segment of its URL.
    pub name: String,
    /// Hex BLAKE3 hash of the manifest blob; empty when `deleted`.
    pub manifest: String,
    /// Number of files the manifest lists.
    pub files: u64,
    /// Sum of their sizes, bytes.
    pub bytes: u64,
    /// Increases with every import of the same name.
    pub version: u64,
    /// Removed: every node drops it and garbage-collects what nothing else references.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// Node that imported this version.
    pub imported_by: String,
    /// Unix milliseconds of the import (the later write wins a conflict).
    pub updated_at: u64,
}

/// Zone `subscriber` receives repository `zone/name` of another zone, stored under
/// `u/<subscriber>/<zone>/<name>` (a key per subscription, so that subscribing never races an
/// import of the repository).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRecord {
    /// The zone that receives the content.
    pub subscriber: String,
    /// The zone that owns it.
    pub zone: String,
    /// The repository.
    pub name: String,
    /// Unsubscribed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// Unix milliseconds.
    pub updated_at: u64,
}

/// What one node's content store holds and where to fetch from it, stored under `h/<node>` and
/// written by that node only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldingsRecord {
    /// Node name.
    pub node: String,
    /// Its zone.
    pub zone: String,
    /// The node's iroh endpoint id (hex ed25519 public key: the same key as its libp2p id).
    pub endpoint: String,
    /// UDP addresses of its blob endpoint (`ip:port`).
    #[serde(default)]
    pub addrs: Vec<String>,
    /// Repositories held completely: `<zone>/<name>` → manifest hash.
    #[serde(default)]
    pub repos: BTreeMap<String, String>,
    /// CLM projects imported into the node's Uyuni server: `<zone>/<project>` → version id.
    #[serde(default)]
    pub clm: BTreeMap<String, String>,
    /// Unix milliseconds.
    pub updated_at: u64,
}

/// One saved version of a CLM project, stored under `d/<zone>/<project>/<id>` with
/// `id = <version:010>.<node>` (two nodes saving at once both keep their version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClmVersionRecord {
    /// Zone.
    pub zone: String,
    /// Project label.
    pub project: String,
    /// Version number (the highest known plus one at the time of the save).
    pub version: u64,
    /// Node whose Uyuni server the project was exported from.
    pub saved_by: String,
    /// Hex BLAKE3 hash of the JSON document.
    pub hash: String,
    /// Document size, bytes.
    pub size: u64,
    /// Unix milliseconds.
    pub saved_at: u64,
}

impl ClmVersionRecord {
    /// `<version:010>.<node>`: sorts by version, unique per saving node.
    pub fn id(&self) -> String {
        format!("{:010}.{}", self.version, self.saved_by)
    }
}

/// The version of a CLM project every node of the zone must import, stored under
/// `a/<zone>/<project>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClmApplyRecord {
    /// Zone.
    pub zone: String,
    /// Project label.
    pub project: String,
    /// The version id ([`ClmVersionRecord::id`]).
    pub version_id: String,
    /// Its document hash.
    pub hash: String,
    /// Who applied it.
    pub applied_by: String,
    /// Unix milliseconds (the later apply wins a conflict).
    pub applied_at: u64,
}

/// A name usable as a repository name or CLM project label inside keys and URLs.
pub fn valid_content_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Key of a repository record.
pub fn repo_key(zone: &str, name: &str) -> String {
    format!("r/{zone}/{name}")
}

/// Key of a subscription record.
pub fn subscription_key(subscriber: &str, zone: &str, name: &str) -> String {
    format!("u/{subscriber}/{zone}/{name}")
}

/// Key of a node's holdings record.
pub fn holdings_key(node: &str) -> String {
    format!("h/{node}")
}

/// Key of a CLM version record.
pub fn clm_version_key(zone: &str, project: &str, id: &str) -> String {
    format!("d/{zone}/{project}/{id}")
}

/// Key of a CLM apply record.
pub fn clm_apply_key(zone: &str, project: &str) -> String {
    format!("a/{zone}/{project}")
}

/// `<zone>/<name>`: a repository's key in holdings, tags and URLs.
pub fn repo_id(zone: &str, name: &str) -> String {
    format!("{zone}/{name}")
}

/// Zones that receive each repository: its own and its subscribers'.
pub fn audiences(
    repos: &[RepoRecord],
    subs: &[SubscriptionRecord],
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in repos.iter().filter(|r| !r.deleted) {
        out.entry(repo_id(&r.zone, &r.name))
            .or_default()
            .insert(r.zone.clone());
    }
    for s in subs.iter().filter(|s| !s.deleted) {
        if let Some(zones) = out.get_mut(&repo_id(&s.zone, &s.name)) {
            zones.insert(s.subscriber.clone());
        }
    }
    out
}

/// The repositories a node of `zone` holds: its zone's and those its zone subscribes to.
pub fn wanted<'a>(
    zone: &str,
    repos: &'a [RepoRecord],
    subs: &[SubscriptionRecord],
) -> Vec<&'a RepoRecord> {
    let aud = audiences(repos, subs);
    repos
        .iter()
        .filter(|r| !r.deleted)
        .filter(|r| {
            aud.get(&repo_id(&r.zone, &r.name))
                .is_some_and(|z| z.contains(zone))
        })
        .collect()
}

/// [`content_missing`] for `node` of `zone`, from the records in `store`.
pub fn content_missing_in(store: &crate::Store, zone: &str, node: &str) -> Vec<String> {
    use crate::{Record, RecordKind};
    let (mut repos, mut subs, mut held) = (Vec::new(), Vec::new(), None);
    for r in store.records(RecordKind::Repo) {
        if let Record::Repo(r) = r {
            repos.push(r);
        }
    }
    for r in store.records(RecordKind::Subscription) {
        if let Record::Subscription(u) = r {
            subs.push(u);
        }
    }
    if let Ok(Some(Record::Holdings(h))) = store.get(&holdings_key(node)) {
        held = Some(h);
    }
    content_missing(zone, &repos, &subs, held.as_ref())
}

/// The repositories a node of `zone` should hold but does not hold completely (at the
/// current manifest) according to its holdings record `held` (`None`: it published none yet),
/// as `<zone>/<name>`. Empty: the node's content is complete.
pub fn content_missing(
    zone: &str,
    repos: &[RepoRecord],
    subs: &[SubscriptionRecord],
    held: Option<&HoldingsRecord>,
) -> Vec<String> {
    wanted(zone, repos, subs)
        .into_iter()
        .filter(|r| held.and_then(|h| h.repos.get(&repo_id(&r.zone, &r.name))) != Some(&r.manifest))
        .map(|r| repo_id(&r.zone, &r.name))
        .collect()
}
