//! (b) tower-sessions 0.14 (the latest release whose Redis and SQLx stores
//! exist: tower-sessions-redis-store 0.16 and tower-sessions-sqlx-store 0.15
//! are built on tower-sessions-core 0.14), configured as its documentation
//! shows, with the shared cookie settings.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tower_sessions::cookie::time::Duration;
use tower_sessions::cookie::{Key, SameSite};
use tower_sessions::{
    CachingSessionStore, Expiry, MemoryStore, Session, SessionManagerLayer, SessionStore,
};
use tower_sessions_moka_store::MokaStore;
use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};
use tower_sessions_redis_store::RedisStore;
use tower_sessions_sqlx_store::sqlx::PgPool;
use tower_sessions_sqlx_store::PostgresStore;

use crate::{Args, BoxError, Store, COOKIE, EMAIL, SECRET, USER_ID};

fn error(e: impl std::fmt::Display) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
}

async fn login(session: Session) -> Response {
    let result = async {
        session.cycle_id().await?;
        session.insert("user_id", USER_ID).await?;
        session.insert("email", EMAIL).await?;
        Ok::<_, tower_sessions::session::Error>(())
    }
    .await;
    match result {
        Ok(()) => Json(json!({ "message": "Logged in" })).into_response(),
        Err(e) => error(e),
    }
}

async fn profile(session: Session) -> Response {
    let result = async {
        Ok::<_, tower_sessions::session::Error>((
            session.get::<u64>("user_id").await?,
            session.get::<String>("email").await?,
        ))
    }
    .await;
    match result {
        Ok((Some(id), Some(email))) => {
            Json(json!({ "user": { "id": id, "email": email } })).into_response()
        }
        Ok(_) => (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "Not authenticated" })),
        )
            .into_response(),
        Err(e) => error(e),
    }
}

async fn visits(session: Session) -> Response {
    let result = async {
        let n = session.get::<u64>("visits").await?.unwrap_or(0) + 1;
        session.insert("visits", n).await?;
        Ok::<_, tower_sessions::session::Error>(n)
    }
    .await;
    match result {
        Ok(n) => Json(json!({ "visits": n })).into_response(),
        Err(e) => error(e),
    }
}

fn app<S: SessionStore + Clone>(store: S, args: &Args) -> Router {
    let max_age = i64::try_from(args.max_age.as_secs()).unwrap_or(i64::MAX);
    let layer = SessionManagerLayer::new(store)
        .with_name(COOKIE)
        .with_signed(Key::from(SECRET))
        .with_expiry(Expiry::OnInactivity(Duration::seconds(max_age)))
        .with_same_site(SameSite::Lax)
        .with_http_only(true)
        .with_secure(false)
        .with_path("/");
    Router::new()
        .route("/login", post(login))
        .route("/profile", get(profile))
        .route("/visits", get(visits))
        .layer(layer)
}

/// `tower-cached`: the store's documented cache, a moka cache in front of
/// the backend (`CachingSessionStore`), as large as our near cache's
/// default entry limit. It is not coherent across processes: an entry
/// lives until the session's own expiry.
fn cached<S: SessionStore + Clone>(store: S, args: &Args) -> Router {
    app(
        CachingSessionStore::new(MokaStore::new(Some(100_000)), store),
        args,
    )
}

/// `app`, or `cached` for `--variant tower-cached`.
fn wrap<S: SessionStore + Clone>(store: S, args: &Args) -> Router {
    if args.variant == "tower-cached" {
        cached(store, args)
    } else {
        app(store, args)
    }
}

pub async fn router(args: &Args) -> Result<Router, BoxError> {
    Ok(match args.store {
        Store::Memory => wrap(MemoryStore::default(), args),
        Store::Redis => {
            // As the store's documentation shows: a fred pool of 6 clients.
            let pool = Pool::new(
                Config::from_url(&args.redis_url)?,
                None,
                None,
                None,
                args.tower_redis_pool,
            )?;
            let _connection_task = pool.connect();
            pool.wait_for_connect().await?;
            wrap(RedisStore::new(pool), args)
        }
        Store::Postgres => {
            let pool = PgPool::connect(&args.pg_url).await?;
            let store = PostgresStore::new(pool);
            store.migrate().await?;
            wrap(store, args)
        }
    })
}
