//! Certificates made on the spot for TLS tests (with rcgen): a private CA, a server certificate it signed for
//! `localhost` and `127.0.0.1`, a client certificate it signed, and the rustls configurations that use them.
//!
//! ```
//! let pki = rpc_test_support::tls::Pki::new();
//! let server = pki.server_config(); // for a server's `.tls(...)`
//! let client = pki.client_config(); // for a client's `.tls_config(...)`: trusts the CA
//! assert!(pki.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The names the server certificate is valid for.
pub const SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// A private CA with a server and a client certificate; see the [module docs](self).
#[derive(Debug)]
pub struct Pki {
    ca: CertificateDer<'static>,
    ca_pem: String,
    server: (CertificateDer<'static>, PrivateKeyDer<'static>),
    client: (CertificateDer<'static>, PrivateKeyDer<'static>),
}

impl Pki {
    /// A fresh CA and the two certificates it signs (panics if rcgen fails, which it does not).
    pub fn new() -> Pki {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        let fail = |e: rcgen::Error| -> ! { panic!("rcgen cannot make a test certificate: {e}") };
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| fail(e));
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "rpc test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap_or_else(|e| fail(e));
        let issuer = CertifiedIssuer::self_signed(ca, ca_key).unwrap_or_else(|e| fail(e));
        let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose, name: &str| {
            let mut params = CertificateParams::new(names).unwrap_or_else(|e| fail(e));
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = vec![usage];
            let key = KeyPair::generate().unwrap_or_else(|e| fail(e));
            let cert = params.signed_by(&key, &issuer).unwrap_or_else(|e| fail(e));
            (cert.der().clone(), PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        };
        let server_names = SERVER_NAMES.iter().map(|n| (*n).to_owned()).collect();
        let server = leaf(server_names, ExtendedKeyUsagePurpose::ServerAuth, "rpc test server");
        let client = leaf(Vec::new(), ExtendedKeyUsagePurpose::ClientAuth, "rpc test client");
        Pki { ca: issuer.der().clone(), ca_pem: issuer.pem(), server, client }
    }

    /// The CA certificate.
    pub fn ca(&self) -> CertificateDer<'static> {
        self.ca.clone()
    }

    /// The CA certificate in PEM, as a `--ca` file holds it.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Writes the CA certificate in PEM to `dir/ca.pem` and returns that path.
    pub fn write_ca_pem(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.ca_pem).unwrap_or_else(|e| panic!("cannot write {path:?}: {e}"));
        path
    }

    /// The client certificate (what a server's handlers see as the peer's certificate).
    pub fn client_certificate(&self) -> CertificateDer<'static> {
        self.client.0.clone()
    }

    /// A server configuration with the server certificate, asking clients for no certificate.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![self.server.0.clone()], self.server.1.clone_key())
            .unwrap_or_else(|e| panic!("rustls refuses the test server certificate: {e}"));
        Arc::new(config)
    }

    /// A server configuration with the server certificate that asks clients for a certificate signed by the CA
    /// and checks it, but also lets clients without one in (the server's own hook decides on them).
    pub fn server_config_with_client_auth(&self) -> Arc<rustls::ServerConfig> {
        let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(self.roots()))
            .allow_unauthenticated()
            .build()
            .unwrap_or_else(|e| panic!("rustls refuses the test CA as a client verifier: {e}"));
        let config = rustls::ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![self.server.0.clone()], self.server.1.clone_key())
            .unwrap_or_else(|e| panic!("rustls refuses the test server certificate: {e}"));
        Arc::new(config)
    }

    /// A client configuration that trusts the CA and presents no certificate.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        Arc::new(rustls::ClientConfig::builder().with_root_certificates(self.roots()).with_no_client_auth())
    }

    /// A client configuration that trusts the CA and presents the client certificate.
    pub fn client_config_with_certificate(&self) -> Arc<rustls::ClientConfig> {
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(self.roots())
            .with_client_auth_cert(vec![self.client.0.clone()], self.client.1.clone_key())
            .unwrap_or_else(|e| panic!("rustls refuses the test client certificate: {e}"));
        Arc::new(config)
    }

    fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap_or_else(|e| panic!("rustls refuses the test CA: {e}"));
        roots
    }
}

impl Default for Pki {
    fn default() -> Pki {
        Pki::new()
    }
}
