//! One standalone `redis-server` that a fault test kills and starts again
//! on the same port (nothing persisted: the data is gone after a restart).

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use super::RedisProcs;
use crate::restart::{poll_ready, Restartable};

/// A throwaway `redis-server` behind the [`Restartable`] the outage
/// harness drives.
#[derive(Debug)]
pub struct RestartableRedis {
    port: u16,
    procs: Mutex<Option<RedisProcs>>,
}

impl RestartableRedis {
    /// Starts it on a free port; returns once it answers PING. Blocking.
    pub fn start() -> Self {
        let procs = RedisProcs::start_standalone(None);
        Self {
            port: procs.ports[0],
            procs: Mutex::new(Some(procs)),
        }
    }
}

impl Restartable for RestartableRedis {
    /// `SIGKILL`; returns once the process is gone.
    fn stop(&self) {
        drop(self.procs.lock().unwrap().take());
    }

    /// A new `redis-server` on the same port, empty; returns once it
    /// answers PING.
    fn start_again(&self) {
        let procs = RedisProcs::start_standalone(Some(self.port));
        *self.procs.lock().unwrap() = Some(procs);
    }

    fn wait_ready(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let url = self.url();
            let client = redis::Client::open(url.as_str()).expect("a redis:// URL");
            poll_ready("Redis", &url, String::new, || async {
                let mut conn = client.get_multiplexed_async_connection().await?;
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .map(drop)
            })
            .await;
        })
    }

    /// `redis://127.0.0.1:PORT`.
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}
