//! PEM to DER, and the RSA public key (PKCS#1 `RSAPublicKey`, what ring verifies with) out of
//! salt's `minion.pub`: a `PUBLIC KEY` document (SPKI, salt 3000 and later) or an
//! `RSA PUBLIC KEY` document (PKCS#1, older salt).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::fingerprint::is_ascii_space;

/// A PEM document or the key in it is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PemError {
    /// No `-----BEGIN X-----` … `-----END X-----` frame around a body.
    #[error("not a PEM document")]
    NotPem,
    /// The document holds something else than expected.
    #[error("a PEM {found:?} document, not a {expected}")]
    Label {
        /// The label found.
        found: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The body is not base64.
    #[error("the PEM body is not base64")]
    Base64,
    /// The DER inside is not an RSA public key.
    #[error("not an RSA public key: {0}")]
    NotRsa(&'static str),
}

/// The label and DER bytes of a PEM document (one document; blank lines and CRLF tolerated).
pub fn decode(pem: &str) -> Result<(String, Vec<u8>), PemError> {
    let lines: Vec<&str> = pem
        .lines()
        .map(|l| l.trim_matches(is_ascii_space))
        .filter(|l| !l.is_empty())
        .collect();
    let [first, body @ .., last] = lines.as_slice() else {
        return Err(PemError::NotPem);
    };
    let label = first
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or(PemError::NotPem)?;
    let end = last
        .strip_prefix("-----END ")
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or(PemError::NotPem)?;
    if label != end || body.is_empty() {
        return Err(PemError::NotPem);
    }
    let b64: String = body.concat();
    let der = STANDARD.decode(b64).map_err(|_| PemError::Base64)?;
    Ok((label.to_string(), der))
}

/// A PEM document of `der` under `label`, its body lines `widths[0]`, `widths[1]`, …
/// characters long, then 64 (the usual width; a zero width counts as 64).
pub fn encode(label: &str, der: &[u8], widths: &[usize]) -> String {
    let body = STANDARD.encode(der);
    let mut rest = body.as_str();
    let mut out = format!("-----BEGIN {label}-----\n");
    let mut widths = widths.iter().copied();
    while !rest.is_empty() {
        let width = widths.next().filter(|w| *w > 0).unwrap_or(64);
        let (line, tail) = rest.split_at(width.min(rest.len()));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The PKCS#1 `RSAPublicKey` DER of a `PUBLIC KEY` (SPKI with rsaEncryption) or
/// `RSA PUBLIC KEY` PEM document. ring checks the key itself (size, exponent) when verifying.
pub fn rsa_public_key(pem: &str) -> Result<Vec<u8>, PemError> {
    let (label, der) = decode(pem)?;
    match label.as_str() {
        "RSA PUBLIC KEY" => Ok(der),
        "PUBLIC KEY" => spki_rsa(&der).map(<[u8]>::to_vec),
        _ => Err(PemError::Label {
            found: label,
            expected: "PUBLIC KEY or RSA PUBLIC KEY",
        }),
    }
}

/// DER of the OID 1.2.840.113549.1.1.1 (rsaEncryption), without tag and length.
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// `SubjectPublicKeyInfo ::= SEQUENCE { algorithm SEQUENCE { OID, params }, BIT STRING }`:
/// the bit string's bytes when the algorithm is rsaEncryption.
fn spki_rsa(der: &[u8]) -> Result<&[u8], PemError> {
    let (spki, rest) = tlv(der, 0x30)?;
    if !rest.is_empty() {
        return Err(PemError::NotRsa("bytes after the key"));
    }
    let (algorithm, rest) = tlv(spki, 0x30)?;
    let (oid, _params) = tlv(algorithm, 0x06)?;
    if oid != RSA_ENCRYPTION {
        return Err(PemError::NotRsa("the algorithm is not rsaEncryption"));
    }
    let (bits, rest) = tlv(rest, 0x03)?;
    if !rest.is_empty() {
        return Err(PemError::NotRsa("bytes after the key"));
    }
    match bits {
        [0, key @ ..] if !key.is_empty() => Ok(key),
        _ => Err(PemError::NotRsa("malformed bit string")),
    }
}

/// One DER element of tag `tag`: its contents and what follows it.
fn tlv(der: &[u8], tag: u8) -> Result<(&[u8], &[u8]), PemError> {
    let [t, first, rest @ ..] = der else {
        return Err(PemError::NotRsa("truncated"));
    };
    if *t != tag {
        return Err(PemError::NotRsa("unexpected element"));
    }
    let (len, rest) = if first & 0x80 == 0 {
        (usize::from(*first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 3 || rest.len() < n {
            return Err(PemError::NotRsa("bad length"));
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(PemError::NotRsa("truncated"));
    }
    Ok(rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINION_PUB: &str = include_str!("../tests/data/minion.pub");

    #[test]
    fn encoding_at_64_gives_back_salts_text() {
        let (label, der) = decode(MINION_PUB).unwrap();
        assert_eq!(encode(&label, &der, &[]), MINION_PUB);
        let narrow = encode(&label, &der, &[10, 20]);
        assert_eq!(decode(&narrow).unwrap(), (label, der));
        assert!(narrow.lines().nth(1).is_some_and(|l| l.len() == 10));
    }

    #[test]
    fn finds_the_rsa_key_in_salts_spki() {
        let key = rsa_public_key(MINION_PUB).unwrap();
        // RSAPublicKey ::= SEQUENCE { n, e }: 2048-bit modulus, 270 bytes in all.
        assert_eq!(key[0], 0x30);
        assert_eq!(key.len(), 270);
    }

    #[test]
    fn a_pkcs1_public_key_is_taken_as_it_is() {
        let spki = rsa_public_key(MINION_PUB).unwrap();
        let b64 = STANDARD.encode(&spki);
        let pkcs1 =
            format!("-----BEGIN RSA PUBLIC KEY-----\n{b64}\n-----END RSA PUBLIC KEY-----\n");
        assert_eq!(rsa_public_key(&pkcs1).unwrap(), spki);
    }

    #[test]
    fn refuses_what_is_not_an_rsa_public_key() {
        assert_eq!(rsa_public_key(""), Err(PemError::NotPem));
        assert_eq!(
            rsa_public_key("-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n"),
            Err(PemError::Base64)
        );
        assert!(matches!(
            rsa_public_key("-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n"),
            Err(PemError::Label { .. })
        ));
        assert!(matches!(
            rsa_public_key("-----BEGIN PUBLIC KEY-----\nQUJD\n-----END PUBLIC KEY-----\n"),
            Err(PemError::NotRsa(_))
        ));
        assert_eq!(
            rsa_public_key("-----BEGIN PUBLIC KEY-----\nQUJD\n-----END OTHER-----\n"),
            Err(PemError::NotPem)
        );
        // Every truncation of a real key is refused, none panics.
        let (_, der) = decode(MINION_PUB).unwrap();
        for n in 0..der.len() {
            assert!(spki_rsa(&der[..n]).is_err(), "{n}");
        }
    }
}
