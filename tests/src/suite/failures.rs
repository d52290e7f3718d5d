//! A store that fails: down (503, never a success that did not happen),
//! the `ContinueEmpty` policy, and failures or damage met while a
//! conflicting save retries.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use reqwest::StatusCode;
use session_cookie::core::SessionId;
use session_cookie::SessionStore;

use super::{app, config, json};
use crate::{is_removal, set_cookies};

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
