//! Run with: cargo run --example hotel
//!
//! The hotel key-card demo: a page at `GET /` to try it in a browser, and
//! the JSON routes it calls: `POST /login`, `GET /profile`, `POST /logout`,
//! `GET /visits`, `GET /sessions` (where you are logged in) and
//! `POST /logout-everywhere` (end every other session). Settings come from the environment:
//!
//! * `PORT` (default 3000), always on 127.0.0.1;
//! * `SESSION_SECRET` (and the other `SESSION_*` variables of
//!   `SessionConfig::from_env`); without it a random secret is generated and
//!   sessions do not survive a restart;
//! * `SESSION_STORE`: `memory` (default), or a `redis://`, `postgres://`,
//!   `sqlite://`, `mysql://` URL when that feature is compiled in;
//! * `RUST_LOG`: what to log (default `info`: store errors, damaged records,
//!   revocations). `RUST_LOG=session_core=debug` adds every session
//!   created, cycled and destroyed, always by storage key, never by ID.
//!
//! The actix-web hotel (`cargo run -p session-actix --example hotel`)
//! answers alike: both share `answers.rs` and `start.rs`.

mod app;
mod start;

use std::net::SocketAddr;
use std::process::ExitCode;

use start::BoxError;

#[tokio::main]
async fn main() -> ExitCode {
    start::init_logs();
    start::exit(serve(|name| std::env::var(name).ok()).await)
}

/// The settings and store from the environment (read through `env`).
async fn setup(env: impl Fn(&str) -> Option<String>) -> Result<start::Setup, BoxError> {
    let (config, url, port) = start::settings(&env)?;
    let store = session_cookie::connect(&url).await?;
    Ok((config, store, url, port))
}

async fn serve(env: impl Fn(&str) -> Option<String>) -> Result<(), BoxError> {
    let (config, store, store_url, port) = setup(env).await?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    start::banner(&format!("http://{}", listener.local_addr()?), &store_url);
    axum::serve(listener, app::router(store, config)).await?;
    Ok(())
}
