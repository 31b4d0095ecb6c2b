//! Cluster-unique ids. System ids collide between Uyuni servers (every server starts its
//! sequence at 1000010000), so the gateway shows each system under an id derived from its
//! node's slot (recorded in the metastore, claimed by the node's Node Controller) and its id
//! on that node, and translates back on the way in:
//!
//! `gateway id = 1 000 000 000 + slot × 1 000 000 + (local − 1 000 000 000)`
//!
//! Slot 0 keeps a server's own ids. Up to 1147 slots and a million system ids per server
//! fit in XML-RPC's 32-bit `int`. Action ids (which start at 1) are interleaved instead:
//! `local × 1024 + slot`. Both are pure arithmetic: every gateway replica, before and after
//! a restart, computes the same ids.

/// First system id of a Uyuni server (`rhn_server_id_seq` starts at 1000010000, inside).
pub const LOCAL_BASE: i64 = 1_000_000_000;
/// System ids per slot.
pub const SPAN: i64 = 1_000_000;
/// The highest slot whose ids still fit in a 32-bit int.
pub const MAX_SLOT: u32 = 1146;
/// Interleave factor of action ids.
const ACTION_SLOTS: i64 = 1024;

/// What kind of id a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// A system (server) id.
    System,
    /// A scheduled action id.
    Action,
}

/// The gateway id of `local` on the node in `slot`; `None` when it cannot be represented.
pub fn to_gateway(kind: IdKind, slot: u32, local: i64) -> Option<i64> {
    match kind {
        IdKind::System => {
            let offset = local - LOCAL_BASE;
            (slot <= MAX_SLOT && (0..SPAN).contains(&offset))
                .then(|| LOCAL_BASE + i64::from(slot) * SPAN + offset)
        }
        IdKind::Action => {
            let id = local
                .checked_mul(ACTION_SLOTS)?
                .checked_add(i64::from(slot))?;
            // The last interleave slot is the gateway's own (crate::cluster_actions).
            (i64::from(slot) < ACTION_SLOTS - 1 && local >= 0 && id <= i64::from(i32::MAX))
                .then_some(id)
        }
    }
}

/// The slot and node-local id behind a gateway id.
pub fn from_gateway(kind: IdKind, id: i64) -> Option<(u32, i64)> {
    match kind {
        IdKind::System => {
            let rel = id - LOCAL_BASE;
            if rel < 0 || id > i64::from(i32::MAX) {
                return None;
            }
            let slot = u32::try_from(rel / SPAN).ok()?;
            (slot <= MAX_SLOT).then_some((slot, LOCAL_BASE + rel % SPAN))
        }
        IdKind::Action => {
            // Uyuni numbers actions from 1: an id below 1024 is no gateway action id.
            if id < ACTION_SLOTS || id > i64::from(i32::MAX) {
                return None;
            }
            let slot = u32::try_from(id % ACTION_SLOTS).ok()?;
            Some((slot, id / ACTION_SLOTS))
        }
    }
}

/// A node-local id the gateway cannot show as one of its own: more than a slot's range past
/// the server's base (a million systems), below it, or an action past the 32-bit range. The
/// call answers with this as a fault (showing it unchanged would read as another slot's id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "Cluster gateway: node slot {slot} answered {kind} id {local}, which has no cluster-wide id \
     (system ids must lie within {SPAN} of {LOCAL_BASE}, action ids below {max_action})",
    max_action = i64::from(i32::MAX) / ACTION_SLOTS
)]
pub struct Untranslatable {
    /// The kind of id.
    pub kind: IdKind,
    /// The node's slot.
    pub slot: u32,
    /// The node's own id.
    pub local: i64,
}

impl Untranslatable {
    /// As the caller sees it: Uyuni's generic fault code with the reason.
    pub fn fault(&self) -> uyuni_api::Fault {
        uyuni_api::Fault::xmlrpc(-1, self.to_string())
    }
}

impl std::fmt::Display for IdKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IdKind::System => "system",
            IdKind::Action => "action",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn slot_zero_keeps_the_servers_own_ids() {
        assert_eq!(
            to_gateway(IdKind::System, 0, 1_000_010_000),
            Some(1_000_010_000)
        );
        assert_eq!(
            to_gateway(IdKind::System, 3, 1_000_010_000),
            Some(1_003_010_000)
        );
    }

    #[test]
    fn ids_outside_the_window_are_refused() {
        assert_eq!(to_gateway(IdKind::System, 0, 42), None);
        assert_eq!(to_gateway(IdKind::System, 0, LOCAL_BASE + SPAN), None);
        assert_eq!(to_gateway(IdKind::System, MAX_SLOT + 1, LOCAL_BASE), None);
        assert_eq!(from_gateway(IdKind::System, 5), None);
        assert_eq!(to_gateway(IdKind::Action, 0, 3_000_000), None);
        // No action is numbered 0, and nothing past XML-RPC's int is a gateway id.
        assert_eq!(from_gateway(IdKind::Action, 5), None);
        assert_eq!(from_gateway(IdKind::Action, i64::from(i32::MAX) + 1), None);
        assert_eq!(from_gateway(IdKind::System, i64::from(i32::MAX) + 1), None);
    }

    #[test]
    fn the_largest_ids_fit_in_an_xmlrpc_int() {
        let top = to_gateway(IdKind::System, MAX_SLOT, LOCAL_BASE + SPAN - 1);
        assert!(top.is_some_and(|id| id <= i64::from(i32::MAX)));
    }

    proptest! {
        #[test]
        fn system_ids_round_trip(slot in 0..=MAX_SLOT, offset in 0..SPAN) {
            let local = LOCAL_BASE + offset;
            let id = to_gateway(IdKind::System, slot, local).expect("representable");
            prop_assert!(id <= i64::from(i32::MAX));
            prop_assert_eq!(from_gateway(IdKind::System, id), Some((slot, local)));
        }

        #[test]
        fn action_ids_round_trip(slot in 0u32..1023, local in 1i64..2_000_000) {
            let id = to_gateway(IdKind::Action, slot, local).expect("representable");
            prop_assert_eq!(from_gateway(IdKind::Action, id), Some((slot, local)));
        }

        #[test]
        fn distinct_inputs_give_distinct_ids(
            a in (0..=MAX_SLOT, 0..SPAN), b in (0..=MAX_SLOT, 0..SPAN)
        ) {
            prop_assume!(a != b);
            prop_assert_ne!(
                to_gateway(IdKind::System, a.0, LOCAL_BASE + a.1),
                to_gateway(IdKind::System, b.0, LOCAL_BASE + b.1)
            );
        }
    }
}
