//! Concurrent requests on one session (no lost update, no lost key), and
//! one user on several browsers (log out everywhere else).

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::Value;
use session_cookie::SessionStore;

use super::{app, json};
use crate::cookie_value;

/// `n` concurrent `GET /visits` with the session cookie `card`.
fn concurrent_visits(
    app: &crate::TestApp,
    card: &str,
    n: usize,
) -> Vec<tokio::task::JoinHandle<reqwest::Result<StatusCode>>> {
    (0..n)
        .map(|_| {
            let (bare, url, card) = (app.bare.clone(), app.at("/visits"), card.to_owned());
            tokio::spawn(async move {
                let sent = bare.get(url).header("cookie", card).send().await;
                sent.map(|r| r.status())
            })
        })
        .collect()
}

/// Asserts that every request answered 200.
async fn all_ok(requests: Vec<tokio::task::JoinHandle<reqwest::Result<StatusCode>>>) {
    for request in requests {
        assert_eq!(request.await.unwrap().unwrap(), StatusCode::OK);
    }
}

/// 100 concurrent `/visits` on one session all succeed and none is lost:
/// `update` re-runs on the fresh value when a concurrent save came first.
pub async fn concurrent_visits_on_one_session(store: Arc<dyn SessionStore>) {
    let app = app(store).await;
    let card = cookie_value(app.get("/visits").await.headers()).unwrap();
    all_ok(concurrent_visits(&app, &card, 100)).await;
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
    // One writer at a time per session in a process, each on top of the
    // previous one's save: a request conflicts at most once (it loaded
    // before the previous writer saved but queued after), so at most 2
    // saves per increment. (Without the queue: 700 to 1,400 saves on
    // PostgreSQL and Redis.)
    assert!(
        c.save <= 2 * 101,
        "{} saves for 101 increments: writers of one session were not queued",
        c.save
    );
}

/// Writers queued on one session commit in groups: with saves taking
/// 20 ms, 50 concurrent `/visits` all succeed, none is lost, and they take
/// far fewer saves than increments (one per queue, not one per writer).
pub async fn queued_writers_commit_in_groups(store: Arc<dyn SessionStore>) {
    use std::sync::atomic::Ordering;

    let app = app(store).await;
    let card = cookie_value(app.get("/visits").await.headers()).unwrap();
    app.store.slow_saves_ms.store(20, Ordering::SeqCst);
    let before = app.store.calls().save;
    all_ok(concurrent_visits(&app, &card, 50)).await;
    let saves = app.store.calls().save - before;
    app.store.slow_saves_ms.store(0, Ordering::SeqCst);
    let n = json(app.get_with("/visits", &card).await).await["visits"]
        .as_u64()
        .unwrap();
    assert_eq!(n, 52, "1 + 50 concurrent + 1 visits: increments were lost");
    eprintln!("50 queued /visits with 20 ms saves: {saves} saves");
    // One writer at a time would take 50 saves (1 s of saving); folded,
    // each save carries every writer that queued behind the one before.
    assert!(
        saves <= 25,
        "{saves} saves for 50 queued increments: the queue did not commit in groups"
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
