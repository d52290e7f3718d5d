//! Run with: cargo run -p session-actix --example hotel
//!
//! The hotel key-card demo on actix-web, answering exactly as the axum one
//! (`cargo run -p session-cookie --example hotel`): a page at `GET /` to
//! try it in a browser, and the JSON routes it calls: `POST /login`,
//! `GET /profile`, `POST /logout`, `GET /visits`, `GET /sessions` (where
//! you are logged in) and `POST /logout-everywhere` (end every other
//! session). Settings come from the environment, as for the axum hotel:
//!
//! * `PORT` (default 3000), always on 127.0.0.1;
//! * `SESSION_SECRET` (and the other `SESSION_*` variables of
//!   `SessionConfig::from_env`); without it a random secret is generated and
//!   sessions do not survive a restart;
//! * `SESSION_STORE`: `memory` (default), or a `redis://`, `postgres://`,
//!   `sqlite://`, `mysql://` URL when that feature is compiled in;
//! * `SESSION_NEAR_CACHE=1`: the near cache in front of a `redis://` or
//!   `postgres://` store;
//! * `RUST_LOG`: what to log (default `info`); `RUST_LOG=session_core=debug`
//!   adds every session created, cycled and destroyed, by storage key.
//!
//! What the routes answer and how the settings are read is shared with the
//! axum hotel (`answers.rs` and `start.rs` in session-cookie/examples/hotel).

mod app;
#[path = "../../../session-cookie/examples/hotel/start.rs"]
mod start;

use std::process::ExitCode;

use actix_web::{App, HttpServer};
use session_actix::SessionMiddleware;
use start::BoxError;

#[actix_web::main]
async fn main() -> ExitCode {
    start::init_logs();
    start::exit(serve(|name| std::env::var(name).ok()).await)
}

async fn serve(env: impl Fn(&str) -> Option<String>) -> Result<(), BoxError> {
    let (config, store, store_url, port) = setup(env).await?;
    // One middleware, cloned into every worker's App: one shared store.
    let sessions = SessionMiddleware::from_arc(store, config);
    let server = HttpServer::new(move || App::new().wrap(sessions.clone()).configure(app::routes))
        .bind(("127.0.0.1", port))?;
    let url = server.addrs().first().map_or_else(
        || format!("http://127.0.0.1:{port}"),
        |a| format!("http://{a}"),
    );
    start::banner(&url, &store_url);
    server.run().await?;
    Ok(())
}

/// The settings and store from the environment (read through `env`).
async fn setup(env: impl Fn(&str) -> Option<String>) -> Result<start::Setup, BoxError> {
    let (config, url, port) = start::settings(&env)?;
    let store = session_actix::connect(&url).await?;
    Ok((config, store, url, port))
}
