//! SQL session stores on [sqlx] 0.9: PostgreSQL, SQLite and MySQL/MariaDB.
//!
//! Each store keeps one row per session in a table of its own:
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `id` | text, primary key | [`SessionId::storage_key`](session_core::SessionId::storage_key): a hash, so a dump of the table holds no usable cookie |
//! | `data` | binary | the whole [codec](session_core::codec) envelope |
//! | `expires_at` | `BIGINT`, indexed | ms since the Unix epoch |
//! | `created_at` | `BIGINT` | ms since the Unix epoch |
//! | `version` | `BIGINT` | incremented by every save, which writes only over the version it loaded |
//! | `user_id` | text, nullable (`VARBINARY(255)` on MySQL); indexed with `expires_at` | [`Record::user`](session_core::Record::user), at most [`MAX_USER_LEN`] bytes; `NULL` for an unbound session (migration 2) |
//!
//! Indexes: the primary key; `<table>_expires_idx` on `expires_at` (for the
//! cleanup); `<table>_user_idx` on `(user_id, expires_at)` (for the per-user
//! methods; partial, `WHERE user_id IS NOT NULL`, on PostgreSQL and SQLite,
//! so unbound sessions cost it nothing).
//!
//! Every [`SessionStore`](session_core::SessionStore) method writes in one
//! atomic statement (on MySQL, `create` is up to three, each atomic, with
//! the primary key settling every race; a deadlock victim is retried).
//! `save` is versioned (`UPDATE … WHERE version = <loaded>`); when it writes
//! nothing, one more read tells `VersionConflict` from `Vanished`. Expired
//! rows are invisible to every method, filtered in SQL against the
//! application's clock, even before [`delete_expired`](session_core::SessionStore::delete_expired) or the
//! [background cleanup](CleanupHandle) removes them. Run the app servers
//! with synchronised clocks (NTP), as for any expiring credential.
//!
//! The three stores are one type, [`SqlStore`], over sqlx's driver types:
//! [`PostgresStore`] is `SqlStore<sqlx::Postgres>` (as sqlx's `PgPool` is
//! `Pool<Postgres>`), [`SqliteStore`] and [`MySqlStore`] likewise. They
//! share every method and the one `SessionStore` implementation; what
//! differs between the databases (SQL text, quoting, how `create` settles
//! a taken ID, which errors mean a missing table or may be retried, the
//! migration lock) is the crate's own business.
//!
//! # Which store?
//!
//! * **SQLite** ([`SqliteStore`], feature `sqlite`): one app server, a
//!   desktop or embedded app, tests and demos. Nothing to run, sessions
//!   survive restarts, but the file lives on one machine and SQLite has one
//!   writer at a time.
//! * **PostgreSQL** ([`PostgresStore`], feature `postgres`) or
//!   **MySQL/MariaDB** ([`MySqlStore`], feature `mysql`): several app
//!   servers sharing sessions, when the app already runs that database and
//!   wants sessions in its backups, transactions-grade durability and no
//!   extra service to operate. Each request costs a round trip to the
//!   database, and expired rows need the cleanup task.
//! * **Redis** (the `session-redis` crate): many app servers and high
//!   request rates, when sessions may be lost with the cache; Redis expires
//!   keys itself, so no cleanup task is needed.
//!
//! # A user's sessions: log out everywhere
//!
//! The stores keep a per-user index ([`indexes_users`] is `true`): `create`
//! and `save` write [`Record::user`](session_core::Record::user) to
//! `user_id` (so a save that re-binds or unbinds the session moves it in
//! the index) and `touch` leaves it. Each per-user method is one statement
//! that finds its rows through `<table>_user_idx`, never by a scan (the
//! tests check the plans with `EXPLAIN` on 1,000 users × 3 sessions):
//!
//! | method | statement |
//! |---|---|
//! | [`user_sessions`] | `SELECT id, data, expires_at … WHERE user_id = ? AND expires_at > now` |
//! | [`count_user_sessions`] | `SELECT COUNT(*) … WHERE user_id = ? AND expires_at > now` |
//! | [`delete_user_sessions`] | `DELETE … WHERE user_id = ? AND expires_at > now [AND id <> keep]` |
//!
//! Sessions are listed by their storage key with the data and times of the
//! envelope (expiry from the column), never by their ID.
//! `delete_user_sessions` ends the user's *live* sessions and returns how
//! many it ended; rows already expired are invisible anyway and left to the
//! cleanup.
//!
//! A user is at most [`MAX_USER_LEN`] (255) bytes of UTF-8 and is compared
//! byte for byte (case, accents and trailing spaces count). A longer one (or
//! one holding a NUL character) is an [`Error::Config`] on the field `user`
//! from every method, before anything is written: bind a stable ID, or hash
//! a longer identity yourself. Sessions written before migration 2 have no
//! `user_id` (the user is in the envelope only); they join the index at
//! their next save, or expire.
//!
//! [`indexes_users`]: session_core::SessionStore::indexes_users
//! [`user_sessions`]: session_core::SessionStore::user_sessions
//! [`count_user_sessions`]: session_core::SessionStore::count_user_sessions
//! [`delete_user_sessions`]: session_core::SessionStore::delete_user_sessions
//!
//! # Start-up
//!
//! ```no_run
//! # #[cfg(feature = "postgres")]
//! # async fn run() -> Result<(), session_core::Error> {
//! use session_sqlx::PostgresStore;
//!
//! // e.g. postgres://app:pw@db/app?sslmode=verify-full&max_connections=20&timeout=2s
//! let url = std::env::var("DATABASE_URL").expect("set DATABASE_URL");
//! let store = PostgresStore::connect(&url).await?; // with its cleanup task
//! store.migrate().await?; // once, before serving; safe on every instance
//! // ... hand `store` to the session layer and serve; dropping the store
//! // (and its clones) stops the cleanup ...
//! # Ok(()) }
//! ```
//!
//! Build a store from a pool of your own with `PostgresStore::builder(pool)`
//! (and the same on the other backends) to set the table name, the schema on
//! PostgreSQL and the [deadline](#a-deadline-on-every-call); start the
//! cleanup with `spawn_cleanup(interval)` (a handle you keep) or
//! `with_cleanup(interval)` (held by the store). The driver is re-exported
//! as [`sqlx`], so the pool types match.
//!
//! # A deadline on every call
//!
//! Every store call (waiting for a pooled connection, plus the statement or
//! statements it runs) is bounded by one timeout, [`DEFAULT_TIMEOUT`] (1 s,
//! the Redis store's command timeout) unless set by the builder's
//! `timeout(…)` or the URL's `timeout=`. Past it the call fails with
//! [`Error::Timeout`](session_core::Error::Timeout), which the session layer
//! answers with 503: a database that is down or stuck costs a request at
//! most the timeout, never a hang. `delete_expired` bounds each batch of
//! [`DELETE_BATCH`] rows.
//!
//! # URL parameters
//!
//! `connect` and `connect_pool` read these query parameters and remove
//! them before the URL goes to sqlx; every other parameter must be one the
//! driver knows (`sslmode`, `sslrootcert`, `ssl-mode`, `ssl-ca`, …), so a
//! misspelt one is an [`Error::Config`] naming the accepted ones rather
//! than being ignored.
//!
//! | parameter | meaning | default |
//! |---|---|---|
//! | `max_connections` | the most pooled connections | [`DEFAULT_MAX_CONNECTIONS`] (10) |
//! | `timeout` | the deadline on every store call, and the pool's acquire timeout | [`DEFAULT_TIMEOUT`] (1 s) |
//! | `connect_timeout` | the deadline on the first connection at start-up | [`DEFAULT_CONNECT_TIMEOUT`] (5 s) |
//! | `cleanup_interval` | how often the store `connect` returns removes expired rows; `off` for never (`connect` only) | [`DEFAULT_CLEANUP_INTERVAL`] (5 min) |
//! | `near_cache` | `on` turns the [near cache](#near-cache-postgresql) on with its default limits (`connect` only, PostgreSQL only) | `off` |
//!
//! Durations take a unit: `250ms`, `2s`, `5m`, `1h`. For example
//! `postgres://app@db/app?max_connections=20&timeout=2s&cleanup_interval=1m`.
//!
//! # TLS
//!
//! With the `tls` feature, PostgreSQL and MySQL/MariaDB connections honour
//! every `sslmode=` (`disable`, `prefer`, `require`, `verify-ca`,
//! `verify-full`) and `ssl-mode=` (`DISABLED`, `PREFERRED`, `REQUIRED`,
//! `VERIFY_CA`, `VERIFY_IDENTITY`) of the URL, through sqlx's rustls
//! support with the ring provider: no OpenSSL. Trusted CAs are the
//! platform's (rustls-native-certs, which also reads `SSL_CERT_FILE` and
//! `SSL_CERT_DIR`) plus the one named by `sslrootcert=` / `ssl-ca=` (or
//! `PgConnectOptions::ssl_root_cert` and the like, for a pool built in
//! code). A wrong CA, a certificate for another host, TLS asked of a server
//! without it, or TLS asked of a build without the feature fails at connect
//! with a [`ConnectError`] naming the URL (password masked) and the fix.
//! Use `verify-full` / `VERIFY_IDENTITY` on any network you do not own:
//! `prefer`, the default, does not check the certificate.
//!
//! # Migrations
//!
//! [`migrate`](SqlStore::migrate) creates or upgrades the table. The
//! migrations are embedded in this crate, versioned, idempotent and safe
//! when several instances run them at once; applied versions are recorded in
//! `<table>_migrations`. A store
//! used before its table exists fails with an [`Error::Config`] saying to
//! call `migrate()`.
//!
//! | version | what it does |
//! |---|---|
//! | 1 | creates the table and `<table>_expires_idx` |
//! | 2 | adds the nullable `user_id` column and `<table>_user_idx` on `(user_id, expires_at)` |
//!
//! Upgrading a version-1 table keeps its rows. Adding the column is a
//! catalog change; building the index reads the table once. On PostgreSQL
//! that build holds writes to the table until it ends (it runs in the
//! migration's transaction, so not `CONCURRENTLY`); for a very large table,
//! add the column and build the index first by hand, `CREATE INDEX
//! CONCURRENTLY "<table>_user_idx" ON … (user_id, expires_at) WHERE user_id
//! IS NOT NULL`, and `migrate()` finds them in place. MySQL/MariaDB build
//! it online; on SQLite it holds the write lock while it runs.
//!
//! # Batched saves (PostgreSQL)
//!
//! A PostgreSQL store built inside a tokio runtime sends its saves through a
//! task that sends every save queued while its previous statement ran as
//! one `UPDATE … FROM unnest(…) RETURNING id`: each row keeps its own
//! version check, and each save its own answer (saved, or told apart as a
//! conflict or a vanished record as before). Under load one statement
//! carries many saves; when saves are few, each goes alone at once. A batch
//! the database refuses as a whole changed nothing and is saved row by row.
//! MySQL/MariaDB and SQLite save row by row.
//!
//! # Near cache (PostgreSQL)
//!
//! Off by default. `PostgresStore::builder(pool).near_cache(NearCacheConfig::new())`
//! (or `near_cache=on` in the URL `connect` reads) keeps recently used
//! records in this process's memory ([`session_core::near_cache`]: bounded
//! in entries and bytes, a record past its expiry never served, hit, miss
//! and eviction counters in [`SqlStore::near_cache`]'s `stats()`), so that
//! a load of a session this process has seen lately costs no round trip.
//! SQLite and MySQL/MariaDB refuse it with an [`Error::Config`]: neither can
//! tell one process about another's writes.
//!
//! Coherence comes from PostgreSQL's `LISTEN`/`NOTIFY`:
//!
//! * The first store that turns the cache on installs triggers on the
//!   table, `<table>_near_cache` (updates), `<table>_near_cache_i`
//!   (inserts), `<table>_near_cache_d` (deletes) and `<table>_near_cache_t`
//!   (`TRUNCATE`), with the function `<table>_near_cache()` in the
//!   table's schema, which send each change, whoever makes it, on the
//!   channel `session_sqlx:<schema>.<table>`: the key with the new version
//!   and expiry, or the deleted key; and a nullable, unindexed `BIGINT`
//!   column `announced` (a catalog change only). `migrate()` does not
//!   install them, so a table whose stores all leave the cache off pays
//!   nothing; once installed, every write to the table (by any process,
//!   cache on or off, or the `keycard` CLI) is announced. The store's user
//!   needs the right to alter the table (its owner, as for `migrate()`).
//!   To remove them once no process uses the cache: `DROP TRIGGER
//!   "<table>_near_cache" ON …;` (likewise `…_i`, `…_d` and `…_t`), `DROP
//!   FUNCTION "<table>_near_cache"()` and `ALTER TABLE … DROP COLUMN
//!   announced`.
//! * A store with the cache on announces its own creates and saves itself,
//!   and marks them by setting `announced` to the row's new version; the
//!   insert and update triggers fire only for writes that left that column
//!   as it was, so they stay silent for these. PostgreSQL serialises the
//!   commits of all transactions that sent a `NOTIFY`, so a notification
//!   inside every save would make the saves wait for each other's commits.
//!   The store's announcements go, once the write has committed, to a task
//!   that sends whatever has queued as one statement (the messages packed,
//!   one per line, into as few notifications as fit) on a connection of
//!   its own, with `synchronous_commit` off. While that connection is down
//!   the store's writes go unmarked (the trigger announces them); a batch
//!   that failed is replaced by a flush of every process's cache once the
//!   task has reconnected. Should the writing process die between its
//!   commit and the announcement, other processes serve the old record for
//!   at most `max_staleness`.
//! * Each store with the cache on runs a task that listens on that channel
//!   on a connection of its own (opened with the pool's connect options, so
//!   TLS and `application_name` apply) and drops each changed record from
//!   its cache, except this process's own writes, which it keeps (their
//!   version and expiry match what it cached), so a read-modify-write hits
//!   on its next read. A change made elsewhere is seen here once its
//!   announcement arrives: about a millisecond after the writer's commit.
//! * The same task sends a heartbeat `NOTIFY` every 250 ms (through the
//!   announcer, or the pool while the announcer is down) and waits for it on
//!   its listener. Until the first one comes back the cache is bypassed
//!   (every call goes to the database); when the listener's connection is
//!   lost, or a heartbeat is not back within 1 s (the channel lags), the
//!   cache is flushed and bypassed until a heartbeat comes back again. So a
//!   record changed elsewhere is served stale for at most the notification's
//!   delay in normal operation, about 1 s (plus the heartbeat interval)
//!   should the channel stall unnoticed by the connection, and never longer
//!   than
//!   [`NearCacheConfig::max_staleness`](session_core::near_cache::NearCacheConfig::max_staleness)
//!   (5 s by default) in any case.
//! * A versioned save over a stale cached record fails with
//!   `VersionConflict` at the database, which drops the entry, so the
//!   session layer's retry reloads it.
//!
//! # Table names
//!
//! Table (and PostgreSQL schema) names are spliced into SQL, so only plain
//! identifiers are accepted: `^[A-Za-z_][A-Za-z0-9_]*$`, at most
//! [`MAX_NAME_LEN`] characters. Anything else, such as a name with SQL in
//! it, is an [`Error::Config`] naming the `table` or `schema` field. Names
//! are quoted in every statement, so they keep their case.
//!
//! [`Error::Config`]: session_core::Error::Config

// The overview links every store; with only some backends built, some of
// those links have nothing to point at.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    not(all(feature = "postgres", feature = "sqlite", feature = "mysql")),
    allow(rustdoc::broken_intra_doc_links)
)]

#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod announce;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod batch;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod cleanup;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod deadline;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod dialect;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod error;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod exec;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod migrate;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod pool;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod row;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod session_store;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod store;
mod table;
#[cfg(all(test, any(feature = "postgres", feature = "sqlite", feature = "mysql")))]
mod test_util;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod url_params;

pub use sqlx;

#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql")))
)]
pub use cleanup::CleanupHandle;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql")))
)]
pub use deadline::DEFAULT_TIMEOUT;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql")))
)]
pub use error::ConnectError;
#[cfg(feature = "mysql")]
#[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
pub use mysql::{MySqlStore, MySqlStoreBuilder};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{PostgresStore, PostgresStoreBuilder, DEFAULT_SCHEMA};
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql")))
)]
pub use row::{DELETE_BATCH, MAX_USER_LEN};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::{SqliteStore, SqliteStoreBuilder};
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql")))
)]
pub use store::{SqlStore, SqlStoreBuilder};
pub use table::{DEFAULT_TABLE, MAX_NAME_LEN};
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql")))
)]
pub use url_params::{DEFAULT_CLEANUP_INTERVAL, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_CONNECTIONS};
