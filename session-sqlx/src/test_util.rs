//! Helpers for the unit tests that check the per-user statements against
//! the test servers (the same ones, and the same URLs, as `tests/`).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use session_core::codec::encode_value;
use session_core::{Data, Error, Record, SessionId, SessionStore};

use sqlx::Pool;

use crate::dialect::Dialect;
use crate::exec::Param;
use crate::{row, SqlStore};

/// Users in the filled table, each with [`PER_USER`] live sessions.
pub(crate) const USERS: usize = 1_000;
/// Live sessions per user.
pub(crate) const PER_USER: usize = 3;
/// Unbound sessions besides (`user_id` NULL).
pub(crate) const UNBOUND: usize = 1_000;

/// A fresh table name, `ssx_<unix seconds>_<random>` as in `tests/`, so
/// that a table left by a failed run is swept by the next integration run.
pub(crate) fn table_name() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let hex: String = SessionId::generate().as_bytes()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("ssx_{secs}_{hex}")
}

pub(crate) fn user(n: usize) -> String {
    format!("user-{n:04}")
}

fn record(n: usize, user: Option<String>) -> Record {
    let mut data = Data::new();
    data.insert("n".into(), encode_value(&(n as u64)).unwrap());
    let mut r = Record::new(
        SessionId::generate(),
        data,
        SystemTime::now() + Duration::from_secs(3600),
    );
    r.user = user;
    r
}

/// A live, unbound record with one value.
#[cfg(feature = "sqlite")]
pub(crate) fn live_record() -> Record {
    record(0, None)
}

/// Fills `store` through `create` (8 writers): [`USERS`] users with
/// [`PER_USER`] sessions each, plus [`UNBOUND`] unbound sessions. Returns
/// each user's session IDs.
pub(crate) async fn fill<S: SessionStore + Clone>(store: &S, backend: &str) -> Vec<Vec<SessionId>> {
    let started = Instant::now();
    let mut records: Vec<Record> = (0..USERS * PER_USER)
        .map(|i| record(i, Some(user(i / PER_USER))))
        .collect();
    records.extend((0..UNBOUND).map(|i| record(i, None)));
    let ids: Vec<Vec<SessionId>> = records[..USERS * PER_USER]
        .chunks(PER_USER)
        .map(|c| c.iter().map(|r| r.id.clone()).collect())
        .collect();
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            let mine: Vec<Record> = records.iter().skip(w).step_by(8).cloned().collect();
            tokio::spawn(async move {
                for r in &mine {
                    store.create(r).await.expect("create");
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("a writer failed");
    }
    eprintln!(
        "{backend}: created {} sessions ({USERS} users x {PER_USER}, {UNBOUND} unbound) in {:?}",
        records.len(),
        started.elapsed()
    );
    ids
}

/// A migrated table [`fill`]ed with sessions, and the checks of the
/// per-user methods every backend runs on it.
pub(crate) struct Filled<DB: Dialect> {
    pub(crate) store: SqlStore<DB>,
    /// Each user's session IDs.
    pub(crate) ids: Vec<Vec<SessionId>>,
    /// The user whose sessions are revoked.
    pub(crate) victim: String,
    backend: &'static str,
}

impl<DB: Dialect> Filled<DB> {
    /// A store on a fresh table of `pool`, migrated and filled.
    pub(crate) async fn new(pool: Pool<DB>, backend: &'static str) -> Self {
        let store = SqlStore::builder(pool).table(table_name()).build().unwrap();
        store.migrate().await.unwrap();
        let ids = fill(&store, backend).await;
        Self {
            store,
            ids,
            victim: user(500),
            backend,
        }
    }

    /// `<table>_user_idx`, unquoted.
    pub(crate) fn user_index(&self) -> String {
        format!("{}_user_idx", self.store.table())
    }

    /// Runs `analyze` (SQL) between two rounds over the per-user
    /// statements: each is run as `<explain> <statement>` for the victim
    /// (and `keep`, the storage key of another user's session, where the
    /// statement spares one), and `check(what, statement, keep, rows)` reads
    /// the plan.
    pub(crate) async fn check_plans(
        &self,
        analyze: &str,
        explain: &str,
        mut check: impl AsyncFnMut(&str, &str, Option<&str>, Vec<DB::Row>),
    ) {
        let sql = &self.store.inner.sql;
        let keep = self.ids[7][0].storage_key();
        let statements = [
            ("user_sessions", &sql.user_sessions, None),
            ("count_user_sessions", &sql.count_user_sessions, None),
            ("delete_user_sessions", &sql.delete_user_sessions, None),
            (
                "delete_user_sessions (keep one)",
                &sql.delete_user_sessions_but,
                Some(keep.as_str()),
            ),
        ];
        for analyzed in [false, true] {
            if analyzed {
                self.run(analyze).await;
            }
            for (what, sql, keep) in &statements {
                let params = [
                    DB::user(Some(&self.victim)),
                    Param::Int(row::now_ms()),
                    Param::Text(keep.unwrap_or_default()),
                ];
                let bound = if keep.is_some() { 3 } else { 2 };
                let rows = DB::query(&format!("{explain} {sql}").into(), &params[..bound])
                    .fetch_all(DB::on_pool(self.store.pool()))
                    .await
                    .expect("EXPLAIN");
                let what = format!("{what} (analyzed: {analyzed})");
                assert!(!rows.is_empty(), "{what}: no plan");
                check(&what, sql, *keep, rows).await;
            }
        }
    }

    /// Lists and counts users' sessions, revokes the victim's with
    /// `revoke` (which answers how many it deleted) and checks that exactly
    /// its 3 rows left the table, then a revocation that keeps one session;
    /// drops the tables.
    pub(crate) async fn check_revocations(self, revoke: impl AsyncFnOnce(&str) -> u64) {
        let store = &self.store;
        let all = i64::try_from(USERS * PER_USER + UNBOUND).unwrap();
        assert_eq!(self.total().await, all);
        let list = median(21, |i| {
            let store = store.clone();
            async move { store.user_sessions(&user(i)).await.unwrap() }
        })
        .await;
        let count = median(21, |i| {
            let store = store.clone();
            async move { store.count_user_sessions(&user(i)).await.unwrap() }
        })
        .await;
        let victim = self.victim.as_str();
        assert_eq!(store.user_sessions(victim).await.unwrap().len(), PER_USER);
        assert_eq!(store.count_user_sessions(victim).await.unwrap(), 3);

        let started = Instant::now();
        let deleted = revoke(victim).await;
        let revoked = started.elapsed();
        assert_eq!(deleted, 3, "one statement deleting the user's 3 rows");
        assert_eq!(self.total().await, all - 3, "exactly 3 rows left the table");
        assert_eq!(store.count_user_sessions(victim).await.unwrap(), 0);
        for id in &self.ids[500] {
            assert!(store.load(id).await.unwrap().is_none());
        }
        for neighbour in [499, 501] {
            assert_eq!(
                store.count_user_sessions(&user(neighbour)).await.unwrap(),
                3
            );
        }
        let kept = &self.ids[7][0];
        let deleted = store
            .delete_user_sessions(&user(7), Some(kept))
            .await
            .unwrap();
        assert_eq!(deleted, 2, "all but the kept session");
        assert_eq!(self.total().await, all - 5);
        let left = store.user_sessions(&user(7)).await.unwrap();
        assert!(left.len() == 1 && left[0].is(kept), "{left:?}");
        eprintln!(
            "{}: on {all} rows: user_sessions {list:?}, count_user_sessions {count:?} \
             (medians of 21), delete_user_sessions {revoked:?}",
            self.backend
        );
        let names = &store.inner.names;
        for table in [&names.qualified, &names.migrations] {
            self.run(&format!("DROP TABLE {table}")).await;
        }
    }

    /// Rows in the table.
    pub(crate) async fn total(&self) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {}", self.store.inner.names.qualified);
        let found = DB::query(&sql.into(), &[])
            .fetch_one(DB::on_pool(self.store.pool()))
            .await
            .unwrap();
        DB::int(&found, 0).unwrap()
    }

    async fn run(&self, sql: &str) {
        DB::query(&sql.into(), &[])
            .execute(DB::on_pool(self.store.pool()))
            .await
            .unwrap();
    }
}

/// A pool of 8 connections to the test server at `url`, or a panic
/// naming it.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) async fn pool<DB: sqlx::Database>(url: &str) -> Pool<DB> {
    sqlx::pool::PoolOptions::<DB>::new()
        .max_connections(8)
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("{} is not reachable at {url} ({e})", DB::NAME))
}

/// Asserts that `err` is a configuration error on `field`.
pub(crate) fn assert_config_error(err: &Error, field: &str) {
    let Error::Config { field: got, .. } = err else {
        panic!("not a configuration error: {err:?}");
    };
    assert_eq!(*got, field, "{err}");
}

/// Runs `op` `n` times and returns the median duration.
pub(crate) async fn median<F, Fut, T>(n: usize, mut op: F) -> Duration
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        op(i).await;
        times.push(started.elapsed());
    }
    times.sort();
    times[n / 2]
}

/// The values of every `"field": value` in JSON text (strings without
/// their quotes), in order. Enough for `EXPLAIN (FORMAT JSON)` output,
/// which this crate reads without a JSON parser.
pub(crate) fn json_values<'a>(json: &'a str, field: &str) -> Vec<&'a str> {
    let needle = format!("\"{field}\": ");
    json.match_indices(&needle)
        .map(|(at, _)| {
            let rest = &json[at + needle.len()..];
            if let Some(s) = rest.strip_prefix('"') {
                &s[..s.find('"').unwrap_or(s.len())]
            } else {
                let end = rest.find([',', '}', '\n']).unwrap_or(rest.len());
                rest[..end].trim()
            }
        })
        .collect()
}

#[test]
fn json_values_reads_strings_and_numbers() {
    let json = r#"[{"Plan": {"Node Type": "Index Scan", "Index Name": "t_user_idx",
        "Actual Rows": 3, "Plans": [{"Node Type": "Bitmap Index Scan", "Actual Rows": 12}]}}]"#;
    assert_eq!(
        json_values(json, "Node Type"),
        ["Index Scan", "Bitmap Index Scan"]
    );
    assert_eq!(json_values(json, "Index Name"), ["t_user_idx"]);
    assert_eq!(json_values(json, "Actual Rows"), ["3", "12"]);
}
