//! Translating ids between the nodes' own and the gateway's cluster-wide ones, inside any
//! value (structs and arrays at any depth). Pure.

use std::collections::BTreeMap;

use uyuni_api::Value;

use crate::ids::{IdKind, from_gateway, to_gateway};

fn int_of(v: &Value) -> Option<i64> {
    uyuni_api::value::as_i64(v)
}

/// Rewrite the id fields `fields` of a node's answer to gateway ids (`slot`: the node's).
/// An id that cannot be represented is left as the node gave it (and logged).
pub fn ids_out(v: Value, slot: u32, fields: &[(&str, IdKind)]) -> Value {
    if fields.is_empty() {
        return v;
    }
    match v {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|i| ids_out(i, slot, fields))
                .collect(),
        ),
        Value::Struct(map) => {
            let all = fields.iter().find(|(f, _)| *f == "*").map(|(_, k)| *k);
            Value::Struct(
                map.into_iter()
                    .map(|(name, value)| {
                        let kind = all
                            .or_else(|| fields.iter().find(|(f, _)| *f == name).map(|(_, k)| *k));
                        let value = match (kind, int_of(&value)) {
                            (Some(kind), Some(local)) => match to_gateway(kind, slot, local) {
                                Some(id) => uyuni_api::value::int(id),
                                None => {
                                    tracing::warn!(
                                        local,
                                        slot,
                                        "id outside the gateway's range; shown unchanged"
                                    );
                                    value
                                }
                            },
                            _ => ids_out(value, slot, fields),
                        };
                        (name, value)
                    })
                    .collect::<BTreeMap<_, _>>(),
            )
        }
        other => other,
    }
}

/// The slot and node-local id of a gateway id given as a parameter.
pub fn id_in(kind: IdKind, v: &Value) -> Option<(u32, i64)> {
    from_gateway(kind, int_of(v)?)
}

/// Split an array of gateway system ids by node slot, preserving order within each slot.
/// `None` when an element is not an id the gateway could have given.
pub fn split_systems(v: &Value) -> Option<BTreeMap<u32, Vec<Value>>> {
    let Value::Array(items) = v else {
        return None;
    };
    let mut out: BTreeMap<u32, Vec<Value>> = BTreeMap::new();
    for item in items {
        let (slot, local) = id_in(IdKind::System, item)?;
        out.entry(slot)
            .or_default()
            .push(uyuni_api::value::int(local));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uyuni_api::value::{StructBuilder, int, string};

    #[test]
    fn ids_are_rewritten_at_any_depth_and_nothing_else() {
        let node = Value::Array(vec![
            StructBuilder::new()
                .field("id", int(1_000_010_000))
                .field("name", string("a"))
                .field(
                    "nested",
                    Value::Array(vec![
                        StructBuilder::new().field("id", int(1_000_010_001)).build(),
                    ]),
                )
                .build(),
        ]);
        let out = uyuni_api::json::to_json(&ids_out(node, 2, &[("id", IdKind::System)]));
        assert_eq!(out[0]["id"], 1_002_010_000);
        assert_eq!(out[0]["name"], "a");
        assert_eq!(out[0]["nested"][0]["id"], 1_002_010_001);
    }

    #[test]
    fn star_rewrites_every_value_of_a_struct() {
        let map = StructBuilder::new()
            .field("minion1", int(1_000_010_000))
            .build();
        let out = uyuni_api::json::to_json(&ids_out(map, 1, &[("*", IdKind::System)]));
        assert_eq!(out["minion1"], 1_001_010_000);
    }

    #[test]
    fn arrays_of_ids_split_by_node() {
        let ids = Value::Array(vec![
            int(1_000_010_000),
            int(1_001_010_005),
            int(1_000_010_001),
        ]);
        let split = split_systems(&ids).expect("ids");
        assert_eq!(split.len(), 2);
        assert_eq!(split[&0].len(), 2);
        assert_eq!(split[&1], vec![int(1_000_010_005)]);
        assert!(split_systems(&Value::Array(vec![string("x")])).is_none());
    }
}
