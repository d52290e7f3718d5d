//! Counting the store's sessions for operators (`keycard count`): a `SCAN`
//! of the store's key prefix, on every master of a cluster.

use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, Value};
use session_core::Error;

use crate::store::{unexpected, Conn, RedisStore};

/// Keys asked of Redis per `SCAN` step.
const SCAN_COUNT: u32 = 1_000;

impl RedisStore {
    /// The live sessions under this store's prefix: `SCAN … MATCH
    /// <prefix>* TYPE string` (the per-user indexes are sorted sets, so
    /// they are not counted; Redis 6 or later). Redis skips keys
    /// whose expiry has passed. One pass over the keyspace, in steps of
    /// [`SCAN_COUNT`] keys, each step bounded by the command timeout.
    pub(crate) async fn count_live(&self) -> Result<u64, Error> {
        let pattern = format!("{}*", glob_escape(self.key_prefix()));
        let mut total = 0;
        for node in self.scan_targets().await? {
            let mut cursor = 0u64;
            loop {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(SCAN_COUNT)
                    .arg("TYPE")
                    .arg("string");
                let (next, keys): (u64, Vec<String>) = self.on(&node, scan).await?;
                total += keys.len() as u64;
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(total)
    }

    /// The nodes to scan: `None` for the one server of a standalone or
    /// Sentinel store, every master (`host`, `port`) of a cluster.
    async fn scan_targets(&self) -> Result<Vec<Option<(String, u16)>>, Error> {
        let Conn::Cluster(_) = self.conn() else {
            return Ok(vec![None]);
        };
        let mut nodes = redis::cmd("CLUSTER");
        nodes.arg("NODES");
        let text: String = self.on(&None, nodes).await?;
        let masters = masters(&text);
        if masters.is_empty() {
            return Err(Error::backend("CLUSTER NODES named no master"));
        }
        Ok(masters.into_iter().map(Some).collect())
    }

    /// Runs `cmd` on `node` (a cluster master), or as usual.
    async fn on<T: redis::FromRedisValue>(
        &self,
        node: &Option<(String, u16)>,
        cmd: Cmd,
    ) -> Result<T, Error> {
        let Conn::Cluster(mut c) = self.conn() else {
            return self.query(&cmd).await;
        };
        let node = match node {
            Some((host, port)) => SingleNodeRoutingInfo::ByAddress {
                host: host.clone(),
                port: *port,
            },
            None => SingleNodeRoutingInfo::Random,
        };
        let value: Value = self
            .bounded(c.route_command(cmd, RoutingInfo::SingleNode(node)))
            .await?;
        redis::from_redis_value(value.clone()).map_err(|_| unexpected("SCAN", &value))
    }
}

/// The masters in `CLUSTER NODES` output that are not failing, as
/// (`host`, `port`): each line is `<id> <ip:port@cport[,hostname]> <flags> …`.
fn masters(nodes: &str) -> Vec<(String, u16)> {
    nodes
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, addr, flags) = (fields.next()?, fields.next()?, fields.next()?);
            let flags: Vec<&str> = flags.split(',').collect();
            if !flags.contains(&"master") || flags.iter().any(|f| f.starts_with("fail")) {
                return None;
            }
            let addr = addr.split(['@', ',']).next()?;
            let (host, port) = addr.rsplit_once(':')?;
            Some((host.to_owned(), port.parse().ok()?))
        })
        .collect()
}

/// `s` with the glob characters of `SCAN MATCH` escaped.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_matched_literally() {
        assert_eq!(glob_escape("app:*[x]?\\"), "app:\\*\\[x\\]\\?\\\\");
        assert_eq!(glob_escape("session:"), "session:");
    }

    #[test]
    fn masters_are_read_from_cluster_nodes() {
        let text = "\
07c3 127.0.0.1:30004@31004,host4 slave e7d1 0 1426238317239 4 connected
67ed 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f 127.0.0.1:30003@31003 master,fail - 0 1426238318243 3 connected 10923-16383
e7d1 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460
";
        assert_eq!(
            masters(text),
            [
                ("127.0.0.1".to_owned(), 30002),
                ("127.0.0.1".to_owned(), 30001)
            ]
        );
    }
}
