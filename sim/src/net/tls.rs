//! [`TestCa`]: a certificate authority made at run time for the loopback TLS endpoints (the
//! `wss://` WebSocket and the `https://` `sw.js`), so clients are tested over TLS with real
//! verification: they trust the CA's certificate (`--ca-file`, `caFile`, `SSL_CERT_FILE`,
//! `Options::trust`), never a switch that turns verification off.
//!
//! ```text
//!  TestCa::generate() ─► CA (self-signed, "Tether test CA")
//!                        └─► server certificate for localhost, 127.0.0.1 and ::1
//!  ca_pem() ─► clients' extra root        server_config() ─► the sim's TLS listeners
//! ```
//!
//! Keys live in memory only (a fresh CA per call); nothing here is fit for anything but tests.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The names the server certificate is valid for.
pub const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// A test CA and a loopback server certificate it signed (see the module docs).
#[derive(Clone)]
pub struct TestCa {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

/// Why a [`TestCa`] could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestCaError {
    /// Generating a key or signing a certificate failed.
    #[error("cannot make the test certificates: {0}")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused the server certificate or key.
    #[error("cannot build the TLS server configuration: {0}")]
    Tls(#[from] rustls::Error),
}

impl TestCa {
    /// A fresh CA and a server certificate for [`LOOPBACK_NAMES`].
    pub fn generate() -> Result<Self, TestCaError> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Tether test CA (tether-sim)");
        ca_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let names: Vec<String> = LOOPBACK_NAMES.iter().map(|n| (*n).to_owned()).collect();
        let mut leaf = CertificateParams::new(names)?;
        leaf.distinguished_name
            .push(DnType::CommonName, "tether-sim loopback");
        leaf.use_authority_key_identifier_extension = true;
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_key = KeyPair::generate()?;
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;

        let chain = vec![leaf_cert.der().clone(), ca_cert.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            server: Arc::new(server),
        })
    }

    /// The CA certificate in PEM, for the client's trust settings.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate (DER), for a client's root store.
    pub fn ca_der(&self) -> Vec<CertificateDer<'static>> {
        use rustls::pki_types::pem::PemObject as _;
        CertificateDer::pem_slice_iter(self.ca_pem.as_bytes())
            .filter_map(Result::ok)
            .collect()
    }

    /// The rustls server configuration presenting the loopback certificate.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.server)
    }
}
