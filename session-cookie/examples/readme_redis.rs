//! Run with: cargo run -p session-cookie --example readme_redis --features redis
//!
//! The README's "Your own app on Redis", line for line (a test keeps the
//! two identical): log in, count visits and remember the pages visited with
//! `update` (capturing the page name from the request), log out. Needs
//! `SESSION_SECRET` (32+ random bytes, e.g. `openssl rand -base64 32`);
//! `REDIS_URL` defaults to redis://127.0.0.1:6379.

use std::process::ExitCode;

use axum::extract::Path;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use session_cookie::{RedisStore, Session, SessionConfig, SessionLayer};

#[derive(Deserialize)]
struct Login {
    email: String,
    password: String,
}

async fn login(
    session: Session,
    Json(login): Json<Login>,
) -> Result<String, session_cookie::Error> {
    // Check login.password against your user database here.
    let _ = login.password;
    session.cycle_id(); // a new key card at login
    session.insert("email", &login.email)?;
    Ok(format!("logged in as {}", login.email))
}

async fn visit(
    session: Session,
    Path(page): Path<String>,
) -> Result<String, session_cookie::Error> {
    let visits: u64 = session.update("visits", |n: Option<u64>| n.unwrap_or(0) + 1)?;
    // `update` may re-run its closure after this handler returned (when a
    // concurrent request of the same session saved first): `move` the
    // request data in, and clone it inside.
    let pages: Vec<String> = session.update("pages", move |pages: Option<Vec<String>>| {
        let mut pages = pages.unwrap_or_default();
        if !pages.contains(&page) {
            pages.push(page.clone());
        }
        pages
    })?;
    Ok(format!("visit {visits}; pages seen: {}", pages.join(", ")))
}

async fn logout(session: Session) -> &'static str {
    session.destroy(); // deleted in Redis, cookie removed
    "logged out"
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let store = RedisStore::connect(url.as_str()).await?;
    let config = SessionConfig::from_env()?; // SESSION_SECRET, SESSION_MAX_AGE=4h, ...
    let app = Router::new()
        .route("/login", post(login))
        .route("/visit/{page}", get(visit))
        .route("/logout", post(logout))
        .layer(SessionLayer::new(store, config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Display, with every cause: the messages name the fix.
            eprintln!("error: {}", session_cookie::error_chain(&*err));
            ExitCode::FAILURE
        }
    }
}
