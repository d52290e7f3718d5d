//! Helpers shared by the test binaries: the standalone Redis from
//! `REDIS_URL`, and real `redis-server` processes started by the tests
//! themselves (a 3-master cluster, or a single node to restart).
//!
//! # How spawned servers are cleaned up
//!
//! Each group of servers is started by a small `sh` watchdog whose standard
//! input is a pipe held by the test process. The watchdog starts the
//! `redis-server`s in the background and then blocks reading that pipe. The
//! pipe reaches end-of-file when the handle ([`RedisProcs`]) is dropped **or
//! when the test process exits for any reason** (test failure, panic,
//! `SIGKILL`): the kernel closes the write end with the process. The
//! watchdog then kills its servers, waits for them and removes their temp
//! dir. This is what makes a cluster kept in a `static` safe: statics are
//! never dropped, but the pipe still closes when the test binary exits.

#![allow(dead_code)]

pub(crate) mod pki;

use std::io::Read as _;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use session_core::SessionId;
use session_redis::RedisStore;

/// The command timeout of the stores under test: generous, because the test
/// machine is small and shared; the default is tested separately.
pub(crate) const TEST_COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

const HOW_TO_START: &str = "start one with `docker compose up -d --wait redis` (from the repository root) \
     or `redis-server --port 6379 --save '' --appendonly no`, or point REDIS_URL at a running Redis";

/// The master name the test sentinels monitor.
pub(crate) const SENTINEL_MASTER: &str = "keycard";

/// The standalone Redis under test: env `REDIS_URL`, default `redis://127.0.0.1:6379`.
pub(crate) fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A prefix no other test uses: `test:<32 random hex digits>:`.
pub(crate) fn random_prefix() -> String {
    let hex: String = SessionId::generate()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("test:{hex}:")
}

/// A store on the standalone Redis with a fresh random prefix. Panics (the
/// test fails) with instructions when Redis is not reachable.
pub(crate) async fn standalone_store() -> RedisStore {
    let url = redis_url();
    match RedisStore::builder()
        .key_prefix(random_prefix())
        .command_timeout(TEST_COMMAND_TIMEOUT)
        .connect(url.as_str())
        .await
    {
        Ok(store) => store,
        Err(e) => panic!(
            "cannot reach Redis at {url} (REDIS_URL): {e}: {}; {HOW_TO_START}",
            std::error::Error::source(&e).map_or(String::new(), ToString::to_string)
        ),
    }
}

/// A plain driver connection to the standalone Redis, to inspect keys.
pub(crate) async fn raw_standalone() -> redis::aio::MultiplexedConnection {
    let url = redis_url();
    let client = redis::Client::open(url.as_str()).expect("REDIS_URL parses");
    client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("cannot reach Redis at {url}: {e}; {HOW_TO_START}"))
}

/// A store on the test cluster (see [`cluster_urls`]) with a fresh random prefix.
pub(crate) async fn cluster_store() -> RedisStore {
    let urls = cluster_urls();
    RedisStore::builder()
        .key_prefix(random_prefix())
        .command_timeout(TEST_COMMAND_TIMEOUT)
        .connect_cluster(urls.iter().map(String::as_str))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot connect to the test cluster {urls:?}: {e}: {}",
                std::error::Error::source(&e).map_or(String::new(), ToString::to_string)
            )
        })
}

/// The seed URLs of the cluster under test: env `REDIS_CLUSTER_URLS`
/// (comma-separated) if set, else a 3-master cluster this test binary starts
/// once, on first use, and that lives until the binary exits.
pub(crate) fn cluster_urls() -> Vec<String> {
    static CLUSTER: OnceLock<(Vec<String>, Option<RedisProcs>)> = OnceLock::new();
    let (urls, _procs) = CLUSTER.get_or_init(|| {
        if let Ok(list) = std::env::var("REDIS_CLUSTER_URLS") {
            let urls: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            assert!(!urls.is_empty(), "REDIS_CLUSTER_URLS is set but empty");
            return (urls, None);
        }
        let started = Instant::now();
        let procs = RedisProcs::start_cluster(3);
        eprintln!(
            "started a 3-master Redis Cluster on ports {:?} in {:?}",
            procs.ports,
            started.elapsed()
        );
        (procs.urls(), Some(procs))
    });
    urls.clone()
}

/// A TLS-only `redis-server` whose certificate names 127.0.0.1, with the
/// CA that signed it: started on first use, shared by the tests of one
/// binary, stopped when the binary exits.
pub(crate) fn shared_tls_server() -> &'static (pki::ServerPki, RedisProcs) {
    static SERVER: OnceLock<(pki::ServerPki, RedisProcs)> = OnceLock::new();
    SERVER.get_or_init(|| {
        let pki = pki::ServerPki::new(&["127.0.0.1"]);
        let procs = RedisProcs::start_tls(&pki, false);
        (pki, procs)
    })
}

/// `redis-server` processes under one `sh` watchdog (see the module docs).
/// Dropping the handle kills them and removes their temp dir.
#[derive(Debug)]
pub(crate) struct RedisProcs {
    /// The loopback ports the servers listen on.
    pub(crate) ports: Vec<u16>,
    /// For servers that speak only TLS: the CA (PEM) their certificates
    /// chain to, which the launcher's own connections trust.
    tls_ca: Option<String>,
    dir: PathBuf,
    watchdog: Child,
    /// Held open; closing it tells the watchdog to clean up.
    stdin: Option<ChildStdin>,
}

const WATCHDOG: &str = r#"
dir="$1"; mode="$2"; shift 2
pids=""; first="$1"
# A "+tls" suffix: replicated nodes and sentinels speak only TLS (clients
# and replication), with the certificate in $dir.
secure=no
case "$mode" in *+tls) secure=yes; mode="${mode%+tls}" ;; esac
tls_files="--tls-cert-file $dir/server.pem --tls-key-file $dir/server.key --tls-ca-cert-file $dir/ca.pem"
for port in "$@"; do
  listen="--port $port"
  [ "$secure" = yes ] && listen="--port 0 --tls-port $port $tls_files --tls-auth-clients no --tls-replication yes"
  case "$mode" in
    sentinel:*)
      conf="$dir/sentinel-$port.conf"
      # The same listen options, as config lines ("--port 0" -> "port 0").
      echo "$listen" | sed 's/ --/\n/g; s/^--//' >"$conf"
      printf '%s\n' "bind 127.0.0.1" "dir $dir" "logfile $dir/redis-$port.log" \
        "sentinel monitor keycard 127.0.0.1 ${mode#sentinel:} 2" \
        "sentinel down-after-milliseconds keycard 500" \
        "sentinel failover-timeout keycard 10000" >>"$conf"
      redis-server "$conf" --sentinel </dev/null &
      pids="$pids $!"
      continue ;;
    replicated)
      # shellcheck disable=SC2086
      set -- $listen
      [ "$port" = "$first" ] || set -- "$@" --replicaof 127.0.0.1 "$first" ;;
    cluster) set -- --port "$port" --cluster-enabled yes --cluster-config-file "$dir/nodes-$port.conf" ;;
    tls|mtls|tlscluster)
      auth=no; [ "$mode" = mtls ] && auth=yes
      set -- --port 0 --tls-port "$port" --tls-cert-file "$dir/server.pem" \
        --tls-key-file "$dir/server.key" --tls-ca-cert-file "$dir/ca.pem" --tls-auth-clients "$auth"
      [ "$mode" = tlscluster ] && set -- "$@" --tls-cluster yes --cluster-enabled yes \
        --cluster-config-file "$dir/nodes-$port.conf" ;;
    *) set -- --port "$port" ;;
  esac
  redis-server --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$dir" --logfile "$dir/redis-$port.log" "$@" </dev/null &
  pids="$pids $!"
done
cat >/dev/null
kill $pids 2>/dev/null
wait
rm -rf "$dir"
"#;

impl RedisProcs {
    /// One standalone `redis-server` on `port` (a free one if `None`).
    pub(crate) fn start_standalone(port: Option<u16>) -> Self {
        let port = port.unwrap_or_else(|| free_port(false));
        let procs = Self::spawn("standalone", vec![port]);
        procs.wait_for_ping();
        procs
    }

    /// `masters` cluster-enabled servers, joined into one cluster with the
    /// 16384 slots split evenly, returned once every node reports
    /// `cluster_state:ok` and knows every other node.
    pub(crate) fn start_cluster(masters: usize) -> Self {
        let ports = (0..masters).map(|_| free_port(true)).collect();
        let procs = Self::spawn("cluster", ports);
        procs.wait_for_ping();
        procs.join_cluster();
        procs
    }

    /// `redis://127.0.0.1:<port>` for each server.
    pub(crate) fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    /// One `redis-server` serving only TLS on a free port, with the
    /// certificate, key and CA of `pki`; `require_client_cert` starts it
    /// with `--tls-auth-clients yes` (mutual TLS).
    pub(crate) fn start_tls(pki: &pki::ServerPki, require_client_cert: bool) -> Self {
        let dir = temp_dir();
        pki.write_to(&dir);
        let mode = if require_client_cert { "mtls" } else { "tls" };
        let mut procs = Self::spawn_in(dir, mode, vec![free_port(false)]);
        if require_client_cert || !pki.names_loopback {
            // The launcher has no client certificate, or cannot verify the
            // server as 127.0.0.1: wait for the port instead.
            procs.wait_for_listen();
        } else {
            procs.tls_ca = Some(pki.ca.cert_pem.clone());
            procs.wait_for_ping();
        }
        procs
    }

    /// Like [`start_cluster`](Self::start_cluster), but every node speaks
    /// only TLS, to clients and on the cluster bus (`tls-cluster yes`), with
    /// `pki`'s certificate (which must name 127.0.0.1).
    pub(crate) fn start_tls_cluster(pki: &pki::ServerPki, masters: usize) -> Self {
        let dir = temp_dir();
        pki.write_to(&dir);
        let ports = (0..masters).map(|_| free_port(true)).collect();
        let mut procs = Self::spawn_in(dir, "tlscluster", ports);
        procs.tls_ca = Some(pki.ca.cert_pem.clone());
        procs.wait_for_ping();
        procs.join_cluster();
        procs
    }

    /// A master on `ports[0]` and `replicas` replicas of it, returned once
    /// every replica's link to the master is up.
    pub(crate) fn start_replicated(replicas: usize) -> Self {
        Self::replicated(None, replicas)
    }

    /// [`start_replicated`](Self::start_replicated) speaking only TLS, to
    /// clients and between master and replicas, with `pki`'s certificate
    /// (which must name 127.0.0.1).
    pub(crate) fn start_replicated_tls(pki: &pki::ServerPki, replicas: usize) -> Self {
        Self::replicated(Some(pki), replicas)
    }

    /// Spawns in a fresh temp dir; with `pki`, in `mode` + `+tls`, with the
    /// certificates written there.
    fn spawn_maybe_tls(pki: Option<&pki::ServerPki>, mode: &str, ports: Vec<u16>) -> Self {
        let dir = temp_dir();
        let mode = match pki {
            Some(pki) => {
                pki.write_to(&dir);
                format!("{mode}+tls")
            }
            None => mode.to_owned(),
        };
        let mut procs = Self::spawn_in(dir, &mode, ports);
        procs.tls_ca = pki.map(|p| p.ca.cert_pem.clone());
        procs
    }

    fn replicated(pki: Option<&pki::ServerPki>, replicas: usize) -> Self {
        let ports = (0..=replicas).map(|_| free_port(false)).collect();
        let procs = Self::spawn_maybe_tls(pki, "replicated", ports);
        procs.wait_for_ping();
        for &port in &procs.ports[1..] {
            procs.wait_for_info(port, "replication", "master_link_status:up");
        }
        procs
    }

    /// `n` sentinels monitoring the master on `master_port` as
    /// [`SENTINEL_MASTER`] (quorum 2, down after 500 ms), returned once each
    /// knows a replica and the other sentinels.
    pub(crate) fn start_sentinels(master_port: u16, n: usize) -> Self {
        Self::sentinels(None, master_port, n)
    }

    /// [`start_sentinels`](Self::start_sentinels) speaking only TLS, to
    /// clients and to the servers they monitor (started with
    /// [`start_replicated_tls`](Self::start_replicated_tls) and the same
    /// `pki`).
    pub(crate) fn start_sentinels_tls(pki: &pki::ServerPki, master_port: u16, n: usize) -> Self {
        Self::sentinels(Some(pki), master_port, n)
    }

    fn sentinels(pki: Option<&pki::ServerPki>, master_port: u16, n: usize) -> Self {
        let ports = (0..n).map(|_| free_port(false)).collect();
        let procs = Self::spawn_maybe_tls(pki, &format!("sentinel:{master_port}"), ports);
        procs.wait_for_ping();
        let deadline = Instant::now() + Duration::from_secs(30);
        for &port in &procs.ports {
            loop {
                let master = procs.connection(port).and_then(|mut c| {
                    redis::cmd("SENTINEL")
                        .arg("MASTER")
                        .arg(SENTINEL_MASTER)
                        .query::<std::collections::HashMap<String, String>>(&mut c)
                });
                let ready = master.as_ref().is_ok_and(|m| {
                    m.get("num-slaves").is_some_and(|v| v != "0")
                        && m.get("num-other-sentinels") == Some(&(n - 1).to_string())
                });
                if ready {
                    break;
                }
                if Instant::now() > deadline {
                    procs.fail(&format!(
                        "sentinel {port} does not see the replica and the other sentinels \
                         within 30 s: {master:?}"
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        procs
    }

    /// The address the sentinel on `port` gives for [`SENTINEL_MASTER`].
    pub(crate) fn master_port_by_sentinel(&self, port: u16) -> Option<u16> {
        let mut c = self.connection(port).ok()?;
        let (_host, master): (String, u16) = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(SENTINEL_MASTER)
            .query(&mut c)
            .ok()?;
        Some(master)
    }

    /// Kills the server on `port` with SIGKILL (no shutdown, no last save).
    pub(crate) fn sigkill(&self, port: u16) {
        let info = self
            .connection(port)
            .and_then(|mut c| redis::cmd("INFO").arg("server").query::<String>(&mut c))
            .unwrap_or_else(|e| self.fail(&format!("INFO server on {port}: {e}")));
        let pid = info
            .lines()
            .find_map(|l| l.strip_prefix("process_id:"))
            .unwrap_or_else(|| self.fail(&format!("no process_id in INFO of {port}")))
            .trim()
            .to_owned();
        let status = Command::new("kill")
            .args(["-9", &pid])
            .status()
            .unwrap_or_else(|e| self.fail(&format!("cannot run `kill`: {e}")));
        assert!(status.success(), "kill -9 {pid} failed");
    }

    /// Polls `INFO <section>` on `port` until it contains `needle`.
    fn wait_for_info(&self, port: u16, section: &str, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let info = self
                .connection(port)
                .and_then(|mut c| redis::cmd("INFO").arg(section).query::<String>(&mut c));
            match info {
                Ok(info) if info.contains(needle) => return,
                other if Instant::now() > deadline => self.fail(&format!(
                    "server {port}: no `{needle}` in INFO {section} within 30 s: {other:?}"
                )),
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// `rediss://127.0.0.1:<port>` for each server.
    pub(crate) fn tls_urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("rediss://127.0.0.1:{p}"))
            .collect()
    }

    fn spawn(mode: &str, ports: Vec<u16>) -> Self {
        Self::spawn_in(temp_dir(), mode, ports)
    }

    fn spawn_in(dir: PathBuf, mode: &str, ports: Vec<u16>) -> Self {
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("redis-watchdog")
            .arg(&dir)
            .arg(mode)
            .args(ports.iter().map(u16::to_string))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `sh` to start redis-server: {e}"));
        let mut procs = Self {
            ports,
            tls_ca: None,
            dir,
            watchdog,
            stdin: None,
        };
        procs.stdin = procs.watchdog.stdin.take();
        procs
    }

    fn connection(&self, port: u16) -> redis::RedisResult<redis::Connection> {
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
            Some(_) => panic!("TLS servers need the `tls` feature"),
            None => redis::Client::open(format!("redis://127.0.0.1:{port}"))?,
        };
        let conn = client.get_connection_with_timeout(Duration::from_secs(2))?;
        conn.set_read_timeout(Some(Duration::from_secs(5)))?;
        conn.set_write_timeout(Some(Duration::from_secs(5)))?;
        Ok(conn)
    }

    /// Polls until every server answers PING.
    fn wait_for_ping(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        for &port in &self.ports {
            loop {
                let ping = self
                    .connection(port)
                    .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
                match ping {
                    Ok(_) => break,
                    Err(e) if Instant::now() > deadline => self.fail(&format!(
                        "redis-server on port {port} did not answer PING within 15 s: {e}"
                    )),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
    }

    /// Polls until every server accepts TCP connections (for servers that
    /// speak only TLS, which a plaintext PING cannot reach).
    fn wait_for_listen(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        for &port in &self.ports {
            while let Err(e) = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
                if Instant::now() > deadline {
                    self.fail(&format!(
                        "redis-server on port {port} did not listen within 15 s: {e}"
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn join_cluster(&self) {
        const SLOTS: usize = 16384;
        let n = self.ports.len();
        for (i, &port) in self.ports.iter().enumerate() {
            let mut c = self
                .connection(port)
                .unwrap_or_else(|e| self.fail(&e.to_string()));
            let (first, last) = (i * SLOTS / n, (i + 1) * SLOTS / n - 1);
            let setup = redis::cmd("CLUSTER")
                .arg("SET-CONFIG-EPOCH")
                .arg(i + 1)
                .exec(&mut c)
                .and_then(|()| {
                    redis::cmd("CLUSTER")
                        .arg("ADDSLOTSRANGE")
                        .arg(first)
                        .arg(last)
                        .exec(&mut c)
                });
            if let Err(e) = setup {
                self.fail(&format!("setting up cluster node {port}: {e}"));
            }
        }
        let mut first = self
            .connection(self.ports[0])
            .unwrap_or_else(|e| self.fail(&e.to_string()));
        for &port in &self.ports[1..] {
            if let Err(e) = redis::cmd("CLUSTER")
                .arg("MEET")
                .arg("127.0.0.1")
                .arg(port)
                .exec(&mut first)
            {
                self.fail(&format!("CLUSTER MEET 127.0.0.1 {port}: {e}"));
            }
        }
        // Readiness: every node sees every node and all slots covered.
        let deadline = Instant::now() + Duration::from_secs(30);
        let known = format!("cluster_known_nodes:{n}");
        for &port in &self.ports {
            loop {
                let info = self
                    .connection(port)
                    .and_then(|mut c| redis::cmd("CLUSTER").arg("INFO").query::<String>(&mut c));
                match info {
                    Ok(info) if info.contains("cluster_state:ok") && info.contains(&known) => break,
                    other if Instant::now() > deadline => self.fail(&format!(
                        "cluster node {port} not ready within 30 s: {other:?}"
                    )),
                    _ => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
    }

    /// Panics with the servers' logs.
    fn fail(&self, what: &str) -> ! {
        let mut logs = String::new();
        for port in &self.ports {
            let path = self.dir.join(format!("redis-{port}.log"));
            let mut log = String::new();
            let _ = std::fs::File::open(&path).and_then(|mut f| f.read_to_string(&mut log));
            logs.push_str(&format!("--- {}\n{log}\n", path.display()));
        }
        panic!("{what}\n(is redis-server on PATH?)\n{logs}");
    }

    /// The temp dir holding the servers' logs and cluster config files.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for RedisProcs {
    fn drop(&mut self) {
        // EOF on the watchdog's stdin: it kills the servers and removes the dir.
        drop(self.stdin.take());
        let _ = self.watchdog.wait();
    }
}

/// A loopback port that is free now (and, for a cluster node, whose bus
/// port `port + 10000` is free too).
pub(crate) fn free_port(with_bus: bool) -> u16 {
    for _ in 0..100 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a loopback port");
        let port = listener.local_addr().expect("local addr").port();
        if !with_bus {
            return port;
        }
        if port < 55_000 && TcpListener::bind((Ipv4Addr::LOCALHOST, port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port pair found");
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "session-redis-test-{}-{}",
        std::process::id(),
        &random_prefix()[5..21]
    ));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}
