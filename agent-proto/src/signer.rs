//! Signing with the minion's private key (`minion.pem`: PKCS#1 `RSA PRIVATE KEY`, as salt writes
//! it, or PKCS#8 `PRIVATE KEY`): RSA PKCS#1 v1.5 with SHA-256.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

use crate::pem::{self, PemError};

/// The private key is unusable, or signing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// Not a PEM document of a private key.
    #[error("minion private key: {0}")]
    Pem(#[from] PemError),
    /// ring refused the key (not RSA, too small, inconsistent).
    #[error("minion private key: {0}")]
    Key(String),
    /// ring could not sign (no randomness).
    #[error("signing failed")]
    Sign,
}

/// An RSA private key that signs registrations.
pub struct Signer {
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key itself.
        f.debug_struct("Signer")
            .field("modulus_bits", &(self.key.public().modulus_len() * 8))
            .finish()
    }
}

impl Signer {
    /// The key of a `RSA PRIVATE KEY` (PKCS#1) or `PRIVATE KEY` (PKCS#8) PEM document.
    pub fn from_pem(pem_text: &str) -> Result<Self, SignError> {
        let (label, der) = pem::decode(pem_text)?;
        let key = match label.as_str() {
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der),
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der),
            _ => {
                return Err(PemError::Label {
                    found: label,
                    expected: "RSA PRIVATE KEY or PRIVATE KEY",
                }
                .into());
            }
        }
        .map_err(|e| SignError::Key(e.to_string()))?;
        Ok(Self {
            key,
            rng: SystemRandom::new(),
        })
    }

    /// The signature of `message`, base64 (standard alphabet, padded).
    pub fn sign(&self, message: &[u8]) -> Result<String, SignError> {
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
            .map_err(|_| SignError::Sign)?;
        Ok(STANDARD.encode(sig))
    }
}
