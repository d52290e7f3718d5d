//! TLS (`rediss://`): the builder's certificate options, the driver client
//! for a URL, and the hints for handshakes that fail.

use redis::{ConnectionAddr, ConnectionInfo, RedisError};
use session_core::Error;

use crate::builder::RedisStoreBuilder;

#[cfg(feature = "tls")]
impl RedisStoreBuilder {
    /// Trust only the CA certificates in `pem` (one or more PEM
    /// certificates, as read from a CA bundle file) for `rediss://`
    /// connections, instead of the platform's trust roots.
    ///
    /// By default a `rediss://` connection trusts the platform's roots
    /// (through rustls-native-certs: the system store, or the bundle named by
    /// the `SSL_CERT_FILE` environment variable). Managed Redis services
    /// with a private CA (for example AWS ElastiCache with a custom CA, or
    /// a self-hosted CA) need their CA here.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = session_redis::RedisStore::builder()
    ///     .tls_ca_pem(std::fs::read("/etc/redis/ca.pem")?)
    ///     .connect("rediss://redis.internal:6380")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// A bundle that does not parse fails [`connect`](Self::connect) with
    /// [`Error::Config`] naming `tls_ca_pem`. Only with the `tls` feature.
    pub fn tls_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.certificates_mut().root_cert = Some(pem.into());
        self
    }

    /// Present this client certificate (PEM chain) and private key (PEM)
    /// on `rediss://` connections: mutual TLS, for a Redis started with
    /// `tls-auth-clients yes`.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = session_redis::RedisStore::builder()
    ///     .tls_ca_pem(std::fs::read("ca.pem")?)
    ///     .tls_client_cert(std::fs::read("client.pem")?, std::fs::read("client.key")?)
    ///     .connect("rediss://redis.internal:6380")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// A certificate or key that does not parse fails
    /// [`connect`](Self::connect) with [`Error::Config`] naming
    /// `tls_client_cert`. Only with the `tls` feature.
    pub fn tls_client_cert(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.certificates_mut().client_tls = Some(redis::ClientTlsConfig {
            client_cert: cert_pem.into(),
            client_key: key_pem.into(),
        });
        self
    }

    fn certificates_mut(&mut self) -> &mut redis::TlsCertificates {
        self.certificates.get_or_insert(redis::TlsCertificates {
            client_tls: None,
            root_cert: None,
        })
    }
}

/// `true` for a `rediss://` address.
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
fn is_tls(info: &ConnectionInfo) -> bool {
    matches!(info.addr(), ConnectionAddr::TcpTls { .. })
}

/// Checks that `info` fits the builder's TLS settings, and warns when it
/// turns verification off (`#insecure`).
pub(crate) fn check(builder: &RedisStoreBuilder, info: &ConnectionInfo) -> Result<(), Error> {
    if let ConnectionAddr::TcpTls {
        host,
        port,
        insecure: true,
        ..
    } = info.addr()
    {
        tracing::warn!(
            redis = %format_args!("{host}:{port}"),
            "TLS certificate verification is OFF for this Redis (`#insecure` in the URL): \
             anyone on the network path can read and change sessions; give the CA with \
             `tls_ca_pem` or SSL_CERT_FILE instead"
        );
    }
    #[cfg(feature = "tls")]
    if builder.certificates.is_some() && !is_tls(info) {
        return Err(Error::config(
            "tls_ca_pem / tls_client_cert",
            "TLS certificates were given for a plaintext URL: use rediss://host:port",
        ));
    }
    #[cfg(not(feature = "tls"))]
    let _ = builder;
    Ok(())
}

/// The driver client for `info` with the builder's certificates.
pub(crate) fn client(
    builder: &RedisStoreBuilder,
    info: ConnectionInfo,
) -> Result<redis::Client, Error> {
    check(builder, &info)?;
    #[cfg(feature = "tls")]
    if is_tls(&info) {
        install_crypto_provider();
        if let Some(certificates) = &builder.certificates {
            check_ca_bundle(certificates)?;
            return redis::Client::build_with_tls(info, certificates.clone())
                .map_err(certificate_error);
        }
    }
    redis::Client::open(info).map_err(url_error("redis_url"))
}

/// The settings of a cluster client for `nodes`: the builder's
/// certificates, checked against every seed URL.
pub(crate) fn cluster_client(
    builder: &RedisStoreBuilder,
    nodes: Vec<ConnectionInfo>,
) -> Result<redis::cluster::ClusterClientBuilder, Error> {
    for node in &nodes {
        check(builder, node)?;
    }
    #[cfg(feature = "tls")]
    let tls = nodes.iter().any(is_tls);
    #[allow(unused_mut)]
    let mut cluster = redis::cluster::ClusterClientBuilder::new(nodes);
    #[cfg(feature = "tls")]
    if tls {
        install_crypto_provider();
        if let Some(certificates) = &builder.certificates {
            check_ca_bundle(certificates)?;
            cluster = cluster.certs(certificates.clone());
        }
    }
    Ok(cluster)
}

/// A URL the driver rejects, as a configuration error naming `field`;
/// `rediss://` without the `tls` feature says which feature to turn on.
pub(crate) fn url_error(field: &'static str) -> impl Fn(RedisError) -> Error {
    move |e| url_error_in(field, e)
}

fn url_error_in(field: &'static str, e: RedisError) -> Error {
    if e.to_string().contains("can't connect with TLS") {
        Error::config(
            field,
            "rediss:// (TLS) needs the `tls` cargo feature: session-redis = { features = [\"tls\"] } \
             or session-cookie = { features = [\"redis\", \"tls\"] }",
        )
    } else {
        Error::config(field, e.to_string())
    }
}

/// A CA bundle without a single certificate (the driver would silently
/// trust nothing, and every handshake would fail as "unknown issuer").
#[cfg(feature = "tls")]
fn check_ca_bundle(certificates: &redis::TlsCertificates) -> Result<(), Error> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::CertificateDer;
    match &certificates.root_cert {
        Some(pem) if CertificateDer::pem_slice_iter(pem).next().is_none() => Err(Error::config(
            "tls_ca_pem",
            "no certificate found: give PEM text with -----BEGIN CERTIFICATE----- blocks",
        )),
        _ => Ok(()),
    }
}

/// A CA bundle, certificate or key the driver cannot parse.
#[cfg(feature = "tls")]
fn certificate_error(e: RedisError) -> Error {
    let text = e.to_string();
    let field = if text.contains("root certificate") || text.contains("trust anchors") {
        "tls_ca_pem"
    } else {
        "tls_client_cert"
    };
    Error::config(field, format!("{text}: give PEM text (-----BEGIN ...)"))
}

/// Makes rustls use the `ring` provider unless the application installed a
/// process-wide one already: the driver builds its TLS configuration with
/// the process default, and with more than one provider compiled in (another
/// dependency may bring `aws-lc-rs`) rustls cannot pick one itself.
#[cfg(feature = "tls")]
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The driver-side text of [`handshake_timeout`].
const NO_TLS_ANSWER: &str = "no TLS handshake";

/// A `rediss://` connection attempt to `shown` that did not finish within
/// `timeout`: most often a plaintext Redis port, which reads the TLS hello
/// as the start of a command and waits for the rest, so it says so.
pub(crate) fn handshake_timeout(shown: String, timeout: std::time::Duration) -> Error {
    let io = std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{NO_TLS_ANSWER} within {timeout:?}"),
    );
    crate::error::connect_error(shown, RedisError::from(io))
}

/// The likely fix for a TLS failure while connecting, from the driver's
/// error text (rustls's error is kept as text by the driver), or `None`
/// when `err` is not about TLS.
pub(crate) fn hint(err: &RedisError) -> Option<&'static str> {
    let text = err.to_string();
    let has = |needle: &str| text.contains(needle);
    if has("UnknownIssuer") || has("BadSignature") || has("UnknownRevocationStatus") {
        Some(
            "the server's TLS certificate is not signed by a trusted CA: give its CA bundle \
             (builder `tls_ca_pem`, or the SSL_CERT_FILE environment variable), or fix the \
             server's certificate chain",
        )
    } else if has("NotValidForName") || has("not valid for name") {
        Some(
            "the server's TLS certificate does not name this host: connect with a host name \
             the certificate lists, or reissue the certificate with this name",
        )
    } else if has("Expired") || has("NotValidYet") {
        Some(
            "the server's TLS certificate is expired or not yet valid: renew it or check the clock",
        )
    } else if has("CertificateRequired") || has("certificate required") {
        Some(
            "the server requires a client certificate (tls-auth-clients): give one with the \
             builder's `tls_client_cert`",
        )
    } else if has(NO_TLS_ANSWER)
        || has("InvalidContentType")
        || has("corrupt message")
        || has("InvalidMessage")
        || has("handshake")
    {
        Some(
            "the server did not answer in TLS: is this its TLS port? For a plaintext port \
             use redis:// instead of rediss://",
        )
    } else {
        None
    }
}

/// TLS to the sentinels and to the master they name, with the builder's
/// certificates.
pub(crate) fn sentinel_tls(
    builder: &RedisStoreBuilder,
    sentinel: redis::sentinel::SentinelClientBuilder,
) -> Result<redis::sentinel::SentinelClientBuilder, Error> {
    #[cfg(feature = "tls")]
    {
        install_crypto_provider();
        let mut sentinel = sentinel
            .set_client_to_redis_tls_mode(redis::TlsMode::Secure)
            .set_client_to_sentinel_tls_mode(redis::TlsMode::Secure);
        if let Some(certificates) = &builder.certificates {
            check_ca_bundle(certificates)?;
            sentinel = sentinel
                .set_client_to_redis_certificates(certificates.clone())
                .set_client_to_sentinel_certificates(certificates.clone());
        }
        Ok(sentinel)
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = (builder, sentinel);
        Err(url_error_in(
            "redis_sentinel_url",
            RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "can't connect with TLS, the feature is not enabled",
            )),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rediss_without_the_feature_names_it() {
        let driver = RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "can't connect with TLS, the feature is not enabled",
        ));
        let err = url_error("redis_url")(driver).to_string();
        assert!(err.contains("`redis_url`"), "{err}");
        assert!(err.contains("needs the `tls` cargo feature"), "{err}");
    }

    /// Built without `tls`, the driver itself refuses `rediss://`, and the
    /// store says which feature to turn on.
    #[cfg(not(feature = "tls"))]
    #[tokio::test]
    async fn rediss_is_refused_without_the_feature() {
        let err = crate::RedisStore::connect("rediss://127.0.0.1:6380")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs the `tls` cargo feature"), "{err}");
    }

    #[test]
    fn hints_name_the_fix() {
        let hint_of = |text: &str| hint(&RedisError::from(std::io::Error::other(text.to_owned())));
        assert!(hint_of("invalid peer certificate: UnknownIssuer")
            .is_some_and(|h| h.contains("not signed by a trusted CA")));
        assert!(hint_of("certificate not valid for name \"127.0.0.1\"")
            .is_some_and(|h| h.contains("does not name this host")));
        assert!(hint_of("received fatal alert: CertificateRequired")
            .is_some_and(|h| h.contains("tls_client_cert")));
        assert_eq!(hint_of("Connection refused"), None);
    }
}
