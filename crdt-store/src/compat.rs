//! Mixed versions (issue 16): a record written back keeps the fields this version does not
//! know. Records are whole values (a flat JSON object, or a CBOR map for systems); a peer
//! decodes them into its own types, which drop unknown keys, so a plain rewrite by an older
//! peer would erase what a newer one added. Before a record replaces a stored one, the stored
//! value's keys that this version's types do not produce (found by decoding and re-encoding
//! it) are carried over into the new value.

use crate::record::Record;

/// Format of the records this version writes, stored in every JSON record as `"_v"` and read
/// by no one yet: the first version that changes a record's meaning incompatibly bumps it.
pub const RECORD_FORMAT: u64 = 1;

/// `new` (about to replace `old` under `key`) with the keys of `old` this version does not
/// know. Any value that does not parse is left as it is.
pub(crate) fn keep_unknown(key: &str, old: &[u8], new: Vec<u8>) -> Vec<u8> {
    let Ok(Some(rec)) = Record::decode(key, old) else {
        return new;
    };
    // Systems: this version also knows `k` (record/system_sets.rs), which `Record` drops.
    let known = match &rec {
        Record::System(_) => crate::record::system_sets::reencode_known(old),
        _ => rec.encode().ok(),
    };
    let Some(known) = known else {
        return new;
    };
    if known == old {
        // Fast path: the stored value is exactly what this version writes.
        return new;
    }
    if matches!(rec, Record::System(_)) {
        keep_unknown_cbor(old, &known, new)
    } else {
        keep_unknown_json(old, &known, new)
    }
}

fn keep_unknown_json(old: &[u8], known: &[u8], new: Vec<u8>) -> Vec<u8> {
    use serde_json::Value;
    let (Ok(Value::Object(old)), Ok(Value::Object(known)), Ok(Value::Object(mut out))) = (
        serde_json::from_slice::<Value>(old),
        serde_json::from_slice::<Value>(known),
        serde_json::from_slice::<Value>(&new),
    ) else {
        return new;
    };
    let mut added = false;
    for (k, v) in old {
        if !known.contains_key(&k) && !out.contains_key(&k) {
            out.insert(k, v);
            added = true;
        }
    }
    if !added {
        return new;
    }
    serde_json::to_vec(&Value::Object(out)).unwrap_or(new)
}

fn keep_unknown_cbor(old: &[u8], known: &[u8], new: Vec<u8>) -> Vec<u8> {
    use ciborium::Value;
    let parse = |b: &[u8]| ciborium::from_reader::<Value, _>(b).ok();
    let (Some(Value::Map(old)), Some(Value::Map(known)), Some(Value::Map(mut out))) =
        (parse(old), parse(known), parse(&new))
    else {
        return new;
    };
    let mut added = false;
    for (k, v) in old {
        if !known.iter().any(|(kk, _)| *kk == k) && !out.iter().any(|(kk, _)| *kk == k) {
            out.push((k, v));
            added = true;
        }
    }
    if !added {
        return new;
    }
    let mut buf = Vec::with_capacity(new.len() + 16);
    match ciborium::into_writer(&Value::Map(out), &mut buf) {
        Ok(()) => buf,
        Err(_) => new,
    }
}

/// Add `"_v": RECORD_FORMAT` to an encoded JSON record (see [`RECORD_FORMAT`]).
pub(crate) fn with_format(json: Vec<u8>) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(&json) {
        Ok(serde_json::Value::Object(mut m)) => {
            m.insert("_v".into(), RECORD_FORMAT.into());
            serde_json::to_vec(&serde_json::Value::Object(m)).unwrap_or(json)
        }
        _ => json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{FaultReason, FaultRecord, SystemRecord};

    #[test]
    fn a_rewrite_keeps_the_fields_a_newer_version_added() {
        let key = "f/a1";
        let newer = br#"{"node":"a1","zone":"dc","reason":"down","since":1,"declared_by":"a2","severity":"high","_v":7}"#;
        let rewrite = Record::Fault(FaultRecord {
            node: "a1".into(),
            zone: "dc".into(),
            reason: FaultReason::Left,
            since: 2,
            declared_by: "a3".into(),
        });
        let out = keep_unknown(key, newer, rewrite.encode().expect("encodes"));
        let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(v["severity"], "high", "the unknown field is kept: {v}");
        assert_eq!(
            v["reason"], "left",
            "the known ones are the new value's: {v}"
        );
        assert_eq!(v["since"], 2);
        assert_eq!(v["_v"], 7, "the newer format marker is kept");
        // What this version knows decodes as before.
        let Ok(Some(Record::Fault(f))) = Record::decode(key, &out) else {
            panic!("decodes")
        };
        assert_eq!(f.declared_by, "a3");
    }

    #[test]
    fn a_system_rewrite_keeps_unknown_cbor_keys_and_drops_nothing_known() {
        let rec = SystemRecord::new("aa:bb", "m1", 5).with_node(Some("a1"));
        let key = crate::system_key("aa:bb");
        // A newer peer's value: this version's keys plus "x".
        let mut map = match ciborium::from_reader::<ciborium::Value, _>(
            Record::System(rec.clone())
                .encode()
                .expect("encodes")
                .as_slice(),
        ) {
            Ok(ciborium::Value::Map(m)) => m,
            other => panic!("{other:?}"),
        };
        map.push((
            ciborium::Value::Text("x".into()),
            ciborium::Value::Integer(9.into()),
        ));
        let mut newer = Vec::new();
        ciborium::into_writer(&ciborium::Value::Map(map), &mut newer).expect("cbor");
        let moved = Record::System(rec.with_node(Some("a2")));
        let out = keep_unknown(&key, &newer, moved.encode().expect("encodes"));
        let back: ciborium::Value = ciborium::from_reader(out.as_slice()).expect("cbor");
        let ciborium::Value::Map(m) = back else {
            panic!("map")
        };
        assert!(
            m.iter()
                .any(|(k, _)| *k == ciborium::Value::Text("x".into()))
        );
        let Ok(Some(Record::System(s))) = Record::decode(&key, &out) else {
            panic!("decodes")
        };
        assert_eq!(s.node.as_deref(), Some("a2"));
        // A value this version wrote itself takes the fast path, unchanged.
        let plain = moved.encode().expect("encodes");
        assert_eq!(keep_unknown(&key, &plain, plain.clone()), plain);
    }
}
