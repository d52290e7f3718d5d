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

mod app;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use session_cookie::{Secret, SessionConfig, SessionStore};

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    match serve(|name| std::env::var(name).ok()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{}", report(&*err));
            ExitCode::FAILURE
        }
    }
}

/// What `main` prints for an error: its Display and every source, on one
/// line (the messages name the fix; `Debug` would hide it).
fn report(err: &dyn std::error::Error) -> String {
    format!("error: {}", session_cookie::error_chain(err))
}

type BoxError = Box<dyn std::error::Error>;

/// The settings and store from the environment (read through `env`).
async fn setup(
    env: impl Fn(&str) -> Option<String>,
) -> Result<(SessionConfig, Arc<dyn SessionStore>, String, u16), BoxError> {
    let config = if env("SESSION_SECRET").is_some() {
        SessionConfig::from_lookup(&env)?
    } else {
        eprintln!(
            "warning: SESSION_SECRET is not set; using a random secret, so sessions end when the \
             server restarts. Set SESSION_SECRET to at least 32 random bytes in production."
        );
        SessionConfig::builder(Secret::generate()).build()?
    };
    let store_url = env("SESSION_STORE").unwrap_or_else(|| "memory".into());
    let store = session_cookie::connect(&store_url).await?;
    let port: u16 = match env("PORT") {
        Some(p) => p
            .parse()
            .map_err(|_| format!("PORT={p:?} is not a port number (1-65535)"))?,
        None => 3000,
    };
    Ok((config, store, store_url, port))
}

async fn serve(env: impl Fn(&str) -> Option<String>) -> Result<(), BoxError> {
    let (config, store, store_url, port) = setup(env).await?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let url = format!("http://{}", listener.local_addr()?);
    println!(
        "hotel listening on {url} (store: {})",
        store_kind(&store_url)
    );
    println!("open {url}/ in a browser, or try:");
    println!("  curl -i -c jar -b jar -H 'content-type: application/json' -d '{{\"email\":\"{}\",\"password\":\"{}\"}}' {url}/login", app::DEMO_EMAIL, app::DEMO_PASSWORD);
    println!("  curl -i -c jar -b jar -H 'content-type: application/json' -d '{{\"email\":\"{}\",\"password\":\"{}\",\"remember\":true}}' {url}/login   # a 30-day cookie", app::DEMO_EMAIL, app::DEMO_PASSWORD);
    println!("  curl -i -b jar {url}/profile");
    println!("  curl -i -c jar -b jar {url}/visits");
    println!("  curl -i -b jar {url}/sessions");
    println!("  curl -i -b jar -X POST {url}/logout-everywhere");
    println!("  curl -i -c jar -b jar -X POST {url}/logout");
    axum::serve(listener, app::router(store, config)).await?;
    Ok(())
}

/// The URL's scheme only, so credentials in it are never printed.
fn store_kind(url: &str) -> &str {
    url.split("://").next().unwrap_or("memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `main` prints when `setup` fails with these variables set.
    async fn printed(vars: &[(&str, &str)]) -> String {
        let env = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        match setup(env).await {
            Ok(_) => panic!("setup with {vars:?} should fail"),
            Err(err) => report(&*err),
        }
    }

    const SECRET: (&str, &str) = ("SESSION_SECRET", "0123456789abcdef0123456789abcdef");

    #[tokio::test]
    async fn an_unknown_store_lists_the_accepted_urls() {
        assert_eq!(
            printed(&[("SESSION_STORE", "Memory")]).await,
            "error: unknown session store `Memory`: use `memory`, `redis://…`, \
             `redis+cluster://…`, `postgres://…`, `sqlite://…` or `mysql://…`"
        );
    }

    #[cfg(not(feature = "redis"))]
    #[tokio::test]
    async fn a_store_whose_feature_is_off_names_the_feature() {
        assert_eq!(
            printed(&[("SESSION_STORE", "redis://127.0.0.1:6379")]).await,
            "error: the session store URL `redis://…` needs the `redis` feature of \
             session-cookie: build with `--features redis`"
        );
    }

    #[tokio::test]
    async fn a_bad_duration_lists_the_accepted_forms() {
        let msg = printed(&[SECRET, ("SESSION_MAX_AGE", "30 minutes")]).await;
        assert!(
            msg.starts_with("error: invalid session configuration: `max_age`: SESSION_MAX_AGE=")
                && msg.contains("`30m`"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn a_bad_port_says_what_a_port_is() {
        assert_eq!(
            printed(&[SECRET, ("PORT", "http")]).await,
            "error: PORT=\"http\" is not a port number (1-65535)"
        );
    }

    #[tokio::test]
    async fn a_store_that_is_down_shows_the_cause() {
        let msg = printed(&[SECRET, ("SESSION_STORE", "sqlite:///nonexistent-dir/x.db")]).await;
        #[cfg(feature = "sqlite")]
        assert!(
            msg.starts_with(
                "error: the session store backend failed: could not connect to the SQLite \
                 session database at sqlite:///nonexistent-dir/x.db?mode=rwc: the database \
                 file cannot be created: its directory does not exist or is not writable: "
            ),
            "{msg}"
        );
        #[cfg(not(feature = "sqlite"))]
        assert!(msg.contains("--features sqlite"), "{msg}");
    }
}
