//! Identities of the sandbox's demo systems. Agents sign their registrations with an RSA
//! minion key (protocol 2), which ring cannot generate; the sandbox ships one real salt key
//! pair (the `agent-proto` test fixture, a demo key that protects nothing) and gives each demo
//! system its own wrapping of the public key, so each has its own salt fingerprint.

use agent_proto::{Registration, Signer};

/// The demo key pair (`salt-key --gen-keys=minion`, salt 3007.16).
pub(crate) const DEMO_PUB: &str = include_str!("../../../agent-proto/tests/data/minion.pub");
/// Its private half.
pub(crate) const DEMO_PEM: &str = include_str!("../../../agent-proto/tests/data/minion.pem");

/// The demo public key wrapped for system `n` (`n` < 48): a first line of `16 + n` characters.
pub(crate) fn public_key(n: usize) -> anyhow::Result<String> {
    let (label, der) = agent_proto::pem::decode(DEMO_PUB)?;
    Ok(agent_proto::pem::encode(&label, &der, &[16 + n % 48]))
}

/// A signed registration of demo system `n`.
pub(crate) fn registration(n: usize, minion_id: &str) -> anyhow::Result<Registration> {
    let signer = Signer::from_pem(DEMO_PEM)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let nonce = format!("sandbox{n:04}{now:016x}");
    Ok(Registration::signed(
        &public_key(n)?,
        minion_id,
        minion_id,
        now,
        &nonce,
        &signer,
    )?)
}
