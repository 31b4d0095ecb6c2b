//! The token a registration answer carries (`X-Uyuni-Agent-Token`), which status and orphan
//! queries must show: `2.<expiry>.<mac>`, the MAC being HMAC-SHA256 over the fingerprint and
//! the expiry (Unix seconds) with a key derived from the cluster key file. Every peer holds
//! that key, so any peer checks any token without shared state.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use sha2::{Digest, Sha256};

/// A token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// No token was sent.
    #[error("an agent token is required (X-Uyuni-Agent-Token, from POST /system/register)")]
    Missing,
    /// Not a token of this cluster for this fingerprint.
    #[error("the agent token is not valid for this fingerprint")]
    Invalid,
    /// The token's lifetime is over.
    #[error("the agent token has expired: register again")]
    Expired,
}

/// The cluster's token key.
#[derive(Clone)]
pub struct TokenKey(hmac::Key);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    /// The key derived from the bytes of the cluster key file.
    pub fn new(cluster_key: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(b"uyuni-cluster agent token key v1\0");
        h.update(cluster_key);
        Self(hmac::Key::new(hmac::HMAC_SHA256, &h.finalize()))
    }

    fn mac(&self, fingerprint: &str, expiry: u64) -> hmac::Tag {
        hmac::sign(&self.0, message(fingerprint, expiry).as_bytes())
    }

    /// A token for `fingerprint` valid until `expiry` (Unix seconds).
    pub fn issue(&self, fingerprint: &str, expiry: u64) -> String {
        let tag = self.mac(fingerprint, expiry);
        format!("2.{expiry}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Whether `token` was issued for `fingerprint` and is still valid at `now` (Unix seconds).
    pub fn check(
        &self,
        token: Option<&str>,
        fingerprint: &str,
        now: u64,
    ) -> Result<(), TokenError> {
        let token = token.ok_or(TokenError::Missing)?;
        let mut parts = token.trim().splitn(3, '.');
        let (Some("2"), Some(expiry), Some(mac)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Invalid);
        };
        let expiry: u64 = expiry.parse().map_err(|_| TokenError::Invalid)?;
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| TokenError::Invalid)?;
        // Constant-time comparison through ring's verify.
        hmac::verify(&self.0, message(fingerprint, expiry).as_bytes(), &mac)
            .map_err(|_| TokenError::Invalid)?;
        if now >= expiry {
            return Err(TokenError::Expired);
        }
        Ok(())
    }
}

/// What the MAC covers.
fn message(fingerprint: &str, expiry: u64) -> String {
    format!("uyuni-cluster-agent-token/2\n{fingerprint}\n{expiry}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_holds_for_its_fingerprint_until_it_expires() {
        let key = TokenKey::new(b"cluster key");
        let t = key.issue("aa:bb", 1000);
        assert_eq!(key.check(Some(&t), "aa:bb", 999), Ok(()));
        assert_eq!(key.check(Some(&t), "aa:bb", 1000), Err(TokenError::Expired));
        assert_eq!(key.check(Some(&t), "aa:bc", 999), Err(TokenError::Invalid));
        assert_eq!(key.check(None, "aa:bb", 999), Err(TokenError::Missing));
    }

    #[test]
    fn another_cluster_or_an_edited_token_is_refused() {
        let key = TokenKey::new(b"cluster key");
        let other = TokenKey::new(b"another cluster");
        let t = other.issue("aa:bb", 1000);
        assert_eq!(key.check(Some(&t), "aa:bb", 1), Err(TokenError::Invalid));
        let t = key.issue("aa:bb", 1000);
        let longer = t.replacen("1000", "9999", 1);
        assert_eq!(
            key.check(Some(&longer), "aa:bb", 1),
            Err(TokenError::Invalid)
        );
        for garbage in ["", "2", "2.x.y", "1.1000.AAAA", "2.1000.!!", "2.1000"] {
            assert_eq!(
                key.check(Some(garbage), "aa:bb", 1),
                Err(TokenError::Invalid),
                "{garbage:?}"
            );
        }
    }
}
