//! Memory store create / load / load+save from 2 concurrent tasks.
//!
//! Run with: cargo bench -p session-memory

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{criterion_main, Criterion, Throughput};
use session_core::codec::encode_value;
use session_core::{Data, Record, SessionId, SessionStore};
use session_memory::MemoryStore;

const TASKS: usize = 2;
const OPS_PER_TASK: usize = 1_000;

fn typical_record() -> Record {
    let mut data = Data::new();
    data.insert("user_id".into(), encode_value(&42u64).unwrap());
    data.insert("email".into(), encode_value("guest@example.com").unwrap());
    data.insert("visits".into(), encode_value(&7u32).unwrap());
    data.insert("theme".into(), encode_value("dark").unwrap());
    data.insert(
        "cart".into(),
        encode_value(&vec!["tea", "scones", "jam"]).unwrap(),
    );
    Record::new(
        SessionId::generate(),
        data,
        SystemTime::now() + Duration::from_secs(3600),
    )
}

/// Runs `op` OPS_PER_TASK times on each of TASKS spawned tasks.
async fn on_two_tasks<F, Fut>(store: &MemoryStore, records: &Arc<Vec<Record>>, op: F)
where
    F: Fn(MemoryStore, Record) -> Fut + Copy + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (store, records) = (store.clone(), Arc::clone(records));
            tokio::spawn(async move {
                for r in records.iter().skip(t).step_by(TASKS) {
                    op(store.clone(), r.clone()).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(TASKS)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("memory_store_2_tasks");
    group.throughput(Throughput::Elements((TASKS * OPS_PER_TASK) as u64));

    group.bench_function("create", |b| {
        b.to_async(&rt).iter_batched(
            || {
                let records: Vec<_> = (0..TASKS * OPS_PER_TASK)
                    .map(|_| typical_record())
                    .collect();
                (
                    MemoryStore::builder().unbounded().build(),
                    Arc::new(records),
                )
            },
            |(store, records)| async move {
                on_two_tasks(&store, &records, |s, r| async move {
                    s.create(&r).await.unwrap()
                })
                .await;
            },
            criterion::BatchSize::LargeInput,
        );
    });

    let store = rt.block_on(async { MemoryStore::builder().unbounded().build() });
    let records: Arc<Vec<Record>> = Arc::new(
        (0..TASKS * OPS_PER_TASK)
            .map(|_| typical_record())
            .collect(),
    );
    rt.block_on(async {
        for r in records.iter() {
            store.create(r).await.unwrap();
        }
    });
    group.bench_function("load", |b| {
        b.to_async(&rt).iter(|| {
            on_two_tasks(&store, &records, |s, r| async move {
                assert!(s.load(&r.id).await.unwrap().is_some());
            })
        });
    });
    // Saves are versioned: each one states the version it loaded, so the
    // realistic write is a read-modify-write.
    group.bench_function("load_save", |b| {
        b.to_async(&rt).iter(|| {
            on_two_tasks(&store, &records, |s, r| async move {
                let mut loaded = s.load(&r.id).await.unwrap().unwrap();
                loaded.version += 1;
                s.save(&loaded).await.unwrap();
            })
        });
    });
    group.finish();
}

#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::bench);
}
use group::benches;
criterion_main!(benches);
