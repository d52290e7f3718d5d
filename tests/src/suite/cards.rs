//! Cards the server did not just issue: forged, unknown, foreign or
//! signed by a fallback secret; sibling and duplicate session cookies; and
//! which cards are cleared, and when.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use session_cookie::core::{IdSigner, SessionId};
use session_cookie::{SessionConfig, SessionStore};

use super::{app, config, json};
use crate::{cookie_value, is_removal, set_cookies, TestApp, SECRET};

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
