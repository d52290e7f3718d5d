//! The SQLite dialect and its store's names.

use std::time::Duration;

use session_core::Error;
use sqlx::error::DatabaseError;
use sqlx::pool::PoolOptions;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteQueryResult,
    SqliteSynchronous,
};

use crate::dialect::Dialect;
use crate::sql::Names;
use crate::store::{SqlStore, SqlStoreBuilder};
use crate::table::reject_prefix;
use crate::url_params::Driver;

/// A [`SessionStore`](session_core::SessionStore) in a SQLite table: for a
/// single app server, tests and small deployments.
///
/// Records are filed under
/// [`SessionId::storage_key`](session_core::SessionId::storage_key), with
/// the [codec](session_core::codec) envelope in a `BLOB` column and the
/// expiry in an `INTEGER` column of milliseconds since the Unix epoch. The
/// bound user, if any, is in a `TEXT` column indexed with the expiry, for
/// the [per-user methods](crate#a-users-sessions-log-out-everywhere). Every
/// method is one statement; expiry is compared against the application's
/// clock. A file database runs in WAL mode (see
/// [`connect_pool`](SqlStore::connect_pool)).
///
/// Cloning is cheap and shares the pool. The methods are those of
/// [`SqlStore`].
///
/// ```no_run
/// use session_sqlx::SqliteStore;
///
/// # #[tokio::main] async fn main() -> Result<(), session_core::Error> {
/// // `mode=rwc` creates the file if it is missing.
/// let pool = SqliteStore::connect_pool("sqlite://sessions.db?mode=rwc").await?;
/// let store = SqliteStore::builder(pool).table("web_sessions").build()?;
/// store.migrate().await?; // once at start-up
/// # Ok(()) }
/// ```
pub type SqliteStore = SqlStore<Sqlite>;

/// Builder for [`SqliteStore`]: the pool plus the table name and the
/// deadline.
pub type SqliteStoreBuilder = SqlStoreBuilder<Sqlite>;

impl Dialect for Sqlite {
    const SCHEMES: &'static [&'static str] = &["sqlite:"];
    const LABEL: &'static str = "sqlite";
    const URL_PARAMS: Driver = Driver::Checks;

    fn param(n: usize) -> String {
        format!("?{n}")
    }

    fn check_names(table: &str, _schema: Option<&str>) -> Result<(), Error> {
        reject_prefix("table", table, "sqlite_")
    }

    fn delete_expired(t: &str) -> String {
        format!("DELETE FROM {t} WHERE rowid IN (SELECT rowid FROM {t} WHERE expires_at <= ?1 LIMIT ?2)")
    }

    fn create_table(n: &Names) -> Vec<String> {
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {} (id TEXT NOT NULL PRIMARY KEY, data BLOB NOT NULL, \
                 expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL, \
                 version INTEGER NOT NULL)",
                n.qualified
            ),
            crate::migrate::expires_index(n),
        ]
    }

    /// SQLite has no `ADD COLUMN IF NOT EXISTS`; the statement runs in the
    /// same transaction that records version 2, so it runs exactly once.
    fn add_user(n: &Names) -> Vec<String> {
        vec![
            format!("ALTER TABLE {} ADD COLUMN user_id TEXT", n.qualified),
            crate::migrate::partial_user_index(n),
        ]
    }

    fn bookkeeping(name: &str) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {name} (version INTEGER NOT NULL PRIMARY KEY, \
             description TEXT NOT NULL, applied_at INTEGER NOT NULL)"
        )
    }

    /// One `BEGIN IMMEDIATE` transaction, which takes SQLite's write lock
    /// up front. Nothing is applied when a statement fails.
    async fn migrate(pool: &SqlitePool, n: &Names) -> Result<(), Error> {
        let err = |e| Error::backend(e);
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        crate::migrate::apply::<Self>(&mut tx, n).await?;
        tx.commit().await.map_err(err)
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    fn is_missing_table(e: &dyn DatabaseError) -> bool {
        e.message().starts_with("no such table")
    }

    /// `SQLITE_CANTOPEN`: the file (or its directory) is not there.
    fn is_missing_database(e: &dyn DatabaseError) -> bool {
        e.code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| c & 0xff == 14)
    }

    /// A file database in WAL mode with `synchronous=NORMAL`; an in-memory
    /// one on a single connection that lives as long as the pool. Both wait
    /// up to 5 s for a lock.
    fn tune(
        url: &str,
        options: SqliteConnectOptions,
        pool: PoolOptions<Sqlite>,
    ) -> (SqliteConnectOptions, PoolOptions<Sqlite>) {
        let options = options.busy_timeout(Duration::from_secs(5));
        if url.contains(":memory:") || url.contains("mode=memory") {
            let pool = pool
                .min_connections(1)
                .max_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
            (options, pool)
        } else {
            let options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
            (options, pool)
        }
    }
}

#[cfg(test)]
mod tests;
