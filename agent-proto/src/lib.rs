//! # agent-proto — what agent and peer must agree on, byte for byte
//!
//! Version 2 of the agent protocol (`docs/AGENT-PROTOCOL.md`) has a client agent prove that it
//! holds the private key of the fingerprint it registers: the registration carries the salt
//! minion's public key (`minion.pub`) and an RSA PKCS#1 v1.5 SHA-256 signature, made with the
//! minion's private key (`minion.pem`), over a canonical message with a timestamp and a nonce.
//!
//! - [`fingerprint`]: the `salt-key -F` fingerprint of PEM text (the system's identity).
//! - [`pem`]: PEM to DER, and an RSA public key out of a `PUBLIC KEY` (SPKI) or
//!   `RSA PUBLIC KEY` (PKCS#1) document.
//! - [`registration`]: the registration body, its canonical message and [`registration::verify`].
//! - [`signer`]: signing with `minion.pem` (the agent's side).
//!
//! Nothing here performs I/O or reads a clock: the caller passes `now`.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod fingerprint;
pub mod pem;
pub mod registration;
pub mod signer;

pub use fingerprint::pem_fingerprint;
pub use registration::{AuthError, Registration, verify};
pub use signer::{SignError, Signer};

/// The protocol version of `X-Uyuni-Agent-Protocol`.
pub const PROTOCOL_VERSION: u32 = 2;

/// Header of the token a peer issues with a registration and agents send with status and
/// orphan queries.
pub const TOKEN_HEADER: &str = "x-uyuni-agent-token";
