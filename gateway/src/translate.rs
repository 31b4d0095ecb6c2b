//! Translating ids between the nodes' own and the gateway's cluster-wide ones, inside any
//! value (structs and arrays at any depth). Pure.

use std::collections::BTreeMap;

use uyuni_api::Value;

use crate::ids::{IdKind, Untranslatable, from_gateway, to_gateway};

fn int_of(v: &Value) -> Option<i64> {
    uyuni_api::value::as_i64(v)
}

/// Rewrite the id fields `fields` of a node's answer to gateway ids (`slot`: the node's).
/// An id that cannot be represented makes the whole answer an error (shown unchanged it
/// would read as another slot's id).
pub fn ids_out(v: Value, slot: u32, fields: &[(&str, IdKind)]) -> Result<Value, Untranslatable> {
    if fields.is_empty() {
        return Ok(v);
    }
    // `""`: the answer itself is an id (an action scheduled).
    if let Some(kind) = fields.iter().find(|(f, _)| f.is_empty()).map(|(_, k)| *k)
        && let Some(local) = int_of(&v)
    {
        return one_out(kind, slot, local);
    }
    Ok(match v {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|i| ids_out(i, slot, fields))
                .collect::<Result<_, _>>()?,
        ),
        Value::Struct(map) => {
            let all = fields.iter().find(|(f, _)| *f == "*").map(|(_, k)| *k);
            Value::Struct(
                map.into_iter()
                    .map(|(name, value)| {
                        let kind = all
                            .or_else(|| fields.iter().find(|(f, _)| *f == name).map(|(_, k)| *k));
                        let value = match (kind, int_of(&value)) {
                            (Some(kind), Some(local)) => one_out(kind, slot, local)?,
                            _ => ids_out(value, slot, fields)?,
                        };
                        Ok((name, value))
                    })
                    .collect::<Result<BTreeMap<_, _>, Untranslatable>>()?,
            )
        }
        other => other,
    })
}

fn one_out(kind: IdKind, slot: u32, local: i64) -> Result<Value, Untranslatable> {
    to_gateway(kind, slot, local)
        .map(uyuni_api::value::int)
        .ok_or_else(|| {
            tracing::warn!(local, slot, %kind, "id outside the gateway's range; call refused");
            Untranslatable { kind, slot, local }
        })
}

/// The slot and node-local id of a gateway id given as a parameter.
pub fn id_in(kind: IdKind, v: &Value) -> Option<(u32, i64)> {
    from_gateway(kind, int_of(v)?)
}

/// Split an array of gateway ids by node slot, preserving order within each slot. `None`
/// when an element is not an id the gateway could have given.
pub fn split_ids(kind: IdKind, v: &Value) -> Option<BTreeMap<u32, Vec<Value>>> {
    let Value::Array(items) = v else {
        return None;
    };
    let mut out: BTreeMap<u32, Vec<Value>> = BTreeMap::new();
    for item in items {
        let (slot, local) = id_in(kind, item)?;
        out.entry(slot)
            .or_default()
            .push(uyuni_api::value::int(local));
    }
    Some(out)
}

/// The ids of a call belong to several nodes (or one is not a gateway id at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the ids given belong to several cluster nodes")]
pub struct SeveralNodes;

/// The gateway system ids anywhere in the parameters of a call the table does not know
/// (ints from 1 000 000 000 up): the one node they all belong to and the parameters with
/// that node's own ids, `Ok(None)` when there are none, `Err` when they span several nodes.
pub fn owner_of_ids(params: &[Value]) -> Result<Option<(u32, Vec<Value>)>, SeveralNodes> {
    fn walk(v: &Value, slot: &mut Option<u32>) -> Result<Value, SeveralNodes> {
        Ok(match v {
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| walk(i, slot))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Struct(m) => Value::Struct(
                m.iter()
                    .map(|(k, i)| Ok((k.clone(), walk(i, slot)?)))
                    .collect::<Result<_, SeveralNodes>>()?,
            ),
            other => match int_of(other).filter(|i| *i >= crate::ids::LOCAL_BASE) {
                Some(id) => {
                    let (s, local) = from_gateway(IdKind::System, id).ok_or(SeveralNodes)?;
                    if slot.is_some_and(|have| have != s) {
                        return Err(SeveralNodes);
                    }
                    *slot = Some(s);
                    uyuni_api::value::int(local)
                }
                None => other.clone(),
            },
        })
    }
    let mut slot = None;
    let rewritten = params
        .iter()
        .map(|p| walk(p, &mut slot))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(slot.map(|s| (s, rewritten)))
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
        let out =
            uyuni_api::json::to_json(&ids_out(node, 2, &[("id", IdKind::System)]).expect("ids"));
        assert_eq!(out[0]["id"], 1_002_010_000);
        assert_eq!(out[0]["name"], "a");
        assert_eq!(out[0]["nested"][0]["id"], 1_002_010_001);
    }

    #[test]
    fn star_rewrites_every_value_of_a_struct() {
        let map = StructBuilder::new()
            .field("minion1", int(1_000_010_000))
            .build();
        let out =
            uyuni_api::json::to_json(&ids_out(map, 1, &[("*", IdKind::System)]).expect("ids"));
        assert_eq!(out["minion1"], 1_001_010_000);
    }

    #[test]
    fn arrays_of_ids_split_by_node() {
        let ids = Value::Array(vec![
            int(1_000_010_000),
            int(1_001_010_005),
            int(1_000_010_001),
        ]);
        let split = split_ids(IdKind::System, &ids).expect("ids");
        assert_eq!(split.len(), 2);
        assert_eq!(split[&0].len(), 2);
        assert_eq!(split[&1], vec![int(1_000_010_005)]);
        assert!(split_ids(IdKind::System, &Value::Array(vec![string("x")])).is_none());
    }

    #[test]
    fn scalar_answers_that_are_ids_are_translated() {
        let out = ids_out(int(7), 3, &[("", IdKind::Action)]).expect("id");
        assert_eq!(uyuni_api::value::as_i64(&out), Some(7 * 1024 + 3));
    }

    #[test]
    fn an_id_past_a_slots_range_is_an_error_never_shown_unchanged() {
        // A million and one past the base: shown unchanged it would read as slot 1's system.
        let node = Value::Array(vec![
            StructBuilder::new().field("id", int(1_000_010_000)).build(),
            StructBuilder::new().field("id", int(1_001_000_001)).build(),
        ]);
        let err = ids_out(node, 0, &[("id", IdKind::System)]).expect_err("refused");
        assert_eq!(err.local, 1_001_000_001);
        assert_eq!(err.kind, IdKind::System);
        assert_eq!(err.fault().code, -1);
        assert!(err.fault().message().contains("no cluster-wide id"));
        // Below the base, and an action past the 32-bit range.
        assert!(ids_out(int(42), 0, &[("", IdKind::System)]).is_err());
        assert!(ids_out(int(3_000_000), 0, &[("", IdKind::Action)]).is_err());
        // Fields not named are left alone, whatever they hold.
        let other = StructBuilder::new()
            .field("count", int(5_000_000_000))
            .build();
        assert!(ids_out(other, 0, &[("id", IdKind::System)]).is_ok());
    }

    #[test]
    fn calls_outside_the_table_go_to_the_node_of_their_ids() {
        let params = vec![
            Value::Array(vec![int(1_002_010_000), int(1_002_010_004)]),
            string("pkg"),
            int(5),
        ];
        let (slot, local) = owner_of_ids(&params).expect("one node").expect("ids");
        assert_eq!(slot, 2);
        assert_eq!(
            local[0],
            Value::Array(vec![int(1_000_010_000), int(1_000_010_004)])
        );
        assert_eq!(local[2], int(5));
        assert_eq!(owner_of_ids(&[string("x"), int(3)]), Ok(None));
        assert!(owner_of_ids(&[int(1_000_010_000), int(1_001_010_000)]).is_err());
    }
}
