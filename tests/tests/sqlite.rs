//! The HTTP suite on SQLite: a file database per test, in a temp dir.
//!
//! A store cannot tell when a test is done with it, so each run removes the
//! files earlier runs left behind (older than ten minutes) instead.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use session_cookie::{SessionStore, SqliteStore};
use session_tests::damage::{Corrupt, RawRows};
use session_tests::servers::unique_name;

fn test_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("keycard-http-sqlite");
    std::fs::create_dir_all(&dir).expect("create the SQLite test dir");
    let stale = |entry: &std::fs::DirEntry| {
        entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(600))
    };
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        if stale(&entry) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    dir
}

async fn open() -> SqliteStore {
    let path = test_dir().join(format!("{}.db", unique_name("http")));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = SqliteStore::connect(&url)
        .await
        .expect("open a SQLite file");
    store.migrate().await.expect("migrate");
    store
}

async fn store() -> Arc<dyn SessionStore> {
    Arc::new(open().await)
}

session_tests::http_suite!(store());

async fn damageable() -> (Arc<dyn SessionStore>, Arc<dyn Corrupt>) {
    let store = open().await;
    let update = "UPDATE sessions SET data = ?1 WHERE id = ?2".to_owned();
    let raw = RawRows::new(store.pool().clone(), update);
    (Arc::new(store), Arc::new(raw))
}

session_tests::damaged_record_suite!(damageable());

/// `SESSION_STORE=sqlite://…` opens a working, migrated store.
#[tokio::test]
async fn connect_by_url() {
    let path = test_dir().join(format!("{}.db", unique_name("connect")));
    session_tests::servers::round_trip_by_url(&format!("sqlite://{}?mode=rwc", path.display()))
        .await;
}
