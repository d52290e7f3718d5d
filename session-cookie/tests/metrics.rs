//! The layer's own metrics (feature `metrics`): every store call counted
//! once, saves retried after a conflict, saves given up, damaged records.
//! Recorded into a local recorder on a current-thread runtime, so nothing
//! else in the process adds to the counts.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::SystemTime;

use http::{Request, Response, StatusCode};
use metrics_exporter_prometheus::PrometheusBuilder;
use session_cookie::core::{async_trait, Error, Record, SessionId};
use session_cookie::{
    ConflictRetry, LazySession, MemoryStore, SessionConfig, SessionLayer, SessionStore,
};
use tower::{ServiceBuilder, ServiceExt};

/// A memory store that loses the next `conflicts` saves to a "concurrent
/// request" and, when `damaged`, answers loads with a damaged record.
#[derive(Debug, Default)]
struct Flaky {
    inner: MemoryStore,
    conflicts: AtomicU32,
    damaged: AtomicBool,
}

#[async_trait]
impl SessionStore for Flaky {
    async fn create(&self, record: &Record) -> Result<(), Error> {
        self.inner.create(record).await
    }
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        if self.damaged.load(Ordering::SeqCst) {
            return Err(Error::Envelope { reason: "test" });
        }
        self.inner.load(id).await
    }
    async fn save(&self, record: &Record) -> Result<(), Error> {
        let lost = self
            .conflicts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if lost.is_ok() {
            return Err(Error::VersionConflict);
        }
        self.inner.save(record).await
    }
    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.inner.delete(id).await
    }
    async fn touch(&self, id: &SessionId, expires_at: SystemTime) -> Result<(), Error> {
        self.inner.touch(id, expires_at).await
    }
    async fn delete_expired(&self) -> Result<u64, Error> {
        self.inner.delete_expired().await
    }
    fn backend_name(&self) -> &'static str {
        "flaky"
    }
}

/// Counts one more visit.
async fn visit(req: Request<String>) -> Result<Response<String>, Infallible> {
    let lazy = req.extensions().get::<LazySession>().unwrap().clone();
    let session = lazy.load().await.unwrap();
    let n: u64 = session
        .update("n", |n: Option<u64>| n.unwrap_or(0) + 1)
        .unwrap();
    Ok(Response::new(n.to_string()))
}

#[test]
fn conflicts_retries_and_damaged_records_are_counted() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = std::sync::Arc::new(Flaky::default());
    let config = SessionConfig::builder("a-secret-of-at-least-32-bytes-long!!")
        .build()
        .unwrap();
    let statuses = metrics::with_local_recorder(&recorder, || {
        let layer = SessionLayer::from_arc(store.clone(), config)
            .conflict_retry(ConflictRetry::default().max_attempts(4));
        let svc = ServiceBuilder::new().layer(layer).service_fn(visit);
        rt.block_on(async {
            let call = |cookie: Option<&str>| {
                let mut req = Request::builder();
                if let Some(cookie) = cookie {
                    req = req.header("cookie", cookie);
                }
                svc.clone().oneshot(req.body(String::new()).unwrap())
            };
            let first = call(None).await.unwrap();
            let set = first.headers()["set-cookie"].to_str().unwrap();
            let cookie = set.split(';').next().unwrap().to_owned();
            // Two lost saves, then one that wins: 2 retries.
            store.conflicts.store(2, Ordering::SeqCst);
            let won = call(Some(&cookie)).await.unwrap().status();
            // Every save lost: 3 retries, then given up (4 attempts).
            store.conflicts.store(100, Ordering::SeqCst);
            let lost = call(Some(&cookie)).await.unwrap().status();
            store.conflicts.store(0, Ordering::SeqCst);
            store.damaged.store(true, Ordering::SeqCst);
            let damaged = call(Some(&cookie)).await.unwrap().status();
            [first.status(), won, lost, damaged]
        })
    });
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::CONFLICT,
            StatusCode::OK
        ]
    );
    let text = handle.render();
    let value = |metric: &str| -> u64 {
        let line = text.lines().find(|l| l.starts_with(metric));
        line.map_or(0, |l| l.rsplit(' ').next().unwrap().parse().unwrap())
    };
    assert_eq!(
        value("keycard_conflict_retries_total{backend=\"flaky\"}"),
        5,
        "{text}"
    );
    assert_eq!(
        value("keycard_conflicts_given_up_total{backend=\"flaky\"}"),
        1,
        "{text}"
    );
    assert_eq!(
        value("keycard_damaged_records_total{backend=\"flaky\"}"),
        1,
        "{text}"
    );
    let ops = |op: &str, outcome: &str| {
        value(&format!(
            "keycard_store_operations_total{{operation=\"{op}\",backend=\"flaky\",outcome=\"{outcome}\"}}"
        ))
    };
    // Saves: 2 lost + 1 won, then 4 lost.
    assert_eq!(ops("save", "conflict"), 6, "{text}");
    assert_eq!(ops("save", "ok"), 1, "{text}");
    assert_eq!(ops("load", "error"), 1, "{text}");
    assert_eq!(
        value("keycard_store_errors_total{operation=\"load\",backend=\"flaky\",kind=\"damaged\"}"),
        1,
        "{text}"
    );
}
