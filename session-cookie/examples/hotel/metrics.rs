//! `GET /metrics` in the Prometheus text format (built with
//! `--features metrics`): the session store's counters and latency
//! histograms (see `session_cookie::core::telemetry`), recorded through the
//! `metrics` facade and exported by metrics-exporter-prometheus.

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

/// Store call latency buckets, in seconds: 100 µs (memory) to 1 s (the SQL
/// and Redis stores' default deadline).
const BUCKETS: [f64; 10] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0,
];

/// Installs the Prometheus recorder as the process's `metrics` recorder
/// (before the session layer is built, so that it describes its metrics to
/// it) and starts its upkeep (histogram maintenance, every 5 s).
pub(crate) fn install() -> Result<PrometheusHandle, BuildError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("keycard_store_duration_seconds".into()),
            &BUCKETS,
        )?
        .install_recorder()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// The `/metrics` route, rendering what `handle`'s recorder holds.
pub(crate) fn routes(handle: PrometheusHandle) -> Router {
    Router::new().route("/metrics", get(move || std::future::ready(handle.render())))
}
