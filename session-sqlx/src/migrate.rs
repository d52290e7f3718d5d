//! Embedded, versioned migrations: the list every backend applies and the
//! bookkeeping common to all of them.
//!
//! Each session table `<table>` has a small bookkeeping table
//! `<table>_migrations` (`version`, `description`, `applied_at` in ms) that
//! records which versions were applied. `migrate()` takes a database-wide
//! lock for the table (PostgreSQL: `pg_advisory_xact_lock`; MySQL/MariaDB:
//! `GET_LOCK`; SQLite: `BEGIN IMMEDIATE`), applies the versions not yet
//! recorded in order and records them, so any number of app instances can
//! call it at the same moment.

/// One schema version.
pub(crate) struct Migration<N> {
    /// Applied in ascending order; never reused.
    pub(crate) version: i64,
    /// Human-readable, stored in the bookkeeping table.
    pub(crate) description: &'static str,
    /// The DDL statements for the backend's quoted names.
    pub(crate) statements: fn(&N) -> Vec<String>,
}

/// The migrations of `all` not listed in `applied`, in order.
pub(crate) fn pending<'a, N>(applied: &[i64], all: &'a [Migration<N>]) -> Vec<&'a Migration<N>> {
    if let Some(newest) = applied.iter().max() {
        let known = all.iter().map(|m| m.version).max().unwrap_or(0);
        if *newest > known {
            tracing::warn!(
                applied = newest,
                known,
                "the session table was migrated by a newer version of session-sqlx"
            );
        }
    }
    all.iter()
        .filter(|m| !applied.contains(&m.version))
        .collect()
}

/// Applies the pending migrations on a connection that already holds the
/// table's migration lock: creates `<table>_migrations` with `bookkeeping`
/// (a format string for its quoted name) if needed, reads the applied
/// versions, then for each pending migration runs its statements with
/// `run` (`|statement, version| …`, a `Result<(), Error>`: the backend
/// decides which errors count) and records it with `record` (a format string for the
/// quoted name, with placeholders for version, description, applied_at).
/// `label` names the table in the log. Uses the calling module's
/// `MIGRATIONS`; returns early with the error of a failed step.
macro_rules! apply_pending {
    (
        $conn:ident, $names:expr, $label:expr,
        bookkeeping: $bookkeeping:literal,
        record: $record:literal,
        run: |$statement:ident, $version:ident| $run:expr $(,)?
    ) => {{
        let n = $names;
        let err = |e| Error::backend(e);
        sqlx::query(AssertSqlSafe(format!($bookkeeping, n.migrations)))
            .execute(&mut *$conn)
            .await
            .map_err(err)?;
        let applied: Vec<i64> =
            sqlx::query_scalar(AssertSqlSafe(format!("SELECT version FROM {}", n.migrations)))
                .fetch_all(&mut *$conn)
                .await
                .map_err(err)?;
        for m in $crate::migrate::pending(&applied, MIGRATIONS) {
            let $version = m.version;
            for $statement in (m.statements)(n) {
                $run?;
            }
            sqlx::query(AssertSqlSafe(format!($record, n.migrations)))
                .bind(m.version)
                .bind(m.description)
                .bind($crate::row::now_ms())
                .execute(&mut *$conn)
                .await
                .map_err(err)?;
            tracing::info!(
                table = %$label,
                version = m.version,
                "applied session table migration"
            );
        }
    }};
}

pub(crate) use apply_pending;

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &()) -> Vec<String> {
        Vec::new()
    }

    #[test]
    fn pending_skips_applied_versions_and_keeps_order() {
        let all = [
            Migration {
                version: 1,
                description: "a",
                statements: none,
            },
            Migration {
                version: 2,
                description: "b",
                statements: none,
            },
            Migration {
                version: 3,
                description: "c",
                statements: none,
            },
        ];
        let versions = |applied: &[i64]| -> Vec<i64> {
            pending(applied, &all).iter().map(|m| m.version).collect()
        };
        assert_eq!(versions(&[]), [1, 2, 3]);
        assert_eq!(versions(&[1, 2]), [3]);
        assert_eq!(versions(&[1, 2, 3, 4]), Vec::<i64>::new());
        assert_eq!(all[0].description, "a");
        assert!((all[0].statements)(&()).is_empty());
    }
}
