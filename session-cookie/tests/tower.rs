//! The layer on a plain tower service (no axum): the `LazySession` in the
//! request extensions, loaded by hand.

use std::convert::Infallible;

use http::{Request, Response};
use session_cookie::{LazySession, MemoryStore, SessionConfig, SessionLayer};
use tower::{ServiceBuilder, ServiceExt};

async fn handler(req: Request<String>) -> Result<Response<String>, Infallible> {
    let Some(lazy) = req.extensions().get::<LazySession>() else {
        return Ok(Response::new("no layer".into()));
    };
    let session = match lazy.load().await {
        Ok(s) => s,
        Err(e) => return Ok(Response::new(e.to_string())),
    };
    let n = session.get::<u64>("n").ok().flatten().unwrap_or(0) + 1;
    if session.insert("n", &n).is_err() {
        return Ok(Response::new("too large".into()));
    }
    Ok(Response::new(n.to_string()))
}

#[tokio::test]
async fn works_on_any_tower_service() {
    let config = SessionConfig::builder("a-secret-of-at-least-32-bytes-long!!")
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(SessionLayer::new(MemoryStore::new(), config))
        .service_fn(handler);

    let first = svc
        .clone()
        .oneshot(Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(first.body(), "1");
    let cookie = first.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let second = svc
        .oneshot(
            Request::builder()
                .header("cookie", cookie)
                .body(String::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(second.body(), "2");
    // Saved inside the renewal window: same card, same expiry, no new cookie.
    assert!(!second.headers().contains_key("set-cookie"));
}
