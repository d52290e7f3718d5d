//! Issue 15.5: the layer logs the session lifecycle by storage key, never
//! by ID, card, secret or data.
//!
//! One full run of the hotel app (anonymous visits, login, visits, a second
//! browser, "log out everywhere else", logout, a damaged record, a store
//! outage, a save that keeps conflicting) under a subscriber that captures
//! everything the session crates log, down to `trace`. The output must name
//! every lifecycle event and the sessions' storage keys, and hold no
//! session ID, no card, no secret and no e-mail address.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use reqwest::{Method, StatusCode};
use session_cookie::{ConflictRetry, MemoryStore, SessionConfig, SessionLayer};
use session_tests::damage::id_of;
use session_tests::{hotel, CountingStore, TestApp, SECRET};

/// Everything written to the log, shared with the subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_names_events_by_storage_key_only() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "session_cookie=trace,session_core=trace,session_memory=trace",
        ))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let counting = CountingStore::new(Arc::new(MemoryStore::new()));
    let config = SessionConfig::builder(SECRET).build().unwrap();
    let layer = SessionLayer::from_arc(counting.clone(), config)
        .conflict_retry(ConflictRetry::default().max_attempts(2));
    let app = TestApp::serve(hotel::routes().layer(layer), counting).await;

    let mut cards = Vec::new();
    // Anonymous visits, then login: created, then cycled.
    let r = app.get("/visits").await;
    cards.extend(session_tests::cookie_value(r.headers()));
    assert_eq!(app.login().await.status(), StatusCode::OK);
    for _ in 0..3 {
        assert_eq!(app.get("/visits").await.status(), StatusCode::OK);
    }
    // A second browser; the first logs it out: revoked.
    let other = app.login_card().await;
    cards.push(other.clone());
    let r = app.post("/logout-everywhere").await;
    assert_eq!(r.status(), StatusCode::OK);
    // Logout: destroyed.
    let mine = app.login_card().await;
    cards.push(mine.clone());
    let r = app
        .send_with(Method::POST, "/logout", mine.as_bytes())
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // A damaged record.
    let damaged = app.login_card().await;
    cards.push(damaged.clone());
    let damaged_key = id_of(&damaged).storage_key();
    app.store.damage(&id_of(&damaged));
    let r = app.get_with("/profile", &damaged).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A store outage.
    let down = app.login_card().await;
    cards.push(down.clone());
    app.store.fail_all.store(true, Ordering::SeqCst);
    let r = app.get_with("/profile", &down).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    app.store.fail_all.store(false, Ordering::SeqCst);
    // A save that keeps conflicting.
    let busy = app.login_card().await;
    cards.push(busy.clone());
    app.store.conflict_saves.store(true, Ordering::SeqCst);
    let r = app.get_with("/visits", &busy).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    let log = captured.text();
    for event in [
        "session created",
        "session cycled",
        "revoked the user's other sessions",
        "session destroyed",
        "damaged session record",
        "session store failed to load a session",
        "kept conflicting",
    ] {
        assert!(log.contains(event), "no {event:?} in the log:\n{log}");
    }
    for key in [
        &damaged_key,
        &id_of(&down).storage_key(),
        &id_of(&busy).storage_key(),
    ] {
        assert!(
            log.contains(key.as_str()),
            "storage key {key} not logged:\n{log}"
        );
    }
    for card in &cards {
        let value = card.split_once('=').map_or(card.as_str(), |(_, v)| v);
        assert!(!log.contains(value), "a card was logged:\n{log}");
        let id = id_of(card).to_string();
        assert!(!log.contains(&id), "a session ID was logged:\n{log}");
    }
    assert!(!log.contains(SECRET), "the secret was logged");
    assert!(
        !log.contains(hotel::DEMO_EMAIL),
        "an e-mail address was logged"
    );
    assert!(
        !log.contains('@'),
        "something like an e-mail address was logged:\n{log}"
    );
}
