//! The suites' apps on actix-web: the actix hotel
//! (session-actix/examples/hotel) with the routes the suites add, behind
//! session-actix's `SessionMiddleware`, on a real loopback port.

use actix_web::middleware::Condition;
use actix_web::{web, App, HttpResponse, HttpServer};
use session_actix::{Error, Session, SessionMiddleware};

use crate::app::{AppSpec, Hook};
use crate::TestApp;

/// `POST /clear`: empties the session.
async fn clear(session: Session) -> &'static str {
    session.clear();
    "cleared"
}

/// `POST /big`: a value over the default `max_data_size`.
async fn big(session: Session) -> Result<&'static str, Error> {
    session
        .insert("big", &"x".repeat(100 * 1024))
        .map(|()| "stored")
}

/// `POST /keys/{key}`: sets `key` to `true`.
async fn set_key(session: Session, key: web::Path<String>) -> Result<&'static str, Error> {
    session.insert(&key, &true).map(|()| "set")
}

/// `GET /keys`: the session's keys.
async fn keys(session: Session) -> HttpResponse {
    HttpResponse::Ok().json(session.keys())
}

/// `POST /expiry/{spec}`: see `expiry_suite::routes`.
async fn choose(session: Session, spec: web::Path<String>) -> Result<HttpResponse, Error> {
    let Some(expiry) = crate::expiry_suite::parse_expiry(&spec) else {
        return Ok(HttpResponse::BadRequest().finish());
    };
    session.set_expiry(expiry)?;
    session.insert("chosen", spec.as_str())?;
    Ok(HttpResponse::Ok().body(spec.into_inner()))
}

/// `POST /cycle`: a new ID, the same data.
async fn cycle(session: Session) -> &'static str {
    session.cycle_id();
    "cycled"
}

/// The routes `suite::extra_routes` and `expiry_suite::routes` add on axum,
/// and the test's hook, if any.
fn routes(config: &mut web::ServiceConfig, hook: Option<&(&'static str, Hook)>) {
    config
        .route("/clear", web::post().to(clear))
        .route("/big", web::post().to(big))
        .route("/keys/{key}", web::post().to(set_key))
        .route("/keys", web::get().to(keys))
        .route("/expiry/{spec}", web::post().to(choose))
        .route("/cycle", web::post().to(cycle));
    if let Some((path, hook)) = hook {
        let hook = hook.clone();
        let hooked = move |session: Session| {
            let hook = hook.clone();
            async move {
                let (key, value) = hook();
                session.insert(key, &value).map(|()| "changed")
            }
        };
        config.route(path, web::post().to(hooked));
    }
}

/// Serves `spec` on actix-web, on a free loopback port, in the running
/// test's tokio runtime (actix-web's workers run their own).
pub(crate) fn serve(spec: AppSpec) -> TestApp {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    let sessions = SessionMiddleware::from_arc(spec.store.clone(), spec.config)
        .on_store_error(spec.on_store_error);
    let (layer, hook) = (spec.layer, spec.hook);
    let server = HttpServer::new(move || {
        App::new()
            .configure(|config| routes(config, hook.as_ref()))
            .configure(crate::actix_hotel::routes)
            .wrap(Condition::new(layer, sessions.clone()))
    })
    .workers(2)
    .disable_signals()
    .listen(listener)
    .expect("listen on the loopback port")
    .run();
    let task = tokio::spawn(async move {
        server.await.expect("server");
    });
    TestApp::running(url, spec.store, task)
}
