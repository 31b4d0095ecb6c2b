//! Gateway sessions: keys in Uyuni's format, stored in the metastore under the key's hash,
//! with the user's password sealed by a key derived from the cluster key (the gateway logs in
//! to the nodes with it when it first needs them). Pure apart from the random numbers.

use base64::Engine as _;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

/// Problems with a sealed secret.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The random generator failed.
    #[error("no randomness available")]
    Random,
    /// The secret does not open with this cluster's key (another cluster's, or damaged).
    #[error("the session secret does not open with this cluster's key")]
    Open,
}

/// Seals and opens session secrets; derived from the cluster key, so every gateway replica
/// of the cluster opens what another sealed.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer")
    }
}

impl Sealer {
    /// A sealer keyed by `cluster_key` (the cluster key file's bytes).
    pub fn new(cluster_key: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(b"uyuni-cluster gateway session secret v1\0");
        h.update(cluster_key);
        let digest = h.finalize();
        // A 32-byte key always fits ChaCha20-Poly1305.
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &digest)
            .unwrap_or_else(|_| unreachable!("32-byte ChaCha20-Poly1305 key"));
        Self {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        }
    }

    /// Seal `plain` (nonce ‖ ciphertext ‖ tag, base64).
    pub fn seal(&self, plain: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SealError::Random)?;
        let mut buf = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
            .map_err(|_| SealError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(base64::engine::general_purpose::STANDARD.encode(out))
    }

    /// Open what [`Sealer::seal`] produced.
    pub fn open(&self, sealed: &str) -> Result<String, SealError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| SealError::Open)?;
        if raw.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
        let mut buf = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut buf)
            .map_err(|_| SealError::Open)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::Open)
    }

    /// A new session key in Uyuni's format: `<n>x<64 hex>`.
    pub fn new_key(&self) -> Result<String, SealError> {
        let mut bytes = [0u8; 36];
        self.rng.fill(&mut bytes).map_err(|_| SealError::Random)?;
        let n = 1 + u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) % 999_999;
        Ok(format!("{n}x{}", hex::encode(&bytes[4..])))
    }
}

/// Where a session key is stored: its hex SHA-256 (the key itself never is).
pub fn session_id(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Whether `key` has Uyuni's session key form.
pub fn looks_like_key(key: &str) -> bool {
    let Some((n, h)) = key.split_once('x') else {
        return false;
    };
    !n.is_empty()
        && !n.starts_with('0')
        && n.bytes().all(|b| b.is_ascii_digit())
        && h.len() == 64
        && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether a session used at `now` should be written back with a later expiry: only once a
/// quarter of its lifetime has passed, so busy sessions do not write on every call.
pub fn needs_renewal(expires_at: u64, ttl_ms: u64, now: u64) -> bool {
    expires_at.saturating_sub(now) < ttl_ms - ttl_ms / 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_uyunis_form_and_differ() {
        let s = Sealer::new(b"cluster key");
        let a = s.new_key().expect("key");
        let b = s.new_key().expect("key");
        assert!(looks_like_key(&a), "{a}");
        assert_ne!(a, b);
        assert!(!looks_like_key("0x00"));
        assert!(!looks_like_key(&format!("12x{}", "g".repeat(64))));
    }

    #[test]
    fn secrets_open_with_the_same_cluster_key_only() {
        let s = Sealer::new(b"cluster key");
        let sealed = s.seal("p4ss w0rd").expect("seal");
        assert!(!sealed.contains("p4ss"));
        assert_eq!(s.open(&sealed).expect("open"), "p4ss w0rd");
        assert_eq!(
            Sealer::new(b"cluster key").open(&sealed).expect("open"),
            "p4ss w0rd"
        );
        assert!(Sealer::new(b"other key").open(&sealed).is_err());
        assert!(s.open("not base64!").is_err());
        assert!(s.open("AAAA").is_err());
    }

    #[test]
    fn renewal_waits_for_a_quarter_of_the_lifetime() {
        assert!(!needs_renewal(1_000_000, 1_000, 999_100));
        assert!(needs_renewal(1_000_000, 1_000, 999_300));
    }
}
