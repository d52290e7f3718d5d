//! Certificates made at test time with rcgen (ring, no OpenSSL): a CA, a
//! server certificate it signs, and a client certificate for mutual TLS.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A throwaway certificate authority.
pub(crate) struct TestCa {
    /// The CA certificate, PEM.
    pub(crate) cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    /// A new CA called `name`.
    pub(crate) fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("a CA key");
        let cert = params.self_signed(&key).expect("a self-signed CA");
        Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for `names` (host names or IP addresses) with its key,
    /// both PEM, usable by servers and clients.
    pub(crate) fn issue(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, "keycard test");
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().expect("a leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("a certificate signed by the CA");
        (cert.pem(), key.serialize_pem())
    }
}

/// What a TLS `redis-server` needs: its certificate and key, and the CA
/// that signs the client certificates it accepts.
pub(crate) struct ServerPki {
    /// The CA that signed the server's certificate (and the clients').
    pub(crate) ca: TestCa,
    cert_pem: String,
    key_pem: String,
    /// Whether the server certificate names 127.0.0.1.
    pub(crate) names_loopback: bool,
}

impl ServerPki {
    /// A new CA and a server certificate from it for `names`.
    pub(crate) fn new(names: &[&str]) -> Self {
        let ca = TestCa::new("keycard test CA");
        let (cert_pem, key_pem) = ca.issue(names);
        Self {
            ca,
            cert_pem,
            key_pem,
            names_loopback: names.contains(&"127.0.0.1"),
        }
    }

    /// Writes `server.pem`, `server.key` and `ca.pem` into `dir`, where the
    /// watchdog's `tls` mode expects them.
    pub(crate) fn write_to(&self, dir: &Path) {
        for (name, pem) in [
            ("server.pem", &self.cert_pem),
            ("server.key", &self.key_pem),
            ("ca.pem", &self.ca.cert_pem),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, pem)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        }
    }
}
