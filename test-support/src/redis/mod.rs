//! Throwaway `redis-server`s started by the tests themselves, each group on
//! free loopback ports in a temp dir of its own: one standalone server, a
//! Cluster, a master with replicas, Sentinels (see [`topology`]), and TLS-only
//! variants of each with certificates made at test time.
//!
//! The servers are children of the test process. Dropping the
//! [`RedisProcs`] kills them (`SIGKILL`: nothing is persisted) and waits for
//! them; if the test process dies first, the temp dir's watchdog
//! ([`Scratch`]) kills them. A missing `redis-server` fails the test,
//! naming the package to install.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[cfg(feature = "tls")]
use crate::certs::ServerPki;
use crate::process::{find_binary, free_port, Scratch, KILL_ADOPTED};

mod restartable;
pub mod topology;

pub use restartable::RestartableRedis;
#[cfg(feature = "tls")]
pub use topology::shared_tls_server;
pub use topology::{cluster_urls, SENTINEL_MASTER};

/// `redis-server` processes of one group (see the module docs).
#[derive(Debug)]
pub struct RedisProcs {
    /// The loopback ports the servers listen on, in the order started.
    pub ports: Vec<u16>,
    /// The CA (PEM) the launcher's own connections trust, for servers that
    /// speak only TLS and whose certificate names 127.0.0.1.
    tls_ca: Option<String>,
    /// The TLS options every server of the group gets (empty: plaintext).
    tls_options: Vec<Vec<String>>,
    children: Mutex<Vec<(u16, Child)>>,
    redis_server: PathBuf,
    scratch: Scratch,
}

/// What one server of a group is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Role {
    /// A plain server (or a master).
    Standalone,
    /// A cluster-enabled node.
    ClusterNode,
    /// A replica of the server on this port.
    Replica(u16),
    /// A sentinel monitoring the master on this port as [`SENTINEL_MASTER`].
    Sentinel(u16),
}

impl RedisProcs {
    /// One standalone `redis-server` on `port` (a free one if `None`),
    /// returned once it answers PING.
    pub fn start_standalone(port: Option<u16>) -> Self {
        let mut procs = Self::plain();
        procs.launch(port.unwrap_or_else(free_port), Role::Standalone);
        procs.wait_for_ping();
        procs
    }

    /// One `redis-server` serving only TLS on a free port, with `pki`'s
    /// certificate; `require_client_cert` starts it with
    /// `--tls-auth-clients yes` (mutual TLS). Returned once it answers (or,
    /// when the launcher cannot verify it or has no client certificate,
    /// once it listens).
    #[cfg(feature = "tls")]
    pub fn start_tls(pki: &ServerPki, require_client_cert: bool) -> Self {
        let mut procs = Self::tls(pki, require_client_cert);
        procs.launch(free_port(), Role::Standalone);
        if procs.tls_ca.is_some() {
            procs.wait_for_ping();
        } else {
            procs.wait_for_listen();
        }
        procs
    }

    /// An empty group of plaintext servers in a fresh temp dir.
    pub(crate) fn plain() -> Self {
        Self {
            ports: Vec::new(),
            tls_ca: None,
            tls_options: Vec::new(),
            children: Mutex::new(Vec::new()),
            redis_server: find_binary(&["redis-server"], &[], "redis-server"),
            scratch: Scratch::new("redis", Vec::new(), KILL_ADOPTED),
        }
    }

    /// An empty group of servers that speak only TLS, to clients and to
    /// each other, with `pki`'s certificate (written to the temp dir as
    /// `server.pem`, `server.key` and `ca.pem`); `client_auth`: clients
    /// must show a certificate from `pki`'s CA.
    #[cfg(feature = "tls")]
    pub(crate) fn tls(pki: &ServerPki, client_auth: bool) -> Self {
        let mut procs = Self::plain();
        for (name, contents) in pki.files() {
            procs.scratch.write_private(name, contents);
        }
        let file = |name: &str| procs.scratch.dir().join(name).display().to_string();
        let auth = if client_auth { "yes" } else { "no" };
        procs.tls_options = vec![
            vec!["port".into(), "0".into()],
            vec!["tls-cert-file".into(), file("server.pem")],
            vec!["tls-key-file".into(), file("server.key")],
            vec!["tls-ca-cert-file".into(), file("ca.pem")],
            vec!["tls-auth-clients".into(), auth.into()],
            vec!["tls-replication".into(), "yes".into()],
        ];
        // Without a client certificate, or unable to verify the server as
        // 127.0.0.1, the launcher waits for the port instead of a PING.
        if pki.names_loopback() && !client_auth {
            procs.tls_ca = Some(pki.ca.pem().to_owned());
        }
        procs
    }

    /// Starts one server of the group on `port` as `role`.
    pub(crate) fn launch(&mut self, port: u16, role: Role) {
        let dir = self.scratch.dir().display().to_string();
        let option =
            |words: &[&str]| -> Vec<String> { words.iter().map(|w| (*w).to_owned()).collect() };
        let log = self.log_path(port).display().to_string();
        let mut options = vec![
            option(&["bind", "127.0.0.1"]),
            option(&["dir", &dir]),
            option(&["logfile", &log]),
        ];
        let port_text = port.to_string();
        if self.tls_options.is_empty() {
            options.push(option(&["port", &port_text]));
        } else {
            options.extend(self.tls_options.iter().cloned());
            options.push(option(&["tls-port", &port_text]));
        }
        let mut command = Command::new(&self.redis_server);
        if let Role::Sentinel(master) = role {
            let master = master.to_string();
            for (setting, value) in [
                ("monitor", format!("127.0.0.1 {master} 2")),
                ("down-after-milliseconds", "500".to_owned()),
                ("failover-timeout", "10000".to_owned()),
            ] {
                options.push(option(&["sentinel", setting, SENTINEL_MASTER, &value]));
            }
            let lines: String = options.iter().map(|o| o.join(" ") + "\n").collect();
            let conf = self.scratch.dir().join(format!("sentinel-{port}.conf"));
            std::fs::write(&conf, lines)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", conf.display()));
            command.arg(conf).arg("--sentinel");
        } else {
            options.extend([option(&["save", ""]), option(&["appendonly", "no"])]);
            if let Role::Replica(master) = role {
                options.push(option(&["replicaof", "127.0.0.1", &master.to_string()]));
            }
            if let Role::ClusterNode = role {
                let conf = format!("{dir}/nodes-{port}.conf");
                options.push(option(&["cluster-enabled", "yes"]));
                options.push(option(&["cluster-config-file", &conf]));
                if !self.tls_options.is_empty() {
                    options.push(option(&["tls-cluster", "yes"]));
                }
            }
            for words in options {
                command.arg(format!("--{}", words[0])).args(&words[1..]);
            }
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.redis_server.display()));
        self.scratch.adopt(&child);
        self.children.lock().unwrap().push((port, child));
        self.ports.push(port);
    }

    /// `redis://127.0.0.1:<port>` for each server.
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    /// `rediss://127.0.0.1:<port>` for each server.
    pub fn tls_urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("rediss://127.0.0.1:{p}"))
            .collect()
    }

    /// The temp dir holding the servers' logs, configuration files and
    /// certificates (`ca.pem` is the CA of a TLS group).
    pub fn dir(&self) -> &Path {
        self.scratch.dir()
    }

    /// Kills the server on `port` with `SIGKILL` (no shutdown, no last
    /// save) and waits until it is gone.
    ///
    /// # Panics
    ///
    /// When no server of the group is on `port`.
    pub fn sigkill(&self, port: u16) {
        let mut children = self.children.lock().unwrap();
        let (_, child) = children
            .iter_mut()
            .find(|(p, _)| *p == port)
            .unwrap_or_else(|| panic!("no redis-server of this group on port {port}"));
        let _ = child.kill();
        let _ = child.wait();
        self.scratch.forget(child);
    }

    /// A blocking connection to the server on `port`, over TLS for a TLS
    /// group the launcher can verify.
    pub(crate) fn connection(&self, port: u16) -> redis::RedisResult<redis::Connection> {
        let client = match &self.tls_ca {
            #[cfg(feature = "tls")]
            Some(ca) => redis::Client::build_with_tls(
                format!("rediss://127.0.0.1:{port}"),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(ca.clone().into_bytes()),
                },
            )?,
            #[cfg(not(feature = "tls"))]
            Some(_) => unreachable!("a TLS group needs the `tls` feature"),
            None => redis::Client::open(format!("redis://127.0.0.1:{port}"))?,
        };
        let conn = client.get_connection_with_timeout(Duration::from_secs(2))?;
        conn.set_read_timeout(Some(Duration::from_secs(5)))?;
        conn.set_write_timeout(Some(Duration::from_secs(5)))?;
        Ok(conn)
    }

    /// Polls `probe` on each server until it returns `Ok(true)`; fails the
    /// test after `within` with `what` and the last answer.
    pub(crate) fn wait_each<T: std::fmt::Debug>(
        &self,
        within: Duration,
        what: &str,
        probe: impl Fn(u16) -> redis::RedisResult<(bool, T)>,
    ) {
        let deadline = Instant::now() + within;
        for &port in &self.ports {
            loop {
                let answer = probe(port);
                if matches!(answer, Ok((true, _))) {
                    break;
                }
                if Instant::now() > deadline {
                    self.fail(&format!(
                        "redis-server on port {port}: {what} within {within:?}: {answer:?}"
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Polls until every server answers PING.
    pub(crate) fn wait_for_ping(&self) {
        self.wait_each(Duration::from_secs(15), "no answer to PING", |port| {
            let pong: String = redis::cmd("PING").query(&mut self.connection(port)?)?;
            Ok((true, pong))
        });
    }

    /// Polls until every server accepts TCP connections (for servers the
    /// launcher cannot PING over TLS).
    #[cfg(feature = "tls")]
    fn wait_for_listen(&self) {
        self.wait_each(Duration::from_secs(15), "not listening", |port| {
            std::net::TcpStream::connect(("127.0.0.1", port))?;
            Ok((true, ()))
        });
    }

    fn log_path(&self, port: u16) -> PathBuf {
        self.scratch.dir().join(format!("redis-{port}.log"))
    }

    /// Fails the test with `what` and the servers' logs.
    pub(crate) fn fail(&self, what: &str) -> ! {
        let mut logs = String::new();
        for &port in &self.ports {
            let path = self.log_path(port);
            logs.push_str(&format!(
                "--- {}\n{}\n",
                path.display(),
                crate::process::read(&path)
            ));
        }
        panic!("{what}\n{logs}");
    }
}

impl Drop for RedisProcs {
    fn drop(&mut self) {
        let children =
            std::mem::take(&mut *self.children.lock().unwrap_or_else(|e| e.into_inner()));
        for (_, mut child) in children {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.scratch.mark_stopped();
    }
}
