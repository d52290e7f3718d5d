//! A throwaway MariaDB (`mariadb-install-db` + `mariadbd`), optionally with
//! TLS (`--ssl-cert`/`--ssl-key`) and a certificate made at test time.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use sqlx::mysql::MySqlConnection;
use sqlx::{Connection as _, Executor as _};

#[cfg(feature = "tls")]
use crate::certs::{CaFiles, ServerPki};
use crate::process::{find_binary, free_port, user_name, Scratch, KILL_ADOPTED};
use crate::restart::{sql_ready, Restartable};

/// The database the tests use on it (created at start).
const DATABASE: &str = "sessions";

/// A throwaway MariaDB in a temp dir on a free loopback port; `root`
/// connects without a password (`--skip-grant-tables`).
#[derive(Debug)]
pub struct ThrowawayMariaDb {
    scratch: Scratch,
    port: u16,
    mariadbd: PathBuf,
    /// `--name=value` options given at start-up (kept for restarts).
    options: Vec<String>,
    server: Mutex<Option<Child>>,
}

impl ThrowawayMariaDb {
    /// `mariadb-install-db`, then `mariadbd`; returns once it accepts
    /// connections and the test database exists.
    ///
    /// # Panics
    ///
    /// When a binary is missing (naming the package) or fails (with its log).
    pub async fn start() -> Self {
        Self::start_with(&[], &[]).await
    }

    /// As [`start`](Self::start), with TLS and a certificate for
    /// `localhost` only (so that connecting by `127.0.0.1` is a host name
    /// mismatch) from a test CA; returns the CA files for its clients too.
    #[cfg(feature = "tls")]
    pub async fn start_with_tls() -> (Self, CaFiles) {
        let pki = ServerPki::new(&["localhost"]);
        let server = Self::start_with(
            &pki.files(),
            &["--ssl-cert={dir}/server.pem", "--ssl-key={dir}/server.key"],
        )
        .await;
        let cas = CaFiles::next_to(server.scratch.dir());
        (server, cas)
    }

    /// As [`start`](Self::start), with `files` written into the temp dir
    /// first (for certificates and keys) and `options` (`--name=value`,
    /// where `{dir}` stands for that dir) given to `mariadbd`.
    pub async fn start_with(files: &[(&str, &[u8])], options: &[&str]) -> Self {
        let sbin = ["/usr/sbin", "/usr/local/sbin"];
        let mariadbd = find_binary(&["mariadbd", "mysqld"], &sbin, "mariadb-server");
        let install = find_binary(
            &["mariadb-install-db", "mysql_install_db"],
            &sbin,
            "mariadb-server",
        );
        let scratch = Scratch::new("mariadb", Vec::new(), KILL_ADOPTED);
        for (name, contents) in files {
            scratch.write_private(name, contents);
        }
        let dir = scratch.dir().display().to_string();
        let data = scratch.dir().join("data");
        // Its own temporary dir (the bootstrap's temporary tables too), not
        // the shared /tmp: a bootstrap once lost one there in a CI run.
        let tmp = scratch.dir().join("tmp");
        std::fs::create_dir_all(&tmp).expect("the throwaway MariaDB's tmpdir");
        scratch.run(
            &install,
            &[
                "--no-defaults".as_ref(),
                format!("--datadir={}", data.display()).as_ref(),
                format!("--tmpdir={}", tmp.display()).as_ref(),
                format!("--user={}", user_name()).as_ref(),
                "--auth-root-authentication-method=normal".as_ref(),
                "--skip-test-db".as_ref(),
            ],
            "server.log",
        );
        let server = Self {
            port: free_port(),
            mariadbd,
            options: options.iter().map(|o| o.replace("{dir}", &dir)).collect(),
            server: Mutex::new(None),
            scratch,
        };
        server.start_again();
        server.wait_ready().await;
        let mut conn = MySqlConnection::connect(&server.admin_url())
            .await
            .expect("a connection to the throwaway MariaDB");
        conn.execute("CREATE DATABASE IF NOT EXISTS sessions")
            .await
            .expect("CREATE DATABASE");
        let _ = conn.close().await;
        server
    }

    /// The server's log so far.
    fn log(&self) -> String {
        self.scratch.read("server.log")
    }

    fn admin_url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/mysql", self.port)
    }
}

impl Restartable for ThrowawayMariaDb {
    /// SIGTERM (a clean shutdown: open connections are closed, committed
    /// data is kept); returns once the process has ended.
    fn stop(&self) {
        let child = self.server.lock().unwrap().take();
        if let Some(mut child) = child {
            let pid = child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let status = child.wait().expect("waiting for mariadbd");
            self.scratch.forget(&child);
            assert!(
                status.success(),
                "mariadbd ended with {status}\n--- server.log ---\n{}",
                self.log()
            );
        }
    }

    fn start_again(&self) {
        let dir = self.scratch.dir();
        let log = self.scratch.log_file(&dir.join("server.log"));
        let child = Command::new(&self.mariadbd)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg(format!("--tmpdir={}", dir.join("tmp").display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", dir.join("mariadb.sock").display()))
            .arg(format!("--pid-file={}", dir.join("mariadb.pid").display()))
            .arg(format!("--user={}", user_name()))
            .arg("--skip-grant-tables")
            .arg("--skip-name-resolve")
            .arg("--innodb-buffer-pool-size=32M")
            .args(&self.options)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a second handle on the log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.mariadbd.display()));
        self.scratch.adopt(&child);
        *self.server.lock().unwrap() = Some(child);
    }

    fn wait_ready(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            sql_ready::<MySqlConnection>("MariaDB", &self.admin_url(), &self.scratch).await
        })
    }

    /// `mysql://root@127.0.0.1:PORT/sessions`.
    fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/{DATABASE}", self.port)
    }
}

impl Drop for ThrowawayMariaDb {
    fn drop(&mut self) {
        if let Some(mut child) = self.server.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.scratch.mark_stopped();
    }
}
