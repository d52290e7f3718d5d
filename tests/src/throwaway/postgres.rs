//! A throwaway PostgreSQL cluster (`initdb` + `pg_ctl`), run as the
//! `postgres` OS user when the tests run as root (PostgreSQL refuses root).

use std::ffi::OsStr;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use session_cookie::sqlx::postgres::PgConnection;
use session_cookie::sqlx::Connection as _;

use super::{poll_ready, server_user, shell_quote, Restartable, Scratch, READY_WITHIN};

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
    pub fn start() -> Self {
        Self::start_with(&[], &[])
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
        let dir = scratch.dir.display().to_string();
        let server = Self {
            port: crate::servers::free_port(),
            bin,
            settings: settings.iter().map(|s| s.replace("{dir}", &dir)).collect(),
            scratch,
        };
        let data = server.scratch.dir.join("data");
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

    /// The temp dir (the data directory is `data` in it).
    pub fn dir(&self) -> &Path {
        &self.scratch.dir
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        self.scratch.read("server.log")
    }

    fn run(&self, program: &str, args: &[&OsStr]) {
        self.scratch
            .run(&self.bin.join(program), args, "server.log");
    }
}

impl Restartable for ThrowawayPostgres {
    /// `pg_ctl stop -m fast`: open connections are terminated.
    fn stop(&self) {
        let data = self.scratch.dir.join("data");
        let timeout = READY_WITHIN.as_secs().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                timeout.as_ref(),
                "stop".as_ref(),
            ],
        );
    }

    /// `pg_ctl start -w` on the existing data dir and port.
    fn start_again(&self) {
        let data = self.scratch.dir.join("data");
        let log = self.scratch.dir.join("server.log");
        let mut options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.scratch.dir.display()
        );
        for setting in &self.settings {
            options.push_str(" -c ");
            options.push_str(setting);
        }
        let timeout = READY_WITHIN.as_secs().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                timeout.as_ref(),
                "-o".as_ref(),
                options.as_ref(),
                "start".as_ref(),
            ],
        );
    }

    fn wait_ready(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let url = self.url();
            poll_ready(
                "PostgreSQL",
                &url,
                || self.log(),
                || async { PgConnection::connect(&url).await?.close().await },
            )
            .await;
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
