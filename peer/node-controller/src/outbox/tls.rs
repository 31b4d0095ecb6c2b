//! TLS to Uyuni's database (`[uyuni] db_sslmode`, `db_ca_file`): rustls with the *ring*
//! provider ([`cluster_core::tls::provider`]), through `tokio-postgres-rustls`.
//!
//! | mode | on the wire | the server is checked |
//! |---|---|---|
//! | `disable` (default) | plain | no |
//! | `require` | TLS | no (libpq's `require` without a root certificate): stops eavesdroppers, not a man in the middle |
//! | `verify-full` | TLS | its chain against `db_ca_file` only, and its name against the DSN's `host` |
//!
//! The DSN's own `sslmode` may not contradict the setting (`sslmode=require` in the DSN with
//! `db_sslmode = "disable"` is refused rather than silently downgraded). TLS needs a TCP host:
//! PostgreSQL offers no TLS on its Unix socket.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::{Deserialize, Serialize};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How the outbox reader protects its connection (`[uyuni] db_sslmode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DbSslMode {
    /// Plain connection (a local database over its Unix socket or loopback).
    #[default]
    Disable,
    /// TLS without checking the server's certificate.
    Require,
    /// TLS; the server's chain must lead to `db_ca_file` and its name match the host.
    VerifyFull,
}

impl DbSslMode {
    /// The setting's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Require => "require",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// The reader's TLS settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbTls {
    /// The mode. Default `disable`.
    pub mode: DbSslMode,
    /// PEM CA certificate(s) trusted for `verify-full` (no other roots). Default none.
    pub ca_file: Option<PathBuf>,
}

/// A TLS setting that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum DbTlsError {
    /// `verify-full` without a CA file.
    #[error(
        "[uyuni] db_sslmode = \"verify-full\" needs db_ca_file (the CA of the database's certificate)"
    )]
    NoCaFile,
    /// A CA file with a mode that does not use it.
    #[error("[uyuni] db_ca_file is only used with db_sslmode = \"verify-full\" (it is {0:?})")]
    UnusedCaFile(&'static str),
    /// The CA file is unreadable or holds no certificate.
    #[error("[uyuni] db_ca_file: {0}")]
    Ca(#[from] cluster_core::tls::TlsError),
    /// The CA file's certificates are not usable as roots.
    #[error("[uyuni] db_ca_file {path}: {reason}")]
    BadCa {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The DSN says otherwise.
    #[error(
        "the database connection string sets sslmode={dsn}, but [uyuni] db_sslmode is {setting:?}: make them agree (db_sslmode decides)"
    )]
    Contradiction {
        /// The DSN's mode.
        dsn: &'static str,
        /// The setting.
        setting: &'static str,
    },
    /// TLS asked for a Unix-socket host.
    #[error(
        "[uyuni] db_sslmode = {0:?} needs a TCP host in the connection string (PostgreSQL has no TLS on its Unix socket)"
    )]
    UnixSocket(&'static str),
}

impl DbTls {
    /// Check the setting against itself and the parsed DSN (no file is read).
    pub fn check(&self, pg: &tokio_postgres::Config) -> Result<(), DbTlsError> {
        let setting = self.mode.as_str();
        match (self.mode, &self.ca_file) {
            (DbSslMode::VerifyFull, None) => return Err(DbTlsError::NoCaFile),
            (DbSslMode::Disable | DbSslMode::Require, Some(_)) => {
                return Err(DbTlsError::UnusedCaFile(setting));
            }
            _ => {}
        }
        let contradiction = match (pg.get_ssl_mode(), self.mode) {
            (SslMode::Require, DbSslMode::Disable) => Some("require"),
            (SslMode::Disable, DbSslMode::Require | DbSslMode::VerifyFull) => Some("disable"),
            _ => None,
        };
        if let Some(dsn) = contradiction {
            return Err(DbTlsError::Contradiction { dsn, setting });
        }
        if self.mode != DbSslMode::Disable
            && pg.get_hosts().iter().any(|h| matches!(h, Host::Unix(_)))
        {
            return Err(DbTlsError::UnixSocket(setting));
        }
        Ok(())
    }

    /// Set `pg`'s TLS mode and make the connector (reads the CA file).
    pub fn apply(&self, pg: &mut tokio_postgres::Config) -> Result<MakeRustlsConnect, DbTlsError> {
        self.check(pg)?;
        let builder = rustls::ClientConfig::builder_with_provider(cluster_core::tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| DbTlsError::BadCa {
                path: String::new(),
                reason: e.to_string(),
            })?;
        let config = match (self.mode, &self.ca_file) {
            (DbSslMode::VerifyFull, Some(ca)) => builder
                .with_root_certificates(roots(ca)?)
                .with_no_client_auth(),
            (DbSslMode::Require, _) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Unverified(
                    cluster_core::tls::provider(),
                )))
                .with_no_client_auth(),
            // Never used: tokio-postgres does not start TLS with `SslMode::Disable`.
            _ => builder
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        };
        pg.ssl_mode(match self.mode {
            DbSslMode::Disable => SslMode::Disable,
            DbSslMode::Require | DbSslMode::VerifyFull => SslMode::Require,
        });
        Ok(MakeRustlsConnect::new(config))
    }
}

fn roots(ca: &Path) -> Result<rustls::RootCertStore, DbTlsError> {
    let mut store = rustls::RootCertStore::empty();
    for cert in cluster_core::tls::read_certs(ca)? {
        store.add(cert).map_err(|e| DbTlsError::BadCa {
            path: ca.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    Ok(store)
}

/// `require`: any certificate is taken (libpq's `require`), but the handshake's signatures are
/// still checked, so the session key belongs to whoever holds the certificate's key.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(dsn: &str) -> tokio_postgres::Config {
        dsn.parse().expect("ok")
    }

    fn tls(mode: DbSslMode, ca: Option<&str>) -> DbTls {
        DbTls {
            mode,
            ca_file: ca.map(PathBuf::from),
        }
    }

    #[test]
    fn modes_read_as_libpq_spells_them() {
        let m = |s: &str| serde_json::from_str::<DbSslMode>(&format!("{s:?}"));
        assert_eq!(m("disable").expect("ok"), DbSslMode::Disable);
        assert_eq!(m("require").expect("ok"), DbSslMode::Require);
        assert_eq!(m("verify-full").expect("ok"), DbSslMode::VerifyFull);
        assert!(m("prefer").is_err());
        assert_eq!(DbSslMode::default(), DbSslMode::Disable);
    }

    #[test]
    fn settings_that_cannot_work_are_refused() {
        let tcp = pg("host=db.example.org user=u");
        assert!(tls(DbSslMode::Disable, None).check(&tcp).is_ok());
        assert!(tls(DbSslMode::Require, None).check(&tcp).is_ok());
        assert!(
            tls(DbSslMode::VerifyFull, Some("/ca.pem"))
                .check(&tcp)
                .is_ok()
        );
        assert!(matches!(
            tls(DbSslMode::VerifyFull, None).check(&tcp),
            Err(DbTlsError::NoCaFile)
        ));
        assert!(matches!(
            tls(DbSslMode::Require, Some("/ca.pem")).check(&tcp),
            Err(DbTlsError::UnusedCaFile("require"))
        ));
        assert!(matches!(
            tls(DbSslMode::Disable, None).check(&pg("host=db sslmode=require")),
            Err(DbTlsError::Contradiction { dsn: "require", .. })
        ));
        assert!(matches!(
            tls(DbSslMode::VerifyFull, Some("/ca.pem")).check(&pg("host=db sslmode=disable")),
            Err(DbTlsError::Contradiction { dsn: "disable", .. })
        ));
        let unix = pg("host=/var/run/postgresql user=u");
        assert!(tls(DbSslMode::Disable, None).check(&unix).is_ok());
        assert!(matches!(
            tls(DbSslMode::Require, None).check(&unix),
            Err(DbTlsError::UnixSocket("require"))
        ));
    }

    #[test]
    fn an_unreadable_ca_file_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("ok");
        let missing = dir.path().join("missing.pem");
        let t = DbTls {
            mode: DbSslMode::VerifyFull,
            ca_file: Some(missing.clone()),
        };
        let err = t
            .apply(&mut pg("host=db"))
            .err()
            .expect("refused")
            .to_string();
        assert!(
            err.contains("db_ca_file") && err.contains("missing.pem"),
            "{err}"
        );
        std::fs::write(&missing, "not PEM\n").expect("ok");
        let err = t
            .apply(&mut pg("host=db"))
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("db_ca_file"), "{err}");
    }

    #[test]
    fn apply_sets_the_wire_mode() {
        let mut c = pg("host=db");
        tls(DbSslMode::Disable, None).apply(&mut c).expect("ok");
        assert_eq!(c.get_ssl_mode(), SslMode::Disable);
        let mut c = pg("host=db");
        tls(DbSslMode::Require, None).apply(&mut c).expect("ok");
        assert_eq!(c.get_ssl_mode(), SslMode::Require);
    }
}
