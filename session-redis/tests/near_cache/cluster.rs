//! The near cache on a Redis Cluster (the test binary's own 3-master
//! cluster, see `session_test_support::redis::cluster_urls`): the
//! conformance suite, two stores seeing each other's changes, this
//! process's own saves staying cached, and one node's tracked connection
//! killed.

use session_core::near_cache::NearCacheConfig;
use session_core::SessionStore;
use session_redis::RedisStore;
use session_test_support::key_prefix;
use session_test_support::names::random_hex;
use session_test_support::redis::{cluster_urls, RedisProcs};

use crate::channel::{acl_of, kill_and_bypass, still_correct};
use crate::coherence::{logouts, own_writes, revocations, writes};
use crate::{record, wait_coherent};

/// Trials per kind of change on the cluster (the standalone tests run
/// 1,000).
const TRIALS: usize = 200;

/// A store on the test cluster with the near cache on, under `prefix`,
/// once tracking is on for every primary.
pub(crate) async fn near_cluster_store(prefix: &str) -> RedisStore {
    near_cluster_store_at(&cluster_urls(), prefix).await
}

async fn near_cluster_store_at(urls: &[String], prefix: &str) -> RedisStore {
    let store = RedisStore::builder()
        .key_prefix(prefix)
        .command_timeout(crate::common::TEST_COMMAND_TIMEOUT)
        .near_cache(NearCacheConfig::new())
        .connect_cluster(urls.iter().map(String::as_str))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot connect to the test cluster {urls:?}: {}",
                session_core::error_chain(&e)
            )
        });
    wait_coherent(&store, true).await;
    assert_eq!(
        store.near_cache_client_ids().len(),
        3,
        "tracking is not on for every primary: {:?}",
        store.near_cache_client_ids()
    );
    store
}

async fn pair() -> (RedisStore, RedisStore) {
    let prefix = key_prefix();
    (
        near_cluster_store(&prefix).await,
        near_cluster_store(&prefix).await,
    )
}

mod conformance {
    session_core::store_conformance!(super::near_cluster_store(
        &session_test_support::key_prefix()
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_a_is_seen_by_b_on_a_cluster() {
    let (a, b) = pair().await;
    writes(&a, &b, TRIALS, "cluster, ").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_a_is_seen_by_b_on_a_cluster() {
    let (a, b) = pair().await;
    logouts(&a, &b, TRIALS, "cluster, ").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_a_is_seen_by_b_on_a_cluster() {
    let (a, b) = pair().await;
    revocations(&a, &b, TRIALS, "cluster, ").await;
}

/// As on a standalone Redis: a save, then loads, are hits (the echo of
/// the save script's write is checked against the node, key by key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_writes_update_the_cache_at_once_on_a_cluster() {
    own_writes(&near_cluster_store(&key_prefix()).await).await;
}

/// B's connection to the node holding a record killed (`CLIENT KILL ID`
/// on that node), and client tracking refused there to B's Redis user
/// until the test allows it again: B's cache turns incoherent, B reads
/// every change of A from Redis, and once tracking is allowed again B is
/// coherent, tracking a new connection on that node, and correct.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_bs_connection_to_one_node_makes_b_read_from_redis() {
    let cluster = RedisProcs::start_cluster(3);
    let urls = cluster.urls();
    let mut admins = Vec::new();
    for url in &urls {
        admins.push(
            redis::Client::open(url.as_str())
                .expect("url")
                .get_multiplexed_async_connection()
                .await
                .expect("admin connection"),
        );
    }
    let (user, password) = (format!("near-b-{}", random_hex(4)), random_hex(8));
    let acl = acl_of(&user);
    for admin in &mut admins {
        let _: () = acl(&["on", &format!(">{password}"), "~*", "&*", "+@all"])
            .query_async(admin)
            .await
            .expect("ACL SETUSER");
    }
    let prefix = key_prefix();
    let a = near_cluster_store_at(&urls, &prefix).await;
    let b_urls: Vec<String> = urls
        .iter()
        .map(|url| url.replace("redis://", &format!("redis://{user}:{password}@")))
        .collect();
    let b = near_cluster_store_at(&b_urls, &prefix).await;
    let cache = b.near_cache().expect("on");

    let r = record(1, Some("carol"));
    a.create(&r).await.expect("create on A");
    b.load(&r.id).await.expect("load on B");
    assert_eq!(b.load(&r.id).await.expect("load on B"), Some(r.clone()));
    assert_eq!(cache.stats().entries, 1, "B cached the record");

    // The node holding the record (the others answer MOVED).
    let mut node = None;
    for (i, admin) in admins.iter_mut().enumerate() {
        let exists: redis::RedisResult<i64> = redis::cmd("EXISTS")
            .arg(b.redis_key(&r.id))
            .query_async(admin)
            .await;
        if exists == Ok(1) {
            node = Some(i);
        }
    }
    let node = node.expect("one node holds the record");
    let address = urls[node].trim_start_matches("redis://").to_owned();
    let admin = &mut admins[node];

    // Kill B's connection to it, and keep B from tracking there for now.
    let ids = b.near_cache_client_ids();
    let id = ids
        .iter()
        .find(|(a, _)| *a == address)
        .map(|&(_, id)| id)
        .unwrap_or_else(|| panic!("B tracks no connection to {address}: {ids:?}"));
    let current = kill_and_bypass(&a, &b, &r, admin, &acl, id).await;
    let ids = b.near_cache_client_ids();
    assert!(
        ids.iter().any(|(a, now)| *a == address && *now != id),
        "B does not track a new connection to {address}: {ids:?}"
    );
    still_correct(&a, &b, &r, &current).await;
}
