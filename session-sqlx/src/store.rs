//! The one store type, generic over the dialect: its builder, start-up
//! (`connect`, `migrate`) and the cleanup task. The `SessionStore`
//! methods are in `session_store.rs`.

use std::sync::Arc;
use std::time::Duration;

use session_core::near_cache::{NearCache, NearCacheConfig};
use session_core::Error;
use sqlx::{Database, Pool};

use crate::announce::Announcer;
use crate::batch::Batcher;
use crate::cleanup::CleanupHandle;
use crate::deadline::{check as check_timeout, DEFAULT_TIMEOUT};
use crate::dialect::Dialect;
use crate::sql::{Names, Statements};
use crate::table::{validate, DEFAULT_TABLE};

/// A [`SessionStore`](session_core::SessionStore) in a SQL table, on a
/// sqlx [`Pool`] of `DB`: [`sqlx::Postgres`], [`sqlx::Sqlite`] or
/// [`sqlx::MySql`].
///
/// Use it by its names [`PostgresStore`](crate::PostgresStore),
/// [`SqliteStore`](crate::SqliteStore) and
/// [`MySqlStore`](crate::MySqlStore), which say what each backend stores
/// and how; this page lists what they have in common. (The bound
/// `DB: Dialect` is this crate's own, implemented for those three drivers.)
///
/// Cloning is cheap and shares the pool (and the cleanup task, if the store
/// holds one).
#[derive(Debug)]
pub struct SqlStore<DB: Database> {
    pub(crate) pool: Pool<DB>,
    pub(crate) inner: Arc<Inner>,
    cleanup: Option<Arc<CleanupHandle>>,
}

/// What a store and its clones share.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) names: Names,
    pub(crate) timeout: Duration,
    pub(crate) sql: Statements,
    /// The near cache, when on (PostgreSQL only).
    pub(crate) near: Option<NearCache>,
    /// The task that announces this store's writes to the other processes'
    /// near caches, when the cache is on.
    pub(crate) announcer: Option<Announcer>,
    /// The task that makes saves in batches, where the backend can.
    pub(crate) batcher: Option<Batcher>,
}

impl<DB: Database> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            inner: Arc::clone(&self.inner),
            cleanup: self.cleanup.clone(),
        }
    }
}

/// Builder for a [`SqlStore`]: the pool plus the table name (and on
/// PostgreSQL the schema, [`SqlStoreBuilder::schema`]) and the deadline.
/// Named [`PostgresStoreBuilder`](crate::PostgresStoreBuilder),
/// [`SqliteStoreBuilder`](crate::SqliteStoreBuilder) and
/// [`MySqlStoreBuilder`](crate::MySqlStoreBuilder).
#[derive(Debug)]
#[must_use]
pub struct SqlStoreBuilder<DB: Database> {
    pool: Pool<DB>,
    pub(crate) schema: Option<String>,
    table: String,
    timeout: Duration,
    near_cache: Option<NearCacheConfig>,
}

impl<DB: Database> Clone for SqlStoreBuilder<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            schema: self.schema.clone(),
            table: self.table.clone(),
            timeout: self.timeout,
            near_cache: self.near_cache.clone(),
        }
    }
}

impl<DB: Dialect> SqlStoreBuilder<DB> {
    /// The table name (default [`DEFAULT_TABLE`], `sessions`), in the
    /// schema on PostgreSQL and in the connection's database on MySQL. See
    /// [table names](crate#table-names) for what is accepted.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// The deadline on each store call: waiting for a pooled connection
    /// plus running the statement or statements (default
    /// [`DEFAULT_TIMEOUT`], 1 s). Past it the call fails with
    /// [`Error::Timeout`] and the session layer answers 503.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Turns the [near cache](crate#near-cache-postgresql) on, with
    /// `config`'s limits: recently used records are kept in this process's
    /// memory and kept coherent by PostgreSQL's `LISTEN`/`NOTIFY`. Off by
    /// default; PostgreSQL only ([`build`](Self::build) refuses it on SQLite
    /// and MySQL/MariaDB).
    pub fn near_cache(mut self, config: NearCacheConfig) -> Self {
        self.near_cache = Some(config);
        self
    }

    /// Validates the settings and builds the store. Nothing is sent to the
    /// database, except by the near cache's feed, which `build` starts as a
    /// task when the cache is on (the cache is bypassed until the feed
    /// listens).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming `table` (or `schema`) when a name is not a
    /// plain SQL identifier of at most [`MAX_NAME_LEN`](crate::MAX_NAME_LEN)
    /// characters, or starts with a prefix the database reserves (`pg_` for
    /// a PostgreSQL schema, `sqlite_` for a SQLite table); naming `timeout`
    /// when the timeout is zero; naming `near_cache` when the cache's limits
    /// make no sense, the backend cannot keep it coherent (SQLite,
    /// MySQL/MariaDB), or `build` runs outside a tokio runtime with the
    /// cache on.
    pub fn build(self) -> Result<SqlStore<DB>, Error> {
        check_timeout("timeout", self.timeout)?;
        validate("table", &self.table)?;
        if let Some(schema) = &self.schema {
            validate("schema", schema)?;
        }
        DB::check_names(&self.table, self.schema.as_deref())?;
        let names = Names::new::<DB>(self.schema, self.table);
        let (near, announcer) = match self.near_cache {
            Some(config) => {
                let cache = NearCache::new(config, DB::LABEL)?;
                let announcer = DB::start_feed(&self.pool, &names, cache.invalidations())?;
                (Some(cache), Some(announcer))
            }
            None => (None, None),
        };
        let batcher = DB::start_batcher(&self.pool, &names);
        let inner = Inner {
            sql: Statements::new::<DB>(&names.qualified),
            timeout: self.timeout,
            names,
            near,
            announcer,
            batcher,
        };
        Ok(SqlStore {
            pool: self.pool,
            inner: Arc::new(inner),
            cleanup: None,
        })
    }
}

impl<DB: Dialect> SqlStore<DB> {
    /// A store on `pool` with the default names (`sessions`, in the
    /// `public` schema on PostgreSQL).
    pub fn new(pool: Pool<DB>) -> Self {
        Self::builder(pool)
            .build()
            .expect("the default names are valid")
    }

    /// A builder to set the table name (and schema), and the deadline.
    pub fn builder(pool: Pool<DB>) -> SqlStoreBuilder<DB> {
        SqlStoreBuilder {
            pool,
            schema: DB::DEFAULT_SCHEMA.map(str::to_owned),
            table: DEFAULT_TABLE.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            near_cache: None,
        }
    }

    /// Connects to `url` (with any of the
    /// [URL parameters](crate#url-parameters)) as
    /// [`connect_pool`](Self::connect_pool) does and returns a store with
    /// the default names on it, holding a cleanup task that removes expired
    /// rows every `cleanup_interval` (default 5 min; `off` for none) until
    /// the store and its clones are dropped.
    ///
    /// ```no_run
    /// # #[cfg(feature = "postgres")]
    /// # #[tokio::main] async fn main() -> Result<(), session_core::Error> {
    /// let url = std::env::var("DATABASE_URL").expect("set DATABASE_URL");
    /// // e.g. postgres://app@db/app?sslmode=verify-full&max_connections=20&timeout=2s
    /// let store = session_sqlx::PostgresStore::connect(&url).await?;
    /// store.migrate().await?;
    /// # Ok(()) }
    /// # #[cfg(not(feature = "postgres"))] fn main() {}
    /// ```
    ///
    /// ```no_run
    /// # #[cfg(feature = "mysql")]
    /// # #[tokio::main] async fn main() -> Result<(), session_core::Error> {
    /// let url = std::env::var("MYSQL_URL").expect("set MYSQL_URL");
    /// // e.g. mysql://app@db/app?ssl-mode=VERIFY_IDENTITY&max_connections=20
    /// let store = session_sqlx::MySqlStore::connect(&url).await?;
    /// store.migrate().await?;
    /// # Ok(()) }
    /// # #[cfg(not(feature = "mysql"))] fn main() {}
    /// ```
    ///
    /// ```no_run
    /// # #[cfg(feature = "sqlite")]
    /// # #[tokio::main] async fn main() -> Result<(), session_core::Error> {
    /// let store = session_sqlx::SqliteStore::connect("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// # Ok(()) }
    /// # #[cfg(not(feature = "sqlite"))] fn main() {}
    /// ```
    ///
    /// # Errors
    ///
    /// As [`connect_pool`](Self::connect_pool).
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let (pool, settings) = crate::pool::open::<DB>(url, false).await?;
        let mut builder = Self::builder(pool).timeout(settings.timeout);
        if settings.near_cache {
            builder = builder.near_cache(NearCacheConfig::new());
        }
        let store = builder.build()?;
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
    /// The URL is `postgres://user:password@host:port/database`,
    /// `mysql://…` (or `mariadb://…`), or `sqlite://path/to/file.db`
    /// (add `?mode=rwc` to create a missing file) or `sqlite::memory:`. On
    /// SQLite:
    ///
    /// * a file database runs in WAL mode with `synchronous=NORMAL` and a
    ///   5 s busy timeout, so readers never wait for the writer;
    /// * an in-memory database (`sqlite::memory:`, or a URL with
    ///   `mode=memory`) lives only as long as one of its connections does,
    ///   so the pool keeps exactly one connection open for its whole life
    ///   (whatever `max_connections` says).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] (field `url`) for a URL that does not parse, a
    /// parameter that is not known or not valid, or `cleanup_interval`
    /// (which only [`connect`](Self::connect) reads); otherwise
    /// [`Error::Backend`] whose source is a
    /// [`ConnectError`](crate::ConnectError) explaining the failure (for
    /// example that the database, or the SQLite file, does not exist),
    /// itself carrying the driver's error as its source.
    pub async fn connect_pool(url: &str) -> Result<Pool<DB>, Error> {
        let (pool, _) = crate::pool::open::<DB>(url, true).await?;
        Ok(pool)
    }

    /// The pool the store runs on.
    pub fn pool(&self) -> &Pool<DB> {
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
    /// holds a lock for the table while it applies each version not yet
    /// recorded in `<table>_migrations` (see [migrations](crate#migrations)):
    ///
    /// * PostgreSQL: one transaction holding `pg_advisory_xact_lock` on a
    ///   key derived from the schema and table names; it also creates the
    ///   schema if it is missing. Nothing is applied when a statement fails.
    /// * SQLite: one `BEGIN IMMEDIATE` transaction, which takes SQLite's
    ///   write lock up front (waiting up to the busy timeout for it).
    ///   Nothing is applied when a statement fails.
    /// * MySQL/MariaDB: the named lock `GET_LOCK('session_sqlx:<table>')`
    ///   (waiting up to 60 s for another instance's migration) on a
    ///   connection of its own. MySQL commits DDL at once, so each applied
    ///   version is recorded right after its statements, and a step whose
    ///   column or index is already there (left by a run that stopped
    ///   half-way) counts as done.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] when a statement fails (for example for lack of
    /// the privilege to create the table or schema, a read-only SQLite
    /// database, or SQLite's write lock not free within the busy timeout);
    /// [`Error::Timeout`] when MySQL's lock stays taken for 60 s.
    pub async fn migrate(&self) -> Result<(), Error> {
        DB::migrate(&self.pool, &self.inner.names).await
    }

    /// Starts a background task that runs
    /// [`delete_expired`](session_core::SessionStore::delete_expired) every
    /// `interval` (the first run one interval from now; a zero interval
    /// counts as 1 ms) and logs failures with `tracing`. The task stops
    /// when the returned handle is dropped or shut down.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tokio runtime.
    pub fn spawn_cleanup(&self, interval: Duration) -> CleanupHandle {
        let detached = Self {
            pool: self.pool.clone(),
            inner: Arc::clone(&self.inner),
            // The task's own clone must not hold the task alive.
            cleanup: None,
        };
        crate::cleanup::spawn(detached, interval)
    }

    /// This store with a cleanup task of its own, as
    /// [`spawn_cleanup`](Self::spawn_cleanup) starts, held by the store: it
    /// stops when the store and the last of its clones are dropped.
    /// `connect` calls this (see [URL parameters](crate#url-parameters)). A
    /// task already held is replaced.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tokio runtime.
    #[must_use]
    pub fn with_cleanup(mut self, interval: Duration) -> Self {
        self.cleanup = Some(Arc::new(self.spawn_cleanup(interval)));
        self
    }

    /// `true` when this store holds a cleanup task (see
    /// [`with_cleanup`](Self::with_cleanup)) that is still running.
    pub fn runs_cleanup(&self) -> bool {
        self.cleanup.as_ref().is_some_and(|c| !c.is_finished())
    }

    /// The deadline on each store call (see
    /// [`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT)).
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The [near cache](crate#near-cache-postgresql), when it is on: its
    /// [`stats`](NearCache::stats) tell hits, misses and whether it is
    /// coherent now.
    pub fn near_cache(&self) -> Option<&NearCache> {
        self.inner.near.as_ref()
    }
}
