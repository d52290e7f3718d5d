//! The PostgreSQL dialect and its store's names.

use session_core::near_cache::Invalidations;
use session_core::Error;
use sqlx::error::DatabaseError;
use sqlx::postgres::{PgDatabaseError, PgPool, PgQueryResult, Postgres};
use sqlx::AssertSqlSafe;

use crate::announce::Announcer;
use crate::batch::Batcher;
use crate::dialect::Dialect;
use crate::sql::Names;
use crate::store::{SqlStore, SqlStoreBuilder};
use crate::table::{dquote, reject_prefix};
use crate::url_params::Driver;

/// The schema a [`PostgresStore`] uses unless told otherwise.
pub const DEFAULT_SCHEMA: &str = "public";

/// A [`SessionStore`](session_core::SessionStore) in a PostgreSQL (11 or
/// later) table.
///
/// Records are filed under
/// [`SessionId::storage_key`](session_core::SessionId::storage_key) (a
/// hash: the table holds no usable cookie), with the
/// [codec](session_core::codec) envelope in a `BYTEA` column and the expiry
/// in a `BIGINT` column of milliseconds since the Unix epoch. The bound
/// user, if any, is in a `TEXT` column indexed with the expiry, for the
/// [per-user methods](crate#a-users-sessions-log-out-everywhere). Every
/// method is one statement; expiry is compared against the application's
/// clock. The table lives in a schema, [`DEFAULT_SCHEMA`] unless
/// [`PostgresStoreBuilder::schema`] says otherwise.
///
/// Cloning is cheap and shares the pool. The methods are those of
/// [`SqlStore`], plus [`schema`](SqlStore::schema).
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
pub type PostgresStore = SqlStore<Postgres>;

/// Builder for [`PostgresStore`]: the pool plus the table and schema names
/// and the deadline.
pub type PostgresStoreBuilder = SqlStoreBuilder<Postgres>;

impl SqlStoreBuilder<Postgres> {
    /// The schema holding the table (default [`DEFAULT_SCHEMA`], `public`).
    /// [`migrate`](SqlStore::migrate) creates it if it does not exist.
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.schema = Some(name.into());
        self
    }
}

impl SqlStore<Postgres> {
    /// The schema name, unquoted.
    pub fn schema(&self) -> &str {
        self.inner.names.schema.as_deref().unwrap_or(DEFAULT_SCHEMA)
    }
}

impl Dialect for Postgres {
    const SCHEMES: &'static [&'static str] = &["postgres://", "postgresql://"];
    const LABEL: &'static str = "postgres";
    const URL_PARAMS: Driver = crate::url_params::POSTGRES;
    const DEFAULT_SCHEMA: Option<&'static str> = Some(DEFAULT_SCHEMA);
    /// Added by the near cache's layout (`notify.rs`), never by `migrate`.
    const ANNOUNCED: Option<&'static str> = Some(notify::ANNOUNCED);

    fn param(n: usize) -> String {
        format!("${n}")
    }

    fn check_names(_table: &str, schema: Option<&str>) -> Result<(), Error> {
        reject_prefix("schema", schema.unwrap_or_default(), "pg_")
    }

    /// SKIP LOCKED: cleanups of several app instances share the work
    /// instead of queueing. The outer `expires_at` check is re-made on the
    /// newest row version, so a row that a concurrent `create` just brought
    /// back to life is never deleted.
    fn delete_expired(t: &str) -> String {
        format!(
            "DELETE FROM {t} WHERE id IN (\
                 SELECT id FROM {t} WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED) \
             AND expires_at <= $1"
        )
    }

    fn create_table(n: &Names) -> Vec<String> {
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
            crate::migrate::expires_index(n),
        ]
    }

    /// A nullable column without a default is a catalog change only; the
    /// partial index leaves out the unbound sessions.
    fn add_user(n: &Names) -> Vec<String> {
        vec![
            format!(
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS user_id TEXT COLLATE \"C\"",
                n.qualified
            ),
            crate::migrate::partial_user_index(n),
        ]
    }

    /// One transaction holding `pg_advisory_xact_lock` on a key derived
    /// from the schema and table names; creates the schema if it is
    /// missing. Nothing is applied when a statement fails.
    async fn migrate(pool: &PgPool, n: &Names) -> Result<(), Error> {
        let err = |e| Error::backend(e);
        let schema = n.schema.as_deref().unwrap_or(DEFAULT_SCHEMA);
        let mut tx = pool.begin().await.map_err(err)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("session_sqlx:{schema}.{}", n.table))
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        let schema_exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                .bind(schema)
                .fetch_one(&mut *tx)
                .await
                .map_err(err)?;
        if !schema_exists {
            let create = format!("CREATE SCHEMA IF NOT EXISTS {}", dquote(schema));
            sqlx::query(AssertSqlSafe(create))
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        crate::migrate::apply::<Self>(&mut tx, n).await?;
        tx.commit().await.map_err(err)
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }

    /// `undefined_table` or `invalid_schema_name`.
    fn is_missing_table(e: &dyn DatabaseError) -> bool {
        matches!(pg_code(e), Some("42P01" | "3F000"))
    }

    /// `invalid_catalog_name`.
    fn is_missing_database(e: &dyn DatabaseError) -> bool {
        pg_code(e) == Some("3D000")
    }

    /// LISTEN on the table's channel, fed by a trigger and by the stores'
    /// announcers (see the [near cache](crate#near-cache-postgresql)).
    fn start_feed(pool: &PgPool, n: &Names, feed: Invalidations) -> Result<Announcer, Error> {
        feed::spawn(pool, n, feed)
    }

    /// Saves in batches: one `UPDATE … FROM unnest(…)` for every save
    /// queued meanwhile (see `postgres/saves.rs`).
    fn start_batcher(pool: &PgPool, n: &Names) -> Option<Batcher> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (batcher, queue) = Batcher::new();
        saves::spawn(&runtime, pool, &n.qualified, queue);
        Some(batcher)
    }
}

fn pg_code(e: &dyn DatabaseError) -> Option<&str> {
    e.try_downcast_ref::<PgDatabaseError>()
        .map(PgDatabaseError::code)
}

mod announce;
mod feed;
mod notify;
mod saves;
#[cfg(test)]
mod tests;
