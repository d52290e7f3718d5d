//! (a') This project on actix-web: session-actix's `SessionMiddleware` and
//! `Session` extractor, on the same stores and settings as `ours`
//! (`--index` and `--versions off` are `ours` only).

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::json;
use session_actix::{Error, Session, SessionMiddleware};

use crate::{Args, BoxError, EMAIL, USER_ID};

async fn login(session: Session) -> Result<HttpResponse, Error> {
    session.cycle_id();
    session.insert("user_id", &USER_ID)?;
    session.insert("email", EMAIL)?;
    Ok(HttpResponse::Ok().json(json!({ "message": "Logged in" })))
}

async fn profile(session: Session) -> Result<HttpResponse, Error> {
    let user = (
        session.get::<u64>("user_id")?,
        session.get::<String>("email")?,
    );
    Ok(match user {
        (Some(id), Some(email)) => {
            HttpResponse::Ok().json(json!({ "user": { "id": id, "email": email } }))
        }
        _ => HttpResponse::Unauthorized().json(json!({ "error": "Not authenticated" })),
    })
}

async fn visits(session: Session) -> Result<HttpResponse, Error> {
    let visits = session.update("visits", |n: Option<u64>| n.unwrap_or(0) + 1)?;
    Ok(HttpResponse::Ok().json(json!({ "visits": visits })))
}

fn routes(config: &mut web::ServiceConfig) {
    config
        .service(web::resource("/login").route(web::post().to(login)))
        .service(web::resource("/profile").route(web::get().to(profile)))
        .service(web::resource("/visits").route(web::get().to(visits)));
}

pub fn run(args: Args) -> Result<(), BoxError> {
    if args.index || !args.versions {
        return Err("ours-actix: --index and --versions off are for --variant ours".into());
    }
    actix_web::rt::System::new().block_on(async move {
        let store = crate::ours::store(&args).await?;
        let sessions = SessionMiddleware::from_arc(store, crate::ours::config(&args)?);
        let listener = std::net::TcpListener::bind(args.addr)?;
        eprintln!(
            "loadtest-server: ours-actix on {:?} listening on http://{}",
            args.store, args.addr
        );
        let app = move || App::new().wrap(sessions.clone()).configure(routes);
        HttpServer::new(app)
            .workers(args.workers)
            .listen(listener)?
            .run()
            .await?;
        Ok(())
    })
}
