//! The hotel app: login / profile / logout / visits on key-card sessions,
//! and a page at `GET /` that drives those JSON routes from a browser.
//!
//! What each route answers is in `answers.rs`, shared with the actix-web
//! hotel (`cargo run -p session-actix --example hotel`); this file is the
//! axum side: the routes, the extractors and the responses.
//!
//! Shared by `cargo run --example hotel` and the HTTP test suite, so the
//! tests exercise exactly what users run. (In the example, the items are only
//! used by `main.rs`; in the tests crate they are its public API.)
#![allow(unreachable_pub)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::header::{CONTENT_TYPE, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use session_cookie::{Session, SessionConfig, SessionLayer, SessionStore};

#[path = "answers.rs"]
mod answers;

// REMEMBER_FOR is for the tests crate.
#[allow(unused_imports)]
pub use answers::{DEMO_EMAIL, DEMO_PASSWORD, REMEMBER_FOR};

/// A JSON reply, or the session error's own answer (413, 503, …).
fn respond(reply: Result<answers::Reply, session_cookie::Error>) -> Response {
    match reply {
        Ok(answers::Reply { status, body }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, Json(body)).into_response()
        }
        Err(err) => err.into_response(),
    }
}

async fn login(session: Session, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes);
    let agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
    respond(answers::login(&session, content_type, &body, agent))
}

async fn profile(session: Session) -> Response {
    respond(answers::profile(&session))
}

async fn logout(session: Session) -> Response {
    respond(Ok(answers::logout(&session)))
}

async fn visits(session: Session) -> Response {
    respond(answers::visits(&session))
}

async fn sessions(session: Session) -> Response {
    respond(answers::sessions(&session).await)
}

async fn logout_everywhere(session: Session) -> Response {
    respond(answers::logout_everywhere(&session).await)
}

async fn page() -> Html<&'static str> {
    Html(answers::page())
}

async fn health() -> &'static str {
    answers::HEALTH
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
