//! Redis Sentinel: a master, a replica and three sentinels started by the
//! test (`redis-server` and `redis-server --sentinel` on free loopback
//! ports), the conformance suite through the sentinels, and a failover under
//! load: the master is killed with SIGKILL while clients keep writing, and
//! the store follows the promotion without a restart.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use session_core::{codec, error_chain, Data, Error, Record, SessionId, SessionStore};
use session_redis::{RedisStore, RedisStoreBuilder};

use common::TEST_COMMAND_TIMEOUT;
use session_test_support::key_prefix;
use session_test_support::redis::{RedisProcs, SENTINEL_MASTER};

/// A master, one replica and three sentinels.
struct Group {
    data: RedisProcs,
    sentinels: RedisProcs,
}

impl Group {
    fn start() -> Self {
        let data = RedisProcs::start_replicated(1);
        let sentinels = RedisProcs::start_sentinels(data.ports[0], 3);
        Self { data, sentinels }
    }

    /// `redis+sentinel://127.0.0.1:<p1>,…/keycard`.
    fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+sentinel://{}/{SENTINEL_MASTER}", hosts.join(","))
    }

    /// A store through the sentinels; give `builder` a key prefix.
    async fn store(&self, builder: RedisStoreBuilder) -> RedisStore {
        let url = self.url();
        builder
            .connect_sentinel_url(&url)
            .await
            .unwrap_or_else(|e| panic!("connecting through {url}: {}", error_chain(&e)))
    }
}

impl Group {
    /// A store under `prefix` whose writes wait for `replicas` replicas for
    /// up to `wait_ms`.
    async fn durable_store(&self, prefix: &str, replicas: u32, wait_ms: u64) -> RedisStore {
        self.store(
            RedisStore::builder()
                .key_prefix(prefix)
                .wait_for_replicas(replicas, Duration::from_millis(wait_ms)),
        )
        .await
    }
}

/// The group the conformance suite runs on, shared by this binary's tests
/// (the failover test starts its own).
fn shared() -> &'static Group {
    static GROUP: OnceLock<Group> = OnceLock::new();
    GROUP.get_or_init(Group::start)
}

async fn sentinel_store() -> RedisStore {
    shared()
        .store(
            RedisStore::builder()
                .key_prefix(key_prefix())
                .command_timeout(TEST_COMMAND_TIMEOUT),
        )
        .await
}

session_core::store_conformance!(sentinel_store());

#[tokio::test]
async fn the_store_reports_sentinel_mode() {
    let store = sentinel_store().await;
    assert!(format!("{store:?}").contains("sentinel"), "{store:?}");
    assert!(!store.is_cluster());
}

#[tokio::test]
async fn no_sentinel_answering_is_a_clear_error() {
    let port = session_test_support::free_port();
    let url = format!("redis+sentinel://127.0.0.1:{port}/{SENTINEL_MASTER}");
    let err = RedisStore::builder()
        .connect_sentinel_url(&url)
        .await
        .unwrap_err();
    let msg = error_chain(&err);
    assert!(
        msg.contains(&format!(
            "could not connect to the Redis session store at redis://127.0.0.1:{port}/0 \
             (sentinels, master keycard)"
        )),
        "{msg}"
    );
}

/// Durable writes wait for the replica; asking for more replicas than
/// there are fails the write with the shortfall (the write itself is on the
/// master).
#[tokio::test]
async fn durable_writes_wait_for_replicas_and_say_when_too_few_ack() {
    let group = shared();
    let prefix = key_prefix();
    let one = group
        .store(
            RedisStore::builder()
                .key_prefix(&prefix)
                .command_timeout(TEST_COMMAND_TIMEOUT)
                .wait_for_replicas(1, Duration::from_millis(2_000)),
        )
        .await;
    let record = visits_record();
    one.create(&record).await.unwrap();
    one.save(&Record {
        version: record.version + 1,
        ..record.clone()
    })
    .await
    .unwrap();

    let two = group.durable_store(&prefix, 2, 100).await;
    let other = visits_record();
    let err = two.create(&other).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(
        error_chain(&err).contains("only 1 of 2 replicas acknowledged the write within 100ms"),
        "{}",
        error_chain(&err)
    );
    assert!(one.load(&other.id).await.unwrap().is_some());
}

#[tokio::test]
async fn durable_write_settings_are_checked() {
    for (replicas, wait) in [(0, 100), (1, 0), (1, 5_000)] {
        let err = RedisStore::builder()
            .command_timeout(Duration::from_secs(1))
            .wait_for_replicas(replicas, Duration::from_millis(wait))
            .connect_sentinel_url(&shared().url())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Config {
                    field: "wait_for_replicas",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

fn visits_record() -> Record {
    Record::new(
        SessionId::generate(),
        Data::new(),
        SystemTime::now() + Duration::from_secs(600),
    )
}

/// One `/visits` request: load the session, count the visit, save it.
async fn visit(store: &RedisStore, id: &SessionId) -> Result<(), Error> {
    let mut record = store.load(id).await?.ok_or(Error::Vanished)?;
    let visits: u64 = match record.data.get("visits") {
        Some(bytes) => codec::decode_value(bytes)?,
        None => 0,
    };
    record
        .data
        .insert("visits".to_owned(), codec::encode_value(&(visits + 1))?);
    record.version += 1;
    store.save(&record).await
}

/// What one request saw.
struct Outcome {
    started: Instant,
    took: Duration,
    result: Result<(), Error>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_follows_a_failover_without_a_restart() {
    const CLIENTS: usize = 4;
    const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);
    let group = Group::start();
    let old_master = group.data.ports[0];
    let prefix = key_prefix();
    let store = group
        .store(
            RedisStore::builder()
                .key_prefix(&prefix)
                .command_timeout(COMMAND_TIMEOUT),
        )
        .await;
    // Sessions committed with a durable write (one replica has them) 1 s
    // before the kill.
    let durable = group.durable_store(&prefix, 1, 500).await;
    let mut committed = Vec::new();
    for _ in 0..20 {
        let r = visits_record();
        durable.create(&r).await.unwrap();
        committed.push(r);
    }
    let sessions: Vec<SessionId> = committed
        .iter()
        .take(CLIENTS)
        .map(|r| r.id.clone())
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = sessions
        .into_iter()
        .map(|id| {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let result = visit(&store, &id).await;
                    seen.push(Outcome {
                        started,
                        took: started.elapsed(),
                        result,
                    });
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                seen
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(1)).await;
    let killed = Instant::now();
    group.data.sigkill(old_master);

    // Wait for the sentinels to promote the replica.
    let deadline = Instant::now() + Duration::from_secs(30);
    let promoted = loop {
        let master = group
            .sentinels
            .master_port_by_sentinel(group.sentinels.ports[0]);
        if master.is_some_and(|p| p != old_master) {
            break Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "no promotion within 30 s of the kill"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Keep the load on for a while after the promotion.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let mut outcomes = Vec::new();
    for client in clients {
        outcomes.extend(client.await.unwrap());
    }

    let settled = promoted + COMMAND_TIMEOUT;
    let limit = COMMAND_TIMEOUT + Duration::from_millis(250);
    let mut failed = 0;
    for o in &outcomes {
        assert!(
            o.took <= limit,
            "a request waited {:?} (limit {limit:?}): {:?}",
            o.took,
            o.result.as_ref().err().map(|e| error_chain(e))
        );
        match &o.result {
            Ok(()) => {}
            Err(e) => {
                failed += 1;
                assert!(
                    e.is_unavailable(),
                    "only 503-type errors during a failover, got {}",
                    error_chain(e)
                );
                assert!(
                    o.started + o.took >= killed && o.started <= settled,
                    "a request failed outside the failover ({:?} after the kill, promotion \
                     {:?} after it): {}",
                    o.started.saturating_duration_since(killed),
                    promoted - killed,
                    error_chain(e)
                );
            }
        }
    }
    let after: Vec<_> = outcomes.iter().filter(|o| o.started > settled).collect();
    assert!(
        !after.is_empty() && after.iter().all(|o| o.result.is_ok()),
        "every request after the promotion succeeds ({} after it)",
        after.len()
    );
    eprintln!(
        "{} requests, {failed} failed; promotion {:?} after the kill",
        outcomes.len(),
        promoted - killed
    );

    // No restart: the same store still serves, from the new master, and the
    // sessions committed before the kill are there.
    for r in &committed {
        assert!(
            store.load(&r.id).await.unwrap().is_some(),
            "a session committed (durably) 1 s before the kill was lost"
        );
    }
}

/// `rediss+sentinel://`: TLS to the sentinel and to the master it names,
/// verified against the test CA; another CA is refused.
#[cfg(feature = "tls")]
#[tokio::test]
async fn rediss_sentinel_speaks_tls_to_the_sentinels_and_the_master() {
    let pki = session_test_support::certs::ServerPki::new(&["127.0.0.1"]);
    let data = RedisProcs::start_replicated_tls(&pki, 1);
    let sentinels = RedisProcs::start_sentinels_tls(&pki, data.ports[0], 1);
    let url = format!(
        "rediss+sentinel://127.0.0.1:{}/{SENTINEL_MASTER}",
        sentinels.ports[0]
    );
    let store = RedisStore::builder()
        .key_prefix(key_prefix())
        .tls_ca_pem(pki.ca.pem().to_owned())
        .connect_sentinel_url(&url)
        .await
        .unwrap_or_else(|e| panic!("{url}: {}", error_chain(&e)));
    let record = visits_record();
    store.create(&record).await.unwrap();
    visit(&store, &record.id).await.unwrap();
    store.delete(&record.id).await.unwrap();

    let other = session_test_support::certs::TestCa::new("some other CA");
    let Err(err) = RedisStore::builder()
        .tls_ca_pem(other.pem().to_owned())
        .connect_sentinel_url(&url)
        .await
    else {
        panic!("a sentinel with a certificate from another CA must be refused");
    };
    let msg = error_chain(&err);
    assert!(
        msg.contains("the server's TLS certificate is not signed by a trusted CA"),
        "{msg}"
    );
}

/// The near cache through Sentinel: two stores with it on; B sees A's
/// delete of a record B had cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_near_cache_works_through_sentinel() {
    let prefix = key_prefix();
    let near = || {
        shared().store(
            RedisStore::builder()
                .key_prefix(prefix.clone())
                .command_timeout(TEST_COMMAND_TIMEOUT)
                .near_cache(session_core::near_cache::NearCacheConfig::new()),
        )
    };
    let (a, b) = (near().await, near().await);
    let start = std::time::Instant::now();
    while !b.near_cache().unwrap().is_coherent() || !a.near_cache().unwrap().is_coherent() {
        assert!(start.elapsed() < Duration::from_secs(2), "never coherent");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let record = visits_record();
    a.create(&record).await.unwrap();
    for _ in 0..3 {
        assert!(b.load(&record.id).await.unwrap().is_some());
    }
    assert!(
        b.near_cache().unwrap().stats().hits > 0,
        "B never hit its cache"
    );
    a.delete(&record.id).await.unwrap();
    let start = std::time::Instant::now();
    while b.load(&record.id).await.unwrap().is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "B served a deleted record"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
