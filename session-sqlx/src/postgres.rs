//! The PostgreSQL store.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use session_core::{Error, Record, SessionId, SessionInfo, SessionStore};
use sqlx::error::DatabaseError;
use sqlx::postgres::{PgDatabaseError, PgPool, Postgres};
use sqlx::{AssertSqlSafe, Row as _};

use crate::cleanup::CleanupHandle;
use crate::deadline::{check as check_timeout, DEFAULT_TIMEOUT};
use crate::migrate::{apply_pending, Migration};
use crate::pool::Backend;
use crate::row::{self, DELETE_BATCH};
use crate::table::{dquote, reject_prefix, validate, DEFAULT_TABLE};

/// The schema a [`PostgresStore`] uses unless told otherwise.
pub const DEFAULT_SCHEMA: &str = "public";

/// A [`SessionStore`] in a PostgreSQL (11 or later) table.
///
/// Records are filed under [`SessionId::storage_key`] (a hash: the table
/// holds no usable cookie), with the [codec](session_core::codec) envelope
/// in a `BYTEA` column and the expiry in a `BIGINT` column of milliseconds
/// since the Unix epoch. The bound user, if any, is in a `TEXT` column
/// indexed with the expiry, for the [per-user methods](crate#a-users-sessions-log-out-everywhere).
/// Every method is one statement; expiry is compared against the
/// application's clock.
///
/// Cloning is cheap and shares the pool.
///
/// ```no_run
/// use std::time::Duration;
/// use session_sqlx::PostgresStore;
///
/// # #[tokio::main] async fn main() -> Result<(), session_core::Error> {
/// let url = std::env::var("DATABASE_URL").expect("set DATABASE_URL");
/// let pool = PostgresStore::connect_pool(&url).await?;
/// let store = PostgresStore::builder(pool)
///     .schema("auth")
///     .table("web_sessions")
///     .build()?;
/// store.migrate().await?; // once at start-up
/// let cleanup = store.spawn_cleanup(Duration::from_secs(300));
/// // ... serve requests with `store` ...
/// cleanup.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
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
    schema: String,
    table: String,
    /// `"schema"."table"`
    qualified: String,
    /// `"schema"."table_migrations"`
    migrations: String,
    /// `"table_expires_idx"` (an index lives in its table's schema).
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
                         id TEXT COLLATE \"C\" NOT NULL PRIMARY KEY, \
                         data BYTEA NOT NULL, \
                         expires_at BIGINT NOT NULL, \
                         created_at BIGINT NOT NULL, \
                         version BIGINT NOT NULL)",
                    n.qualified
                ),
                format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {} (expires_at)",
                    n.index, n.qualified
                ),
            ]
        },
    },
    Migration {
        version: 2,
        description: "add the user column and the per-user index",
        // A nullable column without a default is a catalog change only; the
        // partial index leaves out the unbound sessions.
        statements: |n| {
            vec![
                format!(
                    "ALTER TABLE {} ADD COLUMN IF NOT EXISTS user_id TEXT COLLATE \"C\"",
                    n.qualified
                ),
                format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {} (user_id, expires_at) \
                     WHERE user_id IS NOT NULL",
                    n.user_index, n.qualified
                ),
            ]
        },
    },
];

/// Builder for [`PostgresStore`]: the pool plus the table and schema names.
#[derive(Debug, Clone)]
#[must_use]
pub struct PostgresStoreBuilder {
    pool: PgPool,
    schema: String,
    table: String,
    timeout: Duration,
}

impl PostgresStoreBuilder {
    /// The table name (default [`DEFAULT_TABLE`], `sessions`). See
    /// [table names](crate#table-names) for what is accepted.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// The schema holding the table (default [`DEFAULT_SCHEMA`], `public`).
    /// [`migrate`](PostgresStore::migrate) creates it if it does not exist.
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.schema = name.into();
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
    /// [`Error::Config`] naming `table` or `schema` when a name is not a
    /// plain SQL identifier of at most [`MAX_NAME_LEN`](crate::MAX_NAME_LEN)
    /// characters, or starts with the reserved `pg_`; naming `timeout` when
    /// the timeout is zero.
    pub fn build(self) -> Result<PostgresStore, Error> {
        check_timeout("timeout", self.timeout)?;
        validate("table", &self.table)?;
        validate("schema", &self.schema)?;
        reject_prefix("schema", &self.schema, "pg_")?;
        let names = Names {
            qualified: format!("{}.{}", dquote(&self.schema), dquote(&self.table)),
            migrations: format!(
                "{}.{}",
                dquote(&self.schema),
                dquote(&format!("{}_migrations", self.table))
            ),
            index: dquote(&format!("{}_expires_idx", self.table)),
            user_index: dquote(&format!("{}_user_idx", self.table)),
            schema: self.schema,
            table: self.table,
        };
        let t = &names.qualified;
        let inner = Inner {
            create: format!(
                "INSERT INTO {t} AS s (id, data, expires_at, created_at, version, user_id) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, \
                 expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at, \
                 version = EXCLUDED.version, user_id = EXCLUDED.user_id \
                 WHERE s.expires_at <= $7"
            )
            .into(),
            load: format!("SELECT data, expires_at FROM {t} WHERE id = $1 AND expires_at > $2")
                .into(),
            save: format!(
                "UPDATE {t} SET data = $1, expires_at = $2, version = $3, user_id = $4 \
                 WHERE id = $5 AND expires_at > $6 AND version = $7"
            )
            .into(),
            live: format!("SELECT version FROM {t} WHERE id = $1 AND expires_at > $2").into(),
            touch: format!("UPDATE {t} SET expires_at = $1 WHERE id = $2 AND expires_at > $3")
                .into(),
            delete: format!("DELETE FROM {t} WHERE id = $1").into(),
            // SKIP LOCKED: cleanups of several app instances share the work
            // instead of queueing. The outer `expires_at` check is re-made
            // on the newest row version, so a row that a concurrent
            // `create` just brought back to life is never deleted.
            delete_expired: format!(
                "DELETE FROM {t} WHERE id IN (\
                     SELECT id FROM {t} WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED) \
                 AND expires_at <= $1"
            )
            .into(),
            // The per-user statements all find their rows through the
            // (user_id, expires_at) index; expired rows are left to the
            // cleanup, so a revocation counts only the live sessions it ended.
            user_sessions: format!(
                "SELECT id, data, expires_at FROM {t} WHERE user_id = $1 AND expires_at > $2"
            )
            .into(),
            count_user_sessions: format!(
                "SELECT COUNT(*) FROM {t} WHERE user_id = $1 AND expires_at > $2"
            )
            .into(),
            delete_user_sessions: format!("DELETE FROM {t} WHERE user_id = $1 AND expires_at > $2")
                .into(),
            delete_user_sessions_but: format!(
                "DELETE FROM {t} WHERE user_id = $1 AND expires_at > $2 AND id <> $3"
            )
            .into(),
            timeout: self.timeout,
            names,
        };
        Ok(PostgresStore {
            pool: self.pool,
            inner: Arc::new(inner),
            cleanup: None,
        })
    }
}

impl PostgresStore {
    /// A store on `pool` with the default names (`"public"."sessions"`).
    pub fn new(pool: PgPool) -> Self {
        Self::builder(pool)
            .build()
            .expect("the default names are valid")
    }

    /// A builder to set the table and schema names.
    pub fn builder(pool: PgPool) -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            pool,
            schema: DEFAULT_SCHEMA.to_owned(),
            table: DEFAULT_TABLE.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Connects to `url` (`postgres://user:password@host:port/database`,
    /// with any of the [URL parameters](crate#url-parameters)) and returns a
    /// store with the default names on it, holding a cleanup task that
    /// removes expired rows every `cleanup_interval` (default 5 min; `off`
    /// for none) until the store and its clones are dropped.
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> Result<(), session_core::Error> {
    /// let url = std::env::var("DATABASE_URL").expect("set DATABASE_URL");
    /// // e.g. postgres://app@db/app?sslmode=verify-full&max_connections=20&timeout=2s
    /// let store = session_sqlx::PostgresStore::connect(&url).await?;
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
    pub async fn connect_pool(url: &str) -> Result<PgPool, Error> {
        let (pool, _) = crate::pool::open(&BACKEND, url, true).await?;
        Ok(pool)
    }

    /// The pool the store runs on.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The table name, unquoted.
    pub fn table(&self) -> &str {
        &self.inner.names.table
    }

    /// The schema name, unquoted.
    pub fn schema(&self) -> &str {
        &self.inner.names.schema
    }

    /// Creates or upgrades the session table to this version's schema.
    ///
    /// Call it once at start-up, before serving requests. It is idempotent
    /// and safe when several app instances call it at the same moment: it
    /// runs in one transaction holding `pg_advisory_xact_lock` on a key
    /// derived from the schema and table names, creates the schema if it is
    /// missing, and applies each version not yet recorded in
    /// `<table>_migrations`.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] when a statement fails (for example for lack of
    /// the privilege to create the table or schema); nothing is applied then.
    pub async fn migrate(&self) -> Result<(), Error> {
        let n = &self.inner.names;
        let err = |e| Error::backend(e);
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("session_sqlx:{}.{}", n.schema, n.table))
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        let schema_exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                .bind(&n.schema)
                .fetch_one(&mut *tx)
                .await
                .map_err(err)?;
        if !schema_exists {
            sqlx::query(AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS {}",
                dquote(&n.schema)
            )))
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        }
        apply_pending!(
            tx,
            n,
            n.qualified,
            bookkeeping: "CREATE TABLE IF NOT EXISTS {} (\
                 version BIGINT NOT NULL PRIMARY KEY, \
                 description TEXT NOT NULL, \
                 applied_at BIGINT NOT NULL)",
            record: "INSERT INTO {} (version, description, applied_at) VALUES ($1, $2, $3)",
            run: |statement, _version| sqlx::query(AssertSqlSafe(statement))
                .execute(&mut *tx)
                .await
                .map(drop)
                .map_err(err),
        );
        tx.commit().await.map_err(err)
    }
}

const BACKEND: Backend<Postgres> = Backend {
    name: "PostgreSQL",
    schemes: &["postgres://", "postgresql://"],
    driver: crate::url_params::POSTGRES,
    missing_database: is_missing_database,
    tune: |_, options, pool| (options, pool),
};

fn pg_code(e: &dyn DatabaseError) -> Option<&str> {
    e.try_downcast_ref::<PgDatabaseError>()
        .map(PgDatabaseError::code)
}

/// `undefined_table` or `invalid_schema_name`.
fn is_missing_table(e: &dyn DatabaseError) -> bool {
    matches!(pg_code(e), Some("42P01" | "3F000"))
}

/// `invalid_catalog_name`.
fn is_missing_database(e: &dyn DatabaseError) -> bool {
    pg_code(e) == Some("3D000")
}

crate::store_impl::impl_session_store!(PostgresStore);

#[cfg(test)]
mod tests;

crate::store_impl::impl_store_helpers!(PostgresStore, qualified);
crate::ops::impl_operator_helpers!(
    PostgresStore,
    "postgres",
    qualified,
    "$1",
    crate::ops::once,
    std::convert::identity
);
