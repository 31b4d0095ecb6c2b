//! The system's identity on the wire: the fingerprint of its salt minion's public key, in exactly
//! the form `salt-key -F` / `salt-call key.finger` prints (`salt.utils.crypt.pem_finger`).
//!
//! Salt hashes the PEM *text*, not the DER key: the BEGIN/END lines are dropped and every
//! remaining line is hashed followed by `\n`, with SHA-256 (salt's default `hash_type`). The
//! digest is printed as lowercase hex pairs joined by `:`.
//!
//! Since the text is hashed, one key wrapped at different line lengths has several
//! fingerprints. That gives nobody another system's identity (the same text is the same key,
//! whose private half signs), only more identities for one key, which key generation gives
//! anyway; the agents' door bounds how fast new identities enter (docs/AGENT-PROTOCOL.md).

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

/// The fingerprint of PEM text, as `salt-key -F` prints it (salt's `_fingerprint_key_bytes`).
///
/// CRLF counts as LF; blank (white-space only) lines are skipped; the first remaining line must
/// be a `-----BEGIN` line and the last an `-----END` line, and both are dropped; each body line is
/// hashed as it stands, followed by `\n`. Returns `None` for text that is not PEM in this sense
/// (salt would hash such text raw; a minion key is always PEM, so agent and peer refuse it).
pub fn pem_fingerprint(pem: &str) -> Option<String> {
    let lines: Vec<&str> = pem
        .lines()
        .filter(|l| !l.trim_matches(is_ascii_space).is_empty())
        .collect();
    let [first, body @ .., last] = lines.as_slice() else {
        return None;
    };
    let armored = first.trim_matches(is_ascii_space).starts_with("-----BEGIN")
        && last.trim_matches(is_ascii_space).starts_with("-----END");
    if !armored || body.is_empty() {
        return None;
    }
    let mut hasher = Sha256::new();
    for line in body {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    Some(colon_hex(&hasher.finalize()))
}

/// The white space of Python's `bytes.strip()`.
pub(crate) fn is_ascii_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// `aa:bb:…` — lowercase hex pairs joined by `:`.
fn colon_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real salt minion key: `salt-key --gen-keys=minion` (salt 3007.16) wrote this `minion.pub`.
    const MINION_PUB: &str = include_str!("../tests/data/minion.pub");
    /// Printed by `salt-key --gen-keys` (salt 3007.16) for MINION_PUB.
    const SALT_PRINTED: &str = "72:6c:6d:a2:44:99:b2:b0:9d:4d:90:12:e0:a0:ed:a1:a0:7e:8c:6c:84:08:e2:6a:6f:60:e6:88:80:ed:b3:cb";

    #[test]
    fn matches_salt_key_finger() {
        assert_eq!(pem_fingerprint(MINION_PUB).unwrap(), SALT_PRINTED);
    }

    #[test]
    fn hashes_body_lines_each_followed_by_newline() {
        // sha256(b"QUJD\n") from Python's hashlib, in pairs.
        let pem = "-----BEGIN PUBLIC KEY-----\nQUJD\n-----END PUBLIC KEY-----\n";
        assert_eq!(
            pem_fingerprint(pem).unwrap(),
            "fc:c2:0e:3b:05:d7:6e:dc:ae:07:cc:1b:22:f6:d0:95:\
             0c:50:f0:24:f3:8b:5f:93:12:63:00:b3:95:fd:3f:73"
        );
    }

    #[test]
    fn crlf_blank_lines_and_missing_final_newline_do_not_change_it() {
        let fp = pem_fingerprint(MINION_PUB);
        assert_eq!(pem_fingerprint(&MINION_PUB.replace('\n', "\r\n")), fp);
        assert_eq!(pem_fingerprint(MINION_PUB.trim_end()), fp);
        assert_eq!(pem_fingerprint(&MINION_PUB.replace('\n', "\n \n")), fp);
    }

    #[test]
    fn rejects_text_that_is_not_armored_pem() {
        assert_eq!(pem_fingerprint(""), None);
        assert_eq!(pem_fingerprint("garbage\n"), None);
        assert_eq!(
            pem_fingerprint("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"),
            None
        );
        assert_eq!(pem_fingerprint("-----BEGIN PUBLIC KEY-----\nQUJD\n"), None);
    }
}
