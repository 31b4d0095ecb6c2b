//! Where a client system goes: weighted rendezvous hashing with bounded load, and the
//! rebalancing plan after a node joins. Pure functions: no I/O, no clock.
//!
//! Every node `n` gets the score `w_n / -ln(u(n, fp))`, where `u` is a uniform number in
//! (0, 1) derived from BLAKE3 of the node name and the fingerprint; the highest score wins.
//! This gives each node a share proportional to its weight, and when a node joins or leaves
//! only the systems whose winner changes would move. The load bound caps every node at
//! `ceil(share × (1 + slack))`, so hot spots cannot form; two peers with the same view make
//! the same choice.

/// The rendezvous score of `node` for the system `fp`.
pub fn score(node: &str, fp: &str, weight: f64) -> f64 {
    let mut h = blake3::Hasher::new();
    h.update(node.as_bytes());
    h.update(&[0]);
    h.update(fp.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.finalize().as_bytes()[..8]);
    // 53 random bits, shifted off 0 and 1.
    let u = ((u64::from_le_bytes(first) >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    weight / -u.ln()
}

/// A node that can take systems.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    /// Node name.
    pub name: String,
    /// Relative capacity (> 0).
    pub weight: f64,
    /// Systems it holds now.
    pub load: u64,
}

/// The most systems each node should hold out of `total`: `ceil(share × (1 + slack))`,
/// where `share = total × weight / Σ weight`.
pub fn bounds(slots: &[Slot], total: u64, slack: f64) -> Vec<u64> {
    let sum: f64 = slots.iter().map(|s| s.weight).sum();
    slots
        .iter()
        .map(|s| {
            if sum <= 0.0 {
                return 0;
            }
            (total as f64 * s.weight / sum * (1.0 + slack)).ceil() as u64
        })
        .collect()
}

/// Places systems one after the other, keeping loads up to date.
#[derive(Debug, Clone)]
pub struct Placer {
    slots: Vec<Slot>,
    bounds: Vec<u64>,
}

impl Placer {
    /// A placer for `slots`, sized for `incoming` more systems.
    pub fn new(slots: Vec<Slot>, incoming: u64, slack: f64) -> Self {
        let total = slots.iter().map(|s| s.load).sum::<u64>() + incoming;
        let bounds = bounds(&slots, total, slack);
        Self { slots, bounds }
    }

    /// No node can take anything.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The node for `fp`: the best-scoring node below its bound (or, if every node is full,
    /// the best-scoring node relative to its share). `None` when there are no nodes.
    pub fn place(&mut self, fp: &str) -> Option<&str> {
        let mut best: Option<(usize, f64)> = None;
        for (i, s) in self.slots.iter().enumerate() {
            if s.load >= self.bounds[i] {
                continue;
            }
            let sc = score(&s.name, fp, s.weight);
            if best.is_none_or(|(_, b)| sc > b) {
                best = Some((i, sc));
            }
        }
        let i = match best {
            Some((i, _)) => i,
            // Everyone is at the bound (more systems than planned): least loaded per weight.
            None => {
                self.slots
                    .iter()
                    .enumerate()
                    .min_by(|(_, a), (_, b)| {
                        (a.load as f64 / a.weight).total_cmp(&(b.load as f64 / b.weight))
                    })?
                    .0
            }
        };
        self.slots[i].load += 1;
        Some(&self.slots[i].name)
    }

    /// Place on `node` if it is one of the slots and below its bound (a reserved target).
    pub fn place_on(&mut self, node: &str) -> bool {
        match self.slots.iter().position(|s| s.name == node) {
            Some(i) if self.slots[i].load < self.bounds[i] => {
                self.slots[i].load += 1;
                true
            }
            _ => false,
        }
    }
}

/// One step of a rebalancing plan: move `count` systems from `from` to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// Overloaded node.
    pub from: String,
    /// Underloaded node.
    pub to: String,
    /// How many.
    pub count: u64,
}

/// What must move so that no node is above its bound, at most `budget` systems. Systems
/// only leave nodes above `ceil(share × (1 + slack))` and only go to nodes below their
/// share, so a balanced zone plans nothing and a plan never undoes itself.
pub fn rebalance(slots: &[Slot], slack: f64, budget: u64) -> Vec<Transfer> {
    let total: u64 = slots.iter().map(|s| s.load).sum();
    let caps = bounds(slots, total, slack);
    let shares = bounds(slots, total, 0.0);
    let mut surplus: Vec<(usize, u64)> = slots
        .iter()
        .enumerate()
        .filter(|(i, s)| s.load > caps[*i])
        .map(|(i, s)| (i, s.load - caps[i]))
        .collect();
    let mut deficit: Vec<(usize, u64)> = slots
        .iter()
        .enumerate()
        .filter(|(i, s)| s.load < shares[*i])
        .map(|(i, s)| (i, shares[i] - s.load))
        .collect();
    // Biggest first, names breaking ties: every peer plans the same.
    surplus.sort_by(|a, b| b.1.cmp(&a.1).then(slots[a.0].name.cmp(&slots[b.0].name)));
    deficit.sort_by(|a, b| b.1.cmp(&a.1).then(slots[a.0].name.cmp(&slots[b.0].name)));
    let mut out = Vec::new();
    let mut left = budget;
    let (mut si, mut di) = (0, 0);
    while left > 0 && si < surplus.len() && di < deficit.len() {
        let n = surplus[si].1.min(deficit[di].1).min(left);
        out.push(Transfer {
            from: slots[surplus[si].0].name.clone(),
            to: slots[deficit[di].0].name.clone(),
            count: n,
        });
        surplus[si].1 -= n;
        deficit[di].1 -= n;
        left -= n;
        if surplus[si].1 == 0 {
            si += 1;
        }
        if deficit[di].1 == 0 {
            di += 1;
        }
    }
    out
}

/// The `count` fingerprints (of those on the overloaded node) that `to` scores highest:
/// the systems rendezvous hashing would give the new node anyway.
pub fn pick_movers(fps: &[String], to: &str, to_weight: f64, count: usize) -> Vec<String> {
    let mut scored: Vec<(f64, &String)> = fps
        .iter()
        .map(|fp| (score(to, fp, to_weight), fp))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(count)
        .map(|(_, fp)| fp.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(spec: &[(&str, f64, u64)]) -> Vec<Slot> {
        spec.iter()
            .map(|(n, w, l)| Slot {
                name: (*n).into(),
                weight: *w,
                load: *l,
            })
            .collect()
    }

    fn fps(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("fp-{i}")).collect()
    }

    #[test]
    fn placement_follows_capacity_within_the_bound() {
        let mut p = Placer::new(
            slots(&[("a", 1.0, 0), ("b", 1.0, 0), ("c", 2.0, 0)]),
            4000,
            0.05,
        );
        let mut count = std::collections::BTreeMap::<String, u64>::new();
        for fp in fps(4000) {
            *count
                .entry(p.place(&fp).expect("placed").to_string())
                .or_default() += 1;
        }
        assert!(count["a"] <= 1050 && count["a"] >= 900, "{count:?}");
        assert!(count["c"] <= 2100 && count["c"] >= 1800, "{count:?}");
        assert_eq!(count.values().sum::<u64>(), 4000);
    }

    #[test]
    fn placement_is_deterministic_and_removing_a_node_moves_only_its_systems() {
        let all = slots(&[("a", 1.0, 0), ("b", 1.0, 0), ("c", 1.0, 0)]);
        // Unbounded (large slack) shows the rendezvous property exactly.
        let place_all = |s: Vec<Slot>| {
            let mut p = Placer::new(s, 3000, 100.0);
            fps(3000)
                .into_iter()
                .map(|fp| p.place(&fp).expect("placed").to_string())
                .collect::<Vec<_>>()
        };
        let before = place_all(all.clone());
        assert_eq!(before, place_all(all.clone()), "same view, same answer");
        let after = place_all(all.into_iter().filter(|s| s.name != "b").collect());
        for (b, a) in before.iter().zip(&after) {
            if b != "b" {
                assert_eq!(a, b, "a system not on the removed node moved");
            }
        }
    }

    #[test]
    fn full_nodes_still_place_and_empty_zone_does_not() {
        let mut p = Placer::new(slots(&[("a", 1.0, 10), ("b", 1.0, 10)]), 0, 0.0);
        assert!(p.place("x").is_some());
        let mut none = Placer::new(Vec::new(), 1, 0.0);
        assert!(none.is_empty());
        assert_eq!(none.place("x"), None);
        let mut r = Placer::new(slots(&[("a", 1.0, 0), ("b", 1.0, 0)]), 2, 0.0);
        assert!(r.place_on("a"));
        assert!(!r.place_on("a"), "a is at its bound of 1");
        assert!(!r.place_on("zz"));
    }

    #[test]
    fn rebalance_fills_a_new_node_from_the_overloaded_ones_only() {
        let s = slots(&[
            ("a", 1.0, 1000),
            ("b", 1.0, 1000),
            ("c", 1.0, 1000),
            ("d", 1.0, 0),
        ]);
        let plan = rebalance(&s, 0.05, u64::MAX);
        let moved: u64 = plan.iter().map(|t| t.count).sum();
        // share 750, cap 788: 212 off each of a, b, c.
        assert_eq!(moved, 3 * 212);
        assert!(plan.iter().all(|t| t.to == "d" && t.from != "d"));
        // Budgeted.
        let plan = rebalance(&s, 0.05, 100);
        assert_eq!(plan.iter().map(|t| t.count).sum::<u64>(), 100);
        // Balanced within slack: nothing to do.
        let s = slots(&[("a", 1.0, 1030), ("b", 1.0, 1000), ("c", 1.0, 970)]);
        assert!(rebalance(&s, 0.05, u64::MAX).is_empty());
        // After applying a plan, the plan is empty: no flapping.
        let s = slots(&[
            ("a", 1.0, 788),
            ("b", 1.0, 788),
            ("c", 1.0, 788),
            ("d", 1.0, 636),
        ]);
        assert!(rebalance(&s, 0.05, u64::MAX).is_empty());
    }

    #[test]
    fn movers_are_the_ones_the_target_scores_highest() {
        let list = fps(100);
        let m = pick_movers(&list, "d", 1.0, 10);
        assert_eq!(m.len(), 10);
        let min_moved = m
            .iter()
            .map(|f| score("d", f, 1.0))
            .fold(f64::INFINITY, f64::min);
        let kept_max = list
            .iter()
            .filter(|f| !m.contains(f))
            .map(|f| score("d", f, 1.0))
            .fold(0.0, f64::max);
        assert!(min_moved >= kept_max);
        assert_eq!(m, pick_movers(&list, "d", 1.0, 10));
    }
}
