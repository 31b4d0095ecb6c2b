//! Content manifests (`content_sync::Manifest::decode`): the JSON index of a package tree a
//! peer fetches from another. Invariants: a decoded manifest's paths all pass `check_path`
//! (no `..`, no absolute path), `bytes()` does not overflow, and it re-encodes to a document
//! that decodes to the same manifest.
#![no_main]

use content_sync::{Manifest, check_path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::decode(data) {
        for f in &m.files {
            assert!(check_path(&f.path).is_ok(), "unchecked path {:?}", f.path);
        }
        let _ = m.bytes();
        let again = Manifest::decode(&m.encode()).expect("an encoded manifest decodes");
        assert_eq!(m, again, "manifest round trip");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = check_path(text);
    }
});
