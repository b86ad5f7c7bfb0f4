//! TLS for the HTTP adapters: the client configuration every `https://` provider is reached
//! with, trusting the Mozilla roots relance ships (webpki-roots) plus any certificate
//! authority the operator adds (`channels.tls_ca_file`, for a private CA or a test server).
//! The SMTP adapter trusts the same added authorities.
//!
//! The added authorities are process-wide, like the operating system's store they stand in
//! for: they are set once at start, before the first send. This module owns trust, not the
//! exchange: `http.rs` speaks HTTP over the stream it returns.

use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// Why a certificate authority file cannot be trusted.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("channels.tls_ca_file {path}: {reason}")]
    CaFile { path: String, reason: String },
}

/// The client configuration in force, rebuilt when authorities are added.
static CONFIG: RwLock<Option<Arc<ClientConfig>>> = RwLock::new(None);
static EXTRA: RwLock<Vec<CertificateDer<'static>>> = RwLock::new(Vec::new());

/// Trusts the certificate authorities of a PEM file, besides the built-in roots, for every
/// HTTPS exchange from now on.
pub fn trust_ca_file(path: &Path) -> Result<(), TlsError> {
    let bad = |reason: String| TlsError::CaFile {
        path: path.display().to_string(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("holds no certificate".into()));
    }
    // Each certificate must parse as a trust anchor; a bad one is refused now, not at the
    // first send.
    let mut probe = RootCertStore::empty();
    for cert in &certs {
        probe.add(cert.clone()).map_err(|e| bad(e.to_string()))?;
    }
    EXTRA
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .extend(certs);
    *CONFIG.write().unwrap_or_else(|e| e.into_inner()) = None;
    Ok(())
}

fn config() -> Arc<ClientConfig> {
    if let Some(config) = CONFIG.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return Arc::clone(config);
    }
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in EXTRA.read().unwrap_or_else(|e| e.into_inner()).iter() {
        // Checked when it was added.
        let _ = roots.add(cert.clone());
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    *CONFIG.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&config));
    config
}

/// The authorities added by [`trust_ca_file`], DER-encoded, for transports that build their
/// own TLS configuration (the SMTP relay's, through lettre).
pub(crate) fn added_authorities() -> Vec<Vec<u8>> {
    EXTRA
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|c| c.as_ref().to_vec())
        .collect()
}

/// Opens TLS over `tcp` to `host`, checking the certificate against the trusted roots.
pub(crate) async fn connect(host: &str, tcp: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    TlsConnector::from(config()).connect(name, tcp).await
}
