//! TLS material shared by the listeners (feature `tls`): server certificates from PEM files,
//! PEM bytes or a fresh self-signed certificate, and rustls server configurations with the ring
//! provider.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// Why TLS material could not be loaded or configured.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A PEM document held no usable certificate or key.
    #[error("invalid PEM: {0}")]
    Pem(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// Generating a self-signed certificate failed.
    #[error("certificate generation: {0}")]
    Certificate(String),
}

/// The ring crypto provider every TLS configuration of this workspace uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server's certificate chain and private key.
pub struct ServerIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerIdentity")
            .field("certificates", &self.chain.len())
            .field("fingerprint", &self.fingerprint_sha256())
            .finish_non_exhaustive()
    }
}

impl Clone for ServerIdentity {
    fn clone(&self) -> Self {
        ServerIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl ServerIdentity {
    /// Reads a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Io {
                path: path.display().to_string(),
                source,
            })
        };
        ServerIdentity::from_pem(&read(cert)?, &read(key)?)
    }

    /// Parses a PEM certificate chain and a PEM private key.
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<Self, TlsError> {
        let chain = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Pem(format!("certificate: {e}")))?;
        if chain.is_empty() {
            return Err(TlsError::Pem("no certificate found".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| TlsError::Pem(format!("private key: {e}")))?;
        Ok(ServerIdentity { chain, key })
    }

    /// The certificate and key at `cert` and `key`; when neither file exists, a fresh
    /// self-signed certificate for `names` is generated and written there first (the key
    /// readable by its owner only), so that its fingerprint stays the same across restarts.
    pub fn load_or_generate<I, S>(cert: &Path, key: &Path, names: I) -> Result<Self, TlsError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        if cert.exists() || key.exists() {
            return ServerIdentity::from_pem_files(cert, key);
        }
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        let certified = rcgen::generate_simple_self_signed(names)
            .map_err(|e| TlsError::Certificate(e.to_string()))?;
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| TlsError::Io { path, source }
        };
        write_private(key, certified.signing_key.serialize_pem().as_bytes()).map_err(io(key))?;
        std::fs::write(cert, certified.cert.pem()).map_err(io(cert))?;
        ServerIdentity::from_pem_files(cert, key)
    }

    /// A fresh self-signed certificate for `names` (development and tests).
    pub fn self_signed<I, S>(names: I) -> Result<Self, TlsError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        let certified = rcgen::generate_simple_self_signed(names)
            .map_err(|e| TlsError::Certificate(e.to_string()))?;
        let key = PrivateKeyDer::try_from(certified.signing_key.serialize_der())
            .map_err(|e| TlsError::Certificate(e.to_string()))?;
        Ok(ServerIdentity {
            chain: vec![certified.cert.der().clone()],
            key,
        })
    }

    /// The DER of the end-entity certificate (what a client trusts as a root).
    pub fn certificate_der(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }

    /// The SHA-256 of the end-entity certificate, lowercase hex (what a client pins).
    pub fn fingerprint_sha256(&self) -> String {
        hex::encode(Sha256::digest(self.chain[0].as_ref()))
    }
}

/// Writes a new file readable by its owner only (where the platform has modes).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

impl ServerIdentity {
    /// A rustls server configuration presenting this identity and offering `alpn` protocols,
    /// TLS 1.3 only when `tls13_only` (QUIC), else TLS 1.3 and 1.2.
    pub fn server_config(
        &self,
        alpn: &[&[u8]],
        tls13_only: bool,
    ) -> Result<rustls::ServerConfig, TlsError> {
        self.server_config_verifying(alpn, tls13_only, None)
    }

    /// [`ServerIdentity::server_config`] asking clients for certificates checked by
    /// `client_verifier`, when given.
    pub(crate) fn server_config_verifying(
        &self,
        alpn: &[&[u8]],
        tls13_only: bool,
        client_verifier: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
    ) -> Result<rustls::ServerConfig, TlsError> {
        let versions: &[&'static rustls::SupportedProtocolVersion] = if tls13_only {
            &[&rustls::version::TLS13]
        } else {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        };
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)?;
        let builder = match client_verifier {
            Some(verifier) => builder.with_client_cert_verifier(verifier),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }

    /// Finishes a client configuration, presenting `certificate` (when given) as the client
    /// certificate.
    #[cfg(feature = "quic")]
    pub(crate) fn client_config(
        certificate: Option<&ServerIdentity>,
        builder: rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>,
    ) -> Result<rustls::ClientConfig, TlsError> {
        Ok(match certificate {
            Some(identity) => {
                builder.with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())?
            }
            None => builder.with_no_client_auth(),
        })
    }

    /// The end-entity certificate as PEM (for clients that trust it as a root).
    pub fn certificate_pem(&self) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.chain[0].as_ref());
        let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        pem
    }
}
