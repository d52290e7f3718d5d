//! The near cache on PostgreSQL: the conformance suite with the cache on,
//! this process's own writes kept cached, two stores ("processes", each
//! with its own pool) seeing each other's changes, and the fallback when a
//! store's listener is killed.

use std::time::{Duration, Instant};

use session_core::near_cache::NearCacheConfig;
use session_core::{Record, SessionId, SessionStore};
use session_sqlx::sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use session_sqlx::sqlx::{self, AssertSqlSafe};
use session_sqlx::PostgresStore;

use super::{live_record, pool, table_name, url};

/// A pool of its own (another "process"), its connections (and so its
/// listener's) named `app` in `pg_stat_activity`.
pub(super) async fn own_pool(app: &str) -> PgPool {
    let options: PgConnectOptions = url().parse().unwrap();
    PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options.application_name(app))
        .await
        .unwrap()
}

/// A store with the near cache on, on `table` (migrated), once its feed
/// listens.
pub(super) async fn cached(table: &str, app: &str) -> PostgresStore {
    let store = PostgresStore::builder(own_pool(app).await)
        .table(table)
        .near_cache(NearCacheConfig::new())
        .build()
        .unwrap();
    store.migrate().await.unwrap();
    wait_coherent(&store, true).await;
    store
}

/// Polls (up to 5 s) until the store's cache is (or is no longer) coherent.
pub(super) async fn wait_coherent(store: &PostgresStore, want: bool) -> Duration {
    let started = Instant::now();
    let cache = store.near_cache().expect("the near cache is on");
    while cache.stats().coherent != want {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the near cache did not turn coherent={want} within 5 s: {:?}",
            cache.stats()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

/// A fresh, migrated table with a cached store on it.
async fn fresh_cached() -> PostgresStore {
    let table = table_name();
    cached(&table, &format!("conformance-{table}")).await
}

/// Drops the table and the trigger's function.
pub(super) async fn drop_all(store: &PostgresStore) {
    super::drop_table(store).await;
    sqlx::query(AssertSqlSafe(format!(
        "DROP FUNCTION IF EXISTS \"{}\".\"{}_near_cache\"()",
        store.schema(),
        store.table()
    )))
    .execute(store.pool())
    .await
    .unwrap();
}

mod conformance {
    session_core::store_conformance!(super::fresh_cached());
}

/// `record` one version on, with the counter `n` changed.
pub(super) fn bumped(record: &Record, n: u64) -> Record {
    let mut next = record.clone();
    next.data
        .insert("n".into(), session_core::codec::encode_value(&n).unwrap());
    next.version += 1;
    next
}

pub(super) fn hits(store: &PostgresStore) -> u64 {
    store.near_cache().unwrap().stats().hits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_writes_stay_cached_so_a_read_modify_write_hits_next() {
    let table = table_name();
    let store = cached(&table, &format!("own-{table}")).await;
    let mut record = live_record(1);
    store.create(&record).await.unwrap();
    let before = hits(&store);
    assert_eq!(
        store.load(&record.id).await.unwrap().as_ref(),
        Some(&record)
    );
    assert_eq!(hits(&store), before + 1, "a load right after create hits");

    for round in 2..20_u64 {
        let loaded = bumped(&store.load(&record.id).await.unwrap().unwrap(), round);
        store.save(&loaded).await.unwrap();
        record = loaded;
        // Let the trigger's notification of this very save arrive: its
        // stamp matches the cached record, which stays.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let before = hits(&store);
        assert_eq!(
            store.load(&record.id).await.unwrap().as_ref(),
            Some(&record)
        );
        assert_eq!(
            hits(&store),
            before + 1,
            "round {round}: the next read hits"
        );
    }
    // A touch drops the entry (the cached expiry is stale); the next load
    // asks the database and caches again.
    let later = record.expires_at + Duration::from_secs(60);
    store.touch(&record.id, later).await.unwrap();
    let before = hits(&store);
    let loaded = store.load(&record.id).await.unwrap().unwrap();
    assert!(
        loaded.expires_at > record.expires_at,
        "the touched expiry is read"
    );
    assert_eq!(hits(&store), before);
    assert!(store.near_cache().unwrap().stats().coherent);
    drop_all(&store).await;
}

/// Percentiles of `samples` (sorted here): p50, p99, max.
fn summary(samples: &mut [Duration]) -> (Duration, Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99), at(1.0))
}

/// Loads `id` on `b` until `seen` says the change arrived; then loads it a
/// few more times, all of which must still show it. Returns how long after
/// the call (`since`) the change was first seen.
pub(super) async fn until_seen(
    b: &PostgresStore,
    id: &SessionId,
    since: Instant,
    seen: impl Fn(&Option<Record>) -> bool,
) -> Duration {
    loop {
        let got = b.load(id).await.unwrap();
        if seen(&got) {
            let after = since.elapsed();
            for _ in 0..3 {
                assert!(
                    seen(&b.load(id).await.unwrap()),
                    "B went back to the old record"
                );
            }
            return after;
        }
        assert!(
            since.elapsed() < Duration::from_secs(1),
            "B still serves the old record 1 s after the change: {:?}",
            b.near_cache().unwrap().stats()
        );
        tokio::task::yield_now().await;
    }
}

/// `b` holds `record` in its cache (its second load is a hit).
pub(super) async fn cached_on(b: &PostgresStore, record: &Record) {
    assert_eq!(b.load(&record.id).await.unwrap().as_ref(), Some(record));
    let before = hits(b);
    assert_eq!(b.load(&record.id).await.unwrap().as_ref(), Some(record));
    assert_eq!(hits(b), before + 1, "B must serve the record from memory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_see_each_others_writes_deletes_and_revocations() {
    const TRIALS: usize = 1_000;
    let table = table_name();
    let a = cached(&table, &format!("a-{table}")).await;
    let b = cached(&table, &format!("b-{table}")).await;
    let (mut writes, mut deletes, mut revokes) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..TRIALS {
        // A write on A.
        let record = live_record(n as u64);
        a.create(&record).await.unwrap();
        cached_on(&b, &record).await;
        let changed = bumped(&record, u64::MAX);
        a.save(&changed).await.unwrap();
        let since = Instant::now();
        writes.push(until_seen(&b, &record.id, since, |got| got.as_ref() == Some(&changed)).await);

        // A logout (delete) on A.
        cached_on(&b, &changed).await;
        a.delete(&record.id).await.unwrap();
        let since = Instant::now();
        deletes.push(until_seen(&b, &record.id, since, Option::is_none).await);

        // A revocation on A.
        let mut bound = live_record(n as u64);
        bound.user = Some(format!("user-{n}"));
        a.create(&bound).await.unwrap();
        cached_on(&b, &bound).await;
        assert_eq!(
            a.delete_user_sessions(&format!("user-{n}"), None)
                .await
                .unwrap(),
            1
        );
        let since = Instant::now();
        revokes.push(until_seen(&b, &bound.id, since, Option::is_none).await);
    }
    for (what, samples) in [
        ("write", &mut writes),
        ("delete", &mut deletes),
        ("revoke", &mut revokes),
    ] {
        let (p50, p99, max) = summary(samples);
        eprintln!(
            "postgres near cache: a {what} on A seen by B after p50 {p50:?}, p99 {p99:?}, \
             max {max:?} ({TRIALS} trials)"
        );
    }
    eprintln!(
        "postgres near cache: B {:?}",
        b.near_cache().unwrap().stats()
    );
    drop_all(&a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_writer_is_seen_and_migrate_alone_installs_no_trigger() {
    let table = table_name();
    let plain = PostgresStore::builder(pool().await)
        .table(&table)
        .build()
        .unwrap();
    plain.migrate().await.unwrap();
    let triggers = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM pg_trigger WHERE tgrelid = to_regclass($1)",
        )
        .bind(format!("\"public\".\"{table}\""))
        .fetch_one(plain.pool())
        .await
        .unwrap()
    };
    assert_eq!(
        triggers().await,
        0,
        "migrate() must not install the trigger"
    );
    let b = cached(&table, &format!("b-{table}")).await;
    assert_eq!(triggers().await, 4, "update, insert, delete and truncate");

    // A store with the cache off, and hand-written SQL, are seen too.
    let record = live_record(1);
    plain.create(&record).await.unwrap();
    cached_on(&b, &record).await;
    plain.delete(&record.id).await.unwrap();
    until_seen(&b, &record.id, Instant::now(), Option::is_none).await;

    plain.create(&record).await.unwrap();
    cached_on(&b, &record).await;
    sqlx::query(AssertSqlSafe(format!("TRUNCATE \"{table}\"")))
        .execute(plain.pool())
        .await
        .unwrap();
    until_seen(&b, &record.id, Instant::now(), Option::is_none).await;
    drop_all(&b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_listener_makes_the_store_fall_back_to_the_database() {
    let table = table_name();
    let a = cached(&table, &format!("a-{table}")).await;
    let b_app = format!("b-{table}");
    let b = cached(&table, &b_app).await;
    let mut record = live_record(1);
    a.create(&record).await.unwrap();
    cached_on(&b, &record).await;

    let pids: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'",
    )
    .bind(&b_app)
    .fetch_all(a.pool())
    .await
    .unwrap();
    assert_eq!(pids.len(), 1, "B's listener: {pids:?}");
    let killed_at = Instant::now();
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pids[0])
        .execute(a.pool())
        .await
        .unwrap();
    let noticed = wait_coherent(&b, false).await;
    eprintln!(
        "postgres near cache: B bypassed its cache {noticed:?} after its listener was killed"
    );
    assert!(killed_at.elapsed() < Duration::from_secs(2));

    // Bypassed: every change by A is read from the database at once.
    for round in 2..6_u64 {
        let changed = bumped(&record, round);
        a.save(&changed).await.unwrap();
        record = changed;
        if b.near_cache().unwrap().stats().coherent {
            break; // back already: checked below
        }
        assert_eq!(b.load(&record.id).await.unwrap().as_ref(), Some(&record));
    }

    // Back once the feed listens again, and still correct.
    let back = wait_coherent(&b, true).await;
    eprintln!("postgres near cache: B's feed was back {back:?} later");
    let pids_after: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'",
    )
    .bind(&b_app)
    .fetch_all(a.pool())
    .await
    .unwrap();
    assert_eq!(pids_after.len(), 1, "B listens again: {pids_after:?}");
    assert_ne!(pids_after, pids);
    cached_on(&b, &record).await;
    a.delete(&record.id).await.unwrap();
    until_seen(&b, &record.id, Instant::now(), Option::is_none).await;
    drop_all(&a).await;
}

#[tokio::test]
async fn connect_pool_refuses_the_near_cache_parameter() {
    let err = PostgresStore::connect_pool(&super::with_params(&url(), "near_cache=on"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, session_core::Error::Config { field: "url", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("near_cache"), "{err}");
}
