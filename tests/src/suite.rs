//! The HTTP suite: every rule of the request lifecycle, checked over a real
//! TCP connection against the hotel app. Every backend runs it through
//! [`http_suite!`](crate::http_suite).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::post;
use axum::Router;
use reqwest::StatusCode;
use serde_json::Value;
use session_cookie::core::{IdSigner, SessionId};
use session_cookie::{Session, SessionConfig, SessionConfigBuilder, SessionStore};

use crate::{cookie_value, is_removal, set_cookies, TestApp, SECRET};

/// Expands to one `#[tokio::test]` per HTTP rule (this module's and
/// [`expiry_suite`](crate::expiry_suite)'s) and per adapter (modules
/// `on_axum` and `on_actix`), each on a fresh store from `$factory` (an
/// expression evaluating to a future of `Arc<dyn SessionStore>`).
#[macro_export]
macro_rules! http_suite {
    ($factory:expr) => {
        /// The HTTP suite on session-cookie's layer, on axum.
        mod on_axum {
            #[allow(unused_imports)]
            use super::*;
            $crate::http_suite!(@adapter Axum $factory);
        }
        /// The same suite on session-actix's middleware, on actix-web.
        mod on_actix {
            #[allow(unused_imports)]
            use super::*;
            $crate::http_suite!(@adapter Actix $factory);
        }
    };
    (@adapter $adapter:ident $factory:expr) => {
        $crate::http_suite!(@tests $adapter suite $factory;
            login_profile_logout_replay, lazy_handler_costs_no_store_call,
            unchanged_session_writes_nothing, first_write_creates_later_writes_save,
            cookie_attributes_follow_config, clear_deletes_and_removes_cookie,
            cycle_id_moves_data_and_kills_old_card, forged_cards_get_fresh_sessions,
            fallback_secret_is_reissued, reads_renew_at_most_once_per_window,
            absolute_lifetime_caps_renewal, store_down_is_503_never_success,
            continue_empty_policy_serves_reads, bad_logins_create_nothing,
            oversized_value_is_413, missing_layer_is_named, concurrent_visits_on_one_session,
            concurrent_requests_keep_each_others_keys, log_out_everywhere_else,
            sibling_cookies_never_hide_the_session, first_session_cookie_that_verifies_wins,
            forged_cards_are_cleared_without_a_store_call, gone_cards_are_cleared_once_loaded,
            new_session_wins_over_the_removal, damaged_during_a_retry_ends_the_session,
            store_failure_during_a_retry_is_503);
        // Issue 16: the expiry model (see `expiry_suite`).
        $crate::http_suite!(@tests $adapter expiry_suite $factory;
            browser_session_cookie_has_no_expiry_but_its_record_does,
            remembered_session_keeps_its_lifetime_across_renewals_and_cycles,
            absolute_cap_holds_for_both_kinds, every_request_renews_without_extracting);
    };
    (@tests $adapter:ident $module:ident $factory:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store: ::std::sync::Arc<dyn ::session_cookie::SessionStore> = $factory.await;
                $crate::Adapter::$adapter.run($crate::$module::$name(store)).await;
            }
        )*
    };
}

/// Routes the suite adds to the hotel app.
pub fn extra_routes() -> Router {
    async fn clear(session: Session) -> &'static str {
        session.clear();
        "cleared"
    }
    async fn big(session: Session) -> Result<&'static str, session_cookie::Error> {
        session.insert("big", &"x".repeat(100 * 1024))?;
        Ok("stored")
    }
    async fn set_key(
        session: Session,
        axum::extract::Path(key): axum::extract::Path<String>,
    ) -> Result<&'static str, session_cookie::Error> {
        session.insert(&key, &true)?;
        Ok("set")
    }
    async fn keys(session: Session) -> axum::Json<Vec<String>> {
        axum::Json(session.keys())
    }
    Router::new()
        .route("/clear", post(clear))
        .route("/big", post(big))
        .route("/keys/{key}", post(set_key))
        .route("/keys", axum::routing::get(keys))
}

fn config(edit: impl FnOnce(SessionConfigBuilder) -> SessionConfigBuilder) -> SessionConfig {
    edit(SessionConfig::builder(SECRET))
        .build()
        .expect("valid test config")
}

async fn app(store: Arc<dyn SessionStore>) -> TestApp {
    TestApp::hotel(store, config(|b| b)).await
}

async fn json(r: reqwest::Response) -> Value {
    r.json().await.expect("JSON body")
}

/// login → profile → logout → the copied card is 401.
pub async fn login_profile_logout_replay(store: Arc<dyn SessionStore>) {
    let app = app(store).await;
    let r = app.login().await;
    assert_eq!(r.status(), StatusCode::OK);
    let card = cookie_value(r.headers()).expect("login sets the cookie");
    assert_eq!(json(r).await["message"], "Logged in");

    let r = app.get("/profile").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json(r).await["user"]["email"], crate::hotel::DEMO_EMAIL);

    let r = app.post("/logout").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        set_cookies(r.headers())[0].contains("Max-Age=0"),
        "logout removes the cookie"
    );
    assert_eq!(json(r).await["message"], "Logged out");
    assert_eq!(app.get("/profile").await.status(), StatusCode::UNAUTHORIZED);
    // The hotel key card stops working on the server, not just in the browser.
    assert_eq!(
        app.get_with("/profile", &card).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// A handler that never extracts the session costs no store call.
pub async fn lazy_handler_costs_no_store_call(store: Arc<dyn SessionStore>) {
    let app = app(store).await;
    app.login().await;
    let before = app.store.calls();
    let r = app.get("/health").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(set_cookies(r.headers()).is_empty());
    assert_eq!(
        app.store.calls(),
        before,
        "a session-free handler touched the store"
    );
}

/// An unchanged session inside the renewal window: one load, no write, no cookie.
pub async fn unchanged_session_writes_nothing(store: Arc<dyn SessionStore>) {
    let app = app(store).await;
    app.login().await;
    let before = app.store.calls();
    let r = app.get("/profile").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        set_cookies(r.headers()).is_empty(),
        "read-only request set a cookie"
    );
    let after = app.store.calls();
    assert_eq!(
        after.writes(),
        before.writes(),
        "read-only request wrote to the store"
    );
    assert_eq!(after.load, before.load + 1);
}

/// The first write is one `create`; later writes are one `save` each.
pub async fn first_write_creates_later_writes_save(store: Arc<dyn SessionStore>) {
    let app = app(store).await;
    let r = app.get("/visits").await;
    assert_eq!(json(r).await["visits"], 1);
    let c = app.store.calls();
    assert_eq!((c.create, c.save, c.delete, c.touch), (1, 0, 0, 0));
    let r = app.get("/visits").await;
    // Inside the renewal window a save keeps the expiry: no new cookie.
    assert!(set_cookies(r.headers()).is_empty());
    assert_eq!(json(r).await["visits"], 2);
    let c = app.store.calls();
    assert_eq!((c.create, c.save, c.delete, c.touch), (1, 1, 0, 0));
}

/// Max-Age, Path, HttpOnly, SameSite by default; Secure and Domain when configured.
pub async fn cookie_attributes_follow_config(store: Arc<dyn SessionStore>) {
    let app = app(Arc::clone(&store)).await;
    let r = app.get("/visits").await;
    let set = &set_cookies(r.headers())[0];
    for part in [
        "session=",
        "Max-Age=14400",
        "Path=/",
        "HttpOnly",
        "SameSite=Lax",
    ] {
        assert!(set.contains(part), "{part} missing in {set}");
    }
    assert!(!set.contains("Secure") && !set.contains("Domain"), "{set}");
    assert_eq!(r.headers()["cache-control"], "no-store");

    let strict = TestApp::hotel(
        store,
        config(|b| {
            b.session_cookie("sid")
                .https_only(true)
                .domain("example.test")
                .same_site(session_cookie::SameSite::Strict)
                .max_age(Duration::from_secs(600))
        }),
    )
    .await;
    let r = strict.bare.get(strict.at("/visits")).send().await.unwrap();
    let set = &set_cookies(r.headers())[0];
    for part in [
        "sid=",
        "Max-Age=600",
        "Secure",
        "Domain=example.test",
        "SameSite=Strict",
    ] {
        assert!(set.contains(part), "{part} missing in {set}");
    }
}

/// `clear()` that empties the session deletes the record and removes the cookie.
pub async fn clear_deletes_and_removes_cookie(store: Arc<dyn SessionStore>) {
    let app = app(store).await;
    let r = app.get("/visits").await;
    let card = cookie_value(r.headers()).unwrap();
    let r = app.post("/clear").await;
    let set = &set_cookies(r.headers())[0];
    assert!(
        set.starts_with("session=;") && set.contains("Max-Age=0") && set.contains("Path=/"),
        "{set}"
    );
    assert_eq!(app.store.calls().delete, 1);
    let r = app.get_with("/visits", &card).await;
    assert_eq!(
        json(r).await["visits"],
        1,
        "the cleared record was still there"
    );
}

/// `cycle_id()` at login: a new card, the same data, and the old card finds nothing.
pub async fn cycle_id_moves_data_and_kills_old_card(store: Arc<dyn SessionStore>) {
    let app = app(store).await;
    let anonymous = cookie_value(app.get("/visits").await.headers()).unwrap();
    let r = app.login().await;
    let logged_in = cookie_value(r.headers()).unwrap();
    assert_ne!(anonymous, logged_in, "login must issue a new card");
    assert_eq!(
        json(app.get("/visits").await).await["visits"],
        2,
        "data kept across cycle_id"
    );
    let r = app.get_with("/visits", &anonymous).await;
    assert_eq!(
        json(r).await["visits"],
        1,
        "the old card still found the session"
    );
}

/// Tampered, unknown, unsigned and foreign cards give a fresh session, and
/// nothing is stored under an ID the client chose.
pub async fn forged_cards_get_fresh_sessions(store: Arc<dyn SessionStore>) {
    let app = app(Arc::clone(&store)).await;
    let good = cookie_value(app.login().await.headers()).unwrap();
    let value = good.trim_start_matches("session=");
    let chosen = SessionId::generate();
    let mut flipped = value.to_owned().into_bytes();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    let foreign = IdSigner::new(
        "session",
        &"another-secret-0123456789abcdef-0123456".into(),
        [],
    )
    .sign(&SessionId::generate());
    let cards = [
        format!("session={}", String::from_utf8(flipped).unwrap()),
        format!("session={chosen}"),
        format!("session={chosen}.{}", &value[23..]),
        format!("session={foreign}"),
        format!("session={}", "A".repeat(10_000)),
        "session=%%%; session".to_string(),
    ];
    for card in &cards {
        let r = app.get_with("/profile", card).await;
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{card:.40} was accepted"
        );
        let r = app.get_with("/visits", card).await;
        assert_eq!(r.status(), StatusCode::OK);
        let issued = cookie_value(r.headers()).unwrap();
        assert_ne!(&issued, card);
        assert!(
            !issued.contains(&chosen.to_string()),
            "a client-chosen ID was adopted"
        );
        assert_eq!(json(r).await["visits"], 1);
    }
    assert!(
        store.load(&chosen).await.unwrap().is_none(),
        "a record exists under the client's ID"
    );
}

/// A card signed by a fallback secret works and is re-issued under the current one.
pub async fn fallback_secret_is_reissued(store: Arc<dyn SessionStore>) {
    let old = app(Arc::clone(&store)).await;
    let card = cookie_value(old.login().await.headers()).unwrap();
    let new_secret = "rotated-secret-0123456789abcdef-01234567";
    let rotated = TestApp::hotel(
        store,
        SessionConfig::builder(new_secret)
            .fallback_secret_keys([SECRET])
            .build()
            .unwrap(),
    )
    .await;
    let r = rotated.get_with("/profile", &card).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the fallback secret did not verify"
    );
    let reissued = cookie_value(r.headers()).expect("a fallback-signed card is re-issued");
    assert_ne!(reissued, card);
    assert_eq!(
        rotated.store.calls().writes(),
        0,
        "re-issue needs no store write"
    );
    let current = IdSigner::new("session", &new_secret.into(), []);
    assert!(current
        .verify(reissued.trim_start_matches("session="))
        .is_some());
    assert_eq!(
        rotated.get_with("/profile", &reissued).await.status(),
        StatusCode::OK
    );
}

/// `max_age` is an idle lifetime: a read renews it (one touch) only after
/// `refresh_after` of it has passed, and not again inside the window.
pub async fn reads_renew_at_most_once_per_window(store: Arc<dyn SessionStore>) {
    let app = TestApp::hotel(
        store,
        config(|b| b.max_age(Duration::from_secs(4)).refresh_after(0.25)),
    )
    .await;
    // An anonymous session: it follows max_age (a login would choose a
    // browser-session cookie, see the expiry suite).
    assert_eq!(app.post("/keys/a").await.status(), StatusCode::OK);
    let r = app.get("/keys").await;
    assert!(set_cookies(r.headers()).is_empty());
    assert_eq!(app.store.calls().touch, 0);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let r = app.get("/keys").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.store.calls().touch,
        1,
        "a read after the window must renew"
    );
    assert!(set_cookies(r.headers())[0].contains("Max-Age=4"));
    let r = app.get("/keys").await;
    assert!(set_cookies(r.headers()).is_empty());
    assert_eq!(
        app.store.calls().touch,
        1,
        "renewed twice inside one window"
    );
    // Renewal keeps an active session alive past its first max_age.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let keys: Vec<String> = app.get("/keys").await.json().await.unwrap();
        assert_eq!(keys, ["a"], "the session ended while in use");
    }
}

/// `absolute_max_age` caps renewal: cookie and store expire together at the cap.
pub async fn absolute_lifetime_caps_renewal(store: Arc<dyn SessionStore>) {
    let app = TestApp::hotel(
        store,
        config(|b| {
            b.max_age(Duration::from_secs(60))
                .absolute_max_age(Duration::from_secs(2))
        }),
    )
    .await;
    // An anonymous session, which follows max_age (logins: see the expiry
    // suite).
    let r = app.bare.get(app.at("/visits")).send().await.unwrap();
    let set = &set_cookies(r.headers())[0];
    assert!(
        set.contains("Max-Age=2"),
        "cookie Max-Age must follow the cap: {set}"
    );
    let card = cookie_value(r.headers()).unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let r = app.get_with("/visits", &card).await;
    assert_eq!(json(r).await["visits"], 2);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let r = app.get_with("/visits", &card).await;
    assert_eq!(json(r).await["visits"], 1, "alive past the cap");
}

/// A store that is down answers 503, never a success that did not happen.
pub async fn store_down_is_503_never_success(store: Arc<dyn SessionStore>) {
    let app = app(store).await;
    app.login().await;
    app.store.fail_all.store(true, Ordering::SeqCst);
    assert_eq!(
        app.get("/profile").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        app.get("/health").await.status(),
        StatusCode::OK,
        "session-free routes keep working"
    );
    app.store.fail_all.store(false, Ordering::SeqCst);
    app.store.fail_writes.store(true, Ordering::SeqCst);
    let r = app.get("/visits").await;
    assert_eq!(
        r.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "a failed save was reported as success"
    );
    assert!(set_cookies(r.headers()).is_empty());
    app.store.fail_writes.store(false, Ordering::SeqCst);
    assert_eq!(
        json(app.get("/visits").await).await["visits"],
        1,
        "the failed save was kept"
    );
}

/// With `OnStoreError::ContinueEmpty`, reads see an empty session and writes are 503.
pub async fn continue_empty_policy_serves_reads(store: Arc<dyn SessionStore>) {
    let app = crate::AppSpec::new(crate::CountingStore::new(store), config(|b| b))
        .on_store_error(session_cookie::OnStoreError::ContinueEmpty)
        .serve()
        .await;
    app.login().await;
    app.store.fail_all.store(true, Ordering::SeqCst);
    assert_eq!(app.get("/profile").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/visits").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    app.store.fail_all.store(false, Ordering::SeqCst);
    assert_eq!(
        app.get("/profile").await.status(),
        StatusCode::OK,
        "the session survived the outage"
    );
}

/// Wrong credentials and malformed bodies create no session.
pub async fn bad_logins_create_nothing(store: Arc<dyn SessionStore>) {
    let app = app(store).await;
    let wrong = app
        .client
        .post(app.at("/login"))
        .json(&serde_json::json!({"email": crate::hotel::DEMO_EMAIL, "password": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookies(wrong.headers()).is_empty());
    let malformed = app
        .client
        .post(app.at("/login"))
        .header("content-type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .unwrap();
    assert!(
        malformed.status().is_client_error(),
        "{}",
        malformed.status()
    );
    let missing = app
        .client
        .post(app.at("/login"))
        .body("email=x")
        .send()
        .await
        .unwrap();
    assert!(missing.status().is_client_error());
    assert_eq!(app.store.calls().create, 0);
}

/// A value over `max_data_size` answers 413 and the session keeps its data.
pub async fn oversized_value_is_413(store: Arc<dyn SessionStore>) {
    let app = app(store).await;
    app.get("/visits").await;
    assert_eq!(
        app.post("/big").await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(json(app.get("/visits").await).await["visits"], 2);
}

/// Without the layer the extractor names the fix.
pub async fn missing_layer_is_named(_store: Arc<dyn SessionStore>) {
    let counting = crate::CountingStore::new(Arc::new(session_cookie::MemoryStore::new()));
    let app = crate::AppSpec::new(counting, config(|b| b))
        .without_layer()
        .serve()
        .await;
    let r = app.get("/visits").await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let fix = crate::Adapter::current().layer_fix();
    assert!(r.text().await.unwrap().contains(fix));
}

/// 100 concurrent `/visits` on one session all succeed and none is lost:
/// `update` re-runs on the fresh value when a concurrent save came first.
pub async fn concurrent_visits_on_one_session(store: Arc<dyn SessionStore>) {
    let app = app(store).await;
    let card = cookie_value(app.get("/visits").await.headers()).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (bare, url, card) = (app.bare.clone(), app.at("/visits"), card.clone());
        tasks.push(tokio::spawn(async move {
            bare.get(url)
                .header("cookie", card)
                .send()
                .await
                .map(|r| r.status())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), StatusCode::OK);
    }
    let r = app.get_with("/visits", &card).await;
    let n = json(r).await["visits"].as_u64().unwrap();
    assert_eq!(
        n, 102,
        "1 + 100 concurrent + 1 visits: increments were lost"
    );
    let c = app.store.calls();
    eprintln!(
        "100 concurrent /visits: {} saves for 101 successful increments",
        c.save
    );
}

/// 50 concurrent requests each setting its own key leave all 50 keys.
pub async fn concurrent_requests_keep_each_others_keys(store: Arc<dyn SessionStore>) {
    let app = app(store).await;
    let card = cookie_value(app.get("/visits").await.headers()).unwrap();
    let mut tasks = Vec::new();
    for k in 0..50 {
        let (bare, url, card) = (
            app.bare.clone(),
            app.at(&format!("/keys/k{k}")),
            card.clone(),
        );
        tasks.push(tokio::spawn(async move {
            bare.post(url)
                .header("cookie", card)
                .send()
                .await
                .map(|r| r.status())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), StatusCode::OK);
    }
    let keys = json(app.get_with("/keys", &card).await).await;
    let keys: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for k in 0..50 {
        assert!(
            keys.contains(&format!("k{k}").as_str()),
            "key k{k} was lost: {keys:?}"
        );
    }
    assert!(keys.contains(&"visits"));
}

/// One user logged in from 5 browsers: the list shows them, logging out
/// everywhere else ends the 4 others (401) and keeps the fifth. A store
/// without a per-user index answers 501 instead of scanning.
pub async fn log_out_everywhere_else(store: Arc<dyn SessionStore>) {
    let indexed = store.indexes_users();
    let app = app(store).await;
    let mut browsers = Vec::new();
    for n in 0..5 {
        let client = app.new_client();
        let r = client
            .post(app.at("/login"))
            .header("user-agent", format!("browser-{n}"))
            .json(&serde_json::json!({ "email": crate::hotel::DEMO_EMAIL, "password": crate::hotel::DEMO_PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        browsers.push(client);
    }
    let list = browsers[0].get(app.at("/sessions")).send().await.unwrap();
    if !indexed {
        assert_eq!(list.status(), StatusCode::NOT_IMPLEMENTED);
        let r = browsers[0]
            .post(app.at("/logout-everywhere"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_IMPLEMENTED);
        return;
    }
    let list = json(list).await;
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 5, "{list}");
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(sessions.iter().any(|s| s["user_agent"] == "browser-3"));

    // A logged-out browser disappears from the list.
    browsers[4].post(app.at("/logout")).send().await.unwrap();
    let list = json(browsers[0].get(app.at("/sessions")).send().await.unwrap()).await;
    assert_eq!(list["sessions"].as_array().unwrap().len(), 4, "{list}");

    let r = browsers[0]
        .post(app.at("/logout-everywhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json(r).await["ended"], 3);
    for (n, b) in browsers.iter().enumerate() {
        let status = b.get(app.at("/profile")).send().await.unwrap().status();
        let expected = if n == 0 {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(status, expected, "browser {n}");
    }
    let list = json(browsers[0].get(app.at("/sessions")).send().await.unwrap()).await;
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1, "{list}");
}

/// A card with a valid syntax and a wrong tag.
fn forged(pair: &str) -> String {
    let mut bytes = pair.as_bytes().to_vec();
    let last = bytes.len() - 2;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ASCII card")
}

/// Issue 14.1: a sibling cookie with UTF-8 in its value (as browsers send
/// `pref=Zürich`), or otherwise malformed, before or after the session
/// cookie, never logs the user out.
pub async fn sibling_cookies_never_hide_the_session(store: Arc<dyn SessionStore>) {
    let app = app(store).await;
    let card = app.login_card().await;
    let cookies = [
        format!("{card}; pref=Zürich"),
        format!("pref=Zürich; {card}"),
        format!("a=\"unclosed; pref=Zürich;;; =; {card};theme=dark"),
        format!("Zürich=1; {card}"),
    ];
    for cookie in &cookies {
        let r = app
            .send_with(reqwest::Method::GET, "/profile", cookie.as_bytes())
            .await;
        assert_eq!(r.status(), StatusCode::OK, "logged out by {cookie:.60}");
        assert!(set_cookies(r.headers()).is_empty(), "{cookie:.60}");
    }
}

/// Issue 14.1: with several session cookies (one set for `/`, one for a
/// sub-path), the first that verifies wins; forged ones before it are
/// skipped.
pub async fn first_session_cookie_that_verifies_wins(store: Arc<dyn SessionStore>) {
    let app = app(store).await;
    let visit = |cookie: String| {
        let app = &app;
        async move {
            let r = app
                .send_with(reqwest::Method::GET, "/visits", cookie.as_bytes())
                .await;
            assert_eq!(r.status(), StatusCode::OK);
            json(r).await["visits"].as_u64().expect("a count")
        }
    };
    let mut cards = Vec::new();
    for _ in 0..2 {
        let r = app.bare.get(app.at("/visits")).send().await.unwrap();
        cards.push(cookie_value(r.headers()).expect("a card"));
    }
    let (one, two) = (cards[0].clone(), cards[1].clone());
    assert_eq!(visit(two.clone()).await, 2);
    // `one` has 1 visit, `two` has 2.
    assert_eq!(visit(format!("{one}; {two}")).await, 2, "not the first");
    assert_eq!(visit(format!("{two}; {one}")).await, 3, "not the first");
    let bad = forged(&one);
    assert_eq!(
        visit(format!("{bad}; x=Zürich; {two}; {one}")).await,
        4,
        "a forged first cookie was not skipped"
    );
    assert_eq!(visit(format!("session=; {one}")).await, 3);
}

/// Issue 14.2: a session cookie that fails verification (forged, badly
/// signed, malformed) is cleared, even by a handler that never extracts the
/// session, and without a store call.
pub async fn forged_cards_are_cleared_without_a_store_call(store: Arc<dyn SessionStore>) {
    let app = app(store).await;
    let good = app.login_card().await;
    let foreign = IdSigner::new(
        "session",
        &"another-secret-0123456789abcdef-0123456".into(),
        [],
    )
    .sign(&SessionId::generate());
    let cards = [
        forged(&good),
        format!("session={foreign}"),
        format!("session={}", SessionId::generate()),
        "session=%%%".to_owned(),
        "session=Zürich".to_owned(),
    ];
    for card in &cards {
        let before = app.store.calls();
        for (method, path, status) in [
            (reqwest::Method::GET, "/health", StatusCode::OK),
            (reqwest::Method::GET, "/profile", StatusCode::UNAUTHORIZED),
            (reqwest::Method::POST, "/logout", StatusCode::OK),
        ] {
            app.assert_clears(card, method, path, status).await;
        }
        assert_eq!(
            app.store.calls().total(),
            before.total(),
            "a card that fails the MAC cost a store call"
        );
    }
    // Not a session cookie: nothing to clear.
    let r = app.get_with("/profile", "other=1; sessions=2").await;
    assert!(set_cookies(r.headers()).is_empty());
    // Same name, path and domain as the cookie it removes.
    let custom = TestApp::hotel(
        Arc::clone(app.store.inner()),
        config(|b| b.session_cookie("sid").domain("example.test").path("/")),
    )
    .await;
    let r = custom.get_with("/health", "sid=forged").await;
    assert!(
        is_removal(r.headers(), "sid"),
        "{:?}",
        set_cookies(r.headers())
    );
    assert!(set_cookies(r.headers())[0].contains("Domain=example.test"));
}

/// Issue 14.2: a card that verifies but whose record is gone (logged out,
/// revoked, expired) is cleared by the first request that loads the
/// session; a handler that never extracts it leaves it alone (no store call
/// just to check).
pub async fn gone_cards_are_cleared_once_loaded(store: Arc<dyn SessionStore>) {
    let indexed = store.indexes_users();
    let app = TestApp::hotel(
        store,
        config(|b| {
            b.max_age(Duration::from_secs(1))
                .browser_session_ttl(Duration::from_secs(1))
                .refresh_after(1.0)
        }),
    )
    .await;
    // Logged out elsewhere: the copied card is dead.
    let card = app.login_card().await;
    let r = app
        .send_with(reqwest::Method::POST, "/logout", card.as_bytes())
        .await;
    assert!(is_removal(r.headers(), "session"));
    let before = app.store.calls();
    let r = app.get_with("/health", &card).await;
    assert!(
        set_cookies(r.headers()).is_empty(),
        "a lazy handler cleared a verified card"
    );
    assert_eq!(app.store.calls(), before, "a lazy handler asked the store");
    for (method, path, status) in [
        (reqwest::Method::GET, "/profile", StatusCode::UNAUTHORIZED),
        (reqwest::Method::POST, "/logout", StatusCode::OK),
        (reqwest::Method::GET, "/sessions", StatusCode::UNAUTHORIZED),
    ] {
        app.assert_clears(&card, method, path, status).await;
    }
    // Revoked by "log out everywhere else".
    if indexed {
        let (keep, revoked) = (app.login_card().await, app.login_card().await);
        let r = app
            .send_with(reqwest::Method::POST, "/logout-everywhere", keep.as_bytes())
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let (get, profile) = (reqwest::Method::GET, "/profile");
        app.assert_clears(&revoked, get, profile, StatusCode::UNAUTHORIZED)
            .await;
    }
    // Expired (browser_session_ttl 1 s: logins choose a browser session).
    let card = app.login_card().await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (get, profile) = (reqwest::Method::GET, "/profile");
    app.assert_clears(&card, get, profile, StatusCode::UNAUTHORIZED)
        .await;
    // A live session read by a handler: nothing to clear.
    let card = app.login_card().await;
    let r = app.get_with("/profile", &card).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(set_cookies(r.headers()).is_empty());
    // Ended between the load and its renewal (the touch finds it gone).
    let renewing = TestApp::hotel(
        Arc::clone(app.store.inner()),
        config(|b| {
            b.browser_session_ttl(Duration::from_secs(10))
                .refresh_after(0.001)
        }),
    )
    .await;
    let card = renewing.login_card().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    renewing.store.vanish_touches.store(true, Ordering::SeqCst);
    let r = renewing.get_with("/profile", &card).await;
    assert_eq!(renewing.store.calls().touch, 1, "no renewal was due");
    assert!(
        is_removal(r.headers(), "session"),
        "a card whose record vanished was kept: {:?}",
        set_cookies(r.headers())
    );
}

/// Issue 14.2: when the response creates a new session, its card is the
/// only `Set-Cookie`: the removal of the dead card would cancel it.
pub async fn new_session_wins_over_the_removal(store: Arc<dyn SessionStore>) {
    let app = app(store).await;
    let good = app.login_card().await;
    let r = app
        .send_with(reqwest::Method::POST, "/logout", good.as_bytes())
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    for dead in [good.clone(), forged(&good)] {
        let r = app
            .send_with(reqwest::Method::GET, "/visits", dead.as_bytes())
            .await;
        let set = set_cookies(r.headers());
        assert_eq!(set.len(), 1, "{set:?}");
        assert!(!set[0].contains("Max-Age=0"), "{set:?}");
        assert_eq!(json(r).await["visits"], 1);
        let r = app
            .send_with(reqwest::Method::POST, "/login", dead.as_bytes())
            .await;
        assert_eq!(
            r.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "no JSON body"
        );
        assert!(is_removal(r.headers(), "session"));
        let r = app.login_with(Some(&dead)).await;
        assert_eq!(r.status(), StatusCode::OK);
        let set = set_cookies(r.headers());
        assert_eq!(set.len(), 1, "{set:?}");
        assert!(!set[0].contains("Max-Age=0"), "{set:?}");
        let card = cookie_value(r.headers()).unwrap();
        assert_eq!(
            app.get_with("/profile", &card).await.status(),
            StatusCode::OK
        );
    }
}

/// Issue 15.1: a record that reads as damaged when a conflicting save
/// reloads it ends the session like a vanished one (409, card cleared,
/// record deleted), never a 500.
pub async fn damaged_during_a_retry_ends_the_session(store: Arc<dyn SessionStore>) {
    let counting = crate::CountingStore::new(store);
    let target: Arc<std::sync::Mutex<Option<SessionId>>> = Arc::default();
    let (spoiler, spoiled) = (Arc::clone(&counting), Arc::clone(&target));
    // Changes the session after it was loaded; meanwhile its record turns
    // damaged and the save conflicts, so the retry's reload meets the damage.
    let spoil = move || {
        if let Some(id) = spoiled.lock().unwrap().as_ref() {
            spoiler.damage(id);
        }
        spoiler.conflict_saves.store(true, Ordering::SeqCst);
        ("n", 1)
    };
    let app = crate::AppSpec::new(counting, config(|b| b))
        .hook("/spoil", spoil)
        .serve()
        .await;
    let card = app.login_card().await;
    let id = crate::damage::id_of(&card);
    *target.lock().unwrap() = Some(id.clone());
    let r = app
        .send_with(reqwest::Method::POST, "/spoil", card.as_bytes())
        .await;
    app.store.conflict_saves.store(false, Ordering::SeqCst);
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(
        is_removal(r.headers(), "session"),
        "{:?}",
        set_cookies(r.headers())
    );
    assert!(
        matches!(app.store.load(&id).await, Ok(None)),
        "the damaged record was not deleted"
    );
}

/// Issue 13: a store that fails (here: times out) while a conflicting save
/// reloads the record answers 503, like any store failure, never the 409 of
/// a retry budget spent; nothing is written and no cookie is set.
pub async fn store_failure_during_a_retry_is_503(store: Arc<dyn SessionStore>) {
    let counting = crate::CountingStore::new(store);
    let staller = Arc::clone(&counting);
    // Changes the session after it was loaded; meanwhile the save conflicts
    // and the store stops answering, so the retry's reload times out.
    let stall = move || {
        staller.conflict_saves.store(true, Ordering::SeqCst);
        staller.time_out_loads.store(true, Ordering::SeqCst);
        ("visits", 1_000)
    };
    let app = crate::AppSpec::new(counting, config(|b| b))
        .hook("/stall", stall)
        .serve()
        .await;
    assert_eq!(app.login().await.status(), StatusCode::OK);
    assert_eq!(json(app.get("/visits").await).await["visits"], 1);
    let saves = app.store.calls().save;
    let r = app.post("/stall").await;
    app.store.conflict_saves.store(false, Ordering::SeqCst);
    app.store.time_out_loads.store(false, Ordering::SeqCst);
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(set_cookies(r.headers()).is_empty());
    assert!(
        app.store.calls().save > saves,
        "the save never ran, so no retry was tested"
    );
    assert_eq!(
        json(app.get("/visits").await).await["visits"],
        2,
        "the failed request's change was kept"
    );
}
