//! The MySQL / MariaDB store.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use session_core::{Error, Record, SessionId, SessionInfo, SessionStore};
use sqlx::error::DatabaseError;
use sqlx::mysql::{MySql, MySqlConnection, MySqlDatabaseError, MySqlPool};
use sqlx::{AssertSqlSafe, Connection as _, Row as _};

use crate::cleanup::CleanupHandle;
use crate::deadline::{check as check_timeout, DEFAULT_TIMEOUT};
use crate::migrate::{apply_pending, Migration};
use crate::pool::Backend;
use crate::row::{self, Columns, DELETE_BATCH};
use crate::table::{validate, DEFAULT_TABLE};

/// How long [`MySqlStore::migrate`] waits for another instance's migration.
const LOCK_WAIT_SECS: i64 = 60;

/// A [`SessionStore`] in a MySQL or MariaDB (InnoDB) table.
///
/// Records are filed under [`SessionId::storage_key`] in an ASCII column
/// with a binary (case-sensitive) collation, with the
/// [codec](session_core::codec) envelope in a `LONGBLOB` column and the
/// expiry in a `BIGINT` column of milliseconds since the Unix epoch. The
/// bound user, if any, is in a `VARBINARY(255)` column (compared byte for
/// byte) indexed with the expiry, for the
/// [per-user methods](crate#a-users-sessions-log-out-everywhere).
/// Expiry is compared against the application's clock.
///
/// Cloning is cheap and shares the pool.
///
/// ```no_run
/// use session_sqlx::MySqlStore;
///
/// # #[tokio::main] async fn main() -> Result<(), session_core::Error> {
/// let url = std::env::var("MYSQL_URL").expect("set MYSQL_URL");
/// let pool = MySqlStore::connect_pool(&url).await?;
/// let store = MySqlStore::builder(pool).table("web_sessions").build()?;
/// store.migrate().await?; // once at start-up
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MySqlStore {
    pool: MySqlPool,
    inner: Arc<Inner>,
    cleanup: Option<Arc<CleanupHandle>>,
}

#[derive(Debug)]
struct Inner {
    names: Names,
    timeout: Duration,
    insert: Arc<str>,
    purge_expired_id: Arc<str>,
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
    /// `` `table` ``
    quoted: String,
    /// `` `table_migrations` ``
    migrations: String,
    /// `` `table_expires_idx` ``
    index: String,
    /// `` `table_user_idx` ``
    user_index: String,
}

const MIGRATIONS: &[Migration<Names>] = &[
    Migration {
        version: 1,
        description: "create the session table and its expiry index",
        statements: |n| {
            vec![format!(
                "CREATE TABLE IF NOT EXISTS {} (\
                     id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, \
                     data LONGBLOB NOT NULL, \
                     expires_at BIGINT NOT NULL, \
                     created_at BIGINT NOT NULL, \
                     version BIGINT NOT NULL, \
                     PRIMARY KEY (id), \
                     KEY {} (expires_at)\
                 ) ENGINE=InnoDB",
                n.quoted, n.index
            )]
        },
    },
    Migration {
        version: 2,
        description: "add the user column and the per-user index",
        // `VARBINARY`: users compare byte for byte (no case folding, no
        // trailing-space padding), and 255 bytes is a limit in bytes, checked
        // before every write (`row::check_user`). MySQL has no
        // `ADD COLUMN IF NOT EXISTS`; `apply_migrations` takes "already
        // there" as done, for a run that stopped between these statements.
        statements: |n| {
            vec![
                format!(
                    "ALTER TABLE {} ADD COLUMN user_id VARBINARY({}) NULL",
                    n.quoted,
                    row::MAX_USER_LEN
                ),
                format!(
                    "ALTER TABLE {} ADD INDEX {} (user_id, expires_at)",
                    n.quoted, n.user_index
                ),
            ]
        },
    },
];

fn backquote(name: &str) -> String {
    format!("`{name}`")
}

/// Builder for [`MySqlStore`]: the pool plus the table name.
#[derive(Debug, Clone)]
#[must_use]
pub struct MySqlStoreBuilder {
    pool: MySqlPool,
    table: String,
    timeout: Duration,
}

impl MySqlStoreBuilder {
    /// The table name (default [`DEFAULT_TABLE`], `sessions`), in the
    /// connection's database. See [table names](crate#table-names) for what
    /// is accepted.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// The deadline on each store call: waiting for a pooled connection
    /// plus running the statements (default [`DEFAULT_TIMEOUT`], 1 s). Past
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
    /// characters; naming `timeout` when the timeout is zero.
    pub fn build(self) -> Result<MySqlStore, Error> {
        check_timeout("timeout", self.timeout)?;
        validate("table", &self.table)?;
        let names = Names {
            quoted: backquote(&self.table),
            migrations: backquote(&format!("{}_migrations", self.table)),
            index: backquote(&format!("{}_expires_idx", self.table)),
            user_index: backquote(&format!("{}_user_idx", self.table)),
            table: self.table,
        };
        let t = &names.quoted;
        let inner = Inner {
            insert: format!(
                "INSERT INTO {t} (id, data, expires_at, created_at, version, user_id) \
                 VALUES (?, ?, ?, ?, ?, ?)"
            )
            .into(),
            purge_expired_id: format!("DELETE FROM {t} WHERE id = ? AND expires_at <= ?").into(),
            load: format!("SELECT data, expires_at FROM {t} WHERE id = ? AND expires_at > ?")
                .into(),
            save: format!(
                "UPDATE {t} SET data = ?, expires_at = ?, version = ?, user_id = ? \
                 WHERE id = ? AND expires_at > ? AND version = ?"
            )
            .into(),
            live: format!("SELECT version FROM {t} WHERE id = ? AND expires_at > ?").into(),
            touch: format!("UPDATE {t} SET expires_at = ? WHERE id = ? AND expires_at > ?").into(),
            delete: format!("DELETE FROM {t} WHERE id = ?").into(),
            delete_expired: format!("DELETE FROM {t} WHERE expires_at <= ? LIMIT ?").into(),
            // The per-user statements all find their rows through the
            // (user_id, expires_at) index; expired rows are left to the
            // cleanup, so a revocation counts only the live sessions it ended.
            user_sessions: format!(
                "SELECT id, data, expires_at FROM {t} WHERE user_id = ? AND expires_at > ?"
            )
            .into(),
            count_user_sessions: format!(
                "SELECT COUNT(*) FROM {t} WHERE user_id = ? AND expires_at > ?"
            )
            .into(),
            delete_user_sessions: format!("DELETE FROM {t} WHERE user_id = ? AND expires_at > ?")
                .into(),
            delete_user_sessions_but: format!(
                "DELETE FROM {t} WHERE user_id = ? AND expires_at > ? AND id <> ?"
            )
            .into(),
            timeout: self.timeout,
            names,
        };
        Ok(MySqlStore {
            pool: self.pool,
            inner: Arc::new(inner),
            cleanup: None,
        })
    }
}

impl MySqlStore {
    /// A store on `pool` with the default table name (`sessions`).
    pub fn new(pool: MySqlPool) -> Self {
        Self::builder(pool)
            .build()
            .expect("the default name is valid")
    }

    /// A builder to set the table name.
    pub fn builder(pool: MySqlPool) -> MySqlStoreBuilder {
        MySqlStoreBuilder {
            pool,
            table: DEFAULT_TABLE.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Connects to `url` (`mysql://user:password@host:port/database`, or
    /// `mariadb://`, with any of the [URL parameters](crate#url-parameters))
    /// and returns a store with the default table name on it, holding a
    /// cleanup task that removes expired rows every `cleanup_interval`
    /// (default 5 min; `off` for none) until the store and its clones are
    /// dropped.
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> Result<(), session_core::Error> {
    /// let url = std::env::var("MYSQL_URL").expect("set MYSQL_URL");
    /// // e.g. mysql://app@db/app?ssl-mode=VERIFY_IDENTITY&max_connections=20
    /// let store = session_sqlx::MySqlStore::connect(&url).await?;
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

    /// Connects a pool to `url`, sized and bounded by the
    /// [URL parameters](crate#url-parameters) `max_connections`, `timeout`
    /// (the pool's acquire timeout) and `connect_timeout`, after one plain
    /// connection attempt that reports an unreachable server or a missing
    /// database at once.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] (field `url`) for a URL that does not parse, a
    /// parameter that is not known or not valid, or `cleanup_interval`
    /// (which only [`connect`](Self::connect) reads); otherwise
    /// [`Error::Backend`] whose source is a
    /// [`ConnectError`](crate::ConnectError) explaining the failure (for
    /// example that the database does not exist), itself carrying the
    /// driver's error as its source.
    pub async fn connect_pool(url: &str) -> Result<MySqlPool, Error> {
        let (pool, _) = crate::pool::open(&BACKEND, url, true).await?;
        Ok(pool)
    }

    /// The pool the store runs on.
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// The table name, unquoted.
    pub fn table(&self) -> &str {
        &self.inner.names.table
    }

    /// Creates or upgrades the session table to this version's schema.
    ///
    /// Call it once at start-up, before serving requests. It is idempotent
    /// and safe when several app instances call it at the same moment: it
    /// holds the named lock `GET_LOCK('session_sqlx:<table>')` (waiting up to
    /// 60 s for another instance's migration) on a connection of its own,
    /// and applies each version not yet recorded in `<table>_migrations`.
    /// MySQL commits DDL at once, so each applied version is recorded right
    /// after its statements, and a step whose column or index is already
    /// there (left by a run that stopped half-way) counts as done.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when the lock stays taken for 60 s;
    /// [`Error::Backend`] when a statement fails (for example for lack of the
    /// privilege to create the table).
    pub async fn migrate(&self) -> Result<(), Error> {
        let err = |e| Error::backend(e);
        // A connection of its own, closed afterwards: if this future is
        // dropped half-way, closing the socket releases the named lock,
        // which a pooled connection would keep.
        let mut conn = self.pool.acquire().await.map_err(err)?.detach();
        let lock = format!("session_sqlx:{}", self.inner.names.table);
        let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
            .bind(&lock)
            .bind(LOCK_WAIT_SECS)
            .fetch_one(&mut conn)
            .await
            .map_err(err)?;
        if got != Some(1) {
            return Err(Error::Timeout(Duration::from_secs(
                LOCK_WAIT_SECS.unsigned_abs(),
            )));
        }
        let result = self.apply_migrations(&mut conn).await;
        let released = sqlx::query("SELECT RELEASE_LOCK(?)")
            .bind(&lock)
            .execute(&mut conn)
            .await;
        // Dropping the connection would also release the lock; close it
        // politely when we can.
        if released.is_ok() {
            let _ = conn.close().await;
        }
        result
    }

    async fn apply_migrations(&self, conn: &mut MySqlConnection) -> Result<(), Error> {
        let n = &self.inner.names;
        let err = |e| Error::backend(e);
        apply_pending!(
            conn,
            n,
            n.table,
            bookkeeping: "CREATE TABLE IF NOT EXISTS {} (\
                 version BIGINT NOT NULL PRIMARY KEY, \
                 description VARCHAR(255) NOT NULL, \
                 applied_at BIGINT NOT NULL\
             ) ENGINE=InnoDB",
            record: "INSERT INTO {} (version, description, applied_at) VALUES (?, ?, ?)",
            run: |statement, version| match sqlx::query(AssertSqlSafe(statement))
                .execute(&mut *conn)
                .await
            {
                Ok(_) => Ok(()),
                // MySQL commits each DDL statement at once: a run that
                // stopped before recording the version left some of its
                // columns or indexes behind, which count as done.
                Err(sqlx::Error::Database(e)) if is_already_there(e.as_ref()) => {
                    tracing::info!(
                        table = %n.table,
                        version,
                        error = %e,
                        "session table migration step was already applied"
                    );
                    Ok(())
                }
                Err(e) => Err(err(e)),
            },
        );
        Ok(())
    }

    /// `INSERT`, and on a duplicate key the `DELETE` of that ID if expired
    /// and the `INSERT` again. `Ok(false)` when a live record holds the ID.
    async fn create_once(&self, cols: &Columns) -> Result<bool, sqlx::Error> {
        if self.insert(cols).await? {
            return Ok(true);
        }
        sqlx::query(AssertSqlSafe(Arc::clone(&self.inner.purge_expired_id)))
            .bind(&cols.key)
            .bind(row::now_ms())
            .execute(&self.pool)
            .await?;
        self.insert(cols).await
    }

    async fn insert(&self, cols: &Columns) -> Result<bool, sqlx::Error> {
        let result = sqlx::query(AssertSqlSafe(Arc::clone(&self.inner.insert)))
            .bind(&cols.key)
            .bind(&cols.data)
            .bind(cols.expires_at)
            .bind(cols.created_at)
            .bind(cols.version)
            .bind(cols.user.as_deref().map(str::as_bytes))
            .execute(&self.pool)
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e),
        }
    }
}

const BACKEND: Backend<MySql> = Backend {
    name: "MySQL",
    schemes: &["mysql://", "mariadb://"],
    driver: crate::url_params::MYSQL,
    missing_database: is_missing_database,
    tune: |_, options, pool| (options, pool),
};

/// Attempts at an operation InnoDB rolled back as a deadlock victim.
const DEADLOCK_ATTEMPTS: u32 = 10;

/// Runs `op` again when InnoDB picked it as a deadlock victim (which rolls
/// the statement back whole, so a retry is safe). Concurrent creates of one
/// ID (a `DELETE` and `INSERT`s on the same key) can deadlock, and so, more
/// rarely, can any write meeting them or the cleanup's batch `DELETE`.
async fn retry_deadlocks<T, F, Fut>(mut op: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Err(sqlx::Error::Database(e))
                if is_deadlock(e.as_ref()) && attempt < DEADLOCK_ATTEMPTS =>
            {
                tokio::time::sleep(Duration::from_millis(u64::from(attempt))).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// `ER_LOCK_DEADLOCK`.
fn is_deadlock(e: &dyn DatabaseError) -> bool {
    mysql_number(e) == Some(1213)
}

fn mysql_number(e: &dyn DatabaseError) -> Option<u16> {
    e.try_downcast_ref::<MySqlDatabaseError>()
        .map(MySqlDatabaseError::number)
}

/// `ER_DUP_FIELDNAME` or `ER_DUP_KEYNAME`: a migration step's column or
/// index exists already.
fn is_already_there(e: &dyn DatabaseError) -> bool {
    matches!(mysql_number(e), Some(1060 | 1061))
}

/// `ER_NO_SUCH_TABLE`.
fn is_missing_table(e: &dyn DatabaseError) -> bool {
    mysql_number(e) == Some(1146)
}

/// `ER_BAD_DB_ERROR`.
fn is_missing_database(e: &dyn DatabaseError) -> bool {
    mysql_number(e) == Some(1049)
}

#[async_trait]
impl SessionStore for MySqlStore {
    /// A plain `INSERT`, whose duplicate-key error means a record holds the
    /// ID. Only then, a `DELETE` of that ID *if expired* and the `INSERT`
    /// again: a second duplicate means a live record, so `Conflict`.
    ///
    /// Each statement is atomic and the primary key decides every race, so
    /// this is as safe as one statement. A deadlock between concurrent
    /// creates of one ID (InnoDB rolls the victim's statement back) is
    /// retried. (The single-statement
    /// `INSERT … ON DUPLICATE KEY UPDATE` cannot tell a conflict from an
    /// insert here: sqlx connects with `CLIENT_FOUND_ROWS`, under which an
    /// unchanged duplicate row also counts as 1 row affected.)
    async fn create(&self, record: &Record) -> Result<(), Error> {
        crate::deadline::bounded(self.inner.timeout, async {
            let cols = row::columns(record)?;
            match retry_deadlocks(|| self.create_once(&cols)).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(Error::Conflict),
                Err(e) => Err(self.fail(e)),
            }
        })
        .await
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        crate::deadline::bounded(self.inner.timeout, async {
            let found = sqlx::query(AssertSqlSafe(Arc::clone(&self.inner.load)))
                .bind(id.storage_key())
                .bind(row::now_ms())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.fail(e))?;
            let Some(found) = found else { return Ok(None) };
            let data: Vec<u8> = found.try_get(0).map_err(Error::backend)?;
            let expires_at: i64 = found.try_get(1).map_err(Error::backend)?;
            row::decode(id, &data, expires_at).map(Some)
        })
        .await
    }

    /// `UPDATE … WHERE id = ? AND expires_at > now AND version = ?` (the
    /// version the caller loaded). sqlx's `CLIENT_FOUND_ROWS` makes the row
    /// count the rows matched, so a write of unchanged values still counts.
    async fn save(&self, record: &Record) -> Result<(), Error> {
        crate::deadline::bounded(self.inner.timeout, async {
            let c = row::columns(record)?;
            let expected = row::version(record.version.wrapping_sub(1));
            let done = retry_deadlocks(|| {
                sqlx::query(AssertSqlSafe(Arc::clone(&self.inner.save)))
                    .bind(&c.data)
                    .bind(c.expires_at)
                    .bind(c.version)
                    .bind(c.user.as_deref().map(str::as_bytes))
                    .bind(&c.key)
                    .bind(row::now_ms())
                    .bind(expected)
                    .execute(&self.pool)
            })
            .await
            .map_err(|e| self.fail(e))?;
            if done.rows_affected() == 0 {
                return Err(self.why_not_saved(&c.key).await);
            }
            Ok(())
        })
        .await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        crate::deadline::bounded(self.inner.timeout, async {
            let key = id.storage_key();
            retry_deadlocks(|| {
                sqlx::query(AssertSqlSafe(Arc::clone(&self.inner.delete)))
                    .bind(&key)
                    .execute(&self.pool)
            })
            .await
            .map_err(|e| self.fail(e))?;
            Ok(())
        })
        .await
    }

    async fn touch(&self, id: &SessionId, expires_at: SystemTime) -> Result<(), Error> {
        crate::deadline::bounded(self.inner.timeout, async {
            let key = id.storage_key();
            let done = retry_deadlocks(|| {
                sqlx::query(AssertSqlSafe(Arc::clone(&self.inner.touch)))
                    .bind(row::ms(expires_at))
                    .bind(&key)
                    .bind(row::now_ms())
                    .execute(&self.pool)
            })
            .await
            .map_err(|e| self.fail(e))?;
            if done.rows_affected() == 0 {
                return Err(Error::Vanished);
            }
            Ok(())
        })
        .await
    }

    /// Deletes in batches of [`DELETE_BATCH`](crate::DELETE_BATCH) rows,
    /// each batch bounded by the store's timeout.
    async fn delete_expired(&self) -> Result<u64, Error> {
        let now = row::now_ms();
        crate::deadline::delete_in_batches(self.inner.timeout, || {
            self.delete_expired_at_most(now, DELETE_BATCH)
        })
        .await
    }

    /// `true`: migration 2 added the `user_id` column and its index.
    fn indexes_users(&self) -> bool {
        true
    }

    fn backend_name(&self) -> &'static str {
        Self::BACKEND_LABEL
    }

    /// One `SELECT COUNT(*) … WHERE expires_at > now`.
    async fn count_sessions(&self) -> Result<u64, Error> {
        self.count_rows(true).await
    }

    /// One `SELECT COUNT(*) … WHERE expires_at <= now`.
    async fn count_expired(&self) -> Result<u64, Error> {
        self.count_rows(false).await
    }

    /// One batch of the cleanup's `DELETE`, limited to `max` rows.
    async fn delete_expired_batch(&self, max: u32) -> Result<u64, Error> {
        self.delete_expired_at_most(row::now_ms(), max).await
    }

    /// The `DELETE … AND id <> ?` of `delete_user_sessions`, by key.
    async fn delete_user_sessions_except_key(
        &self,
        user: &str,
        keep_key: &str,
    ) -> Result<u64, Error> {
        self.revoke_except_key(user, keep_key).await
    }

    /// One `SELECT` through the (user_id, expires_at) index. Rows whose
    /// `data` does not decode are skipped and logged (by key).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] (field `user`) for a user longer than
    /// [`MAX_USER_LEN`](crate::MAX_USER_LEN) bytes; backend errors.
    async fn user_sessions(&self, user: &str) -> Result<Vec<SessionInfo>, Error> {
        crate::deadline::bounded(self.inner.timeout, async {
            row::check_user(user)?;
            let rows = sqlx::query(AssertSqlSafe(Arc::clone(&self.inner.user_sessions)))
                .bind(user.as_bytes())
                .bind(row::now_ms())
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.fail(e))?;
            rows.iter()
                .map(|found| {
                    let key: String = found.try_get(0).map_err(Error::backend)?;
                    let data: Vec<u8> = found.try_get(1).map_err(Error::backend)?;
                    let expires_at: i64 = found.try_get(2).map_err(Error::backend)?;
                    row::listed(key, &data, expires_at)
                })
                .filter_map(Result::transpose)
                .collect()
        })
        .await
    }

    /// One `SELECT COUNT(*)` through the index.
    async fn count_user_sessions(&self, user: &str) -> Result<u64, Error> {
        crate::deadline::bounded(self.inner.timeout, async {
            row::check_user(user)?;
            let n: i64 =
                sqlx::query_scalar(AssertSqlSafe(Arc::clone(&self.inner.count_user_sessions)))
                    .bind(user.as_bytes())
                    .bind(row::now_ms())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| self.fail(e))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    /// One `DELETE … WHERE user_id = ? AND expires_at > now [AND id <> keep]`
    /// through the index (a deadlock victim is retried). Expired rows of the
    /// user are left to the cleanup, so the count is of live sessions ended.
    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&SessionId>,
    ) -> Result<u64, Error> {
        crate::deadline::bounded(self.inner.timeout, async {
            row::check_user(user)?;
            let keep = keep.map(SessionId::storage_key);
            let done = retry_deadlocks(|| {
                let now = row::now_ms();
                match &keep {
                    None => {
                        sqlx::query(AssertSqlSafe(Arc::clone(&self.inner.delete_user_sessions)))
                            .bind(user.as_bytes())
                            .bind(now)
                            .execute(&self.pool)
                    }
                    Some(keep) => sqlx::query(AssertSqlSafe(Arc::clone(
                        &self.inner.delete_user_sessions_but,
                    )))
                    .bind(user.as_bytes())
                    .bind(now)
                    .bind(keep)
                    .execute(&self.pool),
                }
            })
            .await
            .map_err(|e| self.fail(e))?;
            Ok(done.rows_affected())
        })
        .await
    }
}

#[cfg(test)]
mod tests;

crate::store_impl::impl_store_helpers!(MySqlStore, quoted);
crate::ops::impl_operator_helpers!(
    MySqlStore,
    "mysql",
    quoted,
    "?",
    retry_deadlocks,
    str::as_bytes
);
