//! Hex BLAKE3 hashes, as the metastore records them.

use iroh_blobs::Hash;

use crate::ContentError;

/// Parse 64 hex digits.
pub fn parse_hash(hex_str: &str) -> Result<Hash, ContentError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_str, &mut bytes)
        .map_err(|_| ContentError::BadHash(hex_str.to_string()))?;
    Ok(Hash::from_bytes(bytes))
}

/// 64 lowercase hex digits.
pub fn hash_hex(hash: &Hash) -> String {
    hash.to_hex()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_bad_input_is_an_error() {
        let h = Hash::new(b"abc");
        assert_eq!(parse_hash(&hash_hex(&h)).expect("parse"), h);
        assert_eq!(hash_hex(&h), blake3::hash(b"abc").to_hex().to_string());
        for bad in ["", "zz", &"a".repeat(63), &"g".repeat(64)] {
            assert!(matches!(parse_hash(bad), Err(ContentError::BadHash(_))));
        }
    }
}
