//! Merging large lists of systems without decoding them. A node's `system.listSystems` for
//! 20 000 systems is ~14 MB of XML; decoding ten of them into values and encoding the merged
//! list again costs far more than the nodes' own answers. For concatenated lists of systems
//! the gateway instead rewrites the `id` members in the nodes' text and joins the arrays:
//! each node lists its systems in id order, and a lower slot's gateway ids are all lower, so
//! the nodes' arrays joined in slot order are in id order too. Anything unexpected (another
//! layout, ids out of order, an id that cannot be translated) returns `None` and the caller
//! takes the decoding path. Pure.
//!
//! The gateway now streams these lists ([`crate::rawstream`], [`crate::fanout::stream`]);
//! this buffered merge stays as the reference the streamed one is tested against (byte for
//! byte) and as a fuzz target's subject.

use crate::ids::{IdKind, to_gateway};

const ID_MEMBER: &str = "<name>id</name>";

/// The items of a `methodResponse` whose value is one array: the text inside `<data>`.
pub fn array_items(doc: &str) -> Option<&str> {
    let at = doc.find("<params>")?;
    let rest = doc[at..].strip_prefix("<params>")?.trim_start();
    let rest = rest.strip_prefix("<param>")?.trim_start();
    let rest = rest.strip_prefix("<value>")?.trim_start();
    let rest = rest.strip_prefix("<array>")?.trim_start();
    if rest.starts_with("<data/>") {
        return Some("");
    }
    let rest = rest.strip_prefix("<data>")?;
    let end = rest.rfind("</data>")?;
    Some(&rest[..end])
}

/// Append `items` to `out` with every `id` member translated to the gateway id of `slot`;
/// `None` when the ids are not ascending integers the gateway can translate.
pub fn rewrite_ids(items: &str, slot: u32, out: &mut String) -> Option<()> {
    let mut rest = items;
    let mut last: Option<i64> = None;
    while let Some(i) = rest.find(ID_MEMBER) {
        let after = &rest[i + ID_MEMBER.len()..];
        let t = after.trim_start().strip_prefix("<value>")?.trim_start();
        let close = ["i4", "int", "i8"]
            .iter()
            .find(|tag| t.starts_with(&format!("<{tag}>")))?;
        let digits = &t[close.len() + 2..];
        let end = digits.find('<')?;
        let local: i64 = digits[..end].trim().parse().ok()?;
        if last.is_some_and(|l| local <= l) {
            return None;
        }
        last = Some(local);
        let gid = to_gateway(IdKind::System, slot, local)?;
        let number_at = rest.len() - digits.len();
        out.push_str(&rest[..number_at]);
        out.push_str(&gid.to_string());
        rest = &rest[number_at + end..];
    }
    out.push_str(rest);
    Some(())
}

/// The nodes' answers (slot, document) joined into one `methodResponse`.
pub fn concat_systems(mut parts: Vec<(u32, String)>) -> Option<String> {
    parts.sort_by_key(|(slot, _)| *slot);
    let total: usize = parts.iter().map(|(_, t)| t.len()).sum();
    let mut out = String::with_capacity(total + 200);
    out.push_str("<?xml version=\"1.0\"?><methodResponse><params><param><value><array><data>");
    for (slot, doc) in &parts {
        rewrite_ids(array_items(doc)?, *slot, &mut out)?;
    }
    out.push_str("</data></array></value></param></params></methodResponse>");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uyuni_api::codec::{parse_response, render_response};
    use uyuni_api::value::{StructBuilder, int, string};
    use uyuni_api::{Fault, Value};

    fn node(ids: &[i64]) -> String {
        let items = ids
            .iter()
            .map(|id| {
                StructBuilder::new()
                    .field("id", int(*id))
                    .field("name", string(format!("s{id} <&> id")))
                    .build()
            })
            .collect();
        render_response(&Value::Array(items)).expect("render")
    }

    fn ids_of(doc: &str) -> Vec<i64> {
        let v: Result<Value, Fault> = parse_response(doc).expect("parse");
        uyuni_api::json::to_json(&v.expect("value"))
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["id"].as_i64())
            .collect()
    }

    #[test]
    fn joined_in_slot_order_with_translated_ids_and_the_rest_untouched() {
        let a = node(&[1_000_010_000, 1_000_010_001]);
        let b = node(&[1_000_010_000]);
        let doc = concat_systems(vec![(1, b), (0, a)]).expect("fast path");
        assert_eq!(
            ids_of(&doc),
            vec![1_000_010_000, 1_000_010_001, 1_001_010_000]
        );
        assert!(doc.contains("s1000010000 &lt;&amp;&gt; id"));
    }

    #[test]
    fn the_same_as_the_decoding_path() {
        let parts = vec![
            (0, node(&[1_000_010_000, 1_000_010_007])),
            (2, node(&[1_000_010_003])),
        ];
        let fast = ids_of(&concat_systems(parts.clone()).expect("fast path"));
        let slow: Vec<Value> = parts
            .into_iter()
            .map(|(slot, doc)| {
                let v = parse_response(&doc).expect("parse").expect("value");
                crate::translate::ids_out(v, slot, &[("id", IdKind::System)]).expect("ids")
            })
            .collect();
        let merged = crate::merge::merge(crate::table::Merge::Concat, slow);
        let slow_doc = render_response(&merged).expect("render");
        assert_eq!(fast, ids_of(&slow_doc));
    }

    #[test]
    fn empty_lists_and_unexpected_shapes() {
        let empty = render_response(&Value::Array(vec![])).expect("render");
        assert_eq!(
            concat_systems(vec![(0, empty.clone())]).map(|d| ids_of(&d)),
            Some(vec![])
        );
        // Out of order, untranslatable, or not an array: the decoding path.
        assert!(concat_systems(vec![(0, node(&[1_000_010_002, 1_000_010_001]))]).is_none());
        assert!(concat_systems(vec![(0, node(&[7]))]).is_none());
        let scalar = render_response(&int(1)).expect("render");
        assert!(concat_systems(vec![(0, scalar)]).is_none());
    }
}
