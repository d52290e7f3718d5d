//! Metrics and spans for the session stack, framework-free, so that every
//! HTTP adapter reports the same names.
//!
//! [`Instrumented`] wraps a store: each call runs inside a `tracing` span
//! and, with this crate's `metrics` feature, is counted and timed through
//! the [`metrics`](https://docs.rs/metrics) facade (no exporter is forced
//! on the application: without a recorder installed, nothing is kept). The
//! session layers wrap their store in it and report their own events with
//! [`conflict_retried`], [`conflict_given_up`] and [`damaged_record`].
//!
//! # Metrics (feature `metrics`)
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `keycard_store_operations_total` | counter | `operation`, `backend`, `outcome` | store calls, by how they ended |
//! | `keycard_store_errors_total` | counter | `operation`, `backend`, `kind` | store calls that failed, by kind of error |
//! | `keycard_store_duration_seconds` | histogram | `operation`, `backend` | how long store calls took |
//! | `keycard_conflict_retries_total` | counter | `backend` | saves retried after losing to a concurrent request |
//! | `keycard_conflicts_given_up_total` | counter | `backend` | saves given up after the retry budget |
//! | `keycard_damaged_records_total` | counter | `backend` | stored records that did not decode (deleted) |
//! | `keycard_sessions` | gauge | `backend` | sessions held, where the store knows it without a round trip (memory) |
//! | `keycard_near_cache_hits_total` | counter | `backend` | loads answered by the [near cache](crate::near_cache) |
//! | `keycard_near_cache_misses_total` | counter | `backend` | loads the near cache sent to the backend |
//! | `keycard_near_cache_bypassed_total` | counter | `backend` | loads sent to the backend while the near cache's feed was down |
//! | `keycard_near_cache_evictions_total` | counter | `backend` | near-cache records dropped for the size limits |
//! | `keycard_near_cache_invalidations_total` | counter | `backend` | near-cache records dropped because another process changed them |
//! | `keycard_near_cache_flushes_total` | counter | `backend` | whole near-cache flushes (its feed went down or came back) |
//!
//! Label values: `operation` is the store method (`create`, `load`,
//! `save`, `delete`, `touch`, `delete_expired`, `delete_expired_batch`,
//! `user_sessions`, `count_user_sessions`, `delete_user_sessions`,
//! `delete_user_sessions_except_key`, `count_sessions`, `count_expired`); `backend` is
//! [`SessionStore::backend_name`]; `outcome` is `ok`, `not_found` (a
//! `load` that found nothing), `conflict` (a create over a live ID, a save
//! that lost to a concurrent one), `vanished` or `error`; `kind` is
//! `timeout`, `backend`, `damaged`, `unsupported`, `too_large`, `encode`,
//! `config` or `other`. No label ever holds a session ID, a card, a
//! storage key or a user.
//!
//! # Spans
//!
//! Every store call runs in an `info` span named `session_store` with the
//! fields `operation`, `backend`, `outcome` and `duration_ms` (the last two
//! recorded when the call ends), so a `tracing` subscriber such as an
//! OpenTelemetry layer sees each round trip with its latency.
//!
//! ```
//! use session_core::telemetry::Instrumented;
//! use session_core::SessionStore;
//! # #[derive(Debug)] struct MyStore;
//! # #[session_core::async_trait] impl SessionStore for MyStore {
//! #   async fn create(&self, _: &session_core::Record) -> session_core::Result<()> { Ok(()) }
//! #   async fn load(&self, _: &session_core::SessionId) -> session_core::Result<Option<session_core::Record>> { Ok(None) }
//! #   async fn save(&self, _: &session_core::Record) -> session_core::Result<()> { Ok(()) }
//! #   async fn delete(&self, _: &session_core::SessionId) -> session_core::Result<()> { Ok(()) }
//! #   async fn touch(&self, _: &session_core::SessionId, _: std::time::SystemTime) -> session_core::Result<()> { Ok(()) }
//! #   async fn delete_expired(&self) -> session_core::Result<u64> { Ok(0) }
//! # }
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> session_core::Result<()> {
//! let store = Instrumented::new(MyStore);
//! assert_eq!(store.backend_name(), "custom");
//! assert!(store.load(&session_core::SessionId::generate()).await?.is_none());
//! # Ok(()) }
//! ```

use std::future::Future;
use std::time::{Instant, SystemTime};

use async_trait::async_trait;
use tracing::field::Empty;
use tracing::Instrument as _;

use crate::{Error, Record, SessionId, SessionInfo, SessionStore};

/// A store whose every call is traced and, with the `metrics` feature,
/// counted and timed (see the [module docs](self) for the names).
///
/// The session layers wrap their store in it already: wrap a store
/// yourself only when you call it outside a layer, or its calls are
/// counted twice.
#[derive(Debug, Clone)]
pub struct Instrumented<S> {
    inner: S,
}

impl<S: SessionStore> Instrumented<S> {
    /// Wraps `inner`. With the `metrics` feature, also describes the
    /// metrics to the recorder installed now (their help texts).
    pub fn new(inner: S) -> Self {
        describe_metrics();
        Self { inner }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Runs one store call in its span, and records its outcome.
    async fn call<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, Error>>,
        outcome: impl FnOnce(&T) -> &'static str,
    ) -> Result<T, Error> {
        let backend = self.inner.backend_name();
        let span = tracing::info_span!(
            "session_store",
            operation,
            backend,
            outcome = Empty,
            duration_ms = Empty
        );
        let started = Instant::now();
        let result = call.instrument(span.clone()).await;
        let elapsed = started.elapsed();
        let (label, kind) = match &result {
            Ok(value) => (outcome(value), None),
            Err(Error::Conflict | Error::VersionConflict) => ("conflict", None),
            Err(Error::Vanished) => ("vanished", None),
            Err(err) => ("error", Some(error_kind(err))),
        };
        span.record("outcome", label);
        span.record("duration_ms", elapsed.as_secs_f64() * 1000.0);
        record::call(operation, backend, label, kind, elapsed);
        if let Some(n) = self.inner.approx_session_count() {
            record::sessions(backend, n);
        }
        result
    }
}

fn ok<T>(_: &T) -> &'static str {
    "ok"
}

/// The `kind` label of a failed call.
fn error_kind(err: &Error) -> &'static str {
    match err {
        Error::Timeout(_) => "timeout",
        Error::Backend(_) => "backend",
        Error::Envelope { .. } | Error::Decode(_) => "damaged",
        Error::Unsupported(_) => "unsupported",
        Error::TooLarge { .. } => "too_large",
        Error::Encode(_) => "encode",
        Error::Config { .. } => "config",
        _ => "other",
    }
}

#[async_trait]
impl<S: SessionStore> SessionStore for Instrumented<S> {
    async fn create(&self, record: &Record) -> Result<(), Error> {
        self.call("create", self.inner.create(record), ok).await
    }
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        let found = |r: &Option<Record>| if r.is_some() { "ok" } else { "not_found" };
        self.call("load", self.inner.load(id), found).await
    }
    async fn save(&self, record: &Record) -> Result<(), Error> {
        self.call("save", self.inner.save(record), ok).await
    }
    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.call("delete", self.inner.delete(id), ok).await
    }
    async fn touch(&self, id: &SessionId, expires_at: SystemTime) -> Result<(), Error> {
        self.call("touch", self.inner.touch(id, expires_at), ok)
            .await
    }
    async fn delete_expired(&self) -> Result<u64, Error> {
        self.call("delete_expired", self.inner.delete_expired(), ok)
            .await
    }
    fn indexes_users(&self) -> bool {
        self.inner.indexes_users()
    }
    async fn user_sessions(&self, user: &str) -> Result<Vec<SessionInfo>, Error> {
        self.call("user_sessions", self.inner.user_sessions(user), ok)
            .await
    }
    async fn count_user_sessions(&self, user: &str) -> Result<u64, Error> {
        let call = self.inner.count_user_sessions(user);
        self.call("count_user_sessions", call, ok).await
    }
    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&SessionId>,
    ) -> Result<u64, Error> {
        let call = self.inner.delete_user_sessions(user, keep);
        self.call("delete_user_sessions", call, ok).await
    }
    async fn delete_user_sessions_except_key(
        &self,
        user: &str,
        keep_key: &str,
    ) -> Result<u64, Error> {
        let call = self.inner.delete_user_sessions_except_key(user, keep_key);
        self.call("delete_user_sessions_except_key", call, ok).await
    }
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }
    async fn count_sessions(&self) -> Result<u64, Error> {
        self.call("count_sessions", self.inner.count_sessions(), ok)
            .await
    }
    async fn count_expired(&self) -> Result<u64, Error> {
        self.call("count_expired", self.inner.count_expired(), ok)
            .await
    }
    async fn delete_expired_batch(&self, max: u32) -> Result<u64, Error> {
        let call = self.inner.delete_expired_batch(max);
        self.call("delete_expired_batch", call, ok).await
    }
    fn approx_session_count(&self) -> Option<u64> {
        self.inner.approx_session_count()
    }
}

/// A save lost to a concurrent request of its session and is retried
/// (`keycard_conflict_retries_total`).
pub fn conflict_retried(store: &dyn SessionStore) {
    record::event(EVENT_RETRY, store.backend_name());
}

/// A save kept losing to concurrent requests and was given up
/// (`keycard_conflicts_given_up_total`).
pub fn conflict_given_up(store: &dyn SessionStore) {
    record::event(EVENT_GIVEN_UP, store.backend_name());
}

/// A stored record did not decode and was dropped
/// (`keycard_damaged_records_total`).
pub fn damaged_record(store: &dyn SessionStore) {
    record::event(EVENT_DAMAGED, store.backend_name());
}

/// Describes every metric (help text and unit) to the recorder installed
/// now. [`Instrumented::new`] calls it; call it yourself after installing
/// a recorder that came later. Without the `metrics` feature, nothing.
pub fn describe_metrics() {
    record::describe();
}

/// Counts one event `name` (a counter labelled `backend`); nothing without
/// the `metrics` feature.
pub(crate) fn event(name: &'static str, backend: &'static str) {
    record::event(name, backend);
}

pub(crate) const NEAR_CACHE_HITS: &str = "keycard_near_cache_hits_total";
pub(crate) const NEAR_CACHE_MISSES: &str = "keycard_near_cache_misses_total";
pub(crate) const NEAR_CACHE_BYPASSED: &str = "keycard_near_cache_bypassed_total";
pub(crate) const NEAR_CACHE_EVICTIONS: &str = "keycard_near_cache_evictions_total";
pub(crate) const NEAR_CACHE_INVALIDATIONS: &str = "keycard_near_cache_invalidations_total";
pub(crate) const NEAR_CACHE_FLUSHES: &str = "keycard_near_cache_flushes_total";

const EVENT_RETRY: &str = "keycard_conflict_retries_total";
const EVENT_GIVEN_UP: &str = "keycard_conflicts_given_up_total";
const EVENT_DAMAGED: &str = "keycard_damaged_records_total";

#[cfg(feature = "metrics")]
mod record {
    use std::time::Duration;

    use metrics::Unit;

    use super::{
        EVENT_DAMAGED, EVENT_GIVEN_UP, EVENT_RETRY, NEAR_CACHE_BYPASSED, NEAR_CACHE_EVICTIONS,
        NEAR_CACHE_FLUSHES, NEAR_CACHE_HITS, NEAR_CACHE_INVALIDATIONS, NEAR_CACHE_MISSES,
    };

    const OPERATIONS: &str = "keycard_store_operations_total";
    const ERRORS: &str = "keycard_store_errors_total";
    const DURATION: &str = "keycard_store_duration_seconds";
    const SESSIONS: &str = "keycard_sessions";

    pub(super) fn call(
        operation: &'static str,
        backend: &'static str,
        outcome: &'static str,
        kind: Option<&'static str>,
        elapsed: Duration,
    ) {
        metrics::counter!(OPERATIONS, "operation" => operation, "backend" => backend, "outcome" => outcome)
            .increment(1);
        metrics::histogram!(DURATION, "operation" => operation, "backend" => backend)
            .record(elapsed.as_secs_f64());
        if let Some(kind) = kind {
            metrics::counter!(ERRORS, "operation" => operation, "backend" => backend, "kind" => kind)
                .increment(1);
        }
    }

    pub(super) fn sessions(backend: &'static str, n: u64) {
        // Exact up to 2^53 sessions.
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!(SESSIONS, "backend" => backend).set(n as f64);
    }

    pub(super) fn event(name: &'static str, backend: &'static str) {
        metrics::counter!(name, "backend" => backend).increment(1);
    }

    pub(super) fn describe() {
        let counters = [
            (
                OPERATIONS,
                "Session store calls, by operation, backend and outcome.",
            ),
            (ERRORS, "Session store calls that failed, by kind of error."),
            (
                EVENT_RETRY,
                "Session saves retried after losing to a concurrent request.",
            ),
            (
                EVENT_GIVEN_UP,
                "Session saves given up after the conflict retry budget.",
            ),
            (
                EVENT_DAMAGED,
                "Stored session records that did not decode and were deleted.",
            ),
            (NEAR_CACHE_HITS, "Session loads answered by the near cache."),
            (
                NEAR_CACHE_MISSES,
                "Session loads the near cache sent to the backend.",
            ),
            (
                NEAR_CACHE_BYPASSED,
                "Session loads sent to the backend while the near cache's invalidation feed was down.",
            ),
            (
                NEAR_CACHE_EVICTIONS,
                "Near-cache records dropped to stay within the size limits.",
            ),
            (
                NEAR_CACHE_INVALIDATIONS,
                "Near-cache records dropped because another process changed them.",
            ),
            (
                NEAR_CACHE_FLUSHES,
                "Whole near-cache flushes (the invalidation feed went down or came back).",
            ),
        ];
        for (name, help) in counters {
            metrics::describe_counter!(name, Unit::Count, help);
        }
        metrics::describe_histogram!(DURATION, Unit::Seconds, "Session store call latency.");
        metrics::describe_gauge!(SESSIONS, Unit::Count, "Sessions held by the store.");
    }
}

#[cfg(not(feature = "metrics"))]
mod record {
    use std::time::Duration;

    pub(super) fn call(
        _: &'static str,
        _: &'static str,
        _: &'static str,
        _: Option<&'static str>,
        _: Duration,
    ) {
    }
    pub(super) fn sessions(_: &'static str, _: u64) {}
    pub(super) fn event(_: &'static str, _: &'static str) {}
    pub(super) fn describe() {}
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::Data;

    /// A store that answers each call from a script of results.
    #[derive(Debug, Default)]
    struct Scripted {
        loads: Mutex<Vec<Result<Option<Record>, Error>>>,
    }

    #[async_trait]
    impl SessionStore for Scripted {
        async fn create(&self, _: &Record) -> Result<(), Error> {
            Err(Error::Conflict)
        }
        async fn load(&self, _: &SessionId) -> Result<Option<Record>, Error> {
            self.loads.lock().unwrap().remove(0)
        }
        async fn save(&self, _: &Record) -> Result<(), Error> {
            Err(Error::Timeout(Duration::from_millis(5)))
        }
        async fn delete(&self, _: &SessionId) -> Result<(), Error> {
            Ok(())
        }
        async fn touch(&self, _: &SessionId, _: SystemTime) -> Result<(), Error> {
            Err(Error::Vanished)
        }
        async fn delete_expired(&self) -> Result<u64, Error> {
            Ok(0)
        }
        fn backend_name(&self) -> &'static str {
            "scripted"
        }
        fn approx_session_count(&self) -> Option<u64> {
            Some(7)
        }
    }

    fn record() -> Record {
        Record::new(
            SessionId::generate(),
            Data::new(),
            SystemTime::now() + Duration::from_secs(60),
        )
    }

    /// Every call is counted once under its outcome, failures by kind;
    /// the layer's events have counters of their own.
    #[cfg(feature = "metrics")]
    #[test]
    fn calls_are_counted_by_operation_outcome_and_kind() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let store = Scripted::default();
        store.loads.lock().unwrap().extend([
            Ok(Some(record())),
            Ok(None),
            Ok(None),
            Err(Error::Envelope { reason: "test" }),
        ]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        metrics::with_local_recorder(&recorder, || {
            let store = Instrumented::new(store);
            let id = SessionId::generate();
            rt.block_on(async {
                for _ in 0..4 {
                    let _ = store.load(&id).await;
                }
                let _ = store.create(&record()).await;
                let _ = store.save(&record()).await;
                let _ = store.touch(&id, SystemTime::now()).await;
                store.delete(&id).await.unwrap();
            });
            conflict_retried(&store);
            conflict_retried(&store);
            conflict_given_up(&store);
            damaged_record(&store);
        });
        let text = handle.render();
        let line = |metric: &str| {
            text.lines()
                .find(|l| l.starts_with(metric))
                .unwrap_or_else(|| panic!("no {metric} in\n{text}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_owned()
        };
        let ops = |op: &str, outcome: &str| {
            line(&format!(
                "keycard_store_operations_total{{operation=\"{op}\",backend=\"scripted\",outcome=\"{outcome}\"}}"
            ))
        };
        assert_eq!(ops("load", "ok"), "1");
        assert_eq!(ops("load", "not_found"), "2");
        assert_eq!(ops("load", "error"), "1");
        assert_eq!(ops("create", "conflict"), "1");
        assert_eq!(ops("save", "error"), "1");
        assert_eq!(ops("touch", "vanished"), "1");
        assert_eq!(ops("delete", "ok"), "1");
        let errors = |op: &str, kind: &str| {
            line(&format!(
                "keycard_store_errors_total{{operation=\"{op}\",backend=\"scripted\",kind=\"{kind}\"}}"
            ))
        };
        assert_eq!(errors("load", "damaged"), "1");
        assert_eq!(errors("save", "timeout"), "1");
        assert!(
            !text.contains("kind=\"conflict\""),
            "a conflict is no error"
        );
        assert_eq!(
            line("keycard_store_duration_seconds_count{operation=\"load\",backend=\"scripted\"}"),
            "4"
        );
        assert_eq!(line("keycard_sessions{backend=\"scripted\"}"), "7");
        assert_eq!(
            line("keycard_conflict_retries_total{backend=\"scripted\"}"),
            "2"
        );
        assert_eq!(
            line("keycard_conflicts_given_up_total{backend=\"scripted\"}"),
            "1"
        );
        assert_eq!(
            line("keycard_damaged_records_total{backend=\"scripted\"}"),
            "1"
        );
        assert!(
            text.contains("# HELP keycard_store_operations_total"),
            "{text}"
        );
    }

    /// The wrapper hands back exactly what the store answered.
    #[test]
    fn results_pass_through() {
        let store = Scripted::default();
        let kept = record();
        store.loads.lock().unwrap().push(Ok(Some(kept.clone())));
        let store = Instrumented::new(store);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            assert_eq!(store.load(&kept.id).await.unwrap(), Some(kept.clone()));
            assert!(matches!(store.create(&kept).await, Err(Error::Conflict)));
            assert!(matches!(
                store.touch(&kept.id, SystemTime::now()).await,
                Err(Error::Vanished)
            ));
            assert!(matches!(
                store.count_sessions().await,
                Err(Error::Unsupported(_))
            ));
        });
        assert_eq!(store.backend_name(), "scripted");
        assert_eq!(store.approx_session_count(), Some(7));
    }
}
