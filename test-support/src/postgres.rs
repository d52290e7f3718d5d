//! A throwaway PostgreSQL cluster (`initdb` + `pg_ctl`), run as the
//! `postgres` OS user when the tests run as root (PostgreSQL refuses root),
//! optionally with `ssl=on` and a certificate made at test time.

use std::ffi::OsStr;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use sqlx::postgres::PgConnection;

#[cfg(feature = "tls")]
use crate::certs::{CaFiles, ServerPki};
use crate::process::{free_port, server_user, shell_quote, Scratch};
use crate::restart::{sql_ready, Restartable, READY_WITHIN};

/// A throwaway PostgreSQL in a temp dir on a free loopback port, with
/// `trust` authentication for the `postgres` user.
#[derive(Debug)]
pub struct ThrowawayPostgres {
    scratch: Scratch,
    port: u16,
    bin: PathBuf,
    /// `-c name=value` settings given at start-up (kept for restarts).
    settings: Vec<String>,
}

impl ThrowawayPostgres {
    /// `initdb` and `pg_ctl start` (which waits until the server accepts
    /// connections). Blocking: run it on a blocking thread.
    ///
    /// # Panics
    ///
    /// When a binary is missing (naming the package) or fails (with its log).
    pub fn start() -> Self {
        Self::start_with(&[], &[])
    }

    /// As [`start`](Self::start), with `ssl=on` and a certificate for
    /// `localhost` only (so that connecting by `127.0.0.1` is a host name
    /// mismatch) from a test CA; returns the CA files for its clients too.
    #[cfg(feature = "tls")]
    pub fn start_with_tls() -> (Self, CaFiles) {
        let pki = ServerPki::new(&["localhost"]);
        let server = Self::start_with(
            &pki.files(),
            &[
                "ssl=on",
                "ssl_cert_file={dir}/server.pem",
                "ssl_key_file={dir}/server.key",
            ],
        );
        let cas = CaFiles::next_to(server.scratch.dir());
        (server, cas)
    }

    /// As [`start`](Self::start), with `files` written into the data
    /// directory's parent first (private to the server's user; for
    /// certificates and keys) and `settings` (`name=value`, where `{dir}`
    /// stands for that directory) passed as `-c` options.
    pub fn start_with(files: &[(&str, &[u8])], settings: &[&str]) -> Self {
        let bin = pg_bin_dir();
        let pg_ctl = bin.join("pg_ctl");
        let run_as = server_user(true);
        // The second stop catches a server whose `pg_ctl start` was still
        // running when the test process died.
        let stop = format!(
            "{} {} -D \"$dir/data\" -m immediate -w -t 30 stop",
            run_as
                .iter()
                .map(|a| shell_quote(a.as_ref()))
                .collect::<Vec<_>>()
                .join(" "),
            shell_quote(pg_ctl.as_os_str())
        );
        let scratch = Scratch::new("pg", run_as, &stop);
        for (name, contents) in files {
            scratch.write_private(name, contents);
        }
        let dir = scratch.dir().display().to_string();
        let server = Self {
            port: free_port(),
            bin,
            settings: settings.iter().map(|s| s.replace("{dir}", &dir)).collect(),
            scratch,
        };
        let data = server.scratch.dir().join("data");
        server.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        server.start_again();
        server
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs `pg_ctl` (as the server's user) with `args` before the data
    /// directory, `-w -t <READY_WITHIN>` after it, and `command` last.
    fn pg_ctl(&self, args: &[&OsStr], command: &str) {
        let data = self.scratch.dir().join("data");
        let timeout = READY_WITHIN.as_secs().to_string();
        let mut all: Vec<&OsStr> = vec!["-D".as_ref(), data.as_os_str()];
        all.extend_from_slice(args);
        let tail: [&OsStr; 4] = [
            "-w".as_ref(),
            "-t".as_ref(),
            timeout.as_ref(),
            command.as_ref(),
        ];
        all.extend(tail);
        self.run("pg_ctl", &all);
    }

    fn run(&self, program: &str, args: &[&OsStr]) {
        self.scratch
            .run(&self.bin.join(program), args, "server.log");
    }
}

impl Restartable for ThrowawayPostgres {
    /// `pg_ctl stop -m fast`: open connections are terminated.
    fn stop(&self) {
        self.pg_ctl(&["-m".as_ref(), "fast".as_ref()], "stop");
    }

    /// `pg_ctl start -w` on the existing data dir and port.
    fn start_again(&self) {
        let log = self.scratch.dir().join("server.log");
        let mut options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.scratch.dir().display()
        );
        for setting in &self.settings {
            options.push_str(" -c ");
            options.push_str(setting);
        }
        self.pg_ctl(
            &[
                "-l".as_ref(),
                log.as_os_str(),
                "-o".as_ref(),
                options.as_ref(),
            ],
            "start",
        );
    }

    fn wait_ready(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            sql_ready::<PgConnection>("PostgreSQL", &self.url(), &self.scratch).await
        })
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

/// The directory holding `initdb` and `pg_ctl`: the one on `PATH` (through
/// symlinks), else the newest `/usr/lib/postgresql/*/bin`.
fn pg_bin_dir() -> PathBuf {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|dir| std::fs::canonicalize(dir.join("initdb")).ok())
        .filter_map(|initdb| initdb.parent().map(Path::to_path_buf))
        .find(|dir| has_both(dir));
    if let Some(dir) = on_path {
        return dir;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_both(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir).unwrap_or_else(|| {
        panic!(
            "initdb and pg_ctl were found neither on PATH nor in /usr/lib/postgresql/*/bin: \
             install the PostgreSQL server (Debian: apt-get install postgresql)"
        )
    })
}
