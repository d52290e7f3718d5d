//! The HTTP suite on PostgreSQL (`DATABASE_URL`), each test in its own table.

use std::sync::Arc;

use session_cookie::core::SessionId;
use session_cookie::sqlx::{self, postgres::PgPool, AssertSqlSafe};
use session_cookie::{PostgresStore, SessionStore};
use session_tests::damage::Corrupt;
use session_tests::servers::{database_url, must_connect, unique_name};

async fn table(name: &str) -> PostgresStore {
    let url = database_url();
    let pool = must_connect(PostgresStore::connect_pool(&url).await, "PostgreSQL", &url);
    let store = PostgresStore::builder(pool)
        .table(name)
        .build()
        .expect("a valid table name");
    store.migrate().await.expect("migrate");
    store
}

async fn store() -> Arc<dyn SessionStore> {
    Arc::new(table(&unique_name("http")).await)
}

session_tests::http_suite!(store());

/// Overwrites a row's `data` in place, keeping its expiry and `user_id`.
struct RawRows {
    pool: PgPool,
    table: String,
}

#[session_cookie::core::async_trait]
impl Corrupt for RawRows {
    async fn overwrite(&self, id: &SessionId, bytes: &[u8]) {
        let sql = format!("UPDATE \"{}\" SET data = $1 WHERE id = $2", self.table);
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(bytes)
            .bind(id.storage_key())
            .execute(&self.pool)
            .await
            .expect("UPDATE the data column");
        assert_eq!(done.rows_affected(), 1, "no row to damage");
    }
}

async fn damageable() -> (Arc<dyn SessionStore>, Arc<dyn Corrupt>) {
    let name = unique_name("damaged");
    let store = table(&name).await;
    let raw = RawRows {
        pool: store.pool().clone(),
        table: name,
    };
    (Arc::new(store), Arc::new(raw))
}

session_tests::damaged_record_suite!(damageable());

/// `SESSION_STORE=postgres://…` opens a working, migrated store.
#[tokio::test]
async fn connect_by_url() {
    session_tests::servers::round_trip_by_url(&database_url()).await;
}
