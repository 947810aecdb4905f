//! TLS: the development CA (generated once into the state directory and reused), the server
//! certificate it issues at every start, and the rustls server configurations (ring provider
//! only) for the HTTPS and the direct listener.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;

use crate::error::ServerError;
use crate::state::atomic::write_atomic;

/// File name of the development CA certificate inside the state directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the development CA's private key inside the state directory.
pub const CA_KEY_FILE: &str = "ca.key.pem";

const CA_COMMON_NAME: &str = "Glance Development CA";
const CA_ORGANIZATION: &str = "Glance";

/// The TLS material a running server uses.
#[derive(Clone)]
pub struct TlsSetup {
    /// For the HTTPS listener (ALPN http/1.1).
    pub https: Arc<ServerConfig>,
    /// For the visitors' direct listener.
    pub direct: Arc<ServerConfig>,
    /// Absolute path of the development CA certificate; `None` with an operator certificate.
    pub ca_cert: Option<PathBuf>,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("ca_cert", &self.ca_cert)
            .finish_non_exhaustive()
    }
}

fn tls_err(what: &str, e: impl std::fmt::Display) -> ServerError {
    ServerError::Tls(format!("{what}: {e}"))
}

/// Builds the TLS setup: an operator certificate when `cert` is given, otherwise a fresh
/// certificate for `host` (and localhost, 127.0.0.1, ::1) issued by the development CA.
pub fn setup(
    state_dir: &Path,
    host: &str,
    cert: Option<&(PathBuf, PathBuf)>,
) -> Result<TlsSetup, ServerError> {
    let (chain, key, ca_cert) = match cert {
        Some((cert_path, key_path)) => {
            let (chain, key) = load_pem_pair(cert_path, key_path)?;
            (chain, key, None)
        }
        None => {
            let ca = DevCa::load_or_create(state_dir)?;
            let (chain, key) = ca.issue_server_cert(host)?;
            (chain, key, Some(ca.cert_path))
        }
    };
    let https = server_config(chain.clone(), key.clone_key(), vec![b"http/1.1".to_vec()])?;
    let direct = server_config(chain, key, Vec::new())?;
    Ok(TlsSetup {
        https,
        direct,
        ca_cert,
    })
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: Vec<Vec<u8>>,
) -> Result<Arc<ServerConfig>, ServerError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("protocol versions", e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| tls_err("server certificate", e))?;
    cfg.alpn_protocols = alpn;
    Ok(Arc::new(cfg))
}

fn load_pem_pair(
    cert_path: &Path,
    key_path: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ServerError> {
    let cert_pem = std::fs::read(cert_path).map_err(|e| ServerError::io(cert_path, e))?;
    let chain = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_err(&cert_path.display().to_string(), e))?;
    if chain.is_empty() {
        return Err(ServerError::Tls(format!(
            "{}: no CERTIFICATE block found",
            cert_path.display()
        )));
    }
    let key_pem = std::fs::read(key_path).map_err(|e| ServerError::io(key_path, e))?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| tls_err(&key_path.display().to_string(), e))?
        .ok_or_else(|| ServerError::Tls(format!("{}: no private key found", key_path.display())))?;
    Ok((chain, key))
}

/// The development CA: its key, the parameters it signs with, and its files.
struct DevCa {
    params: CertificateParams,
    key: KeyPair,
    cert_der: CertificateDer<'static>,
    cert_path: PathBuf,
}

fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    dn.push(DnType::OrganizationName, CA_ORGANIZATION);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p
}

impl DevCa {
    fn load_or_create(state_dir: &Path) -> Result<DevCa, ServerError> {
        std::fs::create_dir_all(state_dir).map_err(|e| ServerError::io(state_dir, e))?;
        let dir = std::fs::canonicalize(state_dir).map_err(|e| ServerError::io(state_dir, e))?;
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        if cert_path.exists() && key_path.exists() {
            if let Some(ca) = load_existing(&cert_path, &key_path)? {
                return Ok(ca);
            }
        }
        let key = KeyPair::generate().map_err(|e| tls_err("CA key", e))?;
        let mut params = ca_params();
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(3650);
        let cert = params
            .self_signed(&key)
            .map_err(|e| tls_err("CA certificate", e))?;
        // The key first: a kill between the two leaves a key without a certificate, which the
        // next start treats as "no CA yet". Each file is replaced atomically.
        write_atomic(&key_path, key.serialize_pem().as_bytes(), true)
            .map_err(|e| ServerError::io(&key_path, e))?;
        write_atomic(&cert_path, cert.pem().as_bytes(), false)
            .map_err(|e| ServerError::io(&cert_path, e))?;
        log::info!("created development CA {}", cert_path.display());
        Ok(DevCa {
            params,
            key,
            cert_der: cert.der().clone(),
            cert_path,
        })
    }

    fn issue_server_cert(
        &self,
        host: &str,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ServerError> {
        let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
        if !names.iter().any(|n| n == host) {
            names.push(host.to_string());
        }
        let mut params =
            CertificateParams::new(names).map_err(|e| tls_err("server certificate names", e))?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, host);
        params.distinguished_name = dn;
        params.is_ca = IsCa::NoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(365);
        let key = KeyPair::generate().map_err(|e| tls_err("server key", e))?;
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(|e| tls_err("server certificate", e))?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((vec![cert.der().clone(), self.cert_der.clone()], key_der))
    }
}

/// The CA in the state directory, or `None` when the certificate file holds no certificate
/// at all (empty or without a CERTIFICATE block: what a kill during an older server's first
/// start could leave; nobody can have trusted it, so a new CA is made). A certificate or key
/// that is there but corrupt refuses the start.
fn load_existing(cert_path: &Path, key_path: &Path) -> Result<Option<DevCa>, ServerError> {
    let cert_pem = std::fs::read(cert_path).map_err(|e| ServerError::io(cert_path, e))?;
    let has_block = String::from_utf8_lossy(&cert_pem).contains("-----BEGIN CERTIFICATE-----");
    if !has_block {
        log::warn!(
            "{} holds no certificate ({} bytes; an interrupted first start?): creating a new development CA",
            cert_path.display(),
            cert_pem.len()
        );
        return Ok(None);
    }
    let cert_der = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .next()
        .ok_or_else(|| {
            ServerError::Tls(format!(
                "{}: no CERTIFICATE block could be read; remove the file and {} to make a new CA",
                cert_path.display(),
                key_path.display()
            ))
        })?
        .map_err(|e| {
            tls_err(
                &format!(
                    "{} is corrupt (remove it and {} to make a new CA)",
                    cert_path.display(),
                    key_path.display()
                ),
                e,
            )
        })?;
    let key_pem = std::fs::read_to_string(key_path).map_err(|e| ServerError::io(key_path, e))?;
    let key =
        KeyPair::from_pem(&key_pem).map_err(|e| tls_err(&key_path.display().to_string(), e))?;
    log::info!("reusing development CA {}", cert_path.display());
    Ok(Some(DevCa {
        params: ca_params(),
        key,
        cert_der,
        cert_path: cert_path.to_path_buf(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("glance-tls-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = setup(&dir, "127.0.0.1", None).unwrap();
        let pem1 = std::fs::read(dir.join(CA_CERT_FILE)).unwrap();
        let b = setup(&dir, "example.test", None).unwrap();
        let pem2 = std::fs::read(dir.join(CA_CERT_FILE)).unwrap();
        assert_eq!(pem1, pem2);
        assert_eq!(a.ca_cert, b.ca_cert);
        assert!(a.ca_cert.unwrap().is_absolute());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_empty_certificate_beside_a_key_makes_a_new_ca() {
        let dir = tempfile::tempdir().unwrap();
        setup(dir.path(), "127.0.0.1", None).unwrap();
        let key_before = std::fs::read(dir.path().join(CA_KEY_FILE)).unwrap();
        std::fs::write(dir.path().join(CA_CERT_FILE), b"").unwrap();
        let s = setup(dir.path(), "127.0.0.1", None).unwrap();
        let pem = std::fs::read_to_string(s.ca_cert.unwrap()).unwrap();
        assert!(pem.contains("BEGIN CERTIFICATE"));
        assert_ne!(
            std::fs::read(dir.path().join(CA_KEY_FILE)).unwrap(),
            key_before
        );
        // The new pair is reused afterwards.
        let again = std::fs::read_to_string(dir.path().join(CA_CERT_FILE)).unwrap();
        setup(dir.path(), "127.0.0.1", None).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(CA_CERT_FILE)).unwrap(),
            again
        );
    }

    #[test]
    fn a_key_without_a_certificate_makes_a_new_ca() {
        let dir = tempfile::tempdir().unwrap();
        setup(dir.path(), "127.0.0.1", None).unwrap();
        std::fs::remove_file(dir.path().join(CA_CERT_FILE)).unwrap();
        setup(dir.path(), "127.0.0.1", None).unwrap();
        assert!(dir.path().join(CA_CERT_FILE).exists());
    }

    #[test]
    fn a_corrupt_certificate_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        setup(dir.path(), "127.0.0.1", None).unwrap();
        std::fs::write(
            dir.path().join(CA_CERT_FILE),
            "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = setup(dir.path(), "127.0.0.1", None).unwrap_err();
        assert!(e.to_string().contains(CA_CERT_FILE), "{e}");
    }
}
