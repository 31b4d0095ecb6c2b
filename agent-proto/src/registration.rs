//! The signed registration of protocol 2: the body of `POST /system/register`, its canonical
//! message, and the peer's check.
//!
//! The message signed is, byte for byte (each field followed by `\n`):
//!
//! ```text
//! uyuni-cluster-agent-register/2
//! <fingerprint>
//! <minion_id>
//! <hostname, empty when not given>
//! <timestamp: Unix seconds, decimal>
//! <nonce>
//! ```
//!
//! No field may hold a line break, so the message is unambiguous.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use crate::fingerprint::pem_fingerprint;
use crate::pem::{self, PemError};
use crate::signer::{SignError, Signer};

/// The first line of the signed message.
pub const MESSAGE_TAG: &str = "uyuni-cluster-agent-register/2";
/// Shortest nonce accepted (characters).
pub const NONCE_MIN: usize = 16;
/// Longest nonce accepted (characters).
pub const NONCE_MAX: usize = 64;

/// Body of `POST /system/register` (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Registration {
    /// The `salt-key -F` fingerprint of `public_key`.
    pub fingerprint: String,
    /// The salt minion id.
    pub minion_id: String,
    /// The host name; empty: not given.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// The minion's public key, the PEM text of `minion.pub` exactly as on disk.
    #[serde(default)]
    pub public_key: String,
    /// When the agent signed, Unix seconds.
    #[serde(default)]
    pub timestamp: u64,
    /// A fresh random string of [`NONCE_MIN`]–[`NONCE_MAX`] characters `[A-Za-z0-9_-]`.
    #[serde(default)]
    pub nonce: String,
    /// RSA PKCS#1 v1.5 SHA-256 signature of [`Registration::message`], base64.
    #[serde(default)]
    pub signature: String,
}

/// Why a registration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No signature, key, timestamp or nonce (a protocol 1 agent).
    #[error(
        "registrations must be signed (agent protocol 2): public_key, timestamp, nonce and signature are required"
    )]
    Unsigned,
    /// A field holds a line break.
    #[error("{0} must not hold line breaks")]
    Field(&'static str),
    /// The nonce breaks its rule.
    #[error("nonce must be {NONCE_MIN}-{NONCE_MAX} characters of A-Z, a-z, 0-9, '-' or '_'")]
    Nonce,
    /// The public key is unusable.
    #[error("public_key: {0}")]
    Key(#[from] PemError),
    /// The public key's salt fingerprint is not the one claimed.
    #[error("the fingerprint of public_key is not the fingerprint registered")]
    FingerprintMismatch,
    /// The timestamp is outside the window around the peer's clock.
    #[error("timestamp is {skew} s away from the peer's clock (at most {window} s allowed)")]
    Stale {
        /// Seconds between the timestamp and the peer's clock.
        skew: u64,
        /// The window.
        window: u64,
    },
    /// The signature does not hold for this key and message.
    #[error("the signature does not verify with public_key")]
    BadSignature,
}

impl Registration {
    /// The canonical message the signature covers (see the module documentation).
    pub fn message(&self) -> Vec<u8> {
        format!(
            "{MESSAGE_TAG}\n{}\n{}\n{}\n{}\n{}\n",
            self.fingerprint, self.minion_id, self.hostname, self.timestamp, self.nonce
        )
        .into_bytes()
    }

    /// A registration of `public_key` (its fingerprint computed here), signed by `signer`.
    pub fn signed(
        public_key: &str,
        minion_id: &str,
        hostname: &str,
        timestamp: u64,
        nonce: &str,
        signer: &Signer,
    ) -> Result<Self, SignError> {
        let fingerprint = pem_fingerprint(public_key).ok_or(PemError::NotPem)?;
        let mut reg = Self {
            fingerprint,
            minion_id: minion_id.to_string(),
            hostname: hostname.to_string(),
            public_key: public_key.to_string(),
            timestamp,
            nonce: nonce.to_string(),
            signature: String::new(),
        };
        reg.signature = signer.sign(&reg.message())?;
        Ok(reg)
    }
}

/// Check a registration at `now` (Unix seconds): every field present and free of line breaks,
/// the nonce's rule, the timestamp within `window` seconds of `now`, the public key's salt
/// fingerprint equal to the fingerprint claimed, and the signature. Replays inside the window
/// are the caller's to refuse (it keeps the nonces seen).
pub fn verify(reg: &Registration, now: u64, window: u64) -> Result<(), AuthError> {
    if reg.public_key.is_empty() || reg.signature.is_empty() || reg.nonce.is_empty() {
        return Err(AuthError::Unsigned);
    }
    for (name, value) in [
        ("fingerprint", &reg.fingerprint),
        ("minion_id", &reg.minion_id),
        ("hostname", &reg.hostname),
    ] {
        if value.contains(['\n', '\r']) {
            return Err(AuthError::Field(name));
        }
    }
    let nonce_ok = (NONCE_MIN..=NONCE_MAX).contains(&reg.nonce.len())
        && reg
            .nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !nonce_ok {
        return Err(AuthError::Nonce);
    }
    let skew = now.abs_diff(reg.timestamp);
    if skew > window {
        return Err(AuthError::Stale { skew, window });
    }
    let key = pem::rsa_public_key(&reg.public_key)?;
    if pem_fingerprint(&reg.public_key).as_deref() != Some(reg.fingerprint.as_str()) {
        return Err(AuthError::FingerprintMismatch);
    }
    let sig = STANDARD
        .decode(reg.signature.trim())
        .map_err(|_| AuthError::BadSignature)?;
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key)
        .verify(&reg.message(), &sig)
        .map_err(|_| AuthError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINION_PUB: &str = include_str!("../tests/data/minion.pub");
    const MINION_PEM: &str = include_str!("../tests/data/minion.pem");
    const OTHER_PUB: &str = include_str!("../tests/data/other.pub");
    const OTHER_PEM: &str = include_str!("../tests/data/other.pem");
    const NOW: u64 = 1_800_000_000;
    const NONCE: &str = "0123456789abcdef0123";

    fn signed() -> Registration {
        let signer = Signer::from_pem(MINION_PEM).unwrap();
        Registration::signed(MINION_PUB, "web1", "web1.example.org", NOW, NONCE, &signer).unwrap()
    }

    #[test]
    fn a_registration_signed_by_salts_minion_key_verifies() {
        let reg = signed();
        assert_eq!(reg.fingerprint, pem_fingerprint(MINION_PUB).unwrap());
        assert_eq!(verify(&reg, NOW, 300), Ok(()));
        assert_eq!(verify(&reg, NOW + 300, 300), Ok(()));
        assert_eq!(verify(&reg, NOW - 300, 300), Ok(()));
    }

    #[test]
    fn the_message_is_the_documented_text() {
        let reg = signed();
        assert_eq!(
            String::from_utf8(reg.message()).unwrap(),
            format!(
                "uyuni-cluster-agent-register/2\n{}\nweb1\nweb1.example.org\n1800000000\n{NONCE}\n",
                reg.fingerprint
            )
        );
    }

    #[test]
    fn it_survives_json() {
        let reg = signed();
        let back: Registration =
            serde_json::from_str(&serde_json::to_string(&reg).unwrap()).unwrap();
        assert_eq!(verify(&back, NOW, 300), Ok(()));
    }

    #[test]
    fn a_key_that_is_not_the_fingerprints_is_refused() {
        // Another key claims the first key's fingerprint, signed correctly with its own key.
        let other = Signer::from_pem(OTHER_PEM).unwrap();
        let mut reg = signed();
        reg.public_key = OTHER_PUB.to_string();
        reg.signature = other.sign(&reg.message()).unwrap();
        assert_eq!(verify(&reg, NOW, 300), Err(AuthError::FingerprintMismatch));
        // The victim's public key, signed with another private key.
        let mut reg = signed();
        reg.signature = other.sign(&reg.message()).unwrap();
        assert_eq!(verify(&reg, NOW, 300), Err(AuthError::BadSignature));
    }

    #[test]
    fn every_signed_field_is_covered() {
        let base = signed();
        let edits: [fn(&mut Registration); 4] = [
            |r| r.minion_id.push('x'),
            |r| r.hostname = "evil.example.org".into(),
            |r| r.timestamp += 1,
            |r| r.nonce = "ffffffffffffffffffff".into(),
        ];
        for edit in edits {
            let mut reg = base.clone();
            edit(&mut reg);
            assert_eq!(verify(&reg, NOW, 300), Err(AuthError::BadSignature));
        }
        let mut reg = base;
        reg.signature = "not base64!".into();
        assert_eq!(verify(&reg, NOW, 300), Err(AuthError::BadSignature));
    }

    #[test]
    fn stale_unsigned_and_malformed_registrations_are_refused() {
        let reg = signed();
        assert_eq!(
            verify(&reg, NOW + 301, 300),
            Err(AuthError::Stale {
                skew: 301,
                window: 300
            })
        );
        assert!(matches!(
            verify(&reg, NOW - 10_000, 300),
            Err(AuthError::Stale { .. })
        ));
        let unsigned = Registration {
            fingerprint: reg.fingerprint.clone(),
            minion_id: "m".into(),
            ..Registration::default()
        };
        assert_eq!(verify(&unsigned, NOW, 300), Err(AuthError::Unsigned));
        let mut r = reg.clone();
        r.minion_id = "a\nb".into();
        assert_eq!(verify(&r, NOW, 300), Err(AuthError::Field("minion_id")));
        for nonce in [
            "short",
            &"n".repeat(65),
            "0123456789abcdef 012",
            "0123456789abcdef\n012",
        ] {
            let mut r = reg.clone();
            r.nonce = nonce.into();
            assert_eq!(verify(&r, NOW, 300), Err(AuthError::Nonce), "{nonce:?}");
        }
        let mut r = reg;
        r.public_key = "-----BEGIN PUBLIC KEY-----\nQUJD\n-----END PUBLIC KEY-----\n".into();
        assert!(matches!(verify(&r, NOW, 300), Err(AuthError::Key(_))));
    }

    #[test]
    fn a_rewrapped_key_is_another_identity_of_the_same_key() {
        // The same key at 32-character lines: another fingerprint, and it verifies only with it.
        let (_, der) = pem::decode(MINION_PUB).unwrap();
        let b64 = STANDARD.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(32)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let rewrapped = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        );
        let signer = Signer::from_pem(MINION_PEM).unwrap();
        let reg = Registration::signed(&rewrapped, "m", "", NOW, NONCE, &signer).unwrap();
        assert_ne!(reg.fingerprint, signed().fingerprint);
        assert_eq!(verify(&reg, NOW, 300), Ok(()));
    }

    #[test]
    fn private_keys_must_be_rsa_pem() {
        assert!(matches!(Signer::from_pem(""), Err(SignError::Pem(_))));
        assert!(matches!(
            Signer::from_pem(MINION_PUB),
            Err(SignError::Pem(PemError::Label { .. }))
        ));
        assert!(matches!(
            Signer::from_pem(
                "-----BEGIN RSA PRIVATE KEY-----\nQUJD\n-----END RSA PRIVATE KEY-----\n"
            ),
            Err(SignError::Key(_))
        ));
        let debug = format!("{:?}", Signer::from_pem(MINION_PEM).unwrap());
        assert_eq!(debug, "Signer { modulus_bits: 2048 }");
    }
}
