//! Starting the hotel, whatever the web framework: the settings from the
//! environment, what is printed at start and on errors, and the tests of
//! those messages. Shared by this example's `main.rs` (axum) and the
//! actix-web hotel's; each defines `setup` (these settings plus its
//! adapter's `connect`) and serves the app its own way.
#![allow(unreachable_pub)]

use std::process::ExitCode;
use std::sync::Arc;

use session_core::{Secret, SessionConfig, SessionStore};

/// What `main` and its helpers fail with.
pub type BoxError = Box<dyn std::error::Error>;

/// What `setup` returns: the session settings, the store, the store's URL
/// and the port.
pub type Setup = (SessionConfig, Arc<dyn SessionStore>, String, u16);

/// Logs to stderr, by `RUST_LOG` (default `info`: store errors, damaged
/// records, revocations).
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

/// The exit status of `main`, printing the error if there is one.
pub fn exit(served: Result<(), BoxError>) -> ExitCode {
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{}", report(&*err));
            ExitCode::FAILURE
        }
    }
}

/// What `main` prints for an error: its Display and every source, on one
/// line (the messages name the fix; `Debug` would hide it).
pub fn report(err: &dyn std::error::Error) -> String {
    format!("error: {}", session_core::error_chain(err))
}

/// The session settings, the store URL and the port, from the environment
/// (read through `env`).
pub fn settings(
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(SessionConfig, String, u16), BoxError> {
    let config = if env("SESSION_SECRET").is_some() {
        SessionConfig::from_lookup(env)?
    } else {
        eprintln!(
            "warning: SESSION_SECRET is not set; using a random secret, so sessions end when the \
             server restarts. Set SESSION_SECRET to at least 32 random bytes in production."
        );
        SessionConfig::builder(Secret::generate()).build()?
    };
    let mut store_url = env("SESSION_STORE").unwrap_or_else(|| "memory".into());
    match env("SESSION_NEAR_CACHE").as_deref() {
        None | Some("" | "0" | "false" | "off") => {}
        Some("1" | "true" | "on") => {
            let sep = if store_url.contains('?') { '&' } else { '?' };
            store_url = format!("{store_url}{sep}near_cache=1");
        }
        Some(other) => {
            return Err(format!("SESSION_NEAR_CACHE={other:?}: use 1 (on) or 0 (off)").into())
        }
    }
    let port: u16 = match env("PORT") {
        Some(p) => p
            .parse()
            .map_err(|_| format!("PORT={p:?} is not a port number (1-65535)"))?,
        None => 3000,
    };
    Ok((config, store_url, port))
}

/// Says where the hotel listens, on which store, and how to try it.
pub fn banner(url: &str, store_url: &str) {
    let (email, password) = (super::app::DEMO_EMAIL, super::app::DEMO_PASSWORD);
    let near = if store_url.contains("near_cache=1") {
        ", near cache on"
    } else {
        ""
    };
    println!(
        "hotel listening on {url} (store: {}{near})",
        store_kind(store_url)
    );
    println!("open {url}/ in a browser, or try:");
    println!("  curl -i -c jar -b jar -H 'content-type: application/json' -d '{{\"email\":\"{email}\",\"password\":\"{password}\"}}' {url}/login");
    println!("  curl -i -c jar -b jar -H 'content-type: application/json' -d '{{\"email\":\"{email}\",\"password\":\"{password}\",\"remember\":true}}' {url}/login   # a 30-day cookie");
    println!("  curl -i -b jar {url}/profile");
    println!("  curl -i -c jar -b jar {url}/visits");
    println!("  curl -i -b jar {url}/sessions");
    println!("  curl -i -b jar -X POST {url}/logout-everywhere");
    println!("  curl -i -c jar -b jar -X POST {url}/logout");
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
        match crate::setup(env).await {
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
        let msg = printed(&[("SESSION_STORE", "redis://127.0.0.1:6379")]).await;
        assert!(
            msg.starts_with("error: the session store URL `redis://…` needs the `redis` feature")
                && msg.ends_with("build with `--features redis`"),
            "{msg}"
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
    async fn the_near_cache_setting_is_checked() {
        assert_eq!(
            printed(&[SECRET, ("SESSION_NEAR_CACHE", "yes")]).await,
            "error: SESSION_NEAR_CACHE=\"yes\": use 1 (on) or 0 (off)"
        );
        let msg = printed(&[SECRET, ("SESSION_NEAR_CACHE", "1")]).await;
        assert!(
            msg.contains("`near_cache`") && msg.contains("a `memory` store has no near cache"),
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
