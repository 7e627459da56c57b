//! The one TLS trust configuration every TLS connection Tether makes uses: the WebSocket and the
//! version fetch in both adapters, `tether doctor`'s TLS check, and later the media hosts.
//!
//! ```text
//!  TlsTrust { ca_files, ssl_cert_file } ──► root_store(): webpki roots
//!                                                        + each --ca-file / caFile PEM
//!                                                        + $SSL_CERT_FILE's PEM (when set)
//!                                        ──► client_config(): rustls + ring, safe defaults
//! ```
//!
//! Extra CAs are added to the built-in roots, never instead of them, and there is no switch
//! that turns verification off: a test server's CA is trusted instead.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tether_core::driver::{StartError, TlsTrust};

/// The largest CA file read (a full system bundle is ~250 KiB).
pub const MAX_CA_FILE: u64 = 8 << 20;

/// The environment variable whose PEM file is trusted too (when [`TlsTrust::ssl_cert_file`]).
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";

/// The extra CA files `trust` names, in order: its own files, then `SSL_CERT_FILE`'s (read
/// from `env`) when it is set and not empty.
pub fn ca_files(trust: &TlsTrust, env: impl Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let mut files = trust.ca_files.clone();
    if trust.ssl_cert_file
        && let Some(path) = env(SSL_CERT_FILE).filter(|p| !p.trim().is_empty())
    {
        files.push(PathBuf::from(path));
    }
    files
}

/// The CA certificates of one PEM file (at least one, every block well-formed).
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, StartError> {
    let fail = |reason: String| StartError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| fail(e.to_string()))?
        .len();
    if size > MAX_CA_FILE {
        return Err(fail(format!(
            "it is {size} bytes, more than the {MAX_CA_FILE} a CA bundle needs"
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(format!("not a readable PEM file ({e})")))?;
    if certs.is_empty() {
        return Err(fail(
            "it holds no `-----BEGIN CERTIFICATE-----` block".to_owned(),
        ));
    }
    Ok(certs)
}

/// The roots to verify servers against: the webpki roots plus every extra CA of `trust`
/// (`SSL_CERT_FILE` read from the process environment). A CA file that cannot be read, holds
/// no certificate or a certificate rustls refuses as a root is an error naming the file.
pub fn root_store(trust: &TlsTrust) -> Result<RootCertStore, StartError> {
    root_store_with_env(trust, |k| std::env::var(k).ok())
}

/// [`root_store`] with the environment given (for tests).
pub fn root_store_with_env(
    trust: &TlsTrust,
    env: impl Fn(&str) -> Option<String>,
) -> Result<RootCertStore, StartError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for path in ca_files(trust, env) {
        for cert in read_ca_file(&path)? {
            roots.add(cert).map_err(|e| StartError::CaFile {
                path: path.clone(),
                reason: format!("a certificate in it is not usable as a CA root ({e})"),
            })?;
        }
    }
    Ok(roots)
}

/// The rustls client configuration for `trust`: the ring provider, its safe default protocol
/// versions, [`root_store`], no client certificate.
///
/// One configuration is built per distinct trust setting (and `SSL_CERT_FILE` value) and shared
/// by every connection of the process, so ten thousand sessions hold one root store, not ten
/// thousand; the CA files are read when a setting is first used (restart to pick up a changed
/// file).
pub fn client_config(trust: &TlsTrust) -> Result<Arc<rustls::ClientConfig>, StartError> {
    type Cache = Vec<((TlsTrust, Option<String>), Arc<rustls::ClientConfig>)>;
    static CACHE: Mutex<Cache> = Mutex::new(Vec::new());
    let key = (
        trust.clone(),
        std::env::var(SSL_CERT_FILE)
            .ok()
            .filter(|_| trust.ssl_cert_file),
    );
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, config)) = cache.iter().find(|(k, _)| *k == key) {
        return Ok(Arc::clone(config));
    }
    let config = build_client_config(trust)?;
    cache.push((key, Arc::clone(&config)));
    Ok(config)
}

fn build_client_config(trust: &TlsTrust) -> Result<Arc<rustls::ClientConfig>, StartError> {
    let roots = root_store(trust)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn scratch(name: &str, content: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tether-trust-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn ssl_cert_file_is_added_only_when_asked_and_set() {
        let trust = TlsTrust::default().with_ca_file("/a.pem");
        let env = |k: &str| (k == SSL_CERT_FILE).then(|| "/env.pem".to_owned());
        assert_eq!(
            ca_files(&trust, env),
            [PathBuf::from("/a.pem"), PathBuf::from("/env.pem")]
        );
        assert_eq!(ca_files(&trust, |_| None), [PathBuf::from("/a.pem")]);
        assert!(ca_files(&TlsTrust::builtin_only(), env).is_empty());
    }

    #[test]
    fn a_bad_ca_file_is_an_error_naming_it() {
        let empty = scratch("empty.pem", b"no certificate here\n");
        let missing = empty.with_file_name("missing.pem");
        for (path, needle) in [
            (&empty, "no `-----BEGIN CERTIFICATE"),
            (&missing, "No such file"),
        ] {
            let trust = TlsTrust::builtin_only().with_ca_file(path);
            let error = root_store_with_env(&trust, |_| None)
                .unwrap_err()
                .to_string();
            assert!(error.contains(&path.display().to_string()), "{error}");
            assert!(error.contains(needle), "{error}");
        }
        let garbage = scratch(
            "garbage.pem",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        let trust = TlsTrust::builtin_only().with_ca_file(&garbage);
        let error = root_store_with_env(&trust, |_| None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("not usable as a CA root"), "{error}");
    }

    #[test]
    fn the_builtin_roots_are_always_there() {
        let roots = root_store_with_env(&TlsTrust::builtin_only(), |_| None).unwrap();
        assert_eq!(roots.len(), webpki_roots::TLS_SERVER_ROOTS.len());
        assert!(client_config(&TlsTrust::builtin_only()).is_ok());
    }
}
