//! Helpers shared by the backend test files: records, the cleanup and
//! race checks every SQL store runs, and (from `session_test_support`) the
//! servers' URLs and table names.
#![allow(dead_code, unreachable_pub, unused_imports)]

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use session_core::codec::encode_value;
use session_core::{Data, Error, Record, SessionId, SessionStore};

pub use session_core::error_chain;
pub use session_test_support::names::{is_stale_table, table_name, unix_secs, STALE_AFTER_SECS};
pub use session_test_support::{with_params, Server};

/// `true` exactly once per test process: who sweeps stale tables.
pub fn first_call() -> bool {
    static DONE: AtomicBool = AtomicBool::new(false);
    !DONE.swap(true, Ordering::SeqCst)
}

pub fn live_record(n: u64) -> Record {
    let mut data = Data::new();
    data.insert("n".into(), encode_value(&n).unwrap());
    Record::new(
        SessionId::generate(),
        data,
        SystemTime::now() + Duration::from_secs(3600),
    )
}

/// Asserts the error is the "table does not exist, call migrate()" one.
pub fn assert_not_migrated<T: std::fmt::Debug>(result: Result<T, Error>, what: &str) {
    let err = result.expect_err(what);
    let text = err.to_string();
    assert!(
        matches!(err, Error::Config { field: "table", .. }),
        "{what}: want a Config error on `table`, got {err:?}"
    );
    assert!(
        text.contains("migrate()"),
        "{what}: the message must say to call migrate(): {text}"
    );
}

/// Asserts that a bad table or schema name is rejected, naming `field`.
pub fn assert_bad_name<T: std::fmt::Debug>(result: Result<T, Error>, field: &str) {
    assert_config_error(result, field);
}

/// Asserts that `result` is an [`Error::Config`] naming `field`, and
/// returns it.
pub fn assert_config_error<T: std::fmt::Debug>(result: Result<T, Error>, field: &str) -> Error {
    let err = result.expect_err("the setting must be rejected");
    match &err {
        Error::Config { field: f, .. } => assert_eq!(*f, field, "{err}"),
        other => panic!("want Error::Config naming `{field}`, got {other:?}"),
    }
    assert!(err.to_string().contains(&format!("`{field}`")), "{err}");
    err
}

/// Expired rows the cleanup test buries the live sessions under.
pub const EXPIRED_ROWS: u64 = 100_000;

/// The outcome of [`cleanup_under_load`].
#[derive(Debug)]
pub struct CleanupRun {
    pub elapsed: Duration,
    pub loads: u64,
    pub slowest_load: Duration,
}

/// Starts the cleanup task (via `spawn`) on a table holding `EXPIRED_ROWS`
/// expired rows plus `live`, keeps loading the live sessions from 4 tasks
/// until `remaining()` reports only the live rows, and checks every load
/// succeeded.
pub async fn cleanup_under_load<S, R, RF, H, HF>(
    store: S,
    live: Vec<Record>,
    spawn: impl FnOnce(&S) -> H,
    shutdown: impl FnOnce(H) -> HF,
    remaining: R,
) -> CleanupRun
where
    S: SessionStore + Clone,
    R: Fn() -> RF,
    RF: Future<Output = i64>,
    HF: Future<Output = ()>,
{
    let live = Arc::new(live);
    let expected = i64::try_from(live.len()).unwrap();
    assert_eq!(
        remaining().await,
        expected + i64::try_from(EXPIRED_ROWS).unwrap(),
        "the table must hold the expired rows and the live ones"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let loads = Arc::new(AtomicU64::new(0));
    let slowest = Arc::new(AtomicU64::new(0));
    let loaders: Vec<_> = (0..4)
        .map(|w| {
            let (store, live, stop) = (store.clone(), Arc::clone(&live), Arc::clone(&stop));
            let (loads, slowest) = (Arc::clone(&loads), Arc::clone(&slowest));
            tokio::spawn(async move {
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    let r = &live[i % live.len()];
                    let started = Instant::now();
                    let loaded = store.load(&r.id).await;
                    let took = u64::try_from(started.elapsed().as_micros()).unwrap();
                    slowest.fetch_max(took, Ordering::Relaxed);
                    match loaded {
                        Ok(Some(l)) => assert_eq!(l.data, r.data, "a live session changed"),
                        Ok(None) => panic!("a live session vanished during cleanup"),
                        Err(e) => panic!("a load failed during cleanup: {}", error_chain(&e)),
                    }
                    loads.fetch_add(1, Ordering::Relaxed);
                    i += 4;
                }
            })
        })
        .collect();
    // Let the loaders get going before the cleanup starts.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = loads.load(Ordering::Relaxed);
    assert!(before > 0, "no load succeeded before the cleanup started");

    let started = Instant::now();
    let handle = spawn(&store);
    let deadline = started + Duration::from_secs(300);
    loop {
        let left = remaining().await;
        if left == expected {
            break;
        }
        assert!(
            left >= expected,
            "the cleanup removed live rows: {left} left of {expected}"
        );
        assert!(
            Instant::now() < deadline,
            "the cleanup task left {left} rows after 300 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed();
    shutdown(handle).await;
    stop.store(true, Ordering::Relaxed);
    for l in loaders {
        l.await.expect("a loader failed");
    }
    let loads = loads.load(Ordering::Relaxed);
    assert!(
        loads > before,
        "no live session was served while the cleanup ran"
    );
    for r in live.iter() {
        assert!(store.load(&r.id).await.unwrap().is_some());
    }
    CleanupRun {
        elapsed,
        loads,
        slowest_load: Duration::from_micros(slowest.load(Ordering::Relaxed)),
    }
}

/// Multi-row `INSERT` statements (5,000 rows each) of `EXPIRED_ROWS`
/// expired rows into the already quoted `table`, with `blob` as the SQL
/// literal of the data column.
pub fn expired_rows_inserts(table: &str, blob: &str) -> Vec<String> {
    let now = i64::try_from(unix_secs() * 1000).unwrap();
    let rows: Vec<String> = (1..=i64::try_from(EXPIRED_ROWS).unwrap())
        .map(|g| {
            format!(
                "('expired-{g}', {blob}, {}, {}, 1)",
                now - g,
                now - 3_600_000
            )
        })
        .collect();
    rows.chunks(5_000)
        .map(|chunk| {
            format!(
                "INSERT INTO {table} (id, data, expires_at, created_at, version) VALUES {}",
                chunk.join(", ")
            )
        })
        .collect()
}

/// A record under `id` that expired a second ago.
pub fn expired_record(id: &SessionId, n: u64) -> Record {
    let mut r = live_record(n);
    r.id = id.clone();
    r.expires_at = session_core::record::truncate_ms(SystemTime::now() - Duration::from_secs(1));
    r
}

/// 32 concurrent creates over an *expired* record of the same ID: it counts
/// as absent, so exactly one wins and the others get `Conflict`.
pub async fn race_creates_over_an_expired_record<S: SessionStore + Clone>(store: S) {
    for round in 0..5 {
        let id = SessionId::generate();
        store.create(&expired_record(&id, 999)).await.unwrap();
        let tasks: Vec<_> = (0..32u64)
            .map(|n| {
                let store = store.clone();
                let mut r = live_record(n);
                r.id = id.clone();
                tokio::spawn(async move { (n, store.create(&r).await) })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                (n, Ok(())) => winners.push(n),
                (_, Err(Error::Conflict)) => {}
                (_, Err(e)) => panic!("round {round}: a create failed: {}", error_chain(&e)),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let loaded = store.load(&id).await.unwrap().expect("the winner's record");
        let n: u64 = session_core::codec::decode_value(&loaded.data["n"]).unwrap();
        assert_eq!(
            n, winners[0],
            "round {round}: the stored record is not the winner's"
        );
    }
}

/// `delete_expired` racing a `create` that replaces an expired record never
/// deletes the new, live record.
pub async fn cleanup_never_deletes_a_recreated_record<S: SessionStore + Clone>(store: S) {
    for round in 0..200 {
        let id = SessionId::generate();
        store.create(&expired_record(&id, 0)).await.unwrap();
        let mut fresh = live_record(1);
        fresh.id = id.clone();
        let cleaner = {
            let store = store.clone();
            tokio::spawn(async move { store.delete_expired().await })
        };
        store.create(&fresh).await.unwrap();
        cleaner.await.unwrap().unwrap();
        assert!(
            store.load(&id).await.unwrap().is_some(),
            "round {round}: delete_expired removed a live record"
        );
    }
}

/// A record bound to `user`, as a version-1 table held it (no `user_id`
/// column; the user is in the envelope only), with its envelope.
pub fn old_bound_row(user: &str) -> (Record, Vec<u8>) {
    let mut r = live_record(41);
    r.user = Some(user.to_owned());
    let envelope = session_core::codec::encode(&r).unwrap();
    (r, envelope)
}

/// After migrating a version-1 table holding `old` (bound to "alice" in its
/// envelope): the session still loads; its row joins the index at its next
/// save; new sessions are indexed at once.
pub async fn check_upgraded_table<S: SessionStore>(store: &S, old: &Record) {
    let loaded = store.load(&old.id).await.unwrap().expect("the old session");
    assert_eq!(loaded.data, old.data);
    assert_eq!(loaded.user.as_deref(), Some("alice"));
    assert!(
        store.user_sessions("alice").await.unwrap().is_empty(),
        "an old row has no user_id until its next save"
    );
    let mut saved = loaded.clone();
    saved.version += 1;
    store.save(&saved).await.expect("save of the old session");
    let fresh = {
        let mut r = live_record(2);
        r.user = Some("alice".into());
        r
    };
    store.create(&fresh).await.unwrap();
    let mut keys: Vec<String> = store
        .user_sessions("alice")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.key)
        .collect();
    keys.sort();
    let mut want = vec![old.id.storage_key(), fresh.id.storage_key()];
    want.sort();
    assert_eq!(keys, want, "the saved old session and the new one");
    assert_eq!(store.count_user_sessions("alice").await.unwrap(), 2);
    assert_eq!(store.delete_user_sessions("alice", None).await.unwrap(), 2);
    assert!(store.load(&old.id).await.unwrap().is_none());
}

/// Users match byte for byte (case, trailing spaces, accents), up to
/// `MAX_USER_LEN` bytes; a longer user is a `Config` error on `user` from
/// every method, before anything is written.
pub async fn users_match_exactly_and_long_ones_are_rejected<S: SessionStore>(store: &S) {
    let max = session_sqlx::MAX_USER_LEN;
    let users = [
        "alice".to_owned(),
        "alice ".to_owned(),
        "ALICE".to_owned(),
        "Zoë".to_owned(),
        "Zoe".to_owned(),
        "é".repeat(max / 2),
        "u".repeat(max),
    ];
    let mut ids = Vec::new();
    for u in &users {
        let mut r = live_record(1);
        r.user = Some(u.clone());
        store.create(&r).await.unwrap();
        ids.push(r.id);
    }
    for (u, id) in users.iter().zip(&ids) {
        let listed = store.user_sessions(u).await.unwrap();
        assert!(
            listed.len() == 1 && listed[0].is(id),
            "{u:?} must list its one session, got {listed:?}"
        );
        assert_eq!(store.count_user_sessions(u).await.unwrap(), 1, "{u:?}");
    }

    let long = "u".repeat(max + 1);
    let is_user_config = |e: &Error| matches!(e, Error::Config { field: "user", .. });
    let mut r = live_record(3);
    r.user = Some(long.clone());
    let err = store.create(&r).await.unwrap_err();
    assert!(is_user_config(&err), "create: {err:?}");
    assert!(err.to_string().contains(&max.to_string()), "{err}");
    assert!(
        store.load(&r.id).await.unwrap().is_none(),
        "nothing written"
    );
    let mut bound = store.load(&ids[0]).await.unwrap().unwrap();
    bound.version += 1;
    bound.user = Some(long.clone());
    let err = store.save(&bound).await.unwrap_err();
    assert!(is_user_config(&err), "save: {err:?}");
    let err = store.user_sessions(&long).await.unwrap_err();
    assert!(is_user_config(&err), "user_sessions: {err:?}");
    let err = store.count_user_sessions(&long).await.unwrap_err();
    assert!(is_user_config(&err), "count_user_sessions: {err:?}");
    let err = store.delete_user_sessions(&long, None).await.unwrap_err();
    assert!(is_user_config(&err), "delete_user_sessions: {err:?}");
    assert_eq!(
        store.load(&ids[0]).await.unwrap().unwrap().user.as_deref(),
        Some("alice"),
        "the rejected save wrote nothing"
    );
}

/// 8 stores, one pool each, migrating the same table at the same moment.
pub async fn migrate_concurrently<S: SessionStore + Clone>(
    stores: &[S],
    migrate: impl Fn(S) -> std::pin::Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>,
) {
    let barrier = Arc::new(tokio::sync::Barrier::new(stores.len()));
    let tasks: Vec<_> = stores
        .iter()
        .cloned()
        .map(|s| {
            let barrier = Arc::clone(&barrier);
            let run = migrate(s);
            tokio::spawn(async move {
                barrier.wait().await;
                run.await
            })
        })
        .collect();
    for t in tasks {
        t.await
            .unwrap()
            .unwrap_or_else(|e| panic!("a concurrent migrate failed: {}", error_chain(&e)));
    }
}

/// After [`migrate_concurrently`] on a fresh table: each migration was
/// recorded once (`versions`, as read from the table's migrations table),
/// and a record one store creates is loaded by another.
pub async fn migrated_once<S: SessionStore>(stores: &[S], versions: &[i64]) {
    assert_eq!(versions, [1, 2], "each version is recorded once");
    let r = live_record(1);
    stores[3].create(&r).await.unwrap();
    assert!(stores[5].load(&r.id).await.unwrap().is_some());
}

/// The URL parameters `connect_applies_the_url_parameters` sets.
pub const TUNED: &str = "max_connections=3&timeout=250ms&cleanup_interval=1m";

/// Checks what a store connected with [`TUNED`] reports: (pool size, pool
/// acquire timeout, store deadline, cleanup running), then the same for one
/// connected with `cleanup_interval=off` and otherwise the defaults.
pub fn assert_tuned(
    tuned: (u32, Duration, Duration, bool),
    plain: (u32, Duration, Duration, bool),
) {
    let quarter = Duration::from_millis(250);
    assert_eq!(tuned, (3, quarter, quarter, true), "with {TUNED}");
    let default = session_sqlx::DEFAULT_TIMEOUT;
    assert_eq!(
        plain,
        (
            session_sqlx::DEFAULT_MAX_CONNECTIONS,
            default,
            default,
            false
        ),
        "with cleanup_interval=off"
    );
}
