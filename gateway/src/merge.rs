//! Merging the answers of several nodes into what one big server would answer. Pure.

use std::collections::BTreeMap;

use uyuni_api::Value;

use crate::table::Merge;

fn int_of(v: &Value) -> Option<i64> {
    uyuni_api::value::as_i64(v)
}

/// Merge the (already id-translated) answers of the nodes that answered, in node order.
pub fn merge(how: Merge, answers: Vec<Value>) -> Value {
    match how {
        Merge::Concat => concat(answers),
        Merge::ByKey { key, sum } => by_key(answers, key, sum),
        Merge::Struct => {
            let mut out = BTreeMap::new();
            for a in answers {
                if let Value::Struct(m) = a {
                    out.extend(m);
                }
            }
            Value::Struct(out)
        }
        Merge::Sum { sum } => sum_fields(answers, sum),
        Merge::Group { key, items } => group(answers, key, items),
    }
}

/// Groups of systems by `key` (`system.listDuplicatesByIp`'s `ip`): the groups of one key
/// from several nodes become one, their `items` arrays (the systems) concatenated in node
/// order; groups ordered by key.
fn group(answers: Vec<Value>, key: &str, members: &str) -> Value {
    let mut merged: BTreeMap<String, Value> = BTreeMap::new();
    let mut loose = Vec::new();
    for item in items(answers) {
        let Some(k) = key_of(&item, key) else {
            loose.push(item);
            continue;
        };
        match (merged.get_mut(&k), item) {
            (None, item) => {
                merged.insert(k, item);
            }
            (Some(Value::Struct(first)), Value::Struct(mut more)) => {
                if let (Some(Value::Array(have)), Some(Value::Array(add))) =
                    (first.get_mut(members), more.remove(members))
                {
                    have.extend(add);
                }
            }
            (Some(_), _) => {}
        }
    }
    Value::Array(merged.into_values().chain(loose).collect())
}

/// One object of common data each node holds: the first node's, with the per-node counters
/// `sum` added up over every node (a group's `system_count`: its members on every node).
fn sum_fields(answers: Vec<Value>, sum: &[&str]) -> Value {
    let mut answers = answers.into_iter();
    let Some(mut first) = answers.next() else {
        return Value::Struct(BTreeMap::new());
    };
    if let Value::Struct(m) = &mut first {
        for other in answers {
            for f in sum {
                let add = field(&other, f).and_then(int_of).unwrap_or(0);
                if let Some(cur) = m.get(*f).and_then(int_of) {
                    m.insert((*f).to_string(), uyuni_api::value::int(cur + add));
                }
            }
        }
    }
    first
}

fn items(answers: Vec<Value>) -> impl Iterator<Item = Value> {
    answers.into_iter().flat_map(|a| match a {
        Value::Array(v) => v,
        other => vec![other],
    })
}

fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    match v {
        Value::Struct(m) => m.get(name),
        _ => None,
    }
}

/// Arrays joined and ordered by `id` (a single server lists by id).
fn concat(answers: Vec<Value>) -> Value {
    let mut all: Vec<Value> = items(answers).collect();
    all.sort_by_key(|v| field(v, "id").and_then(int_of).unwrap_or(i64::MAX));
    Value::Array(all)
}

fn key_of(v: &Value, key: &str) -> Option<String> {
    let k = if key.is_empty() { v } else { field(v, key)? };
    match k {
        Value::String(s) => Some(s.clone()),
        other => int_of(other).map(|i| i.to_string()),
    }
}

/// Common data: one entry per key (the first node's), counters summed over every node.
fn by_key(answers: Vec<Value>, key: &str, sum: &[&str]) -> Value {
    let mut merged: BTreeMap<String, Value> = BTreeMap::new();
    let mut loose = Vec::new();
    for item in items(answers) {
        let Some(k) = key_of(&item, key) else {
            loose.push(item);
            continue;
        };
        match merged.get_mut(&k) {
            None => {
                merged.insert(k, item);
            }
            Some(Value::Struct(first)) => {
                for f in sum {
                    let add = field(&item, f).and_then(int_of).unwrap_or(0);
                    if let Some(cur) = first.get(*f).and_then(int_of) {
                        first.insert((*f).to_string(), uyuni_api::value::int(cur + add));
                    }
                }
            }
            Some(_) => {}
        }
    }
    Value::Array(merged.into_values().chain(loose).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use uyuni_api::json::to_json;

    #[test]
    fn duplicate_groups_of_one_key_hold_every_nodes_systems() {
        use uyuni_api::value::{StructBuilder, int, string};
        let dup = |host: &str, ids: &[i64]| {
            StructBuilder::new()
                .field("hostname", string(host))
                .field(
                    "systems",
                    Value::Array(
                        ids.iter()
                            .map(|i| StructBuilder::new().field("systemId", int(*i)).build())
                            .collect(),
                    ),
                )
                .build()
        };
        let a = Value::Array(vec![dup("web", &[1, 2]), dup("db", &[3, 4])]);
        let b = Value::Array(vec![dup("web", &[7, 8])]);
        let m = to_json(&merge(
            Merge::Group {
                key: "hostname",
                items: "systems",
            },
            vec![a, b],
        ));
        assert_eq!(m[0]["hostname"], "db");
        assert_eq!(m[1]["hostname"], "web");
        let web: Vec<i64> = m[1]["systems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["systemId"].as_i64())
            .collect();
        assert_eq!(web, [1, 2, 7, 8]);
    }
    use uyuni_api::value::{StructBuilder, int, string};

    fn group(name: &str, count: i64) -> Value {
        StructBuilder::new()
            .field("name", string(name))
            .field("system_count", int(count))
            .build()
    }

    #[test]
    fn common_data_is_shown_once_with_counters_summed() {
        let a = Value::Array(vec![group("web", 2), group("db", 1)]);
        let b = Value::Array(vec![group("web", 3)]);
        let m = to_json(&merge(
            Merge::ByKey {
                key: "name",
                sum: &["system_count"],
            },
            vec![a, b],
        ));
        assert_eq!(m.as_array().map(Vec::len), Some(2));
        assert_eq!(m[0]["name"], "db");
        assert_eq!(m[1]["system_count"], 5);
    }

    #[test]
    fn systems_are_concatenated_in_id_order() {
        let s = |id| StructBuilder::new().field("id", int(id)).build();
        let m = to_json(&merge(
            Merge::Concat,
            vec![Value::Array(vec![s(3), s(1)]), Value::Array(vec![s(2)])],
        ));
        let ids: Vec<i64> = m
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["id"].as_i64())
            .collect();
        assert_eq!(ids, vec![1, 2, 3]);
    }

    #[test]
    fn plain_strings_are_deduplicated() {
        let a = Value::Array(vec![string("m1"), string("m2")]);
        let b = Value::Array(vec![string("m2")]);
        let m = to_json(&merge(Merge::ByKey { key: "", sum: &[] }, vec![a, b]));
        assert_eq!(m, serde_json::json!(["m1", "m2"]));
    }
}
