//! What differs between PostgreSQL, SQLite and MySQL/MariaDB, behind one
//! trait that the single store implementation asks.
//!
//! [`Dialect`] is implemented for sqlx's `Postgres`, `Sqlite` and `MySql`
//! (in `postgres.rs`, `sqlite.rs`, `mysql.rs`). It is `pub` only because
//! the public store is generic over it; it lives in this private module,
//! so nothing outside the crate can name or implement it.

use std::future::Future;

use session_core::near_cache::Invalidations;
use session_core::Error;
use sqlx::error::DatabaseError;
use sqlx::pool::PoolOptions;
use sqlx::{Connection, Pool};

use crate::announce::Announcer;
use crate::batch::Batcher;
use crate::exec::{Exec, Param};
use crate::sql::Names;
use crate::url_params::Driver;

/// One SQL dialect: its SQL text, how it reads the database's errors, and
/// how it takes the migration lock.
pub trait Dialect: Exec {
    /// The URL schemes `connect` accepts (`postgres://`, …). Messages
    /// name the backend by sqlx's `Database::NAME`.
    const SCHEMES: &'static [&'static str];

    /// The store's `backend` label in metrics and spans
    /// ([`SessionStore::backend_name`](session_core::SessionStore::backend_name)).
    const LABEL: &'static str;

    /// The URL parameters the driver takes besides this crate's.
    const URL_PARAMS: Driver;

    /// The schema that holds the table unless the builder says otherwise;
    /// `None` where the store takes no schema (the connection's database).
    const DEFAULT_SCHEMA: Option<&'static str> = None;

    /// `true`: `create` is one statement that inserts, or replaces only an
    /// expired row (`ON CONFLICT … DO UPDATE … WHERE expired`), and no row
    /// written means a live row holds the ID. `false` (MySQL): a plain
    /// `INSERT`; on a duplicate key, a `DELETE` of that ID if expired and the
    /// `INSERT` again.
    const UPSERT: bool = true;

    /// Where the store can announce its own writes to near caches (see
    /// `announce.rs`): the column its announced writes set to the row's
    /// new version, so that the table's triggers, which fire only for
    /// writes that left it as it was, leave them to the store. `None`
    /// where there is no near cache.
    const ANNOUNCED: Option<&'static str> = None;

    /// The character that quotes an identifier (names are validated, so
    /// they never hold it).
    const QUOTE: char = '"';

    /// The placeholder of the `n`th parameter, from 1 (`$1`, `?1`, `?`).
    fn param(n: usize) -> String;

    /// Adjusts the driver's options and the pool's for this backend.
    fn tune(
        _url: &str,
        options: <Self::Connection as Connection>::Options,
        pool: PoolOptions<Self>,
    ) -> (<Self::Connection as Connection>::Options, PoolOptions<Self>) {
        (options, pool)
    }

    /// Rejects names the database reserves for itself (after
    /// [`validate`](crate::table::validate)).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the field.
    fn check_names(_table: &str, _schema: Option<&str>) -> Result<(), Error> {
        Ok(())
    }

    /// Deletes up to a batch of expired rows of `table`: parameter 1 is
    /// now, parameter 2 the batch size.
    fn delete_expired(table: &str) -> String;

    /// The statements of migration 1: the table and its expiry index.
    fn create_table(n: &Names) -> Vec<String>;

    /// The statements of migration 2: the `user_id` column and its index.
    fn add_user(n: &Names) -> Vec<String>;

    /// Creates the bookkeeping table `name` if it is missing.
    fn bookkeeping(name: &str) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {name} (version BIGINT NOT NULL PRIMARY KEY, \
             description TEXT NOT NULL, applied_at BIGINT NOT NULL)"
        )
    }

    /// Takes the table's migration lock, applies the pending migrations
    /// with [`crate::migrate::apply`] and lets the lock go.
    fn migrate(pool: &Pool<Self>, n: &Names) -> impl Future<Output = Result<(), Error>> + Send;

    /// The bound user, as the `user_id` column takes it.
    fn user(user: Option<&str>) -> Param<'_> {
        Param::OptText(user)
    }

    /// How many rows a statement wrote (or, on MySQL, matched).
    fn rows_affected(done: &Self::QueryResult) -> u64;

    /// The table (or its schema) does not exist: `migrate()` was not run.
    fn is_missing_table(e: &dyn DatabaseError) -> bool;

    /// The server's "database does not exist" error, at connect.
    fn is_missing_database(e: &dyn DatabaseError) -> bool;

    /// The statement was rolled back whole and may simply run again (an
    /// InnoDB deadlock victim). No retries where this is `false`.
    fn is_retryable(_e: &dyn DatabaseError) -> bool {
        false
    }

    /// A migration step's column or index exists already, left by a run
    /// that stopped half-way (where DDL commits at once).
    fn is_already_there(_e: &dyn DatabaseError) -> bool {
        false
    }

    /// Starts the task that makes the saves of a store on the table `n` in
    /// batches, if the backend can (default: no, each save is its own
    /// statement); `None` too without a tokio runtime.
    fn start_batcher(_pool: &Pool<Self>, _n: &Names) -> Option<Batcher> {
        None
    }

    /// Starts the invalidation feed of a near cache on the table `n`, and
    /// the task announcing this store's own writes on it; or says why this
    /// backend cannot keep a near cache coherent.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] (field `near_cache`): the backend has no change
    /// channel (the default), or there is no tokio runtime.
    fn start_feed(
        _pool: &Pool<Self>,
        _n: &Names,
        _feed: Invalidations,
    ) -> Result<Announcer, Error> {
        Err(Error::config(
            "near_cache",
            format!(
                "a near cache needs the database to tell every process of the others' writes, \
                 which this crate does only on PostgreSQL (LISTEN/NOTIFY); {} has no such \
                 channel: leave the near cache off",
                Self::LABEL
            ),
        ))
    }
}
