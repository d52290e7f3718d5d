//! The cost of recording metrics (issue 20): `GET /visits` (load, update
//! the counter, versioned save) through the layer, in process, on the
//! memory store and on Redis, with a Prometheus recorder receiving every
//! store call's counters and latency ("recorded") and without a recorder
//! ("not_recorded", what the `metrics` facade does when the app installs
//! none). Same binary, same layer, same run; the spans are created either
//! way (no `tracing` subscriber here).
//!
//! The recorder is installed only around the "recorded" iterations
//! (`metrics::with_local_recorder` on a current-thread runtime), so both
//! variants run in one process: criterion measures each in turn, then
//! `interleaved` alternates them round by round (for a busy machine) and
//! prints the medians and their ratio.
//!
//! Run with: cargo bench -p session-cookie --features metrics,redis --bench metrics
//! (Redis at `REDIS_URL`, default `redis://127.0.0.1:6379`).

use std::convert::Infallible;
use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion};
use http::{Request, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use session_cookie::{LazySession, SessionConfig, SessionLayer};
use tower::{Service, ServiceBuilder, ServiceExt};

mod common;

const SECRET: &str = "bench-secret-0123456789abcdef0123456789abcdef";

/// The hotel app's `/visits`: read-modify-write of one counter.
async fn visits(req: Request<String>) -> Result<Response<String>, Infallible> {
    let lazy = req
        .extensions()
        .get::<LazySession>()
        .expect("layer")
        .clone();
    let session = lazy.load().await.expect("load");
    let n: u64 = session
        .update("visits", |n: Option<u64>| n.unwrap_or(0) + 1)
        .expect("update");
    Ok(Response::new(n.to_string()))
}

fn request(cookie: Option<&str>) -> Request<String> {
    let mut req = Request::builder();
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    req.body(String::new()).unwrap()
}

/// `iters` sequential `/visits` requests on one session, timed.
fn run<S>(rt: &tokio::runtime::Runtime, svc: &S, cookie: &str, iters: u64) -> Duration
where
    S: Service<Request<String>, Response = Response<String>, Error = Infallible> + Clone,
{
    rt.block_on(async {
        let started = Instant::now();
        for _ in 0..iters {
            let r = svc.clone().oneshot(request(Some(cookie))).await.unwrap();
            assert_eq!(r.status(), 200);
        }
        started.elapsed()
    })
}

fn visits_with_and_without_metrics(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let recorder: PrometheusRecorder = PrometheusBuilder::new().build_recorder();
    let mut group = c.benchmark_group("visits");
    for (name, store) in common::stores(&rt, "metrics") {
        let config = SessionConfig::builder(SECRET).build().unwrap();
        let layer = SessionLayer::from_arc(store, config);
        let svc = ServiceBuilder::new().layer(layer).service_fn(visits);
        let first = rt.block_on(svc.clone().oneshot(request(None))).unwrap();
        let set = first.headers()["set-cookie"].to_str().unwrap();
        let cookie = set.split(';').next().unwrap().to_owned();
        group.bench_function(format!("{name}/not_recorded"), |b| {
            b.iter_custom(|iters| run(&rt, &svc, &cookie, iters));
        });
        group.bench_function(format!("{name}/recorded"), |b| {
            b.iter_custom(|iters| {
                metrics::with_local_recorder(&recorder, || run(&rt, &svc, &cookie, iters))
            });
        });
    }
    group.finish();
    // What was recorded, so that the run shows the recorder was fed.
    let text = recorder.handle().render();
    let saves = text
        .lines()
        .filter(|l| l.starts_with("keycard_store_operations_total{operation=\"save\""))
        .collect::<Vec<_>>();
    eprintln!("recorded: {saves:?}");
}

/// The same comparison interleaved, for a busy machine: rounds of
/// requests alternating between not recorded and recorded, the median
/// per-request time of each printed with their ratio (`ROUNDS`, default 31).
fn interleaved(_: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let recorder = PrometheusBuilder::new().build_recorder();
    let rounds: usize = std::env::var("ROUNDS").map_or(31, |r| r.parse().unwrap());
    for (name, store) in common::stores(&rt, "metrics") {
        let per_round = if name == "memory" { 20_000 } else { 500 };
        let config = SessionConfig::builder(SECRET).build().unwrap();
        let svc = ServiceBuilder::new()
            .layer(SessionLayer::from_arc(store, config))
            .service_fn(visits);
        let first = rt.block_on(svc.clone().oneshot(request(None))).unwrap();
        let set = first.headers()["set-cookie"].to_str().unwrap();
        let cookie = set.split(';').next().unwrap().to_owned();
        run(&rt, &svc, &cookie, per_round); // warm-up
        let (mut off, mut on) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            let plain = || run(&rt, &svc, &cookie, per_round);
            let recorded =
                || metrics::with_local_recorder(&recorder, || run(&rt, &svc, &cookie, per_round));
            // Alternate which goes first, so neither always follows the other.
            let (a, b) = if round % 2 == 0 {
                let a = plain();
                (a, recorded())
            } else {
                let b = recorded();
                (plain(), b)
            };
            off.push(a.as_secs_f64() * 1e6 / per_round as f64);
            on.push(b.as_secs_f64() * 1e6 / per_round as f64);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (off, on) = (median(&mut off), median(&mut on));
        println!(
            "interleaved {name}/visits: {rounds} rounds of {per_round}: not recorded {off:.2} µs, \
             recorded {on:.2} µs per request (median), recorded / not = {:.3}",
            on / off
        );
    }
}

#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(
        benches,
        super::visits_with_and_without_metrics,
        super::interleaved
    );
}
use group::benches;
criterion_main!(benches);
