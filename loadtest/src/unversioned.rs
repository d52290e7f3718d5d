//! `--versions off` (issue 8): ours with the version check taken out of
//! `save`, to measure what the check costs against the same build.
//!
//! Every method but `save` is the real store's. `save` writes without
//! comparing versions, the way an unversioned store does (and the peers'
//! stores do): on Redis a plain `SET key value PXAT … XX` instead of the
//! save script; on PostgreSQL the store's own `UPDATE` without its
//! `AND version = $n`. The layer is unchanged (it still records changes and
//! would retry on a conflict, which never comes). Sessions must not be
//! bound to a user (`--index off`): this save keeps no per-user index.
//! Memory has nothing to take out: its check is one integer compare under
//! the entry's lock, which `save` takes anyway.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use session_cookie::core::{async_trait, codec, Error, Record, SessionId};
use session_cookie::redis::aio::ConnectionManager;
use session_cookie::sqlx::PgPool;
use session_cookie::{PostgresStore, RedisStore, SessionStore};

/// How `save` writes without a version check.
enum Write {
    Redis(RedisStore, ConnectionManager),
    Postgres(PgPool, String),
}

/// A store whose `save` does not check versions.
pub struct Unversioned {
    inner: Arc<dyn SessionStore>,
    write: Write,
}

impl std::fmt::Debug for Unversioned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unversioned").finish_non_exhaustive()
    }
}

fn ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Unversioned {
    pub async fn redis(store: RedisStore, url: &str) -> Result<Self, crate::BoxError> {
        let client = session_cookie::redis::Client::open(url)?;
        let conn = ConnectionManager::new(client).await?;
        Ok(Self {
            inner: Arc::new(store.clone()),
            write: Write::Redis(store, conn),
        })
    }

    pub fn postgres(store: PostgresStore) -> Self {
        let sql = format!(
            "UPDATE {}.{} SET data = $1, expires_at = $2, version = $3, user_id = $4 \
             WHERE id = $5 AND expires_at > $6",
            store.schema(),
            store.table()
        );
        Self {
            write: Write::Postgres(store.pool().clone(), sql),
            inner: Arc::new(store),
        }
    }
}

#[async_trait]
impl SessionStore for Unversioned {
    async fn create(&self, record: &Record) -> Result<(), Error> {
        self.inner.create(record).await
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        self.inner.load(id).await
    }

    async fn save(&self, record: &Record) -> Result<(), Error> {
        if record.user.is_some() {
            return Err(Error::backend(
                "--versions off keeps no per-user index: run with --index off",
            ));
        }
        let bytes = codec::encode(record)?;
        let written = match &self.write {
            Write::Redis(store, conn) => {
                let mut conn = conn.clone();
                let reply: Option<String> = session_cookie::redis::cmd("SET")
                    .arg(store.redis_key(&record.id))
                    .arg(bytes)
                    .arg("PXAT")
                    .arg(record.expires_at_ms().saturating_sub(1).max(1))
                    .arg("XX")
                    .query_async(&mut conn)
                    .await
                    .map_err(Error::backend)?;
                reply.is_some()
            }
            Write::Postgres(pool, sql) => {
                let done =
                    session_cookie::sqlx::query(session_cookie::sqlx::AssertSqlSafe(sql.as_str()))
                        .bind(bytes)
                        .bind(ms(record.expires_at))
                        .bind(i64::try_from(record.version).unwrap_or(i64::MAX))
                        .bind(None::<String>)
                        .bind(record.id.storage_key())
                        .bind(ms(SystemTime::now()))
                        .execute(pool)
                        .await
                        .map_err(Error::backend)?;
                done.rows_affected() == 1
            }
        };
        if written {
            Ok(())
        } else {
            Err(Error::Vanished)
        }
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.inner.delete(id).await
    }

    async fn touch(&self, id: &SessionId, expires_at: SystemTime) -> Result<(), Error> {
        self.inner.touch(id, expires_at).await
    }

    async fn delete_expired(&self) -> Result<u64, Error> {
        self.inner.delete_expired().await
    }
}
