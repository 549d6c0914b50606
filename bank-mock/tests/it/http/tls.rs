//! `bank-mock serve --tls`: mutual TLS. Only a client presenting a certificate of the run's own
//! CA is served; one without a certificate, or with another run's, is refused in the handshake.

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("bank-mock-tls-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `GET /healthz` over TLS to `bank` trusting `ca`, presenting `client` (cert, key) if given:
/// the response's text, or why there was none.
async fn healthz_over_tls(
    bank: &Bank,
    ca: &std::path::Path,
    client: Option<(&std::path::Path, &std::path::Path)>,
) -> Result<String, String> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(ca).unwrap()).unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_file(cert).unwrap()],
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(bank.addr).await.map_err(|e| e.to_string())?;
        let mut tls = TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        tls.read_to_end(&mut out).await.map_err(|e| format!("read: {e}"))?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(5), exchange).await.map_err(|_| "no answer within 5 s".to_string())?
}

#[tokio::test]
async fn under_tls_only_a_client_with_a_certificate_of_the_runs_own_ca_is_served() {
    let bank = Bank::start("demo-bank").await;
    let dir = scratch("run");
    let (acceptor, files) = bank_mock::tls::make(&dir, &[PLATFORM]).unwrap();
    bank.state.use_tls(acceptor);
    let (_, cert, key) = &files.clients[0];

    let served = healthz_over_tls(&bank, &files.ca, Some((cert, key))).await.unwrap();
    assert!(served.starts_with("HTTP/1.1 200 OK"), "{served}");
    assert!(served.ends_with(r#"{"Status":"ok"}"#), "{served}");

    let without = healthz_over_tls(&bank, &files.ca, None).await;
    assert!(
        without.as_ref().is_err() || !without.as_ref().unwrap().contains("200 OK"),
        "served without a certificate: {without:?}"
    );

    // Another run's CA and certificate: refused.
    let other = scratch("other");
    let (_, other_files) = bank_mock::tls::make(&other, &[PLATFORM]).unwrap();
    let (_, other_cert, other_key) = &other_files.clients[0];
    let foreign = healthz_over_tls(&bank, &files.ca, Some((other_cert, other_key))).await;
    assert!(
        foreign.as_ref().is_err() || !foreign.as_ref().unwrap().contains("200 OK"),
        "served another run's certificate: {foreign:?}"
    );
    // Plain HTTP to a TLS server gets no answer.
    let plain = Api::new().get(&bank, "/healthz").try_send().await;
    assert!(plain.is_err(), "plain HTTP answered: {:?}", plain.map(|r| r.status));
    for d in [dir, other] {
        let _ = std::fs::remove_dir_all(d);
    }
}
