//! The request lifecycle: log in and out, what a request costs in store
//! calls, the cookie's attributes, clearing and cycling the ID, renewal
//! and its caps, and what bad input does (bad logins, oversized values,
//! a missing layer).

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use session_cookie::SessionStore;

use super::{app, config, json};
use crate::{cookie_value, set_cookies, TestApp};

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
