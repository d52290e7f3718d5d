//! One standalone connection per single-threaded runtime.
//!
//! A [`ConnectionManager`] drives its socket from a task spawned on the
//! runtime it connected on. Under a multi-threaded runtime (axum's usual
//! setup) that task is one more task of the same pool. Under runtimes that
//! each own one thread, as actix-web's workers do, a store connected in
//! `main` (on the actix `System` thread) would send every command of every
//! worker to that other thread and back: a futex wake-up and two context
//! switches per command, and a worker that sits idle while the `System`
//! thread forwards its commands. So a store used from a single-threaded
//! runtime other than the one it connected on opens that runtime's own
//! connection on its first command there, and uses it for every later
//! command issued on that thread while the runtime lives.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::{self, ThreadId};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::oneshot;

/// What a store needs to open more connections like its first one.
pub(crate) struct PerRuntime {
    /// Tells this store's connections apart from other stores' in
    /// [`HERE`].
    id: u64,
    client: redis::Client,
    config: ConnectionManagerConfig,
    /// Where the store's first connection runs, when that is a
    /// single-threaded runtime: commands issued there use it.
    home: Option<Home>,
}

/// A single-threaded runtime: its thread, and whether it still runs.
struct Home {
    thread: ThreadId,
    alive: Alive,
}

/// Whether the runtime this was made on still runs: a task spawned there
/// holds the receiving end until the runtime shuts down (dropping its tasks).
struct Alive(oneshot::Sender<()>);

impl Alive {
    fn here() -> Self {
        let (sender, receiver) = oneshot::channel::<()>();
        // Resolves only when the sender is dropped (nothing is ever sent).
        drop(tokio::spawn(async move {
            let _ = receiver.await;
        }));
        Self(sender)
    }

    fn still(&self) -> bool {
        !self.0.is_closed()
    }
}

/// A connection opened for one store on this thread's runtime.
struct Local {
    store: u64,
    owner: Weak<PerRuntime>,
    manager: ConnectionManager,
    alive: Alive,
}

thread_local! {
    /// This thread's connections, one per store used here.
    static HERE: RefCell<Vec<Local>> = const { RefCell::new(Vec::new()) };
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

impl PerRuntime {
    /// For a store whose first connection was just made on the current
    /// runtime (or, for a lazy store, will be made by its first command).
    pub(crate) fn new(client: redis::Client, config: ConnectionManagerConfig) -> Arc<Self> {
        let home = match Handle::try_current() {
            Ok(runtime) if runtime.runtime_flavor() == RuntimeFlavor::CurrentThread => Some(Home {
                thread: thread::current().id(),
                alive: Alive::here(),
            }),
            _ => None,
        };
        Arc::new(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            client,
            config,
            home,
        })
    }

    /// The connection for a command issued here: `None` for the store's
    /// first connection (on a multi-threaded runtime, on the runtime the
    /// store connected on, outside any runtime), else this runtime's own,
    /// opened (lazily: it connects on its first command) if need be.
    pub(crate) fn connection(self: &Arc<Self>) -> Option<ConnectionManager> {
        let runtime = Handle::try_current().ok()?;
        if runtime.runtime_flavor() != RuntimeFlavor::CurrentThread {
            return None;
        }
        if let Some(home) = &self.home {
            if home.thread == thread::current().id() && home.alive.still() {
                return None;
            }
        }
        HERE.with_borrow_mut(|here| {
            if let Some(local) = here
                .iter()
                .find(|local| local.store == self.id && local.alive.still())
            {
                return Some(local.manager.clone());
            }
            // Forget the connections of dropped stores and ended runtimes.
            here.retain(|local| local.alive.still() && local.owner.strong_count() > 0);
            let manager =
                ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone())
                    .ok()?;
            here.push(Local {
                store: self.id,
                owner: Arc::downgrade(self),
                manager: manager.clone(),
                alive: Alive::here(),
            });
            Some(manager)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use session_test_support::{redis_url, Server};
    use tokio::runtime::{Builder, Runtime};

    use crate::RedisStore;

    fn single_threaded() -> Runtime {
        Builder::new_current_thread().enable_all().build().unwrap()
    }

    fn multi_threaded() -> Runtime {
        Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    fn connect(runtime: &Runtime) -> RedisStore {
        let url = redis_url();
        runtime
            .block_on(
                RedisStore::builder()
                    .command_timeout(Duration::from_secs(5))
                    .connect(url.as_str()),
            )
            .unwrap_or_else(|e| Server::Redis.unreachable(&url, session_core::error_chain(&e)))
    }

    /// The Redis client ID of the connection a command issued on `runtime`
    /// goes through.
    fn client_id(runtime: &Runtime, store: &RedisStore) -> i64 {
        runtime
            .block_on(store.query(redis::cmd("CLIENT").arg("ID")))
            .expect("CLIENT ID")
    }

    /// In the thread of another single-threaded runtime (an actix-web
    /// worker).
    fn elsewhere<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(work).join().unwrap()
    }

    #[test]
    fn each_single_threaded_runtime_gets_a_connection_of_its_own() {
        // Connected on a single-threaded runtime (the actix `System` in main).
        let home = single_threaded();
        let store = connect(&home);
        let shared = client_id(&home, &store);
        assert_eq!(client_id(&home, &store), shared, "home uses the first");
        let store2 = store.clone();
        let (worker, again, next_runtime) = elsewhere(move || {
            let worker = single_threaded();
            let (first, again) = (client_id(&worker, &store2), client_id(&worker, &store2));
            // A runtime that ended leaves no dead connection behind: the
            // next one on this thread connects afresh, no command fails.
            drop(worker);
            (first, again, client_id(&single_threaded(), &store2))
        });
        assert_ne!(worker, shared, "a worker crossed to the home runtime");
        assert_eq!(again, worker, "one connection per runtime, not per command");
        assert_ne!(next_runtime, worker);
        assert_eq!(client_id(&home, &store), shared);
    }

    #[test]
    fn multi_threaded_runtimes_share_the_first_connection() {
        // Connected on a multi-threaded runtime (axum's): it keeps serving
        // every command issued on it; a single-threaded runtime elsewhere
        // still gets its own.
        let pool = multi_threaded();
        let store = connect(&pool);
        let shared = client_id(&pool, &store);
        assert_eq!(client_id(&pool, &store), shared);
        let store2 = store.clone();
        let worker = elsewhere(move || client_id(&single_threaded(), &store2));
        assert_ne!(worker, shared);
        assert_eq!(client_id(&pool, &store), shared);
    }
}
