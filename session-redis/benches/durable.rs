//! What a durable write costs: `save` on a master with one replica, plain
//! and with `wait_for_replicas(1, 100 ms)` (`WAIT 1 100` after the save),
//! one save at a time, and 8 saves of different sessions in flight at once
//! (the multiplexed connection pipelines them, and one `WAIT` then covers
//! every write before it).
//!
//! Starts its own `redis-server` master and replica on free loopback ports
//! (the test launcher, `session_test_support::redis`). Run with:
//! `cargo bench -p session-redis --bench durable`

use std::time::{Duration, SystemTime};

use criterion::{criterion_main, Criterion};
use session_core::{Data, Record, SessionId, SessionStore};
use session_redis::RedisStore;

async fn stores(master: &str) -> (RedisStore, RedisStore) {
    let prefix = session_test_support::key_prefix();
    let plain = RedisStore::builder()
        .key_prefix(&prefix)
        .connect(master)
        .await
        .expect("the bench master");
    let durable = RedisStore::builder()
        .key_prefix(&prefix)
        .wait_for_replicas(1, Duration::from_millis(100))
        .connect(master)
        .await
        .expect("the bench master");
    (plain, durable)
}

fn record() -> Record {
    Record::new(
        SessionId::generate(),
        Data::new(),
        SystemTime::now() + Duration::from_secs(3600),
    )
}

/// Saves `records` (each at its next version) all at once on `store`.
async fn save_all(store: &RedisStore, records: &mut [Record]) {
    let saves = records.iter_mut().map(|r| {
        r.version += 1;
        let store = store.clone();
        let r = r.clone();
        async move { store.save(&r).await.expect("save") }
    });
    futures_util::future::join_all(saves).await;
}

fn bench(c: &mut Criterion) {
    let procs = session_test_support::redis::RedisProcs::start_replicated(1);
    let master = procs.urls().remove(0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (plain, durable) = rt.block_on(stores(&master));
    let mut group = c.benchmark_group("redis save, master + 1 replica");
    for (name, store) in [("plain", &plain), ("WAIT 1", &durable)] {
        for in_flight in [1usize, 8] {
            let mut records: Vec<Record> = (0..in_flight).map(|_| record()).collect();
            rt.block_on(async {
                for r in &records {
                    store.create(r).await.unwrap();
                }
            });
            group.bench_function(format!("{name}, {in_flight} in flight"), |b| {
                b.iter(|| rt.block_on(save_all(store, &mut records)));
            });
        }
    }
    group.finish();
    drop(procs);
}

fn benches() {
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    bench(&mut c);
}

criterion_main!(benches);
