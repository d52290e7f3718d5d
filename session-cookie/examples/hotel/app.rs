//! The hotel app: login / profile / logout / visits on key-card sessions,
//! and a page at `GET /` that drives those JSON routes from a browser.
//!
//! Shared by `cargo run --example hotel` and the HTTP test suite, so the
//! tests exercise exactly what users run. (In the example, the items are only
//! used by `main.rs`; in the tests crate they are its public API.)
#![allow(unreachable_pub)]

use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::rejection::JsonRejection;
use axum::http::header::USER_AGENT;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use session_cookie::{Expiry, Session, SessionConfig, SessionLayer, SessionStore};

/// The demo account.
pub const DEMO_EMAIL: &str = "guest@example.com";
/// The demo account's password.
pub const DEMO_PASSWORD: &str = "guest";
const DEMO_USER_ID: u64 = 1;
/// How long a login with `"remember": true` lasts without use: a persistent
/// cookie with this `Max-Age`, renewed like any other (and still capped by
/// `absolute_max_age`).
pub const REMEMBER_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
    /// "Remember me": a persistent cookie instead of a browser-session one.
    #[serde(default)]
    remember: bool,
}

type Reply = Result<Response, session_cookie::Error>;

fn reply(status: StatusCode, body: Value) -> Reply {
    Ok((status, Json(body)).into_response())
}

async fn login(
    session: Session,
    headers: HeaderMap,
    body: Result<Json<Credentials>, JsonRejection>,
) -> Reply {
    let Json(creds) = match body {
        Ok(body) => body,
        Err(rejection) => {
            return reply(
                rejection.status(),
                json!({ "error": rejection.body_text() }),
            )
        }
    };
    if creds.email != DEMO_EMAIL || creds.password != DEMO_PASSWORD {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({ "error": "Invalid credentials" }),
        );
    }
    // A new key card at login (no session fixation); existing data is kept.
    session.cycle_id();
    // "Remember me": a cookie that outlives the browser, for REMEMBER_FOR
    // without use; otherwise one the browser drops when it closes (the
    // record still ends after `browser_session_ttl` without use).
    session.set_expiry(Some(if creds.remember {
        Expiry::Persistent(REMEMBER_FOR)
    } else {
        Expiry::BrowserSession
    }))?;
    session.set_user(Some(&DEMO_USER_ID.to_string()));
    session.insert("user_id", &DEMO_USER_ID)?;
    session.insert("email", &creds.email)?;
    let agent = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    session.insert("user_agent", agent)?;
    reply(StatusCode::OK, json!({ "message": "Logged in" }))
}

async fn profile(session: Session) -> Reply {
    match (
        session.get::<u64>("user_id")?,
        session.get::<String>("email")?,
    ) {
        (Some(id), Some(email)) => reply(
            StatusCode::OK,
            json!({ "user": { "id": id, "email": email } }),
        ),
        _ => reply(
            StatusCode::UNAUTHORIZED,
            json!({ "error": "Not authenticated" }),
        ),
    }
}

async fn logout(session: Session) -> Reply {
    session.destroy();
    reply(StatusCode::OK, json!({ "message": "Logged out" }))
}

async fn visits(session: Session) -> Reply {
    // `update` composes with concurrent requests of the same session: no
    // increment is lost when several tabs hit /visits at once.
    let visits = session.update("visits", |n: Option<u64>| n.unwrap_or(0) + 1)?;
    reply(StatusCode::OK, json!({ "visits": visits }))
}

/// The logged-in user's active sessions (where they are logged in).
async fn sessions(session: Session) -> Reply {
    if session.user().is_none() {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({ "error": "Not authenticated" }),
        );
    }
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut list = Vec::new();
    for s in session.user_sessions().await? {
        list.push(json!({
            "current": s.current,
            "created_at": secs(s.created_at),
            "last_active": secs(s.last_active),
            "user_agent": s.get::<String>("user_agent")?,
        }));
    }
    reply(StatusCode::OK, json!({ "sessions": list }))
}

/// Ends every other session of the logged-in user; this one stays.
async fn logout_everywhere(session: Session) -> Reply {
    if session.user().is_none() {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({ "error": "Not authenticated" }),
        );
    }
    let ended = session.end_other_sessions().await?;
    reply(
        StatusCode::OK,
        json!({ "message": "Logged out everywhere else", "ended": ended }),
    )
}

/// The browser page (`index.html` beside this file, no build step): it calls
/// the JSON routes with `fetch()`, so it needs no session handling of its own.
static PAGE: LazyLock<String> = LazyLock::new(|| {
    include_str!("index.html")
        .replace("%DEMO_EMAIL%", DEMO_EMAIL)
        .replace("%DEMO_PASSWORD%", DEMO_PASSWORD)
});

async fn page() -> Html<&'static str> {
    Html(PAGE.as_str())
}

async fn health() -> &'static str {
    "ok"
}

/// The app's router on `store` with `config`.
pub fn router(store: Arc<dyn SessionStore>, config: SessionConfig) -> Router {
    routes().layer(SessionLayer::from_arc(store, config))
}

/// The app's routes, without the session layer (tests add routes of their own).
pub fn routes() -> Router {
    Router::new()
        .route("/", get(page))
        .route("/login", post(login))
        .route("/profile", get(profile))
        .route("/logout", post(logout))
        .route("/visits", get(visits))
        .route("/sessions", get(sessions))
        .route("/logout-everywhere", post(logout_everywhere))
        .route("/health", get(health))
}
