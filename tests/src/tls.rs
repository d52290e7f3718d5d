//! The TLS tests' shared pieces: a throwaway server with a certificate made
//! at test time, and the checks on a refused connection.

use std::path::PathBuf;

use crate::certs::TestCa;
#[cfg(feature = "mysql")]
use crate::throwaway::ThrowawayMariaDb;
#[cfg(feature = "postgres")]
use crate::throwaway::ThrowawayPostgres;

/// The CA files a TLS test hands to clients.
#[derive(Debug)]
pub struct CaFiles {
    /// The CA that signed the server's certificate.
    pub good: PathBuf,
    /// Another CA, which signed nothing the server has.
    pub other: PathBuf,
}

/// The server's certificate (for `localhost` only, so that connecting by
/// `127.0.0.1` is a host name mismatch) and key as files for the server,
/// the CA that signed it, and another CA.
pub fn certificates() -> (Vec<(&'static str, Vec<u8>)>, TestCa, TestCa) {
    let ca = TestCa::new("session-tests CA");
    let other = TestCa::new("some other CA");
    let server = ca.server(&["localhost"]);
    let files = vec![
        ("server.crt", server.cert.into_bytes()),
        ("server.key", server.key.into_bytes()),
    ];
    (files, ca, other)
}

/// Writes both CAs' certificates into `dir` for the clients.
///
/// # Panics
///
/// When a file cannot be written.
pub fn write_cas(dir: &std::path::Path, ca: &TestCa, other: &TestCa) -> CaFiles {
    let write = |name: &str, pem: &str| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    };
    CaFiles {
        good: write("ca.pem", ca.pem()),
        other: write("other-ca.pem", other.pem()),
    }
}

/// Checks that connecting failed at connect time with one line that names
/// the URL (password masked, as `masked`) and says `fix`.
///
/// # Panics
///
/// When it does not.
pub fn assert_refused<T>(result: Result<T, session_cookie::Error>, masked: &str, fix: &str) {
    let Err(err) = result else {
        panic!("the connection to {masked} was not refused")
    };
    let line = match &err {
        session_cookie::Error::Session(session_cookie::core::Error::Backend(source)) => {
            source.to_string()
        }
        other => panic!("want a backend error, got {other:?}"),
    };
    assert!(!line.contains('\n'), "not one line: {line}");
    assert!(
        line.contains(masked) && !line.contains("s3cret"),
        "the message must name the URL with the password masked: {line}"
    );
    assert!(line.contains(fix), "the message must say `{fix}`: {line}");
}

/// A throwaway PostgreSQL with `ssl=on` and a certificate for `localhost`
/// (see [`certificates`]), and the CA files for its clients. Blocking.
#[cfg(feature = "postgres")]
pub fn postgres_with_tls() -> (ThrowawayPostgres, CaFiles) {
    let (files, ca, other) = certificates();
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, c)| (*n, c.as_slice())).collect();
    let server = ThrowawayPostgres::start_with(
        &files,
        &[
            "ssl=on",
            "ssl_cert_file={dir}/server.crt",
            "ssl_key_file={dir}/server.key",
        ],
    );
    let cas = write_cas(server.dir(), &ca, &other);
    (server, cas)
}

/// A throwaway MariaDB with `--ssl-cert`/`--ssl-key` and a certificate for
/// `localhost` (see [`certificates`]), and the CA files for its clients.
#[cfg(feature = "mysql")]
pub async fn mariadb_with_tls() -> (ThrowawayMariaDb, CaFiles) {
    let (files, ca, other) = certificates();
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, c)| (*n, c.as_slice())).collect();
    let server = ThrowawayMariaDb::start_with(
        &files,
        &["--ssl-cert={dir}/server.crt", "--ssl-key={dir}/server.key"],
    )
    .await;
    let cas = write_cas(server.dir(), &ca, &other);
    (server, cas)
}
