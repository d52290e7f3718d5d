//! The per-request cost of `Renewal::EveryRequest` (issue 16) for a handler
//! that never takes the session, against the default lazy renewal and no
//! session layer at all: the layer around a plain tower service, driven in
//! process (no HTTP), so the numbers are the layer's own work.
//!
//! Inside the refresh window an every-request renewal is a map lookup and
//! no store call, so the store behind it does not matter; once per window it
//! costs one `touch`, measured on its own for the memory store and, when
//! `REDIS_URL` (default `redis://127.0.0.1:6379`) answers and the `redis`
//! feature is on, for Redis.
//!
//! Run with: cargo bench -p session-cookie --features redis --bench renewal

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{criterion_main, Criterion};
use http::{Request, Response};
use session_cookie::core::{Record, SessionId};
use session_cookie::{MemoryStore, Renewal, SessionConfig, SessionLayer, SessionStore};
use tower::{ServiceBuilder, ServiceExt};

mod common;

const SECRET: &str = "bench-secret-0123456789abcdef0123456789abcdef";

async fn health(_: Request<String>) -> Result<Response<String>, Infallible> {
    Ok(Response::new("ok".into()))
}

/// Creates a session through the layer (a handler that loads and writes it)
/// and returns its `session=…` pair.
async fn logged_in(layer: &SessionLayer) -> String {
    async fn write(req: Request<String>) -> Result<Response<String>, Infallible> {
        let lazy = req
            .extensions()
            .get::<session_cookie::LazySession>()
            .expect("layer")
            .clone();
        let session = lazy.load().await.expect("load");
        session.insert("user_id", &42u64).expect("insert");
        Ok(Response::new("in".into()))
    }
    let svc = ServiceBuilder::new().layer(layer.clone()).service_fn(write);
    let r = svc.oneshot(Request::new(String::new())).await.unwrap();
    let set = r.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

fn request(cookie: &str) -> Request<String> {
    Request::builder()
        .header("cookie", cookie)
        .body(String::new())
        .unwrap()
}

fn per_request(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("request_without_session_extractor");
    let plain = ServiceBuilder::new().service_fn(health);
    group.bench_function("no_layer", |b| {
        b.to_async(&rt).iter(|| plain.oneshot(request("session=x")));
    });
    for (name, renewal) in [
        ("on_use", Renewal::OnUse),
        ("every_request_in_window", Renewal::EveryRequest),
    ] {
        let config = SessionConfig::builder(SECRET)
            .renewal(renewal)
            .build()
            .unwrap();
        let store = Arc::new(MemoryStore::new());
        let layer = SessionLayer::from_arc(store, config);
        let cookie = rt.block_on(logged_in(&layer));
        let svc = ServiceBuilder::new().layer(layer).service_fn(health);
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let call = svc.clone().oneshot(request(&cookie));
                async move {
                    let r = call.await.unwrap();
                    assert!(r.headers().get("set-cookie").is_none());
                    r
                }
            });
        });
    }
    group.finish();
}

/// The once-per-window cost: one `touch`.
fn touch(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("renewal_touch");
    for (name, store) in common::stores(&rt, "renewal") {
        let record = Record::new(
            SessionId::generate(),
            Default::default(),
            SystemTime::now() + Duration::from_secs(14_400),
        );
        rt.block_on(store.create(&record)).unwrap();
        let id = record.id.clone();
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let (store, id) = (Arc::clone(&store), id.clone());
                async move {
                    let at = SystemTime::now() + Duration::from_secs(14_400);
                    store.touch(&id, at).await.unwrap();
                }
            });
        });
        rt.block_on(store.delete(&id)).unwrap();
    }
    group.finish();
}

#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::per_request, super::touch);
}
use group::benches;
criterion_main!(benches);
