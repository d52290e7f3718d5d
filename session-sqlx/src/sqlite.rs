//! The SQLite store.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use session_core::{Error, Record, SessionId, SessionInfo, SessionStore};
use sqlx::error::DatabaseError;
use sqlx::sqlite::{Sqlite, SqliteJournalMode, SqlitePool, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Row as _};

use crate::cleanup::CleanupHandle;
use crate::deadline::{check as check_timeout, DEFAULT_TIMEOUT};
use crate::migrate::{apply_pending, Migration};
use crate::pool::Backend;
use crate::row::{self, DELETE_BATCH};
use crate::table::{dquote, reject_prefix, validate, DEFAULT_TABLE};
use crate::url_params::Driver;

/// A [`SessionStore`] in a SQLite table: for a single app server, tests and
/// small deployments.
///
/// Records are filed under [`SessionId::storage_key`], with the
/// [codec](session_core::codec) envelope in a `BLOB` column and the expiry in
/// an `INTEGER` column of milliseconds since the Unix epoch. The bound user,
/// if any, is in a `TEXT` column indexed with the expiry, for the
/// [per-user methods](crate#a-users-sessions-log-out-everywhere). Every
/// method is one statement; expiry is compared against the application's
/// clock.
///
/// Cloning is cheap and shares the pool.
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
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    inner: Arc<Inner>,
    cleanup: Option<Arc<CleanupHandle>>,
}

#[derive(Debug)]
struct Inner {
    names: Names,
    timeout: Duration,
    create: Arc<str>,
    load: Arc<str>,
    save: Arc<str>,
    live: Arc<str>,
    touch: Arc<str>,
    delete: Arc<str>,
    delete_expired: Arc<str>,
    user_sessions: Arc<str>,
    count_user_sessions: Arc<str>,
    delete_user_sessions: Arc<str>,
    delete_user_sessions_but: Arc<str>,
}

/// The validated names, quoted for SQL.
#[derive(Debug)]
struct Names {
    table: String,
    /// `"table"`
    quoted: String,
    /// `"table_migrations"`
    migrations: String,
    /// `"table_expires_idx"`
    index: String,
    /// `"table_user_idx"`
    user_index: String,
}

const MIGRATIONS: &[Migration<Names>] = &[
    Migration {
        version: 1,
        description: "create the session table and its expiry index",
        statements: |n| {
            vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {} (\
                         id TEXT NOT NULL PRIMARY KEY, \
                         data BLOB NOT NULL, \
                         expires_at INTEGER NOT NULL, \
                         created_at INTEGER NOT NULL, \
                         version INTEGER NOT NULL)",
                    n.quoted
                ),
                format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {} (expires_at)",
                    n.index, n.quoted
                ),
            ]
        },
    },
    Migration {
        version: 2,
        description: "add the user column and the per-user index",
        // SQLite has no `ADD COLUMN IF NOT EXISTS`; the statement runs in the
        // same transaction that records version 2, so it runs exactly once.
        // The partial index leaves out the unbound sessions.
        statements: |n| {
            vec![
                format!("ALTER TABLE {} ADD COLUMN user_id TEXT", n.quoted),
                format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {} (user_id, expires_at) \
                     WHERE user_id IS NOT NULL",
                    n.user_index, n.quoted
                ),
            ]
        },
    },
];

/// Builder for [`SqliteStore`]: the pool plus the table name.
#[derive(Debug, Clone)]
#[must_use]
pub struct SqliteStoreBuilder {
    pool: SqlitePool,
    table: String,
    timeout: Duration,
}

impl SqliteStoreBuilder {
    /// The table name (default [`DEFAULT_TABLE`], `sessions`). See
    /// [table names](crate#table-names) for what is accepted.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// The deadline on each store call: waiting for a pooled connection
    /// plus running the statement (default [`DEFAULT_TIMEOUT`], 1 s). Past
    /// it the call fails with [`Error::Timeout`] and the session layer
    /// answers 503.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Validates the settings and builds the store. Nothing is sent to the
    /// database.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming `table` when the name is not a plain SQL
    /// identifier of at most [`MAX_NAME_LEN`](crate::MAX_NAME_LEN)
    /// characters, or starts with the reserved `sqlite_`; naming `timeout`
    /// when the timeout is zero.
    pub fn build(self) -> Result<SqliteStore, Error> {
        check_timeout("timeout", self.timeout)?;
        validate("table", &self.table)?;
        reject_prefix("table", &self.table, "sqlite_")?;
        let names = Names {
            quoted: dquote(&self.table),
            migrations: dquote(&format!("{}_migrations", self.table)),
            index: dquote(&format!("{}_expires_idx", self.table)),
            user_index: dquote(&format!("{}_user_idx", self.table)),
            table: self.table,
        };
        let t = &names.quoted;
        let inner = Inner {
            create: format!(
                "INSERT INTO {t} (id, data, expires_at, created_at, version, user_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data, \
                 expires_at = excluded.expires_at, created_at = excluded.created_at, \
                 version = excluded.version, user_id = excluded.user_id \
                 WHERE {t}.expires_at <= ?7"
            )
            .into(),
            load: format!("SELECT data, expires_at FROM {t} WHERE id = ?1 AND expires_at > ?2")
                .into(),
            save: format!(
                "UPDATE {t} SET data = ?1, expires_at = ?2, version = ?3, user_id = ?4 \
                 WHERE id = ?5 AND expires_at > ?6 AND version = ?7"
            )
            .into(),
            live: format!("SELECT version FROM {t} WHERE id = ?1 AND expires_at > ?2").into(),
            touch: format!("UPDATE {t} SET expires_at = ?1 WHERE id = ?2 AND expires_at > ?3")
                .into(),
            delete: format!("DELETE FROM {t} WHERE id = ?1").into(),
            delete_expired: format!(
                "DELETE FROM {t} WHERE rowid IN (\
                     SELECT rowid FROM {t} WHERE expires_at <= ?1 LIMIT ?2)"
            )
            .into(),
            // The per-user statements all find their rows through the
            // (user_id, expires_at) index; expired rows are left to the
            // cleanup, so a revocation counts only the live sessions it ended.
            user_sessions: format!(
                "SELECT id, data, expires_at FROM {t} WHERE user_id = ?1 AND expires_at > ?2"
            )
            .into(),
            count_user_sessions: format!(
                "SELECT COUNT(*) FROM {t} WHERE user_id = ?1 AND expires_at > ?2"
            )
            .into(),
            delete_user_sessions: format!("DELETE FROM {t} WHERE user_id = ?1 AND expires_at > ?2")
                .into(),
            delete_user_sessions_but: format!(
                "DELETE FROM {t} WHERE user_id = ?1 AND expires_at > ?2 AND id <> ?3"
            )
            .into(),
            timeout: self.timeout,
            names,
        };
        Ok(SqliteStore {
            pool: self.pool,
            inner: Arc::new(inner),
            cleanup: None,
        })
    }
}

impl SqliteStore {
    /// A store on `pool` with the default table name (`sessions`).
    pub fn new(pool: SqlitePool) -> Self {
        Self::builder(pool)
            .build()
            .expect("the default name is valid")
    }

    /// A builder to set the table name.
    pub fn builder(pool: SqlitePool) -> SqliteStoreBuilder {
        SqliteStoreBuilder {
            pool,
            table: DEFAULT_TABLE.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Opens `url` (with any of the [URL parameters](crate#url-parameters))
    /// as [`connect_pool`](Self::connect_pool) does and returns a store with
    /// the default table name on it, holding a cleanup task that removes
    /// expired rows every `cleanup_interval` (default 5 min; `off` for
    /// none) until the store and its clones are dropped.
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> Result<(), session_core::Error> {
    /// let store = session_sqlx::SqliteStore::connect("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`connect_pool`](Self::connect_pool).
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let (pool, settings) = crate::pool::open(&BACKEND, url, false).await?;
        let store = Self::builder(pool).timeout(settings.timeout).build()?;
        Ok(match settings.cleanup_interval {
            Some(interval) => store.with_cleanup(interval),
            None => store,
        })
    }

    /// Opens a pool on `url` set up for sessions.
    ///
    /// * A file database (`sqlite://path/to/file.db`; add `?mode=rwc` to
    ///   create a missing file) runs in WAL mode with `synchronous=NORMAL`
    ///   and a 5 s busy timeout, so readers never wait for the writer.
    /// * An in-memory database (`sqlite::memory:`, or a URL with
    ///   `mode=memory`) lives only as long as one of its connections does,
    ///   so the pool keeps exactly one connection open for its whole life
    ///   (whatever `max_connections` says).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] (field `url`) for a URL that does not parse, a
    /// parameter that is not valid, or `cleanup_interval` (which only
    /// [`connect`](Self::connect) reads); otherwise [`Error::Backend`]
    /// whose source is a [`ConnectError`](crate::ConnectError) (for example
    /// for a file that does not exist), carrying the driver's error as its
    /// source.
    pub async fn connect_pool(url: &str) -> Result<SqlitePool, Error> {
        let (pool, _) = crate::pool::open(&BACKEND, url, true).await?;
        Ok(pool)
    }

    /// The pool the store runs on.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The table name, unquoted.
    pub fn table(&self) -> &str {
        &self.inner.names.table
    }

    /// Creates or upgrades the session table to this version's schema.
    ///
    /// Call it once at start-up, before serving requests. It is idempotent
    /// and safe when several processes call it at the same moment: it runs
    /// in one `BEGIN IMMEDIATE` transaction (which takes SQLite's write lock
    /// up front, waiting up to the busy timeout for it) and applies each
    /// version not yet recorded in `<table>_migrations`.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] when a statement fails (for example a read-only
    /// database, or the write lock not free within the busy timeout);
    /// nothing is applied then.
    pub async fn migrate(&self) -> Result<(), Error> {
        let n = &self.inner.names;
        let err = |e| Error::backend(e);
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        apply_pending!(
            tx,
            n,
            n.table,
            bookkeeping: "CREATE TABLE IF NOT EXISTS {} (\
                 version INTEGER NOT NULL PRIMARY KEY, \
                 description TEXT NOT NULL, \
                 applied_at INTEGER NOT NULL)",
            record: "INSERT INTO {} (version, description, applied_at) VALUES (?1, ?2, ?3)",
            run: |statement, _version| sqlx::query(AssertSqlSafe(statement))
                .execute(&mut *tx)
                .await
                .map(drop)
                .map_err(err),
        );
        tx.commit().await.map_err(err)
    }
}

fn is_missing_table(e: &dyn DatabaseError) -> bool {
    e.message().starts_with("no such table")
}

const BACKEND: Backend<Sqlite> = Backend {
    name: "SQLite",
    schemes: &["sqlite:"],
    driver: Driver::Checks,
    missing_database: is_missing_database,
    tune: |url, options, pool| {
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
    },
};

/// `SQLITE_CANTOPEN`: the file (or its directory) is not there.
fn is_missing_database(e: &dyn DatabaseError) -> bool {
    e.code()
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| c & 0xff == 14)
}

crate::store_impl::impl_session_store!(SqliteStore);

#[cfg(test)]
mod tests;

crate::store_impl::impl_store_helpers!(SqliteStore, quoted);
crate::ops::impl_operator_helpers!(
    SqliteStore,
    "sqlite",
    quoted,
    "?1",
    crate::ops::once,
    std::convert::identity
);
