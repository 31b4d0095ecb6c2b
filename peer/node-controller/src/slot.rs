//! The node's slot in the API gateway's cluster-wide ids. Every node with a Uyuni server
//! claims the lowest slot no other node holds; when two nodes claimed the same slot (at once,
//! or on both sides of a partition), the one that joined first keeps it (then the lower name)
//! and the other claims again. Pure: the Node Controller writes what [`wanted`] says.

use crdt_store::NodeRecord;

/// The highest slot: gateway system ids are `1e9 + slot × 1e6 + (local − 1e9)`, which must fit
/// in XML-RPC's 32-bit `int`.
pub use gateway::ids::MAX_SLOT;

/// Whether a node takes part in the gateway's ids: a server (not a gateway member) with a
/// Uyuni API. The gateway's view of the nodes uses the same rule.
pub fn holds_slots(n: &NodeRecord) -> bool {
    (n.role == "server" || n.role.is_empty()) && n.uyuni_api.is_some()
}

/// The slot node `me` should write, or `None` when its current one stands (or no slot is
/// free).
pub fn wanted(me: &str, nodes: &[NodeRecord]) -> Option<u32> {
    let mine = nodes.iter().find(|n| n.name == me)?;
    let rank = |n: &NodeRecord| (n.joined_at, n.name.clone());
    let others = nodes.iter().filter(|n| n.name != me && holds_slots(n));
    if let Some(s) = mine.slot {
        let beaten = others
            .clone()
            .any(|n| n.slot == Some(s) && rank(n) < rank(mine));
        if !beaten {
            return None;
        }
    }
    let taken: std::collections::BTreeSet<u32> = others.filter_map(|n| n.slot).collect();
    (0..=MAX_SLOT).find(|s| !taken.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, joined_at: u64, slot: Option<u32>) -> NodeRecord {
        serde_json::from_value(serde_json::json!({
            "name": name, "zone": "z", "peer_id": name, "joined_at": joined_at,
            "slot": slot, "uyuni_api": format!("http://{name}/rpc/api"),
        }))
        .expect("node record")
    }

    #[test]
    fn a_new_node_takes_the_lowest_free_slot() {
        let nodes = [
            node("a", 1, Some(0)),
            node("b", 2, Some(2)),
            node("c", 3, None),
        ];
        assert_eq!(wanted("c", &nodes), Some(1));
        assert_eq!(wanted("a", &nodes), None);
    }

    #[test]
    fn a_shared_slot_stays_with_the_node_that_joined_first() {
        let nodes = [node("b", 1, Some(0)), node("a", 2, Some(0))];
        assert_eq!(wanted("b", &nodes), None);
        assert_eq!(wanted("a", &nodes), Some(1));
        // Same join time: the lower name keeps it.
        let nodes = [node("b", 1, Some(0)), node("a", 1, Some(0))];
        assert_eq!(wanted("a", &nodes), None);
        assert_eq!(wanted("b", &nodes), Some(1));
    }

    #[test]
    fn peers_without_a_uyuni_server_do_not_hold_slots() {
        let mut gw = node("gw", 0, Some(0));
        gw.uyuni_api = None;
        let nodes = [gw, node("a", 1, None)];
        assert_eq!(wanted("a", &nodes), Some(0));
    }

    #[test]
    fn an_unknown_node_claims_nothing() {
        assert_eq!(wanted("x", &[node("a", 1, Some(0))]), None);
    }
}
