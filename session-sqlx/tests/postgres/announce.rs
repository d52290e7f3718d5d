//! A near-cached store announces its own inserts and updates (batched, on
//! a connection of its own) and the table's trigger stays silent for them:
//! every write is announced exactly once, whoever makes it; and a lost
//! announcer connection ends in a flush of every cache, never in a missed
//! change.

use std::time::{Duration, Instant};

use session_core::near_cache::NearCacheConfig;
use session_core::SessionStore;
use session_sqlx::sqlx::postgres::{PgListener, PgPoolOptions};
use session_sqlx::sqlx::{self, AssertSqlSafe};
use session_sqlx::PostgresStore;

use super::near_cache::{bumped, cached, cached_on, drop_all, until_seen, wait_coherent};
use super::{live_record, table_name, url};

/// A listener on the channel of `table` (in `public`).
async fn listen(table: &str) -> PgListener {
    let mut listener = PgListener::connect(&url()).await.unwrap();
    listener
        .listen(&format!("session_sqlx:public.{table}"))
        .await
        .unwrap();
    listener
}

/// The change messages (not heartbeats) heard within `window`.
async fn heard(listener: &mut PgListener, window: Duration) -> Vec<String> {
    let mut got = Vec::new();
    let until = tokio::time::Instant::now() + window;
    while let Ok(note) = tokio::time::timeout_at(until, listener.recv()).await {
        // An announcer packs several messages into one payload, a line each.
        let note = note.unwrap();
        let messages = note.payload().split('\n');
        got.extend(messages.filter(|m| !m.starts_with("p ")).map(str::to_owned));
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_is_announced_once_whoever_writes_it() {
    let table = table_name();
    // The plain store shares the cached store's pool (one connection):
    // only what a statement writes may tell the trigger to stay silent.
    let one = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&url())
        .await
        .unwrap();
    let a = PostgresStore::builder(one.clone())
        .table(&table)
        .near_cache(NearCacheConfig::new())
        .build()
        .unwrap();
    a.migrate().await.unwrap();
    wait_coherent(&a, true).await;
    let plain = PostgresStore::builder(one).table(&table).build().unwrap();
    let mut listener = listen(&table).await;
    let quiet = Duration::from_millis(500);

    // The cached store: create and two saves, each announced once.
    let record = live_record(1);
    let key = record.id.storage_key();
    let expires = record
        .expires_at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let written = |v: u64| format!("w {key} {v} {expires}");
    a.create(&record).await.unwrap();
    let saved = bumped(&record, 1);
    a.save(&saved).await.unwrap();
    let saved = bumped(&saved, 2);
    a.save(&saved).await.unwrap();
    let v = record.version;
    assert_eq!(
        heard(&mut listener, quiet).await,
        [v, v + 1, v + 2].map(written),
        "each write of the cached store is announced exactly once"
    );

    // The plain store on the same connection, and hand-written SQL: the
    // trigger announces them.
    let saved = bumped(&saved, 3);
    plain.save(&saved).await.unwrap();
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE \"{table}\" SET version = version + 1 WHERE id = $1"
    )))
    .bind(&key)
    .execute(plain.pool())
    .await
    .unwrap();
    assert_eq!(
        heard(&mut listener, quiet).await,
        [v + 3, v + 4].map(written),
        "writes without the mark are the trigger's to announce"
    );

    // Deletes are always the trigger's.
    a.delete(&record.id).await.unwrap();
    assert_eq!(heard(&mut listener, quiet).await, [format!("d {key}")]);
    drop_all(&a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_announcer_flushes_every_cache_and_loses_no_change() {
    let table = table_name();
    let a_app = format!("a-{table}");
    let a = cached(&table, &a_app).await;
    let b = cached(&table, &format!("b-{table}")).await;
    let mut record = live_record(1);
    a.create(&record).await.unwrap();
    cached_on(&b, &record).await;

    // The announcer's connection: A's, running the batch statement (the
    // heartbeats go through it every 250 ms).
    let find = || async {
        sqlx::query_scalar::<_, i32>(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 \
             AND query LIKE '%pg_notify%unnest%'",
        )
        .bind(&a_app)
        .fetch_all(b.pool())
        .await
        .unwrap()
    };
    let started = Instant::now();
    let mut pids = find().await;
    while pids.is_empty() && started.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        pids = find().await;
    }
    assert_eq!(pids.len(), 1, "A's announcer: {pids:?}");
    // Before the kill: the announcer may notice it (on a heartbeat) before
    // any write below.
    let flushes = b.near_cache().unwrap().stats().flushes;
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pids[0])
        .execute(b.pool())
        .await
        .unwrap();

    // Writes on A from now on: each is seen by B, whether its announcement
    // went down with the connection (then B is flushed) or was left to
    // the trigger.
    for n in 1..=5 {
        cached_on(&b, &record).await;
        let changed = bumped(&record, n);
        a.save(&changed).await.unwrap();
        until_seen(&b, &record.id, Instant::now(), |got| {
            got.as_ref() == Some(&changed)
        })
        .await;
        record = changed;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = b.near_cache().unwrap().stats();
    eprintln!("postgres near cache: B after A's announcer was killed: {stats:?}");
    assert!(stats.flushes > flushes, "the lost batch became a flush");
    let again = find().await;
    assert_eq!(again.len(), 1, "A announces again: {again:?}");
    assert_ne!(again, pids);
    drop_all(&a).await;
}
