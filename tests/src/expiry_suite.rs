//! The expiry model over HTTP (issue 16): browser-session cookies,
//! per-session expiry ("remember me") and renewal on every request. Every
//! backend runs it through [`http_suite!`](crate::http_suite), which lists
//! these tests.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::Path;
use axum::routing::post;
use axum::Router;
use reqwest::StatusCode;
use session_cookie::core::Expiry;
use session_cookie::{Renewal, Session, SessionConfig, SessionConfigBuilder, SessionStore};

use crate::damage::id_of;
use crate::{cookie_value, set_cookies, TestApp, SECRET};

/// Routes the expiry suite adds: `POST /expiry/{browser|default|SECONDS}`
/// chooses the session's expiry (storing a key, so that a new session is
/// kept), `POST /cycle` gives it a new ID. (The actix-web app adds the same
/// routes, see `on_actix`.)
pub fn routes() -> Router {
    async fn choose(session: Session, Path(spec): Path<String>) -> Result<String, StatusCode> {
        let expiry = parse_expiry(&spec).ok_or(StatusCode::BAD_REQUEST)?;
        session
            .set_expiry(expiry)
            .and_then(|()| session.insert("chosen", &spec))
            .map_err(|e| e.status())?;
        Ok(spec)
    }
    async fn cycle(session: Session) -> &'static str {
        session.cycle_id();
        "cycled"
    }
    Router::new()
        .route("/expiry/{spec}", post(choose))
        .route("/cycle", post(cycle))
}

/// The expiry `POST /expiry/{spec}` chooses: `browser`, `default` (none) or
/// a number of seconds; `None` for anything else (400).
#[allow(clippy::option_option)]
pub fn parse_expiry(spec: &str) -> Option<Option<Expiry>> {
    match spec {
        "browser" => Some(Some(Expiry::BrowserSession)),
        "default" => Some(None),
        secs => Some(Some(Expiry::Persistent(Duration::from_secs(
            secs.parse().ok()?,
        )))),
    }
}

fn config(edit: impl FnOnce(SessionConfigBuilder) -> SessionConfigBuilder) -> SessionConfig {
    edit(SessionConfig::builder(SECRET))
        .build()
        .expect("valid test config")
}

async fn serve(store: Arc<dyn SessionStore>, config: SessionConfig) -> TestApp {
    TestApp::hotel(store, config).await
}

/// The one `Set-Cookie` of a response, which must be there.
fn the_cookie(r: &reqwest::Response) -> String {
    let set = set_cookies(r.headers());
    assert_eq!(set.len(), 1, "one Set-Cookie expected: {set:?}");
    set[0].clone()
}

fn has_no_expiry(set_cookie: &str) -> bool {
    !set_cookie.contains("Max-Age") && !set_cookie.contains("Expires")
}

/// The stored record's expiry, in whole seconds from now (rounded).
async fn stored_secs_left(app: &TestApp, card: &str) -> u64 {
    let record = app
        .store
        .inner()
        .load(&id_of(card))
        .await
        .expect("load")
        .expect("the record is stored");
    let left = record
        .expires_at
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    (left + Duration::from_millis(500)).as_secs()
}

/// `POST /login`, optionally remembered, from a cookieless client.
async fn login(app: &TestApp, remember: Option<bool>) -> reqwest::Response {
    let mut body = serde_json::json!({
        "email": crate::hotel::DEMO_EMAIL,
        "password": crate::hotel::DEMO_PASSWORD,
    });
    if let Some(remember) = remember {
        body["remember"] = remember.into();
    }
    let r = app
        .bare
        .post(app.at("/login"))
        .json(&body)
        .send()
        .await
        .expect("POST /login");
    assert_eq!(r.status(), StatusCode::OK, "login");
    r
}

/// `max_age = none` and a plain login give a cookie without
/// `Max-Age`/`Expires`, while the record expires after
/// `browser_session_ttl` without use; "remember me" gives the remembered
/// lifetime.
pub async fn browser_session_cookie_has_no_expiry_but_its_record_does(
    store: Arc<dyn SessionStore>,
) {
    let app = serve(
        Arc::clone(&store),
        config(|b| {
            b.browser_session()
                .browser_session_ttl(Duration::from_secs(1))
                .refresh_after(1.0)
        }),
    )
    .await;
    let r = app.bare.get(app.at("/visits")).send().await.expect("GET");
    let set = the_cookie(&r);
    assert!(has_no_expiry(&set), "a browser-session cookie: {set}");
    let card = cookie_value(r.headers()).expect("card");
    assert_eq!(stored_secs_left(&app, &card).await, 1);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let r = app.get_with("/visits", &card).await;
    let body: serde_json::Value = r.json().await.expect("JSON");
    assert_eq!(body["visits"], 1, "the record outlived browser_session_ttl");

    // With the default (persistent) max_age, a plain login still gives a
    // browser-session cookie, whose record lives browser_session_ttl.
    let app = app_default(store).await;
    for remember in [None, Some(false)] {
        let r = login(&app, remember).await;
        let set = the_cookie(&r);
        assert!(has_no_expiry(&set), "login {remember:?}: {set}");
        let card = cookie_value(r.headers()).expect("card");
        assert_eq!(stored_secs_left(&app, &card).await, 14_400);
    }
    let r = login(&app, Some(true)).await;
    let remembered = crate::hotel::REMEMBER_FOR.as_secs();
    assert!(the_cookie(&r).contains(&format!("Max-Age={remembered}")));
    let card = cookie_value(r.headers()).expect("card");
    assert_eq!(stored_secs_left(&app, &card).await, remembered);
}

async fn app_default(store: Arc<dyn SessionStore>) -> TestApp {
    serve(store, config(|b| b)).await
}

/// A session's own lifetime (here 4 s, against a 4 h `max_age`) sets its
/// cookie and record at every renewal and survives `cycle_id`; so does a
/// browser-session choice.
pub async fn remembered_session_keeps_its_lifetime_across_renewals_and_cycles(
    store: Arc<dyn SessionStore>,
) {
    let app = app_default(store).await;
    let r = app.post("/expiry/4").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(the_cookie(&r).contains("Max-Age=4"), "{}", the_cookie(&r));
    let card = cookie_value(r.headers()).expect("card");
    assert_eq!(stored_secs_left(&app, &card).await, 4);
    // A read inside the window (a quarter of 4 s) renews nothing.
    let r = app.get("/keys").await;
    assert!(set_cookies(r.headers()).is_empty());
    assert_eq!(app.store.calls().touch, 0);
    // After it, one touch, to the session's own lifetime.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let r = app.get("/keys").await;
    assert!(the_cookie(&r).contains("Max-Age=4"), "{}", the_cookie(&r));
    assert_eq!(app.store.calls().touch, 1);
    assert_eq!(stored_secs_left(&app, &card).await, 4);
    // A new ID keeps the choice.
    let r = app.post("/cycle").await;
    assert!(the_cookie(&r).contains("Max-Age=4"), "{}", the_cookie(&r));
    let cycled = cookie_value(r.headers()).expect("card");
    assert_ne!(cycled, card);
    assert_eq!(stored_secs_left(&app, &cycled).await, 4);
    let record = app.store.inner().load(&id_of(&cycled)).await.unwrap();
    assert_eq!(
        record.expect("stored").expiry,
        Some(Expiry::Persistent(Duration::from_secs(4)))
    );
    // Kept alive by renewals well past its first 4 s.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        assert_eq!(app.get("/keys").await.status(), StatusCode::OK);
    }
    assert_eq!(stored_secs_left(&app, &cycled).await, 4);

    // A browser-session choice: no expiry on the cookie, before and after
    // a cycle, and back to the default on request.
    let r = app.post("/expiry/browser").await;
    assert!(has_no_expiry(&the_cookie(&r)), "{}", the_cookie(&r));
    assert_eq!(stored_secs_left(&app, &cycled).await, 14_400);
    let r = app.post("/cycle").await;
    assert!(has_no_expiry(&the_cookie(&r)), "{}", the_cookie(&r));
    let r = app.post("/expiry/default").await;
    assert!(the_cookie(&r).contains("Max-Age=14400"));
    // A lifetime outside 1 s to 400 days is refused, and nothing changes.
    let r = app.post("/expiry/0").await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(set_cookies(r.headers()).is_empty());
}

/// `absolute_max_age` (counted from login) caps a remembered session and a
/// browser-session one alike: both are gone at the cap, however active.
pub async fn absolute_cap_holds_for_both_kinds(store: Arc<dyn SessionStore>) {
    let app = serve(
        store,
        config(|b| {
            b.max_age(Duration::from_secs(60))
                .absolute_max_age(Duration::from_secs(2))
        }),
    )
    .await;
    for remember in [false, true] {
        let r = login(&app, Some(remember)).await;
        let set = the_cookie(&r);
        if remember {
            assert!(set.contains("Max-Age=2"), "Max-Age follows the cap: {set}");
        } else {
            assert!(has_no_expiry(&set), "{set}");
        }
        let card = cookie_value(r.headers()).expect("card");
        assert_eq!(
            stored_secs_left(&app, &card).await,
            2,
            "remember {remember}"
        );
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        assert_eq!(
            app.get_with("/visits", &card).await.status(),
            StatusCode::OK
        );
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert_eq!(
            app.get_with("/profile", &card).await.status(),
            StatusCode::UNAUTHORIZED,
            "remember {remember}: alive past the cap"
        );
    }
}

/// `Renewal::EveryRequest`: a session used only by a handler that never
/// extracts it is renewed, with one `touch` per refresh window and no store
/// call inside it; a layer that never saw the session loads it once.
pub async fn every_request_renews_without_extracting(store: Arc<dyn SessionStore>) {
    let every = || {
        config(|b| {
            b.max_age(Duration::from_secs(4))
                .refresh_after(0.25)
                .renewal(Renewal::EveryRequest)
        })
    };
    let app = serve(Arc::clone(&store), every()).await;
    let r = app.get("/visits").await;
    let card = cookie_value(r.headers()).expect("card");
    let before = app.store.calls();
    for _ in 0..3 {
        let r = app.get("/health").await;
        assert!(set_cookies(r.headers()).is_empty());
    }
    assert_eq!(app.store.calls(), before, "a store call inside the window");
    // Only session-free requests from here on: one touch per window keeps
    // the session alive well past its 4 s.
    for window in 1..=5 {
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let r = app.get("/health").await;
        assert!(the_cookie(&r).contains("Max-Age=4"), "{}", the_cookie(&r));
        let r = app.get("/health").await;
        assert!(set_cookies(r.headers()).is_empty(), "renewed twice");
        let calls = app.store.calls();
        assert_eq!(calls.touch, before.touch + window, "window {window}");
        assert_eq!(calls.total(), before.total() + window, "window {window}");
    }
    let r = app.get("/visits").await;
    let body: serde_json::Value = r.json().await.expect("JSON");
    assert_eq!(body["visits"], 2, "the session was not kept alive");

    // Another process (a fresh layer) knows nothing of the session: one
    // load, then nothing more inside the window.
    let other = serve(store, every()).await;
    let r = other.get_with("/health", &card).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(other.store.calls().load, 1);
    let first = other.store.calls().total();
    assert!(first <= 2, "a load and at most one touch: {first}");
    other.get_with("/health", &card).await;
    assert_eq!(other.store.calls().total(), first);

    // The default stays lazy: no store call, no renewal.
    let lazy = app_default(Arc::clone(app.store.inner())).await;
    lazy.get_with("/health", &card).await;
    assert_eq!(lazy.store.calls().total(), 0);
}
