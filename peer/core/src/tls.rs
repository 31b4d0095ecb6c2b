//! TLS for the peer's HTTP API: the cluster CA, node certificates, and rustls configurations.
//!
//! Every cluster has one CA (`ca.pem` + `ca.key`, made once by `uyuni-cluster ca init`). It
//! signs one certificate per peer (`NAME.pem` + `NAME.key`, `uyuni-cluster ca issue`), which
//! the peer serves on its HTTP listener; clients (the CLI, agents, tests) trust `ca.pem` and
//! nothing else. The CA key stays with whoever issues certificates: peers need only their own
//! certificate and key.
//!
//! Crypto is rustls with the *ring* provider only. [`provider`] hands it out and every
//! configuration built here names it explicitly, so nothing depends on a process-wide default
//! or on which crypto features other crates happen to enable; [`install_default_provider`]
//! additionally makes it the process default for code that does rely on it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::crypto::CryptoProvider;
pub use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{PrivateKeyDer, ServerName};

/// File name of the CA certificate in a CA directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key in a CA directory.
pub const CA_KEY_FILE: &str = "ca.key";
/// Validity of a new CA: ten years. Rotating a CA means re-issuing every node certificate
/// and redistributing `ca.pem`, so it should be rare.
pub const CA_VALIDITY: Duration = Duration::from_secs(3650 * 24 * 3600);
/// Validity of a node certificate: 825 days, the longest the public web PKI used to allow;
/// re-issuing one is cheap (`uyuni-cluster ca issue` again, then restart the peer).
pub const NODE_VALIDITY: Duration = Duration::from_secs(825 * 24 * 3600);
/// Certificates are valid from this long before they are made, so that a peer whose clock
/// is slightly behind the issuer's accepts them at once.
const BACKDATE: Duration = Duration::from_secs(3600);

/// Problems with CA files, certificates and TLS configurations.
///
/// Messages leave the underlying error to [`std::error::Error::source`] (shown by `{:#}` in
/// the binary), so it is printed once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `ca init` refuses to overwrite an existing CA.
    #[error(
        "{path} already exists; refusing to overwrite the cluster CA (use --force to replace it)"
    )]
    Exists {
        /// The existing file.
        path: String,
    },
    /// A certificate name is not usable as a file name and common name.
    #[error("invalid certificate name {name:?}: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A subject alternative name is neither an IP address nor a DNS name.
    #[error("invalid subject alternative name {san:?}: not an IP address or a DNS name")]
    InvalidSan {
        /// The name.
        san: String,
    },
    /// A PEM file holds no usable certificate or key.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// rcgen could not make or sign a certificate (or parse the CA's).
    #[error("certificate generation")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused the certificate and key (for instance, they do not match).
    #[error("TLS configuration from {cert} and {key}")]
    Config {
        /// The certificate file.
        cert: String,
        /// The key file.
        key: String,
        /// rustls's complaint.
        #[source]
        source: rustls::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The crypto provider of every TLS configuration in this crate: rustls's *ring* provider.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// Make [`provider`] the process-wide rustls default. Binaries call this once at start-up;
/// later calls (or a default installed by someone else) leave the existing default alone.
pub fn install_default_provider() {
    let _ = CryptoProvider::install_default(Arc::unwrap_or_clone(provider()));
}

/// Where `init_ca` wrote the CA.
#[derive(Debug, Clone)]
pub struct CaFiles {
    /// The CA certificate (`DIR/ca.pem`): distribute it to every client.
    pub cert: PathBuf,
    /// The CA private key (`DIR/ca.key`, mode 0600): keep it with the issuer only.
    pub key: PathBuf,
}

/// A node certificate written by [`issue`].
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// The certificate (`DIR/NAME.pem`).
    pub cert: PathBuf,
    /// Its private key (`DIR/NAME.key`, mode 0600).
    pub key: PathBuf,
    /// The subject alternative names it carries.
    pub sans: Vec<String>,
}

/// Create a new cluster CA in `dir` (created if needed): `ca.pem` and `ca.key` (0600).
///
/// Refuses to touch an existing `ca.pem` or `ca.key` unless `force` is set, because replacing
/// the CA invalidates every certificate it issued.
pub fn init_ca(dir: &Path, force: bool) -> Result<CaFiles, TlsError> {
    let files = CaFiles {
        cert: dir.join(CA_CERT_FILE),
        key: dir.join(CA_KEY_FILE),
    };
    if !force {
        for p in [&files.cert, &files.key] {
            if p.exists() {
                return Err(TlsError::Exists {
                    path: p.display().to_string(),
                });
            }
        }
    }
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    // A random id in the name tells CAs apart (two clusters, or the old and the new CA while
    // rotating), for people and for certificate path building alike.
    let id: u32 = rand::random();
    params.distinguished_name = dn(&format!("Uyuni cluster CA {id:08x}"));
    // The CA signs node certificates only, never another CA.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, CA_VALIDITY);
    let cert = params.self_signed(&key)?;
    write_file(&files.key, key.serialize_pem().as_bytes(), 0o600)?;
    write_file(&files.cert, cert.pem().as_bytes(), 0o644)?;
    Ok(files)
}

/// The SANs a node certificate gets when none are given: `name`, `localhost`, `127.0.0.1`.
pub fn default_sans(name: &str) -> Vec<String> {
    vec![name.to_string(), "localhost".into(), "127.0.0.1".into()]
}

/// Issue a certificate for the peer `name` with the CA in `dir`: writes `DIR/NAME.pem` and
/// `DIR/NAME.key` (0600), replacing earlier ones (re-issuing is how a node certificate is
/// rotated). `sans` are host names or IP addresses clients use to reach the peer; empty means
/// [`default_sans`].
pub fn issue(dir: &Path, name: &str, sans: &[String]) -> Result<IssuedCert, TlsError> {
    issue_as(dir, name, sans, Role::Peer)
}

/// Issue a client certificate for an operator (or a tool) with the CA in `dir`: writes
/// `DIR/NAME.pem` and `DIR/NAME.key` (0600). It authenticates to every peer's admin API with
/// `role` ([`Role::Operator`]: everything; [`Role::Reader`]: reads only); it cannot serve.
pub fn issue_client(dir: &Path, name: &str, role: Role) -> Result<IssuedCert, TlsError> {
    issue_as(dir, name, &[], role)
}

fn issue_as(dir: &Path, name: &str, sans: &[String], role: Role) -> Result<IssuedCert, TlsError> {
    check_name(name)?;
    let sans = match role {
        Role::Peer if sans.is_empty() => default_sans(name),
        Role::Peer => sans.to_vec(),
        Role::Operator | Role::Reader => Vec::new(),
    };
    let mut san_types = Vec::with_capacity(sans.len());
    for s in &sans {
        san_types.push(san_type(s)?);
    }
    let (ca_cert, ca_key) = (dir.join(CA_CERT_FILE), dir.join(CA_KEY_FILE));
    let ca_cert_pem = std::fs::read_to_string(&ca_cert).map_err(io_err(&ca_cert))?;
    let ca_key_pem = std::fs::read_to_string(&ca_key).map_err(io_err(&ca_key))?;
    let ca_key_pair = KeyPair::from_pem(&ca_key_pem).map_err(|e| TlsError::Pem {
        path: ca_key.display().to_string(),
        reason: format!("not a CA key: {e}"),
    })?;
    let issuer =
        Issuer::from_ca_cert_pem(&ca_cert_pem, ca_key_pair).map_err(|e| TlsError::Pem {
            path: ca_cert.display().to_string(),
            reason: format!("not a CA certificate: {e}"),
        })?;

    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(name);
    params
        .distinguished_name
        .push(DnType::OrganizationalUnitName, role.as_str());
    params.subject_alt_names = san_types;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    // A peer's certificate also authenticates it as a client (peer-to-peer calls, the
    // gateway); an operator's only as a client.
    params.extended_key_usages = match role {
        Role::Peer => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
        Role::Operator | Role::Reader => vec![ExtendedKeyUsagePurpose::ClientAuth],
    };
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, NODE_VALIDITY);
    let cert = params.signed_by(&key, &issuer)?;
    let out = IssuedCert {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
        sans,
    };
    write_file(&out.key, key.serialize_pem().as_bytes(), 0o600)?;
    write_file(&out.cert, cert.pem().as_bytes(), 0o644)?;
    Ok(out)
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Uyuni cluster");
    dn.push(DnType::CommonName, common_name);
    dn
}

fn set_validity(params: &mut CertificateParams, validity: Duration) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + validity;
    let mut serial = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut serial);
    // A positive, non-zero serial (DER integers are signed).
    serial[0] = (serial[0] & 0x7f) | 0x01;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
}

fn check_name(name: &str) -> Result<(), TlsError> {
    let bad = |reason| {
        Err(TlsError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() || name.len() > 64 {
        return bad("must be 1-64 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return bad("only letters, digits, '-', '_' and '.' are allowed");
    }
    if name.starts_with('.') {
        return bad("must not start with '.'");
    }
    if name == "ca" {
        return bad("\"ca\" is the CA's own file name");
    }
    Ok(())
}

/// An IP address, or a DNS name a client could connect by.
fn san_type(s: &str) -> Result<SanType, TlsError> {
    let invalid = || TlsError::InvalidSan { san: s.to_string() };
    match ServerName::try_from(s).map_err(|_| invalid())? {
        ServerName::IpAddress(ip) => Ok(SanType::IpAddress(std::net::IpAddr::from(ip))),
        ServerName::DnsName(_) => Ok(SanType::DnsName(s.try_into().map_err(|_| invalid())?)),
        _ => Err(invalid()),
    }
}

/// Write `bytes` to `path` with permissions `mode`: to a temporary file first (created with
/// `mode`, so a key is never readable by others, not even briefly), fsync'd, then renamed over
/// `path`.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    // The umask may have removed bits from `mode`; set exactly what was asked.
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .and_then(|()| f.write_all(bytes))
        .and_then(|()| f.sync_all())
        .map_err(io_err(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// Read every certificate of a PEM file (a node's chain, leaf first, or a CA bundle).
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = std::fs::read(path).map_err(io_err(path))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: path.display().to_string(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

/// Read the private key of a PEM file.
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = std::fs::read(path).map_err(io_err(path))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::Pem {
        path: path.display().to_string(),
        reason: format!("no private key: {e}"),
    })
}

/// The rustls server configuration of a peer's HTTP listener: its certificate chain and key,
/// TLS 1.2 and 1.3, ALPN `http/1.1`. With `client_ca`, clients may present a certificate from
/// that CA (verified in the handshake; a certificate from another CA fails the handshake),
/// and the admin door asks for one ([`crate::serve::ConnInfo::client`]); clients without one
/// (agents) still connect.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    use std::os::unix::fs::PermissionsExt;
    let chain = read_certs(cert)?;
    let private = read_key(key)?;
    if let Ok(meta) = std::fs::metadata(key)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            "TLS key {} is readable by group or others; it should be mode 0600",
            key.display()
        );
    }
    let config_err = |source| TlsError::Config {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
        source,
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(config_err)?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => builder.with_client_cert_verifier(client_verifier(ca)?),
    };
    let mut cfg = builder
        .with_single_cert(chain, private)
        .map_err(config_err)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Verifies client certificates against the CA in `ca`; a client without one is let in
/// (unauthenticated: the agents' door).
fn client_verifier(
    ca: &Path,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in read_certs(ca)? {
        roots.add(c).map_err(|e| TlsError::Pem {
            path: ca.display().to_string(),
            reason: format!("not a usable CA certificate: {e}"),
        })?;
    }
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::Pem {
            path: ca.display().to_string(),
            reason: format!("client verifier: {e}"),
        })
}

/// What a certificate from the cluster CA lets its holder do, written in its subject's
/// organisational unit by [`issue`] and [`issue_client`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A peer (or gateway): serves, and calls other peers' admin APIs with full rights.
    Peer,
    /// An operator or tool: every admin endpoint.
    Operator,
    /// Reads only: GET and HEAD of the admin API; 403 on anything that changes state.
    Reader,
}

impl Role {
    /// The organisational-unit value.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Peer => "peer",
            Role::Operator => "operator",
            Role::Reader => "reader",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "peer" => Some(Role::Peer),
            "operator" => Some(Role::Operator),
            "reader" => Some(Role::Reader),
            _ => None,
        }
    }

    /// Whether the role may change state (any method but GET and HEAD).
    pub fn may_write(self) -> bool {
        !matches!(self, Role::Reader)
    }
}

/// Who a verified client certificate names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientIdentity {
    /// The common name (`ca issue --name`).
    pub name: String,
    /// Its role. Certificates issued before roles existed (no organisational unit) are
    /// peers' certificates: [`Role::Peer`].
    pub role: Role,
}

/// The identity of an (already verified) client certificate, `None` if it does not parse or
/// names an unknown role (refused rather than guessed).
pub fn client_identity(der: &[u8]) -> Option<ClientIdentity> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    let role = match subject.iter_organizational_unit().next() {
        None => Role::Peer,
        Some(ou) => Role::parse(ou.as_str().ok()?)?,
    };
    Some(ClientIdentity { name, role })
}

/// A rustls server configuration with a fresh self-signed certificate for `names` (the
/// gateway's development mode: clients must skip verification or pin it).
pub fn self_signed_config(names: &[String]) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let cert = rcgen::generate_simple_self_signed(names.to_vec())?;
    let chain = vec![cert.cert.der().clone()];
    let key =
        PrivateKeyDer::try_from(cert.signing_key.serialize_der()).map_err(|e| TlsError::Pem {
            path: "(self-signed)".into(),
            reason: e.to_string(),
        })?;
    let config_err = |source| TlsError::Config {
        cert: "(self-signed)".into(),
        key: "(self-signed)".into(),
        source,
    };
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(config_err)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(config_err)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::UnixTime;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
    }

    /// Verify `cert` for `host` the way a client trusting only `ca` does.
    fn verify(ca: &Path, cert: &Path, host: &str) -> Result<(), rustls::Error> {
        let mut roots = rustls::RootCertStore::empty();
        for c in read_certs(ca).expect("ca") {
            roots.add(c).expect("root");
        }
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider(),
        )
        .build()
        .expect("verifier");
        let chain = read_certs(cert).expect("cert");
        verifier
            .verify_server_cert(
                &chain[0],
                &chain[1..],
                &ServerName::try_from(host.to_string()).expect("name"),
                &[],
                UnixTime::now(),
            )
            .map(|_| ())
    }

    #[test]
    fn init_ca_writes_a_private_key_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().expect("dir");
        let ca_dir = dir.path().join("ca");
        let files = init_ca(&ca_dir, false).expect("init");
        assert_eq!(mode(&files.key), 0o600);
        assert_eq!(mode(&files.cert), 0o644);
        let before = std::fs::read(&files.cert).expect("read");
        assert!(matches!(
            init_ca(&ca_dir, false),
            Err(TlsError::Exists { .. })
        ));
        assert_eq!(
            std::fs::read(&files.cert).expect("read"),
            before,
            "untouched"
        );
        // A lone key (say, the certificate was moved away) is protected too.
        std::fs::remove_file(&files.cert).expect("rm");
        assert!(matches!(
            init_ca(&ca_dir, false),
            Err(TlsError::Exists { .. })
        ));
        let again = init_ca(&ca_dir, true).expect("force");
        assert_ne!(std::fs::read(&again.cert).expect("read"), before);
        assert_eq!(mode(&again.key), 0o600);
    }

    #[test]
    fn issued_certificate_verifies_against_its_ca_for_each_san_only() {
        let dir = tempfile::tempdir().expect("dir");
        let ca = init_ca(dir.path(), false).expect("init");
        let leaf = issue(dir.path(), "srv1", &[]).expect("issue");
        assert_eq!(leaf.sans, default_sans("srv1"));
        assert_eq!(mode(&leaf.key), 0o600);
        for host in ["srv1", "localhost", "127.0.0.1"] {
            verify(&ca.cert, &leaf.cert, host).unwrap_or_else(|e| panic!("{host}: {e}"));
        }
        assert!(verify(&ca.cert, &leaf.cert, "other.example").is_err());

        let custom = issue(
            dir.path(),
            "srv2",
            &[
                "srv2.dc1.example.org".into(),
                "10.1.2.3".into(),
                "::1".into(),
            ],
        )
        .expect("issue");
        for host in ["srv2.dc1.example.org", "10.1.2.3", "::1"] {
            verify(&ca.cert, &custom.cert, host).unwrap_or_else(|e| panic!("{host}: {e}"));
        }
        assert!(
            verify(&ca.cert, &custom.cert, "localhost").is_err(),
            "explicit SANs replace the defaults"
        );

        // Another CA's client does not trust it.
        let other = tempfile::tempdir().expect("dir");
        let other_ca = init_ca(other.path(), false).expect("init");
        assert!(verify(&other_ca.cert, &leaf.cert, "localhost").is_err());

        // The pair loads as a server configuration; a mismatched pair does not.
        server_config(&leaf.cert, &leaf.key, None).expect("server config");
        assert!(matches!(
            server_config(&leaf.cert, &custom.key, None),
            Err(TlsError::Config { .. })
        ));
    }

    #[test]
    fn reissuing_replaces_and_bad_input_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        assert!(
            matches!(issue(dir.path(), "srv", &[]), Err(TlsError::Io { .. })),
            "no CA yet"
        );
        init_ca(dir.path(), false).expect("init");
        let a = issue(dir.path(), "srv", &[]).expect("issue");
        let first = std::fs::read(&a.cert).expect("read");
        let b = issue(dir.path(), "srv", &[]).expect("reissue");
        assert_ne!(std::fs::read(&b.cert).expect("read"), first);
        for name in ["", "ca", "../x", "a b", ".hidden"] {
            assert!(
                matches!(
                    issue(dir.path(), name, &[]),
                    Err(TlsError::InvalidName { .. })
                ),
                "{name:?}"
            );
        }
        for san in ["", "has space", "under_score..", "http://x"] {
            assert!(
                matches!(
                    issue(dir.path(), "srv", &[san.to_string()]),
                    Err(TlsError::InvalidSan { .. })
                ),
                "{san:?}"
            );
        }
        std::fs::write(dir.path().join("junk.pem"), "not pem").expect("write");
        assert!(matches!(
            read_certs(&dir.path().join("junk.pem")),
            Err(TlsError::Pem { .. })
        ));
    }
}
