//! The MySQL / MariaDB dialect and its store's names.

use std::time::Duration;

use session_core::Error;
use sqlx::error::DatabaseError;
use sqlx::mysql::{MySql, MySqlConnection, MySqlDatabaseError, MySqlPool, MySqlQueryResult};
use sqlx::Connection as _;

use crate::dialect::Dialect;
use crate::exec::Param;
use crate::row::MAX_USER_LEN;
use crate::sql::Names;
use crate::store::{SqlStore, SqlStoreBuilder};
use crate::url_params::Driver;

/// How long [`MySqlStore::migrate`] waits for another instance's migration.
const LOCK_WAIT_SECS: i64 = 60;

/// A [`SessionStore`](session_core::SessionStore) in a MySQL or MariaDB
/// (InnoDB) table.
///
/// Records are filed under
/// [`SessionId::storage_key`](session_core::SessionId::storage_key) in an
/// ASCII column with a binary (case-sensitive) collation, with the
/// [codec](session_core::codec) envelope in a `LONGBLOB` column and the
/// expiry in a `BIGINT` column of milliseconds since the Unix epoch. The
/// bound user, if any, is in a `VARBINARY(255)` column (compared byte for
/// byte) indexed with the expiry, for the
/// [per-user methods](crate#a-users-sessions-log-out-everywhere). Expiry is
/// compared against the application's clock. The table lives in the
/// connection's database. `create` takes up to three statements (see
/// [`SessionStore::create`](session_core::SessionStore::create) on
/// [`SqlStore`]), and a write InnoDB picks as a deadlock victim is retried.
///
/// Cloning is cheap and shares the pool. The methods are those of
/// [`SqlStore`].
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
pub type MySqlStore = SqlStore<MySql>;

/// Builder for [`MySqlStore`]: the pool plus the table name and the
/// deadline.
pub type MySqlStoreBuilder = SqlStoreBuilder<MySql>;

impl Dialect for MySql {
    const SCHEMES: &'static [&'static str] = &["mysql://", "mariadb://"];
    const LABEL: &'static str = "mysql";
    const URL_PARAMS: Driver = crate::url_params::MYSQL;
    /// `INSERT … ON DUPLICATE KEY UPDATE` cannot tell a conflict from an
    /// insert: sqlx connects with `CLIENT_FOUND_ROWS`, under which an
    /// unchanged duplicate row also counts as 1 row affected.
    const UPSERT: bool = false;
    const QUOTE: char = '`';

    fn param(_n: usize) -> String {
        "?".to_owned()
    }

    fn delete_expired(t: &str) -> String {
        format!("DELETE FROM {t} WHERE expires_at <= ? LIMIT ?")
    }

    fn create_table(n: &Names) -> Vec<String> {
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
            n.qualified, n.index
        )]
    }

    /// `VARBINARY`: users compare byte for byte (no case folding, no
    /// trailing-space padding), and 255 bytes is a limit in bytes, checked
    /// before every write (`row::check_user`). MySQL has no
    /// `ADD COLUMN IF NOT EXISTS`; a step already applied by a run that
    /// stopped between these statements counts as done
    /// ([`is_already_there`](Dialect::is_already_there)).
    fn add_user(n: &Names) -> Vec<String> {
        vec![
            format!(
                "ALTER TABLE {} ADD COLUMN user_id VARBINARY({MAX_USER_LEN}) NULL",
                n.qualified
            ),
            format!(
                "ALTER TABLE {} ADD INDEX {} (user_id, expires_at)",
                n.qualified, n.user_index
            ),
        ]
    }

    fn bookkeeping(name: &str) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {name} (version BIGINT NOT NULL PRIMARY KEY, \
             description VARCHAR(255) NOT NULL, applied_at BIGINT NOT NULL) ENGINE=InnoDB"
        )
    }

    /// The named lock `GET_LOCK('session_sqlx:<table>')`, waiting up to
    /// [`LOCK_WAIT_SECS`], on a connection of its own, closed afterwards:
    /// if this future is dropped half-way, closing the socket releases the
    /// named lock, which a pooled connection would keep. MySQL commits DDL
    /// at once, so each version is recorded right after its statements.
    async fn migrate(pool: &MySqlPool, n: &Names) -> Result<(), Error> {
        let err = |e| Error::backend(e);
        let mut conn = pool.acquire().await.map_err(err)?.detach();
        let lock = format!("session_sqlx:{}", n.table);
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
        let result = crate::migrate::apply::<Self>(&mut conn, n).await;
        release(conn, &lock).await;
        result
    }

    /// `VARBINARY`: the user's bytes.
    fn user(user: Option<&str>) -> Param<'_> {
        Param::OptBytes(user.map(str::as_bytes))
    }

    fn rows_affected(done: &MySqlQueryResult) -> u64 {
        done.rows_affected()
    }

    /// `ER_NO_SUCH_TABLE`.
    fn is_missing_table(e: &dyn DatabaseError) -> bool {
        mysql_number(e) == Some(1146)
    }

    /// `ER_BAD_DB_ERROR`.
    fn is_missing_database(e: &dyn DatabaseError) -> bool {
        mysql_number(e) == Some(1049)
    }

    /// `ER_LOCK_DEADLOCK`: InnoDB rolled the statement back whole.
    fn is_retryable(e: &dyn DatabaseError) -> bool {
        mysql_number(e) == Some(1213)
    }

    /// `ER_DUP_FIELDNAME` or `ER_DUP_KEYNAME`.
    fn is_already_there(e: &dyn DatabaseError) -> bool {
        matches!(mysql_number(e), Some(1060 | 1061))
    }
}

/// Releases the migration lock. Dropping the connection would also release
/// it; close it politely when we can.
async fn release(mut conn: MySqlConnection, lock: &str) {
    let released = sqlx::query("SELECT RELEASE_LOCK(?)")
        .bind(lock)
        .execute(&mut conn)
        .await;
    if released.is_ok() {
        let _ = conn.close().await;
    }
}

fn mysql_number(e: &dyn DatabaseError) -> Option<u16> {
    e.try_downcast_ref::<MySqlDatabaseError>()
        .map(MySqlDatabaseError::number)
}

#[cfg(test)]
mod tests;
