//! Which files to fetch next, and from whom: rarest first over the providers' holdings maps.
//! A pure function (no I/O, no clock), driven by [`crate::swarm`].
//!
//! - Only files this node lacks and is not fetching already are candidates.
//! - **Rarest first**: candidates are taken by the number of providers holding them (fewest
//!   first), ties broken by a per-node key (a hash of node and file), so nodes starting
//!   together fetch different files and soon have something to give each other.
//! - **Only holders are asked**: a file goes to a provider whose map lists it, the least
//!   loaded one (fewest fetches of ours running there), at most `per_provider` at once per
//!   provider, skipping providers that are cooling down after a refusal or failure. A file no
//!   available holder has waits for the next plan.
//! - **Seeds last**: a provider that held the whole version from the start (the origin, or
//!   a node complete before this fetch) is asked for a file only when no healthy other
//!   provider lists it, so the origin's link serves first copies and the fetchers serve one
//!   another (with super-seeding, [`crate::seed`], the origin lists only files it still hands
//!   out). Among holders the non-seeds come first, then the least loaded.
//! - **Several providers per large blob**: a file of `split_threshold` bytes or more goes to
//!   up to `max_split` holders at once (byte ranges of it from each).

use crate::have::Bitmap;

/// A file of the repository version, as the planner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanFile {
    /// Its size in bytes.
    pub size: u64,
    /// The per-node tie-break key ([`tie_key`] of node and file hash).
    pub key: u64,
}

/// A provider as the planner sees it.
#[derive(Debug, Clone, Copy)]
pub struct PlanProvider<'a> {
    /// The files it holds (its last answered map); `None`: not known, taken as none.
    pub holds: Option<&'a Bitmap>,
    /// Fetches of ours running there.
    pub load: usize,
    /// False while it cools down after a refusal or failure.
    pub available: bool,
    /// The per-node tie-break key among providers of equal load.
    pub key: u64,
    /// A seed (held the whole version before this fetch): asked only for files no healthy
    /// non-seed lists.
    pub seed: bool,
    /// Not failing repeatedly: a healthy non-seed holder keeps a file away from the seeds
    /// even while it is busy for a moment.
    pub healthy: bool,
}

/// Limits of one plan.
#[derive(Debug, Clone, Copy)]
pub struct PlanLimits {
    /// Fetches that may start now (free slots).
    pub slots: usize,
    /// Fetches of ours at once per provider.
    pub per_provider: usize,
    /// Files of at least this size are fetched from several providers at once.
    pub split_threshold: u64,
    /// At most this many providers per file.
    pub max_split: usize,
}

/// One fetch to start: a file (its position in the manifest) and its providers (positions in
/// the provider list; several: byte ranges from each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The file's position.
    pub file: usize,
    /// The providers' positions, the first the least loaded.
    pub providers: Vec<usize>,
}

/// A stable 64-bit key of `me` and `item` (the per-node order of files and providers).
pub fn tie_key(me: &str, item: &[u8]) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(me.as_bytes());
    h.update(b"\0");
    h.update(item);
    let b = h.finalize();
    let mut k = [0u8; 8];
    k.copy_from_slice(&b.as_bytes()[..8]);
    u64::from_le_bytes(k)
}

/// Number of providers holding each file.
pub fn holder_counts(files: usize, providers: &[PlanProvider<'_>]) -> Vec<usize> {
    let mut out = vec![0; files];
    for p in providers {
        if let Some(h) = p.holds {
            for (i, n) in out.iter_mut().enumerate() {
                if h.get(i) {
                    *n += 1;
                }
            }
        }
    }
    out
}

/// The next fetches to start (see the module documentation). `local`: files held here;
/// `in_flight`: files being fetched.
pub fn next_fetches(
    files: &[PlanFile],
    local: &Bitmap,
    in_flight: &std::collections::BTreeSet<usize>,
    providers: &[PlanProvider<'_>],
    limits: PlanLimits,
) -> Vec<Planned> {
    let mut out = Vec::new();
    if limits.slots == 0 || providers.is_empty() {
        return out;
    }
    let holders = holder_counts(files.len(), providers);
    let mut candidates: Vec<usize> = (0..files.len())
        .filter(|&i| !local.get(i) && !in_flight.contains(&i) && holders[i] > 0)
        .collect();
    candidates.sort_by_key(|&i| (holders[i], files[i].key, i));
    let mut load: Vec<usize> = providers.iter().map(|p| p.load).collect();
    let per_provider = limits.per_provider.max(1);
    for i in candidates {
        if out.len() >= limits.slots {
            break;
        }
        let holds = |k: usize| providers[k].holds.is_some_and(|h| h.get(i));
        let peer_holds =
            (0..providers.len()).any(|k| !providers[k].seed && providers[k].healthy && holds(k));
        let mut free: Vec<usize> = (0..providers.len())
            .filter(|&k| {
                providers[k].available
                    && load[k] < per_provider
                    && holds(k)
                    && !(peer_holds && providers[k].seed)
            })
            .collect();
        if free.is_empty() {
            continue;
        }
        free.sort_by_key(|&k| (providers[k].seed, load[k], providers[k].key, k));
        let n = if files[i].size >= limits.split_threshold {
            limits.max_split.max(1)
        } else {
            1
        };
        free.truncate(n);
        for &k in &free {
            load[k] += 1;
        }
        out.push(Planned {
            file: i,
            providers: free,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn files(n: usize, me: &str) -> Vec<PlanFile> {
        (0..n)
            .map(|i| PlanFile {
                size: 1000,
                key: tie_key(me, format!("f{i}").as_bytes()),
            })
            .collect()
    }

    fn bits(n: usize, set: &[usize]) -> Bitmap {
        let mut b = Bitmap::new(n);
        for &i in set {
            b.set(i);
        }
        b
    }

    fn prov(holds: Option<&Bitmap>, load: usize, key: u64) -> PlanProvider<'_> {
        PlanProvider {
            holds,
            load,
            available: true,
            key,
            seed: false,
            healthy: true,
        }
    }

    #[test]
    fn seeds_are_asked_only_for_files_no_healthy_peer_lists() {
        let f = files(3, "me");
        let all = Bitmap::full(3);
        let one = bits(3, &[1]);
        let mut origin = prov(Some(&all), 0, 1);
        origin.seed = true;
        let mut peer = prov(Some(&one), 1, 2);
        let lim = PlanLimits {
            per_provider: 4,
            ..LIMITS
        };
        let plan = next_fetches(&f, &Bitmap::new(3), &BTreeSet::new(), &[origin, peer], lim);
        assert_eq!(plan.len(), 3);
        for pl in &plan {
            let want = if pl.file == 1 { 1 } else { 0 };
            assert_eq!(pl.providers, [want], "{pl:?}: the peer, though more loaded");
        }
        // The peer busy for a moment: file 1 waits rather than go to the origin.
        peer.available = false;
        let plan = next_fetches(&f, &Bitmap::new(3), &BTreeSet::new(), &[origin, peer], lim);
        assert!(plan.iter().all(|pl| pl.file != 1), "{plan:?}");
        // Failing repeatedly: the origin serves it after all.
        peer.healthy = false;
        let plan = next_fetches(&f, &Bitmap::new(3), &BTreeSet::new(), &[origin, peer], lim);
        assert!(
            plan.iter().any(|pl| pl.file == 1 && pl.providers == [0]),
            "{plan:?}"
        );
    }

    const LIMITS: PlanLimits = PlanLimits {
        slots: 8,
        per_provider: 2,
        split_threshold: u64::MAX,
        max_split: 4,
    };

    #[test]
    fn rarest_files_first_and_only_from_holders() {
        let f = files(4, "me");
        let all = Bitmap::full(4);
        let some = bits(4, &[0, 1, 2]);
        let few = bits(4, &[0]);
        let none = Bitmap::new(4);
        // Holders: file 0 ×3, 1 and 2 ×2, 3 ×1 (only the complete provider).
        let p = [
            prov(Some(&all), 0, 1),
            prov(Some(&some), 0, 2),
            prov(Some(&few), 0, 3),
        ];
        let plan = next_fetches(&f, &none, &BTreeSet::new(), &p, LIMITS);
        assert_eq!(plan[0].file, 3, "the file one provider holds comes first");
        assert_eq!(plan[0].providers, [0]);
        assert_eq!(plan.last().map(|p| p.file), Some(0), "the commonest last");
        for pl in &plan {
            for &k in &pl.providers {
                assert!(p[k].holds.is_some_and(|h| h.get(pl.file)), "{pl:?}");
            }
        }
        // At most 2 per provider: 4 files over 3 providers, all planned.
        assert_eq!(plan.len(), 4);
        let mut per = [0; 3];
        for pl in &plan {
            per[pl.providers[0]] += 1;
        }
        assert!(per.iter().all(|&n| n <= 2), "{per:?}");
    }

    #[test]
    fn held_in_flight_unknown_and_cooling_providers_are_skipped() {
        let f = files(3, "me");
        let all = Bitmap::full(3);
        let local = bits(3, &[0]);
        let in_flight: BTreeSet<usize> = [1].into();
        let mut cooling = prov(Some(&all), 0, 1);
        cooling.available = false;
        let p = [cooling, prov(None, 0, 2)];
        assert!(next_fetches(&f, &local, &in_flight, &p, LIMITS).is_empty());
        let p = [cooling, prov(Some(&all), 0, 2)];
        assert_eq!(
            next_fetches(&f, &local, &in_flight, &p, LIMITS),
            [Planned {
                file: 2,
                providers: vec![1]
            }]
        );
        let busy = [prov(Some(&all), 2, 1)];
        assert!(next_fetches(&f, &local, &BTreeSet::new(), &busy, LIMITS).is_empty());
        let zero = PlanLimits { slots: 0, ..LIMITS };
        assert!(next_fetches(&f, &Bitmap::new(3), &BTreeSet::new(), &p, zero).is_empty());
    }

    #[test]
    fn nodes_order_ties_differently_and_stably() {
        let all = Bitmap::full(50);
        let p = [prov(Some(&all), 0, 1)];
        let lim = PlanLimits {
            slots: 1,
            per_provider: 1,
            ..LIMITS
        };
        let first = |me: &str| {
            next_fetches(&files(50, me), &Bitmap::new(50), &BTreeSet::new(), &p, lim)[0].file
        };
        assert_eq!(first("n1"), first("n1"));
        let distinct: BTreeSet<usize> = (0..8).map(|k| first(&format!("n{k}"))).collect();
        assert!(distinct.len() >= 5, "{distinct:?}");
    }

    #[test]
    fn large_files_go_to_several_least_loaded_holders() {
        let mut f = files(2, "me");
        f[0].size = 64 << 20;
        let all = Bitmap::full(2);
        let p = [
            prov(Some(&all), 1, 1),
            prov(Some(&all), 0, 2),
            prov(Some(&all), 0, 3),
            prov(Some(&all), 0, 4),
        ];
        let lim = PlanLimits {
            split_threshold: 16 << 20,
            max_split: 3,
            per_provider: 2,
            slots: 2,
        };
        let lim1 = PlanLimits { slots: 1, ..lim };
        // Only the large file lacking: it goes to the three least loaded holders.
        let mut local = Bitmap::new(2);
        local.set(1);
        let plan = next_fetches(&f, &local, &BTreeSet::new(), &p, lim1);
        assert_eq!(
            plan,
            [Planned {
                file: 0,
                providers: vec![1, 2, 3]
            }],
            "the loaded provider is left out"
        );
        // Both lacking: the small file goes to one provider only.
        let plan = next_fetches(&f, &Bitmap::new(2), &BTreeSet::new(), &p, lim);
        assert_eq!(plan.len(), 2);
        for pl in &plan {
            assert_eq!(
                pl.providers.len(),
                if pl.file == 0 { 3 } else { 1 },
                "{pl:?}"
            );
        }
    }
}
