//! (c) actix-session 0.11 with its Redis store (redis-rs `ConnectionManager`,
//! `RedisSessionStore::new`), on actix-web 4, with the shared cookie
//! settings. actix-session has no in-memory server-side store, so this
//! variant runs on Redis only.

use actix_session::config::{CookieContentSecurity, PersistentSession};
use actix_session::storage::RedisSessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::time::Duration;
use actix_web::cookie::{Key, SameSite};
use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::json;

use crate::{Args, BoxError, Store, COOKIE, EMAIL, SECRET, USER_ID};

fn error(e: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::InternalServerError().body(e.to_string())
}

async fn login(session: Session) -> HttpResponse {
    session.renew();
    let result = session
        .insert("user_id", USER_ID)
        .and_then(|()| session.insert("email", EMAIL));
    match result {
        Ok(()) => HttpResponse::Ok().json(json!({ "message": "Logged in" })),
        Err(e) => error(e),
    }
}

async fn profile(session: Session) -> HttpResponse {
    let result = session
        .get::<u64>("user_id")
        .and_then(|id| Ok((id, session.get::<String>("email")?)));
    match result {
        Ok((Some(id), Some(email))) => {
            HttpResponse::Ok().json(json!({ "user": { "id": id, "email": email } }))
        }
        Ok(_) => HttpResponse::Unauthorized().json(json!({ "error": "Not authenticated" })),
        Err(e) => error(e),
    }
}

async fn visits(session: Session) -> HttpResponse {
    let n = match session.get::<u64>("visits") {
        Ok(n) => n.unwrap_or(0) + 1,
        Err(e) => return error(e),
    };
    match session.insert("visits", n).map(|()| n) {
        Ok(n) => HttpResponse::Ok().json(json!({ "visits": n })),
        Err(e) => error(e),
    }
}

pub fn run(args: Args) -> Result<(), BoxError> {
    if args.store != Store::Redis {
        return Err("actix-session has no memory or Postgres store here: use --store redis".into());
    }
    actix_web::rt::System::new().block_on(async move {
        let store = RedisSessionStore::new(args.redis_url.clone()).await?;
        let key = Key::from(SECRET);
        let max_age = i64::try_from(args.max_age.as_secs()).unwrap_or(i64::MAX);
        eprintln!(
            "loadtest-server: actix on Redis listening on http://{}",
            args.addr
        );
        HttpServer::new(move || {
            App::new()
                .wrap(
                    SessionMiddleware::builder(store.clone(), key.clone())
                        .cookie_name(COOKIE.to_owned())
                        .cookie_content_security(CookieContentSecurity::Signed)
                        .cookie_secure(false)
                        .cookie_http_only(true)
                        .cookie_same_site(SameSite::Lax)
                        .cookie_path("/".to_owned())
                        .session_lifecycle(
                            PersistentSession::default().session_ttl(Duration::seconds(max_age)),
                        )
                        .build(),
                )
                .route("/login", web::post().to(login))
                .route("/profile", web::get().to(profile))
                .route("/visits", web::get().to(visits))
        })
        .workers(args.workers)
        .bind(args.addr)?
        .run()
        .await?;
        Ok(())
    })
}
