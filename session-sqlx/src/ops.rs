//! What operators need of a SQL store (`keycard count`, `keycard
//! purge-expired`): counting live and expired rows, and one batch of the
//! cleanup's `DELETE` at a time, and revoking a user's sessions but one
//! named by storage key. The `SessionStore` methods `backend_name`,
//! `count_sessions`, `count_expired`, `delete_expired_batch` and
//! `delete_user_sessions_except_key` of each store call these.

/// Runs `op` once: the deadlock retry of stores that need none.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) async fn once<T, F, Fut>(mut op: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    op().await
}

/// Implements `BACKEND_LABEL`, `count_rows`, `revoke_except_key` and
/// `delete_expired_at_most` for a store type with `pool`, `inner`
/// (`names.$name`, `timeout`, `delete_expired`, whose parameters are now
/// and a row limit, and `delete_user_sessions_but`: user, now, kept key)
/// and `fail`;
/// `$placeholder` is the dialect's first bind parameter, `$retry` runs
/// a statement (retrying deadlocks where the backend has them) and `$user`
/// makes the bind value of a user (bytes for MySQL's `VARBINARY`).
macro_rules! impl_operator_helpers {
    ($store:ty, $label:literal, $name:ident, $placeholder:literal, $retry:path, $user:path) => {
        impl $store {
            /// The `backend` label of the store's metrics and spans.
            const BACKEND_LABEL: &'static str = $label;

            /// One `SELECT COUNT(*)` of the live (`live`) or expired rows,
            /// through the expiry index, within the store's deadline.
            async fn count_rows(&self, live: bool) -> Result<u64, Error> {
                let op = if live { ">" } else { "<=" };
                let sql = format!(
                    "SELECT COUNT(*) FROM {} WHERE expires_at {op} {}",
                    self.inner.names.$name, $placeholder
                );
                let count = sqlx::query_scalar(AssertSqlSafe(sql))
                    .bind(row::now_ms())
                    .fetch_one(&self.pool);
                let n: i64 = crate::deadline::bounded(self.inner.timeout, async {
                    count.await.map_err(|e| self.fail(e))
                })
                .await?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            /// `delete_user_sessions` keeping the session filed under
            /// `keep_key`: the same `DELETE … AND id <> ?`.
            async fn revoke_except_key(&self, user: &str, keep_key: &str) -> Result<u64, Error> {
                crate::deadline::bounded(self.inner.timeout, async {
                    row::check_user(user)?;
                    $retry(|| {
                        sqlx::query(AssertSqlSafe(Arc::clone(
                            &self.inner.delete_user_sessions_but,
                        )))
                        .bind($user(user))
                        .bind(row::now_ms())
                        .bind(keep_key)
                        .execute(&self.pool)
                    })
                    .await
                    .map(|done| done.rows_affected())
                    .map_err(|e| self.fail(e))
                })
                .await
            }

            /// One batch of the cleanup's `DELETE`: at most `max` rows
            /// expired at `now` (ms), within the store's deadline.
            /// `delete_expired` runs it until a batch comes back short.
            async fn delete_expired_at_most(&self, now: i64, max: u32) -> Result<u64, Error> {
                crate::deadline::bounded(self.inner.timeout, async {
                    $retry(|| {
                        sqlx::query(AssertSqlSafe(Arc::clone(&self.inner.delete_expired)))
                            .bind(now)
                            .bind(i64::from(max))
                            .execute(&self.pool)
                    })
                    .await
                    .map(|done| done.rows_affected())
                    .map_err(|e| self.fail(e))
                })
                .await
            }
        }
    };
}

pub(crate) use impl_operator_helpers;
