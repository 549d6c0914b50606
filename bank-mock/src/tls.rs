//! `bank-mock serve --tls DIR`: mutual TLS, as FAPI asks of an open-banking API. At start the
//! server makes a certificate authority, its own certificate (for `localhost` and `127.0.0.1`)
//! and one client certificate per platform the scenario pairs with the bank (common name: the
//! platform), all signed by that CA, writes them as PEM files into DIR for clients to use, and
//! then accepts only clients presenting a certificate of that CA. Nothing is read from DIR: a
//! run's keys are new, so a certificate of another run is refused.

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};

/// The files a run writes: the CA's certificate, and per platform its certificate and key.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub clients: Vec<(String, PathBuf, PathBuf)>,
}

fn other(what: &str, e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("{what}: {e}"))
}

/// Makes the CA and the certificates, writes them into `dir` (created if missing), and answers
/// the acceptor that asks every client for a certificate of that CA.
pub fn make(dir: &Path, platforms: &[&str]) -> std::io::Result<(TlsAcceptor, TlsFiles)> {
    std::fs::create_dir_all(dir)?;
    let ca_key = KeyPair::generate().map_err(|e| other("a CA key", e))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| other("the CA", e))?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "bank-mock run CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key).map_err(|e| other("the CA", e))?;

    let server_key = KeyPair::generate().map_err(|e| other("the server's key", e))?;
    let mut server = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .map_err(|e| other("the server's certificate", e))?;
    server.distinguished_name.push(DnType::CommonName, "bank-mock");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert =
        server.signed_by(&server_key, &ca_cert, &ca_key).map_err(|e| other("the server's certificate", e))?;

    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca_cert.pem())?;
    let mut clients = Vec::new();
    for platform in platforms {
        let key = KeyPair::generate().map_err(|e| other("a client key", e))?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| other("a client certificate", e))?;
        params.distinguished_name.push(DnType::CommonName, *platform);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &ca_cert, &ca_key).map_err(|e| other("a client certificate", e))?;
        let (cert_path, key_path) =
            (dir.join(format!("client-{platform}.pem")), dir.join(format!("client-{platform}-key.pem")));
        std::fs::write(&cert_path, cert.pem())?;
        std::fs::write(&key_path, key.serialize_pem())?;
        clients.push((platform.to_string(), cert_path, key_path));
    }

    // ring, not aws-lc-rs: it builds with the C compiler alone. rustls marks its provider
    // deprecated for lacking post-quantum key exchange, which a loopback mock can do without.
    #[allow(deprecated)]
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(ca_cert.der().clone()).map_err(|e| other("the CA as a root", e))?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| other("the client verifier", e))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| other("TLS versions", e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![CertificateDer::from(server_cert.der().to_vec())], key)
        .map_err(|e| other("the server's certificate", e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((TlsAcceptor::from(Arc::new(config)), TlsFiles { ca: ca_path, clients }))
}
