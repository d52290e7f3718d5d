//! Run with: cargo run -p session-actix --example readme_actix
//!
//! The README's "actix-web" app, line for line (a test keeps the two
//! identical): count visits, log out. Needs `SESSION_SECRET` (32+ random
//! bytes, e.g. `openssl rand -base64 32`); `SESSION_STORE` picks the store
//! (default `memory`).

use actix_web::{web, App, HttpResponse, HttpServer};
use session_actix::{Session, SessionConfig, SessionMiddleware};

async fn visits(session: Session) -> Result<HttpResponse, session_actix::Error> {
    // Concurrent requests of one session compose: no visit is lost.
    let n: u64 = session.update("visits", |n: Option<u64>| n.unwrap_or(0) + 1)?;
    Ok(HttpResponse::Ok().body(format!("visit number {n}")))
}

async fn logout(session: Session) -> HttpResponse {
    session.destroy(); // the record is deleted, the cookie removed
    HttpResponse::Ok().body("Logged out")
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = SessionConfig::from_env()?;
    let url = std::env::var("SESSION_STORE").unwrap_or_else(|_| "memory".into());
    let store = session_actix::connect(&url).await?;
    // Built once, outside the factory: every worker shares the one store.
    let sessions = SessionMiddleware::from_arc(store, config);
    HttpServer::new(move || {
        App::new()
            .wrap(sessions.clone())
            .route("/visits", web::get().to(visits))
            .route("/logout", web::post().to(logout))
    })
    .bind(("127.0.0.1", 8080))?
    .run()
    .await?;
    Ok(())
}
