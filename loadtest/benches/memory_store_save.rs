//! The memory store's versioned `save` from 2 concurrent tasks, 2 × 1,000
//! records, each save at the next version (as the session layer does).
//!
//! `session-memory/benches/memory_store.rs` has the same shape for create,
//! load and save, but its save bench saves one version over and over, which
//! the versioned save rejects (`VersionConflict`); this measures save (and
//! load + save, a read-modify-write) the way the layer calls them.
//!
//! Run with: cd loadtest && cargo bench --bench memory_store_save

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use session_cookie::core::codec::encode_value;
use session_cookie::core::{Data, Record, SessionId, SessionStore};
use session_cookie::MemoryStore;
use tokio::sync::Mutex;

const TASKS: usize = 2;
const OPS_PER_TASK: usize = 1_000;

/// The same 5-key record as session-memory's bench.
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

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(TASKS)
        .enable_all()
        .build()
        .unwrap();
    let store = rt.block_on(async { MemoryStore::new() });
    // Each task owns its records (and their current versions) across iterations.
    let parts: Vec<Arc<Mutex<Vec<Record>>>> = (0..TASKS)
        .map(|_| {
            let records: Vec<Record> = (0..OPS_PER_TASK).map(|_| typical_record()).collect();
            rt.block_on(async {
                for r in &records {
                    store.create(r).await.unwrap();
                }
            });
            Arc::new(Mutex::new(records))
        })
        .collect();

    let mut group = c.benchmark_group("memory_store_2_tasks");
    group.throughput(Throughput::Elements((TASKS * OPS_PER_TASK) as u64));
    for load_first in [false, true] {
        let name = if load_first { "load_save" } else { "save_versioned" };
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let tasks: Vec<_> = parts
                    .iter()
                    .map(|part| {
                        let (part, store) = (Arc::clone(part), store.clone());
                        tokio::spawn(async move {
                            let mut records = part.lock().await;
                            for r in records.iter_mut() {
                                if load_first {
                                    *r = store.load(&r.id).await.unwrap().unwrap();
                                }
                                r.version += 1;
                                store.save(r).await.unwrap();
                            }
                        })
                    })
                    .collect();
                async move {
                    for t in tasks {
                        t.await.unwrap();
                    }
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
