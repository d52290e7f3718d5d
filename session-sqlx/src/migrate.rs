//! Embedded, versioned migrations: the versions every backend applies and
//! the bookkeeping common to all of them.
//!
//! Each session table `<table>` has a small bookkeeping table
//! `<table>_migrations` (`version`, `description`, `applied_at` in ms) that
//! records which versions were applied. `migrate()` takes a database-wide
//! lock for the table (PostgreSQL: `pg_advisory_xact_lock`; MySQL/MariaDB:
//! `GET_LOCK`; SQLite: `BEGIN IMMEDIATE`), applies the versions not yet
//! recorded in order and records them (each dialect's
//! [`Dialect::migrate`]), so any number of app instances can call it at the
//! same moment.

use session_core::Error;

use crate::dialect::Dialect;
use crate::exec::Param;
use crate::sql::Names;

/// One schema version.
pub(crate) struct Migration {
    /// Applied in ascending order; never reused.
    pub(crate) version: i64,
    /// Human-readable, stored in the bookkeeping table.
    pub(crate) description: &'static str,
    /// The DDL statements for the table's quoted names.
    pub(crate) statements: fn(&Names) -> Vec<String>,
}

/// Every version, in order, with `DB`'s statements.
fn migrations<DB: Dialect>() -> [Migration; 2] {
    [
        Migration {
            version: 1,
            description: "create the session table and its expiry index",
            statements: DB::create_table,
        },
        Migration {
            version: 2,
            description: "add the user column and the per-user index",
            statements: DB::add_user,
        },
    ]
}

/// The migrations of `all` not listed in `applied`, in order.
pub(crate) fn pending<'a>(applied: &[i64], all: &'a [Migration]) -> Vec<&'a Migration> {
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

/// Applies the pending migrations on `conn`, which already holds the
/// table's migration lock: creates `<table>_migrations` if needed, reads
/// the applied versions, then runs each pending migration's statements and
/// records it. A statement that fails stops the run with its error, unless
/// the dialect says what it would create is already there
/// ([`Dialect::is_already_there`]), which counts as done.
pub(crate) async fn apply<DB: Dialect>(conn: &mut DB::Connection, n: &Names) -> Result<(), Error> {
    run::<DB>(conn, DB::bookkeeping(&n.migrations), &[])
        .await
        .map_err(Error::backend)?;
    let versions = DB::query(&format!("SELECT version FROM {}", n.migrations).into(), &[])
        .fetch_all(DB::on(conn))
        .await
        .map_err(Error::backend)?;
    let applied = versions
        .iter()
        .map(|found| DB::int(found, 0))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Error::backend)?;
    let record = format!(
        "INSERT INTO {} (version, description, applied_at) VALUES ({}, {}, {})",
        n.migrations,
        DB::param(1),
        DB::param(2),
        DB::param(3)
    );
    for m in pending(&applied, &migrations::<DB>()) {
        for statement in (m.statements)(n) {
            match run::<DB>(conn, statement, &[]).await {
                Ok(_) => {}
                // Where DDL commits at once (MySQL), a run that stopped
                // before recording the version left some of its columns or
                // indexes behind, which count as done.
                Err(sqlx::Error::Database(e)) if DB::is_already_there(e.as_ref()) => {
                    tracing::info!(
                        table = %n.table,
                        version = m.version,
                        error = %e,
                        "session table migration step was already applied"
                    );
                }
                Err(e) => return Err(Error::backend(e)),
            }
        }
        let values = [
            Param::Int(m.version),
            Param::Text(m.description),
            Param::Int(crate::row::now_ms()),
        ];
        run::<DB>(conn, record.clone(), &values)
            .await
            .map_err(Error::backend)?;
        tracing::info!(
            table = %n.label(),
            version = m.version,
            "applied session table migration"
        );
    }
    Ok(())
}

/// Runs `sql` with `params` on `conn`.
async fn run<DB: Dialect>(
    conn: &mut DB::Connection,
    sql: String,
    params: &[Param<'_>],
) -> Result<DB::QueryResult, sqlx::Error> {
    DB::query(&sql.into(), params).execute(DB::on(conn)).await
}

/// `CREATE INDEX IF NOT EXISTS` on `expires_at` (PostgreSQL, SQLite).
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) fn expires_index(n: &Names) -> String {
    format!(
        "CREATE INDEX IF NOT EXISTS {} ON {} (expires_at)",
        n.index, n.qualified
    )
}

/// The per-user index, partial: unbound sessions cost it nothing
/// (PostgreSQL, SQLite).
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) fn partial_user_index(n: &Names) -> String {
    format!(
        "CREATE INDEX IF NOT EXISTS {} ON {} (user_id, expires_at) WHERE user_id IS NOT NULL",
        n.user_index, n.qualified
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &Names) -> Vec<String> {
        Vec::new()
    }

    #[test]
    fn pending_skips_applied_versions_and_keeps_order() {
        let all = [1, 2, 3].map(|version| Migration {
            version,
            description: "a",
            statements: none,
        });
        let versions = |applied: &[i64]| -> Vec<i64> {
            pending(applied, &all).iter().map(|m| m.version).collect()
        };
        assert_eq!(versions(&[]), [1, 2, 3]);
        assert_eq!(versions(&[1, 2]), [3]);
        assert_eq!(versions(&[1, 2, 3, 4]), Vec::<i64>::new());
    }
}
