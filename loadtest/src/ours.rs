//! (a) This project: `session-cookie`'s `SessionLayer` and `Session` extractor.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use session_cookie::{
    MemoryStore, PostgresStore, RedisStore, SameSite, Session, SessionConfig, SessionLayer,
    SessionStore,
};

use session_cookie::core::near_cache::{NearCache, NearCacheConfig};

use crate::unversioned::Unversioned;
use crate::{Args, BoxError, Store, COOKIE, EMAIL, SECRET, USER_ID};

type Reply = Result<Response, session_cookie::Error>;

/// Which user a login binds the session to (`--index on`).
#[derive(Clone, Copy)]
enum Bind {
    Nobody,
    DemoUser,
    NewUser,
}

static NEXT_USER: AtomicU64 = AtomicU64::new(1);

async fn login(State(bind): State<Bind>, session: Session) -> Reply {
    session.cycle_id();
    match bind {
        Bind::Nobody => {}
        Bind::DemoUser => session.set_user(Some(&USER_ID.to_string())),
        Bind::NewUser => {
            session.set_user(Some(&NEXT_USER.fetch_add(1, Ordering::Relaxed).to_string()))
        }
    }
    session.insert("user_id", &USER_ID)?;
    session.insert("email", EMAIL)?;
    Ok(Json(json!({ "message": "Logged in" })).into_response())
}

async fn profile(session: Session) -> Reply {
    match (
        session.get::<u64>("user_id")?,
        session.get::<String>("email")?,
    ) {
        (Some(id), Some(email)) => {
            Ok(Json(json!({ "user": { "id": id, "email": email } })).into_response())
        }
        _ => Ok((
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "Not authenticated" })),
        )
            .into_response()),
    }
}

async fn visits(session: Session) -> Reply {
    let visits = session.update("visits", |n: Option<u64>| n.unwrap_or(0) + 1)?;
    Ok(Json(json!({ "visits": visits })).into_response())
}

/// The session settings every variant shares, as `SessionConfig`.
pub fn config(args: &Args) -> Result<SessionConfig, BoxError> {
    let secret = std::str::from_utf8(SECRET)?.to_owned();
    Ok(SessionConfig::builder(secret)
        .session_cookie(COOKIE)
        .max_age(args.max_age)
        .same_site(SameSite::Lax)
        .http_only(true)
        .https_only(false)
        .path("/")
        .build()?)
}

/// The store `--store` names (also serves `ours-actix`).
pub async fn store(args: &Args) -> Result<Arc<dyn SessionStore>, BoxError> {
    if !args.versions && (args.store == Store::Memory || args.index) {
        return Err("--versions off: redis or postgres, with --index off".into());
    }
    if args.near_cache && (args.store == Store::Memory || !args.versions) {
        return Err("--near-cache on: redis or postgres, with --versions on".into());
    }
    Ok(match args.store {
        Store::Memory => {
            // Unbounded, as tower-sessions' memory store is, so the two compare.
            let builder = MemoryStore::builder().unbounded();
            match args.sweep {
                Some(every) => Arc::new(builder.sweep_interval(every).build()),
                None => Arc::new(builder.build()),
            }
        }
        Store::Redis => {
            let mut builder = RedisStore::builder();
            if args.near_cache {
                builder = builder.near_cache(NearCacheConfig::new());
            }
            if let Some(ca) = &args.redis_ca {
                builder = builder.tls_ca_pem(std::fs::read(ca)?);
            }
            let store = builder.connect(args.redis_url.as_str()).await?;
            if let Some(cache) = store.near_cache() {
                report_near_cache(cache.clone());
            }
            if args.versions {
                Arc::new(store)
            } else {
                Arc::new(Unversioned::redis(store, &args.redis_url).await?)
            }
        }
        Store::Postgres => {
            let store = PostgresStore::connect(&args.pg_url).await?;
            store.migrate().await?;
            // The near cache's trigger goes on the migrated table.
            let store = if args.near_cache {
                PostgresStore::builder(store.pool().clone())
                    .near_cache(NearCacheConfig::new())
                    .build()?
            } else {
                store
            };
            if let Some(cache) = store.near_cache() {
                report_near_cache(cache.clone());
            }
            if args.versions {
                Arc::new(store)
            } else {
                Arc::new(Unversioned::postgres(store))
            }
        }
    })
}

/// Prints the near cache's counters to the server log every 2 s (what
/// the load did to it: hits, misses, loads bypassed while its channel was
/// down, flushes).
fn report_near_cache(cache: NearCache) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
        loop {
            tick.tick().await;
            eprintln!("near cache: {:?}", cache.stats());
        }
    });
}

pub async fn router(args: &Args) -> Result<Router, BoxError> {
    let store = store(args).await?;
    Ok(Router::new()
        .route("/login", post(login))
        .route("/profile", get(profile))
        .route("/visits", get(visits))
        .with_state(match (args.index, args.distinct_users) {
            (false, _) => Bind::Nobody,
            (true, false) => Bind::DemoUser,
            (true, true) => Bind::NewUser,
        })
        .layer(SessionLayer::from_arc(store, config(args)?)))
}
