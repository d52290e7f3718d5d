//! Certificates made at test time with rcgen (ring, no OpenSSL): a
//! throwaway CA, certificates it signs for servers and clients, and the
//! files a TLS server and its clients are given.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A certificate authority that exists only for one test.
pub struct TestCa {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

/// A certificate and its private key (PKCS#8), both PEM.
#[derive(Debug, Clone)]
pub struct LeafCert {
    /// The certificate.
    pub cert: String,
    /// The private key.
    pub key: String,
}

impl TestCa {
    /// A fresh CA named `name`.
    ///
    /// # Panics
    ///
    /// When rcgen fails.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::new()).expect("no names");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        let key = KeyPair::generate().expect("a CA key");
        let cert = params.self_signed(&key).expect("a CA certificate");
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA's certificate (what a client trusts).
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// A certificate for `names` (host names or IP addresses), signed by
    /// this CA, good for a server and for a client (mutual TLS).
    ///
    /// # Panics
    ///
    /// When rcgen fails.
    pub fn issue(&self, names: &[&str]) -> LeafCert {
        let sans: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(sans).expect("valid names");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("keycard test"),
        );
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().expect("a leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("a certificate signed by the CA");
        LeafCert {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// What a TLS server is given: a certificate for its names, its key, and
/// the CA that signed it (which also signs the client certificates it
/// accepts).
#[derive(Debug)]
pub struct ServerPki {
    /// The CA.
    pub ca: TestCa,
    /// The server's certificate and key.
    pub server: LeafCert,
    names_loopback: bool,
}

impl ServerPki {
    /// A new CA and a server certificate from it for `names`.
    pub fn new(names: &[&str]) -> Self {
        let ca = TestCa::new("keycard test CA");
        let server = ca.issue(names);
        Self {
            ca,
            server,
            names_loopback: names.contains(&"127.0.0.1"),
        }
    }

    /// Whether the server certificate names 127.0.0.1 (so a client can
    /// verify the server by that address).
    pub fn names_loopback(&self) -> bool {
        self.names_loopback
    }

    /// The files the server reads, by name: `server.pem` (certificate),
    /// `server.key` and `ca.pem`.
    pub fn files(&self) -> [(&'static str, &[u8]); 3] {
        [
            ("server.pem", self.server.cert.as_bytes()),
            ("server.key", self.server.key.as_bytes()),
            ("ca.pem", self.ca.pem().as_bytes()),
        ]
    }
}

/// The CA files a TLS test hands to clients.
#[derive(Debug)]
pub struct CaFiles {
    /// `ca.pem`: the CA that signed the server's certificate.
    pub good: PathBuf,
    /// `other-ca.pem`: another CA, which signed nothing the server has.
    pub other: PathBuf,
}

impl CaFiles {
    /// Writes `other-ca.pem`, a fresh CA's certificate, next to the
    /// `ca.pem` in `dir` (see [`ServerPki::files`]).
    ///
    /// # Panics
    ///
    /// When the file cannot be written.
    pub fn next_to(dir: &Path) -> Self {
        let other = dir.join("other-ca.pem");
        std::fs::write(&other, TestCa::new("some other CA").pem())
            .unwrap_or_else(|e| panic!("{}: {e}", other.display()));
        Self {
            good: dir.join("ca.pem"),
            other,
        }
    }
}
