//! rustls client configuration from PEM files (ring provider; no aws-lc).
use super::config::TlsFiles;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use std::path::Path;
use std::sync::Arc;

/// Builds the TLS configuration; errors name the file and the problem.
pub fn client_config(files: &TlsFiles) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder =
        ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions().map_err(|e| format!("TLS setup: {e}"))?;
    let builder = builder.with_root_certificates(roots(files.ca_file.as_deref())?);
    match (&files.cert_file, &files.key_file) {
        (Some(cert), Some(key)) => {
            let chain = certs(cert)?;
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| format!("tls-key-file {}: no usable PEM private key: {e}", key.display()))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| format!("client certificate/key: {e}"))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err("tls-cert-file and tls-key-file must be given together".into()),
    }
}

fn roots(ca: Option<&Path>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match ca {
        Some(path) => {
            for c in certs(path)? {
                store.add(c).map_err(|e| format!("tls-ca-file {}: {e}", path.display()))?;
            }
        }
        None => {
            for c in rustls_native_certs::load_native_certs().certs {
                let _ = store.add(c); // skip system certificates rustls cannot parse
            }
        }
    }
    Ok(store)
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let list: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: cannot read PEM certificates: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: bad PEM certificate: {e}", path.display()))?;
    if list.is_empty() {
        return Err(format!("{}: no certificate found", path.display()));
    }
    Ok(list)
}
