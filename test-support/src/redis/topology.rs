//! Groups of `redis-server`s that work together: a Cluster, a master with
//! replicas, Sentinels watching it; and the groups one test binary shares
//! between its tests (started on first use, stopped when the binary exits).

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{RedisProcs, Role};
#[cfg(feature = "tls")]
use crate::certs::ServerPki;
use crate::process::{free_port, free_port_with_bus};

/// The master name the test sentinels monitor.
pub const SENTINEL_MASTER: &str = "keycard";

impl RedisProcs {
    /// `masters` cluster-enabled servers, joined into one cluster with the
    /// 16384 slots split evenly, returned once every node reports
    /// `cluster_state:ok` and knows every other node.
    pub fn start_cluster(masters: usize) -> Self {
        Self::plain().cluster(masters)
    }

    /// Like [`start_cluster`](Self::start_cluster), but every node speaks
    /// only TLS, to clients and on the cluster bus (`tls-cluster yes`), with
    /// `pki`'s certificate (which must name 127.0.0.1).
    #[cfg(feature = "tls")]
    pub fn start_tls_cluster(pki: &ServerPki, masters: usize) -> Self {
        Self::tls(pki, false).cluster(masters)
    }

    /// A master on `ports[0]` and `replicas` replicas of it, returned once
    /// every replica's link to the master is up.
    pub fn start_replicated(replicas: usize) -> Self {
        Self::plain().replicated(replicas)
    }

    /// [`start_replicated`](Self::start_replicated) speaking only TLS, to
    /// clients and between master and replicas, with `pki`'s certificate
    /// (which must name 127.0.0.1).
    #[cfg(feature = "tls")]
    pub fn start_replicated_tls(pki: &ServerPki, replicas: usize) -> Self {
        Self::tls(pki, false).replicated(replicas)
    }

    /// `n` sentinels monitoring the master on `master_port` as
    /// [`SENTINEL_MASTER`] (quorum 2, down after 500 ms), returned once each
    /// knows a replica and the other sentinels.
    pub fn start_sentinels(master_port: u16, n: usize) -> Self {
        Self::plain().sentinels(master_port, n)
    }

    /// [`start_sentinels`](Self::start_sentinels) speaking only TLS, to
    /// clients and to the servers they monitor (started with
    /// [`start_replicated_tls`](Self::start_replicated_tls) and the same
    /// `pki`).
    #[cfg(feature = "tls")]
    pub fn start_sentinels_tls(pki: &ServerPki, master_port: u16, n: usize) -> Self {
        Self::tls(pki, false).sentinels(master_port, n)
    }

    /// The port of the master the sentinel on `port` names for
    /// [`SENTINEL_MASTER`].
    pub fn master_port_by_sentinel(&self, port: u16) -> Option<u16> {
        let mut c = self.connection(port).ok()?;
        let (_host, master): (String, u16) = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(SENTINEL_MASTER)
            .query(&mut c)
            .ok()?;
        Some(master)
    }

    fn replicated(mut self, replicas: usize) -> Self {
        let master = free_port();
        self.launch(master, Role::Standalone);
        for _ in 0..replicas {
            self.launch(free_port(), Role::Replica(master));
        }
        self.wait_for_ping();
        let what = "replica's link to the master not up";
        self.wait_each(Duration::from_secs(30), what, |port| {
            if port == master {
                return Ok((true, String::new()));
            }
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query(&mut self.connection(port)?)?;
            Ok((info.contains("master_link_status:up"), info))
        });
        self
    }

    fn sentinels(mut self, master_port: u16, n: usize) -> Self {
        for _ in 0..n {
            self.launch(free_port(), Role::Sentinel(master_port));
        }
        self.wait_for_ping();
        let others = (n - 1).to_string();
        let what = "does not see the replica and the other sentinels";
        self.wait_each(Duration::from_secs(30), what, |port| {
            let master: HashMap<String, String> = redis::cmd("SENTINEL")
                .arg("MASTER")
                .arg(SENTINEL_MASTER)
                .query(&mut self.connection(port)?)?;
            let ready = master.get("num-slaves").is_some_and(|v| v != "0")
                && master.get("num-other-sentinels") == Some(&others);
            Ok((ready, master))
        });
        self
    }

    fn cluster(mut self, masters: usize) -> Self {
        const SLOTS: usize = 16384;
        for _ in 0..masters {
            self.launch(free_port_with_bus(), Role::ClusterNode);
        }
        self.wait_for_ping();
        for (i, &port) in self.ports.iter().enumerate() {
            let (first, last) = (i * SLOTS / masters, (i + 1) * SLOTS / masters - 1);
            let setup = self.connection(port).and_then(|mut c| {
                redis::cmd("CLUSTER")
                    .arg("SET-CONFIG-EPOCH")
                    .arg(i + 1)
                    .exec(&mut c)?;
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
        for &port in &self.ports[1..] {
            let meet = self.connection(self.ports[0]).and_then(|mut c| {
                redis::cmd("CLUSTER")
                    .arg("MEET")
                    .arg("127.0.0.1")
                    .arg(port)
                    .exec(&mut c)
            });
            if let Err(e) = meet {
                self.fail(&format!("CLUSTER MEET 127.0.0.1 {port}: {e}"));
            }
        }
        // Ready: every node sees every node, and all slots are covered.
        let known = format!("cluster_known_nodes:{masters}");
        self.wait_each(Duration::from_secs(30), "cluster not ready", |port| {
            let info: String = redis::cmd("CLUSTER")
                .arg("INFO")
                .query(&mut self.connection(port)?)?;
            Ok((
                info.contains("cluster_state:ok") && info.contains(&known),
                info,
            ))
        });
        self
    }
}

/// The seed URLs of the test cluster: env `REDIS_CLUSTER_URLS`
/// (comma-separated) if set, else a 3-master cluster this test binary
/// starts once, on first use, and that lives until the binary exits.
///
/// # Panics
///
/// When `REDIS_CLUSTER_URLS` is set but empty, or the cluster cannot start.
pub fn cluster_urls() -> Vec<String> {
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
#[cfg(feature = "tls")]
pub fn shared_tls_server() -> &'static (ServerPki, RedisProcs) {
    static SERVER: OnceLock<(ServerPki, RedisProcs)> = OnceLock::new();
    SERVER.get_or_init(|| {
        let pki = ServerPki::new(&["127.0.0.1"]);
        let procs = RedisProcs::start_tls(&pki, false);
        (pki, procs)
    })
}
