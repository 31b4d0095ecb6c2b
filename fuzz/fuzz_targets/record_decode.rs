//! Record decoding (`crdt_store::Record::decode`): every value a peer's automerge document
//! carries is decoded by its key's kind (CBOR for systems, JSON for the rest). Input:
//! `key\npayload`. Invariants: what decodes re-encodes and decodes to the same encoding, and
//! a system key maps back to its fingerprint (`system_fingerprint ∘ system_key`).
#![no_main]

use crdt_store::{Record, system_fingerprint, system_key};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(nl) = data.iter().position(|&b| b == b'\n') else {
        return;
    };
    let (key, payload) = (&data[..nl], &data[nl + 1..]);
    let Ok(key) = std::str::from_utf8(key) else {
        return;
    };
    if let Ok(Some(rec)) = Record::decode(key, payload) {
        assert!(
            key.starts_with(rec.kind().prefix()),
            "decoded under its kind's prefix"
        );
        let once = rec.encode().expect("a decoded record encodes");
        let again = Record::decode(key, &once)
            .expect("an encoded record decodes")
            .expect("of a known kind");
        assert_eq!(
            once,
            again.encode().expect("encodes again"),
            "record round trip"
        );
    }
    if let Some(fp) = key.strip_prefix("fp:") {
        assert_eq!(system_fingerprint(&system_key(fp)).as_deref(), Some(fp));
    }
});
