//! The conformance checks that wait for a record to expire must not fail a
//! correct store just because it is slow: a loaded machine and a remote
//! backend can take tens of milliseconds per round trip. Each operation of
//! the store here waits 25 ms before reaching a `MemoryStore`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use session_core::conformance;
use session_core::{async_trait, Error, Record, SessionId, SessionInfo, SessionStore};
use session_memory::MemoryStore;

/// The latency added to every operation.
const LATENCY: Duration = Duration::from_millis(25);

/// A correct store with the latency of a busy remote backend.
#[derive(Debug)]
struct Slow(MemoryStore);

impl Slow {
    fn new() -> Arc<Self> {
        Arc::new(Self(MemoryStore::new()))
    }
}

async fn lag() {
    tokio::time::sleep(LATENCY).await;
}

#[async_trait]
impl SessionStore for Slow {
    async fn create(&self, record: &Record) -> Result<(), Error> {
        lag().await;
        self.0.create(record).await
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        lag().await;
        self.0.load(id).await
    }

    async fn save(&self, record: &Record) -> Result<(), Error> {
        lag().await;
        self.0.save(record).await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        lag().await;
        self.0.delete(id).await
    }

    async fn touch(&self, id: &SessionId, expires_at: SystemTime) -> Result<(), Error> {
        lag().await;
        self.0.touch(id, expires_at).await
    }

    async fn delete_expired(&self) -> Result<u64, Error> {
        lag().await;
        self.0.delete_expired().await
    }

    fn indexes_users(&self) -> bool {
        self.0.indexes_users()
    }

    async fn user_sessions(&self, user: &str) -> Result<Vec<SessionInfo>, Error> {
        lag().await;
        self.0.user_sessions(user).await
    }

    async fn count_user_sessions(&self, user: &str) -> Result<u64, Error> {
        lag().await;
        self.0.count_user_sessions(user).await
    }

    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&SessionId>,
    ) -> Result<u64, Error> {
        lag().await;
        self.0.delete_user_sessions(user, keep).await
    }
}

#[tokio::test]
async fn the_user_index_check_passes_a_slow_store() {
    conformance::user_index_or_declared_unsupported(&Slow::new()).await;
}

#[tokio::test]
async fn the_touch_check_passes_a_slow_store() {
    conformance::touch_extends_and_shortens(&Slow::new()).await;
}

#[tokio::test]
async fn the_short_lived_sweep_check_passes_a_slow_store() {
    conformance::delete_expired_keeps_short_lived_records(&Slow::new()).await;
}
