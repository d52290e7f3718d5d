//! The one `SessionStore` implementation, for every dialect: the same
//! calls in the same order over the statements of `sql.rs`, each call
//! bounded by the store's deadline. Where the dialects differ (how `create`
//! settles a taken ID, binding the user, which errors may be retried, which
//! mean a missing table) it asks [`Dialect`].

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use session_core::{Error, Record, SessionId, SessionInfo, SessionStore};
use sqlx::Executor;

use crate::announce::Announcer;
use crate::batch::Outcome;
use crate::deadline::{bounded, delete_in_batches};
use crate::dialect::Dialect;
use crate::exec::Param::{Bytes, Int, Text};
use crate::row::{self, Columns, DELETE_BATCH};
use crate::store::SqlStore;

/// Attempts at a statement the database rolled back to break a deadlock.
const RETRY_ATTEMPTS: u32 = 10;

impl<DB: Dialect> SqlStore<DB> {
    /// The pool, as the executor of each statement.
    fn db(&self) -> impl Executor<'_, Database = DB> {
        DB::on_pool(&self.pool)
    }

    /// Maps a driver error: a missing table names `migrate()`, a pool
    /// without a free connection in time is a timeout.
    fn fail(&self, e: sqlx::Error) -> Error {
        crate::error::query_error(
            e,
            &self.inner.names.qualified,
            self.inner.timeout,
            DB::is_missing_table,
        )
    }

    /// Runs `op` again while the dialect says its error may simply be
    /// retried (an InnoDB deadlock victim, whose statement was rolled back
    /// whole), up to [`RETRY_ATTEMPTS`]. Concurrent creates of one ID (a
    /// `DELETE` and `INSERT`s on the same key) can deadlock on MySQL, and
    /// so, more rarely, can any write meeting them or the cleanup's batch
    /// `DELETE`. Elsewhere `op` runs once.
    async fn retry<T, F, Fut>(&self, mut op: F) -> Result<T, sqlx::Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        let mut attempt = 1;
        loop {
            match op().await {
                Err(sqlx::Error::Database(e))
                    if DB::is_retryable(e.as_ref()) && attempt < RETRY_ATTEMPTS =>
                {
                    tokio::time::sleep(Duration::from_millis(u64::from(attempt))).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// The announcer, with the marked variant of a write statement, when
    /// the write may leave its announcement to it (near cache on, its
    /// connection up); `None`: the plain statement, which the table's
    /// trigger announces if there is one.
    fn announcing<'a>(
        &'a self,
        marked: &'a Option<Arc<str>>,
    ) -> Option<(&'a Announcer, &'a Arc<str>)> {
        let announcer = self.inner.announcer.as_ref().filter(|a| a.ready())?;
        Some((announcer, marked.as_ref()?))
    }

    /// One attempt at `create` with the statement `sql` (`create` or its
    /// marked variant): the upsert, or (MySQL) the `INSERT`, and on a
    /// duplicate key the `DELETE` of that ID if expired and the `INSERT`
    /// again. `Ok(false)` when a live record holds the ID.
    async fn create_once(&self, sql: &Arc<str>, c: &Columns) -> Result<bool, sqlx::Error> {
        if self.insert(sql, c).await? {
            return Ok(true);
        }
        let Some(purge) = &self.inner.sql.purge_expired_id else {
            return Ok(false);
        };
        let params = [Text(&c.key), Int(row::now_ms())];
        DB::query(purge, &params).execute(self.db()).await?;
        self.insert(sql, c).await
    }

    /// Writes the row: `Ok(false)` when the upsert wrote nothing (a live
    /// row holds the ID) or the plain `INSERT` met a duplicate key.
    async fn insert(&self, sql: &Arc<str>, c: &Columns) -> Result<bool, sqlx::Error> {
        let params = [
            Text(&c.key),
            Bytes(&c.data),
            Int(c.expires_at),
            Int(c.created_at),
            Int(c.version),
            DB::user(c.user.as_deref()),
            // The upsert replaces only a row expired by now.
            Int(row::now_ms()),
        ];
        let params = if DB::UPSERT {
            &params[..]
        } else {
            &params[..6]
        };
        match DB::query(sql, params).execute(self.db()).await {
            Ok(done) => Ok(DB::rows_affected(&done) > 0),
            Err(sqlx::Error::Database(e)) if !DB::UPSERT && e.is_unique_violation() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The rows `sql`, a per-user `SELECT`, finds for `user`'s live
    /// sessions, after checking that `user` fits the column.
    async fn of_user(&self, sql: &Arc<str>, user: &str) -> Result<Vec<DB::Row>, Error> {
        row::check_user(user)?;
        let params = [DB::user(Some(user)), Int(row::now_ms())];
        DB::query(sql, &params)
            .fetch_all(self.db())
            .await
            .map_err(|e| self.fail(e))
    }

    /// Tells why a versioned save wrote nothing: a live record means
    /// another version is stored (`VersionConflict`), none means
    /// `Vanished`. (The write itself was the atomic `UPDATE`; this only
    /// names the outcome.)
    async fn why_not_saved(&self, key: &str) -> Error {
        let live = DB::query(&self.inner.sql.live, &[Text(key), Int(row::now_ms())]);
        match live.fetch_optional(self.db()).await {
            Ok(Some(_)) => Error::VersionConflict,
            Ok(None) => Error::Vanished,
            Err(e) => self.fail(e),
        }
    }
}

#[async_trait]
impl<DB: Dialect> SessionStore for SqlStore<DB> {
    /// One atomic `INSERT … ON CONFLICT (id) DO UPDATE … WHERE expired`
    /// (PostgreSQL, SQLite). On MySQL/MariaDB, a plain `INSERT`, whose
    /// duplicate-key error means a record holds the ID; only then a
    /// `DELETE` of that ID *if expired* and the `INSERT` again: a second
    /// duplicate means a live record, so `Conflict`. Each statement is
    /// atomic and the primary key decides every race, so this is as safe
    /// as one statement; a deadlock between concurrent creates of one ID is
    /// retried. (The single-statement `INSERT … ON DUPLICATE KEY UPDATE`
    /// cannot tell a conflict from an insert there: sqlx connects with
    /// `CLIENT_FOUND_ROWS`, under which an unchanged duplicate row also
    /// counts as 1 row affected.)
    async fn create(&self, record: &Record) -> Result<(), Error> {
        match &self.inner.near {
            Some(cache) => cache.write(record, self.create_row(record)).await,
            None => self.create_row(record).await,
        }
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        match &self.inner.near {
            Some(cache) => cache.load(id, self.load_row(id)).await,
            None => self.load_row(id).await,
        }
    }

    /// `UPDATE … WHERE id = ? AND expires_at > now AND version = ?` (the
    /// version the caller loaded). On MySQL, sqlx's `CLIENT_FOUND_ROWS`
    /// makes the row count the rows matched, so a write of unchanged values
    /// still counts.
    async fn save(&self, record: &Record) -> Result<(), Error> {
        match &self.inner.near {
            Some(cache) => cache.write(record, self.save_row(record)).await,
            None => self.save_row(record).await,
        }
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        match &self.inner.near {
            Some(cache) => cache.forget(id, self.delete_row(id)).await,
            None => self.delete_row(id).await,
        }
    }

    async fn touch(&self, id: &SessionId, expires_at: SystemTime) -> Result<(), Error> {
        match &self.inner.near {
            Some(cache) => cache.forget(id, self.touch_row(id, expires_at)).await,
            None => self.touch_row(id, expires_at).await,
        }
    }

    /// Deletes in batches of [`DELETE_BATCH`](crate::DELETE_BATCH) rows,
    /// each batch bounded by the store's timeout (a large backlog may take
    /// several).
    async fn delete_expired(&self) -> Result<u64, Error> {
        let now = row::now_ms();
        delete_in_batches(self.inner.timeout, || {
            self.delete_expired_at_most(now, DELETE_BATCH)
        })
        .await
    }

    /// One batch of the cleanup's `DELETE`, at most `max` rows, within the
    /// store's deadline.
    async fn delete_expired_batch(&self, max: u32) -> Result<u64, Error> {
        bounded(
            self.inner.timeout,
            self.delete_expired_at_most(row::now_ms(), max),
        )
        .await
    }

    fn backend_name(&self) -> &'static str {
        DB::LABEL
    }

    /// One `SELECT COUNT(*) … WHERE expires_at > now`.
    async fn count_sessions(&self) -> Result<u64, Error> {
        self.count(&self.inner.sql.count_live).await
    }

    /// One `SELECT COUNT(*) … WHERE expires_at <= now`.
    async fn count_expired(&self) -> Result<u64, Error> {
        self.count(&self.inner.sql.count_expired).await
    }

    /// `true`: migration 2 added the `user_id` column and its index.
    fn indexes_users(&self) -> bool {
        true
    }

    /// One `SELECT` through the (user_id, expires_at) index. Rows whose
    /// `data` does not decode are skipped and logged (by key).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] (field `user`) for a user longer than
    /// [`MAX_USER_LEN`](crate::MAX_USER_LEN) bytes; backend errors.
    async fn user_sessions(&self, user: &str) -> Result<Vec<SessionInfo>, Error> {
        bounded(self.inner.timeout, async {
            let rows = self.of_user(&self.inner.sql.user_sessions, user).await?;
            rows.iter()
                .map(|found| {
                    let key = DB::text(found, 0).map_err(Error::backend)?;
                    let data = DB::bytes(found, 1).map_err(Error::backend)?;
                    let expires_at = DB::int(found, 2).map_err(Error::backend)?;
                    row::listed(key, &data, expires_at)
                })
                .filter_map(Result::transpose)
                .collect()
        })
        .await
    }

    /// One `SELECT COUNT(*)` through the index.
    async fn count_user_sessions(&self, user: &str) -> Result<u64, Error> {
        bounded(self.inner.timeout, async {
            let rows = self
                .of_user(&self.inner.sql.count_user_sessions, user)
                .await?;
            first_count::<DB>(&rows)
        })
        .await
    }

    /// One `DELETE … WHERE user_id = ? AND expires_at > now [AND id <> keep]`
    /// through the index (on MySQL, a deadlock victim is retried). Expired
    /// rows of the user are left to the cleanup, so the count is of live
    /// sessions ended.
    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&SessionId>,
    ) -> Result<u64, Error> {
        let keep = keep.map(SessionId::storage_key);
        self.revoke(user, keep.as_deref()).await
    }

    /// The `DELETE … AND id <> ?` of `delete_user_sessions`, by key.
    async fn delete_user_sessions_except_key(
        &self,
        user: &str,
        keep_key: &str,
    ) -> Result<u64, Error> {
        self.revoke(user, Some(keep_key)).await
    }
}

impl<DB: Dialect> SqlStore<DB> {
    /// `create` without the near cache.
    async fn create_row(&self, record: &Record) -> Result<(), Error> {
        bounded(self.inner.timeout, async {
            let c = row::columns(record)?;
            let announcing = self.announcing(&self.inner.sql.create_announced);
            let sql = announcing.map_or(&self.inner.sql.create, |(_, marked)| marked);
            match self.retry(|| self.create_once(sql, &c)).await {
                Ok(true) => {
                    if let Some((announcer, _)) = announcing {
                        announcer.written(&c.key, c.version, c.expires_at);
                    }
                    Ok(())
                }
                Ok(false) => Err(Error::Conflict),
                Err(e) => Err(self.fail(e)),
            }
        })
        .await
    }

    /// `load` without the near cache.
    async fn load_row(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        bounded(self.inner.timeout, async {
            let key = id.storage_key();
            let params = [Text(&key), Int(row::now_ms())];
            let found = DB::query(&self.inner.sql.load, &params)
                .fetch_optional(self.db())
                .await
                .map_err(|e| self.fail(e))?;
            let Some(found) = found else { return Ok(None) };
            let data = DB::bytes(&found, 0).map_err(Error::backend)?;
            let expires_at = DB::int(&found, 1).map_err(Error::backend)?;
            row::decode(id, &data, expires_at).map(Some)
        })
        .await
    }

    /// `save` without the near cache.
    async fn save_row(&self, record: &Record) -> Result<(), Error> {
        bounded(self.inner.timeout, async {
            let c = row::columns(record)?;
            let expected = row::version(record.version.wrapping_sub(1));
            let announcing = self.announcing(&self.inner.sql.save_announced);
            let batched = match &self.inner.batcher {
                Some(batcher) => {
                    batcher
                        .save(c.clone(), expected, announcing.is_some())
                        .await
                }
                None => Outcome::Alone,
            };
            let saved = match batched {
                Outcome::Saved => true,
                Outcome::NotSaved => false,
                Outcome::Alone => self.save_alone(&c, expected, announcing).await?,
            };
            if !saved {
                return Err(self.why_not_saved(&c.key).await);
            }
            if let Some((announcer, _)) = announcing {
                announcer.written(&c.key, c.version, c.expires_at);
            }
            Ok(())
        })
        .await
    }

    /// One save as a statement of its own: `true` if the row was written.
    async fn save_alone(
        &self,
        c: &Columns,
        expected: i64,
        announcing: Option<(&Announcer, &Arc<str>)>,
    ) -> Result<bool, Error> {
        let sql = announcing.map_or(&self.inner.sql.save, |(_, marked)| marked);
        let done = self
            .retry(|| {
                let params = [
                    Bytes(&c.data),
                    Int(c.expires_at),
                    Int(c.version),
                    DB::user(c.user.as_deref()),
                    Text(&c.key),
                    Int(row::now_ms()),
                    Int(expected),
                ];
                DB::query(sql, &params).execute(self.db())
            })
            .await
            .map_err(|e| self.fail(e))?;
        Ok(DB::rows_affected(&done) > 0)
    }

    /// `delete` without the near cache.
    async fn delete_row(&self, id: &SessionId) -> Result<(), Error> {
        bounded(self.inner.timeout, async {
            let key = id.storage_key();
            self.retry(|| DB::query(&self.inner.sql.delete, &[Text(&key)]).execute(self.db()))
                .await
                .map_err(|e| self.fail(e))?;
            Ok(())
        })
        .await
    }

    /// `touch` without the near cache.
    async fn touch_row(&self, id: &SessionId, expires_at: SystemTime) -> Result<(), Error> {
        bounded(self.inner.timeout, async {
            let key = id.storage_key();
            let done = self
                .retry(|| {
                    let params = [Int(row::ms(expires_at)), Text(&key), Int(row::now_ms())];
                    DB::query(&self.inner.sql.touch, &params).execute(self.db())
                })
                .await
                .map_err(|e| self.fail(e))?;
            if DB::rows_affected(&done) == 0 {
                return Err(Error::Vanished);
            }
            Ok(())
        })
        .await
    }

    /// One batch of the cleanup's `DELETE`: at most `max` rows expired at
    /// `now` (ms). `delete_expired` runs it until a batch comes back short.
    async fn delete_expired_at_most(&self, now: i64, max: u32) -> Result<u64, Error> {
        let params = [Int(now), Int(i64::from(max))];
        let sql = &self.inner.sql.delete_expired;
        self.retry(|| DB::query(sql, &params).execute(self.db()))
            .await
            .map(|done| DB::rows_affected(&done))
            .map_err(|e| self.fail(e))
    }

    /// One `SELECT COUNT(*)` whose one parameter is now, within the
    /// store's deadline.
    async fn count(&self, sql: &Arc<str>) -> Result<u64, Error> {
        bounded(self.inner.timeout, async {
            let rows = DB::query(sql, &[Int(row::now_ms())])
                .fetch_all(self.db())
                .await
                .map_err(|e| self.fail(e))?;
            first_count::<DB>(&rows)
        })
        .await
    }

    /// Ends the live sessions of `user`, but the one filed under `keep`
    /// (a storage key), if any, and drops them from the near cache.
    async fn revoke(&self, user: &str, keep: Option<&str>) -> Result<u64, Error> {
        match &self.inner.near {
            Some(cache) => {
                cache
                    .forget_user(user, keep, self.revoke_rows(user, keep))
                    .await
            }
            None => self.revoke_rows(user, keep).await,
        }
    }

    /// `revoke` without the near cache.
    async fn revoke_rows(&self, user: &str, keep: Option<&str>) -> Result<u64, Error> {
        bounded(self.inner.timeout, async {
            row::check_user(user)?;
            let (sql, bound) = match &keep {
                None => (&self.inner.sql.delete_user_sessions, 2),
                Some(_) => (&self.inner.sql.delete_user_sessions_but, 3),
            };
            let done = self
                .retry(|| {
                    let params = [
                        DB::user(Some(user)),
                        Int(row::now_ms()),
                        Text(keep.unwrap_or_default()),
                    ];
                    DB::query(sql, &params[..bound]).execute(self.db())
                })
                .await
                .map_err(|e| self.fail(e))?;
            Ok(DB::rows_affected(&done))
        })
        .await
    }
}

/// The `COUNT(*)` in the first column of the first of `rows` (0 without one).
fn first_count<DB: Dialect>(rows: &[DB::Row]) -> Result<u64, Error> {
    let n = match rows.first() {
        Some(found) => DB::int(found, 0).map_err(Error::backend)?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}
