//! The hotel app on actix-web: the routes, bodies and status codes of the
//! axum hotel (`cargo run -p session-cookie --example hotel`), answered by
//! the same `answers.rs`, with the same page at `GET /`.
//!
//! Shared by `cargo run -p session-actix --example hotel` and the HTTP test
//! suite, which runs against both hotels. (In the example, the items are
//! only used by `main.rs`; in the tests crate they are its public API.)
#![allow(unreachable_pub)]

use actix_web::http::header::{HeaderValue, CONTENT_TYPE, USER_AGENT};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use session_actix::{Error, Session};

// The tests crate compiles both hotels, and so this file twice.
#[allow(clippy::duplicate_mod)]
#[path = "../../../session-cookie/examples/hotel/answers.rs"]
mod answers;

// REMEMBER_FOR is for the tests crate.
#[allow(unused_imports)]
pub use answers::{DEMO_EMAIL, DEMO_PASSWORD, REMEMBER_FOR};

/// A reply as a JSON response.
fn json(reply: answers::Reply) -> HttpResponse {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status).json(reply.body)
}

async fn login(
    session: Session,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Error> {
    let headers = request.headers();
    let agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
    let content_type = headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes);
    answers::login(&session, content_type, &body, agent).map(json)
}

async fn profile(session: Session) -> Result<HttpResponse, Error> {
    answers::profile(&session).map(json)
}

async fn logout(session: Session) -> HttpResponse {
    json(answers::logout(&session))
}

async fn visits(session: Session) -> Result<HttpResponse, Error> {
    answers::visits(&session).map(json)
}

async fn sessions(session: Session) -> Result<HttpResponse, Error> {
    answers::sessions(&session).await.map(json)
}

async fn logout_everywhere(session: Session) -> Result<HttpResponse, Error> {
    answers::logout_everywhere(&session).await.map(json)
}

async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(answers::page())
}

async fn health() -> &'static str {
    answers::HEALTH
}

/// The app's routes, for `App::configure`, without the session middleware
/// (the example wraps the `App` in it; tests add routes of their own).
/// One resource per path, so that another method answers 405, as axum's
/// router does.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(web::resource("/").route(web::get().to(page)))
        .service(web::resource("/login").route(web::post().to(login)))
        .service(web::resource("/profile").route(web::get().to(profile)))
        .service(web::resource("/logout").route(web::post().to(logout)))
        .service(web::resource("/visits").route(web::get().to(visits)))
        .service(web::resource("/sessions").route(web::get().to(sessions)))
        .service(web::resource("/logout-everywhere").route(web::post().to(logout_everywhere)))
        .service(web::resource("/health").route(web::get().to(health)));
}
