//! The `SessionStore` implementation shared by the PostgreSQL and SQLite
//! stores: the same calls in the same order, over statements each backend
//! prepared in its own dialect (`Inner`). MySQL differs (deadlock retries,
//! a three-step create) and keeps its own. The helpers all three share
//! (`spawn_cleanup`, `why_not_saved`, `fail`) come from `impl_store_helpers`.

/// Implements `spawn_cleanup`, `why_not_saved` and `fail` for a store type
/// with `pool` and `inner` (`live`, `names`, `timeout`); `$name` is
/// the field of `inner.names` that error messages show, and the calling
/// module provides `is_missing_table`.
macro_rules! impl_store_helpers {
    ($store:ty, $name:ident) => {
        impl $store {
            /// Starts a background task that runs
            /// [`delete_expired`](SessionStore::delete_expired) every `interval`
            /// (the first run one interval from now; a zero interval counts as
            /// 1 ms) and logs failures with `tracing`. The task stops when the
            /// returned handle is dropped or shut down.
            ///
            /// # Panics
            ///
            /// Panics when called outside a tokio runtime.
            pub fn spawn_cleanup(&self, interval: Duration) -> $crate::CleanupHandle {
                $crate::cleanup::spawn(self.detached(), interval)
            }

            /// This store with a cleanup task of its own, as
            /// [`spawn_cleanup`](Self::spawn_cleanup) starts, held by the
            /// store: it stops when the store and the last of its clones are
            /// dropped. `connect` calls this (see
            /// [URL parameters](crate#url-parameters)). A task already held
            /// is replaced.
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

            /// A clone without the cleanup task, for the task itself (which
            /// would otherwise keep itself alive).
            fn detached(&self) -> Self {
                Self {
                    pool: self.pool.clone(),
                    inner: Arc::clone(&self.inner),
                    cleanup: None,
                }
            }

            /// Tells why a versioned save wrote nothing: a live record means
            /// another version is stored (`VersionConflict`), none means
            /// `Vanished`. (The write itself was the atomic `UPDATE`; this
            /// only names the outcome.)
            async fn why_not_saved(&self, key: &str) -> Error {
                let live = sqlx::query(AssertSqlSafe(Arc::clone(&self.inner.live)))
                    .bind(key)
                    .bind($crate::row::now_ms())
                    .fetch_optional(&self.pool)
                    .await;
                match live {
                    Ok(Some(_)) => Error::VersionConflict,
                    Ok(None) => Error::Vanished,
                    Err(e) => self.fail(e),
                }
            }

            fn fail(&self, e: sqlx::Error) -> Error {
                $crate::error::query_error(
                    e,
                    &self.inner.names.$name,
                    self.inner.timeout,
                    is_missing_table,
                )
            }
        }
    };
}

pub(crate) use impl_store_helpers;

/// Implements `SessionStore` for a store type with `pool`, `inner` (the
/// prepared statements) and `fail` (error mapping), using the items the
/// calling module has in scope.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
macro_rules! impl_session_store {
    ($store:ty) => {
        #[async_trait]
        impl SessionStore for $store {
            async fn create(&self, record: &Record) -> Result<(), Error> {
                crate::deadline::bounded(self.inner.timeout, async {
                    let c = row::columns(record)?;
                    let done = sqlx::query(AssertSqlSafe(Arc::clone(&self.inner.create)))
                        .bind(c.key)
                        .bind(c.data)
                        .bind(c.expires_at)
                        .bind(c.created_at)
                        .bind(c.version)
                        .bind(c.user)
                        .bind(row::now_ms())
                        .execute(&self.pool)
                        .await
                        .map_err(|e| self.fail(e))?;
                    if done.rows_affected() == 0 {
                        return Err(Error::Conflict);
                    }
                    Ok(())
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

            async fn save(&self, record: &Record) -> Result<(), Error> {
                crate::deadline::bounded(self.inner.timeout, async {
                    let c = row::columns(record)?;
                    let expected = row::version(record.version.wrapping_sub(1));
                    let done = sqlx::query(AssertSqlSafe(Arc::clone(&self.inner.save)))
                        .bind(c.data)
                        .bind(c.expires_at)
                        .bind(c.version)
                        .bind(c.user)
                        .bind(&c.key)
                        .bind(row::now_ms())
                        .bind(expected)
                        .execute(&self.pool)
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
                    sqlx::query(AssertSqlSafe(Arc::clone(&self.inner.delete)))
                        .bind(id.storage_key())
                        .execute(&self.pool)
                        .await
                        .map_err(|e| self.fail(e))?;
                    Ok(())
                })
                .await
            }

            async fn touch(&self, id: &SessionId, expires_at: SystemTime) -> Result<(), Error> {
                crate::deadline::bounded(self.inner.timeout, async {
                    let done = sqlx::query(AssertSqlSafe(Arc::clone(&self.inner.touch)))
                        .bind(row::ms(expires_at))
                        .bind(id.storage_key())
                        .bind(row::now_ms())
                        .execute(&self.pool)
                        .await
                        .map_err(|e| self.fail(e))?;
                    if done.rows_affected() == 0 {
                        return Err(Error::Vanished);
                    }
                    Ok(())
                })
                .await
            }

            /// Deletes in batches of [`DELETE_BATCH`](crate::DELETE_BATCH)
            /// rows, each batch bounded by the store's timeout (a large
            /// backlog may take several).
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
                        .bind(user)
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
                    let n: i64 = sqlx::query_scalar(AssertSqlSafe(Arc::clone(
                        &self.inner.count_user_sessions,
                    )))
                    .bind(user)
                    .bind(row::now_ms())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| self.fail(e))?;
                    Ok(u64::try_from(n).unwrap_or(0))
                })
                .await
            }

            /// One `DELETE … WHERE user_id = ? AND expires_at > now [AND id <> keep]`
            /// through the index. Expired rows of the user are left to the cleanup,
            /// so the count is of live sessions ended.
            async fn delete_user_sessions(
                &self,
                user: &str,
                keep: Option<&SessionId>,
            ) -> Result<u64, Error> {
                crate::deadline::bounded(self.inner.timeout, async {
                    row::check_user(user)?;
                    let query = match keep {
                        None => {
                            sqlx::query(AssertSqlSafe(Arc::clone(&self.inner.delete_user_sessions)))
                                .bind(user)
                                .bind(row::now_ms())
                        }
                        Some(keep) => sqlx::query(AssertSqlSafe(Arc::clone(
                            &self.inner.delete_user_sessions_but,
                        )))
                        .bind(user)
                        .bind(row::now_ms())
                        .bind(keep.storage_key()),
                    };
                    let done = query.execute(&self.pool).await.map_err(|e| self.fail(e))?;
                    Ok(done.rows_affected())
                })
                .await
            }
        }
    };
}

#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) use impl_session_store;
