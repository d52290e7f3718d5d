//! Server-side HTTP sessions for actix-web.
//!
//! The browser holds only an opaque, signed session ID. The data lives
//! server-side in a store picked by a cargo feature. Logging out deletes the
//! record, so a copied cookie stops working on the server.
//!
//! This is the actix-web face of the same sessions as `session-cookie`
//! (tower and axum): the same [`SessionConfig`], the same stores, the same
//! cookie, the same request lifecycle ([`session_core::adapter`]), so the
//! two can serve one store side by side.
//!
//! ```
//! use actix_web::{web, App, HttpResponse};
//! use session_actix::{MemoryStore, Session, SessionConfig, SessionMiddleware};
//!
//! async fn login(session: Session) -> Result<HttpResponse, session_actix::Error> {
//!     session.cycle_id(); // new cookie at login, same data
//!     session.insert("user_id", &42u64)?;
//!     Ok(HttpResponse::Ok().body("Logged in"))
//! }
//!
//! async fn profile(session: Session) -> Result<String, session_actix::Error> {
//!     Ok(match session.get::<u64>("user_id")? {
//!         Some(id) => format!("user {id}"),
//!         None => "not logged in".into(),
//!     })
//! }
//!
//! async fn logout(session: Session) -> &'static str {
//!     session.destroy();
//!     "Logged out"
//! }
//!
//! # #[actix_web::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = SessionConfig::builder("a-secret-of-at-least-32-bytes-long!!").build()?;
//! let sessions = SessionMiddleware::new(MemoryStore::new(), config);
//! let app = actix_web::test::init_service(
//!     App::new()
//!         .wrap(sessions)
//!         .route("/login", web::post().to(login))
//!         .route("/profile", web::get().to(profile))
//!         .route("/logout", web::post().to(logout)),
//! )
//! .await;
//! let login = actix_web::test::TestRequest::post().uri("/login").to_request();
//! let response = actix_web::test::call_service(&app, login).await;
//! assert!(response.headers().contains_key("set-cookie"));
//! # Ok(()) }
//! ```
//!
//! # Lifecycle of a request
//!
//! As in `session-cookie`, step by step:
//!
//! 1. The middleware reads the session cookie from the `Cookie` headers, as
//!    bytes (other cookies never matter), and checks its HMAC tag. A
//!    tampered, unknown or unsigned cookie means a fresh, empty session;
//!    nothing is ever stored under an ID the client chose.
//! 2. The store is asked only when a handler takes [`Session`].
//! 3. After the handler: nothing changed and nothing to renew means no
//!    write and no `Set-Cookie`; a new session means one `create`; a change
//!    to a stored one means one `save` (retried on conflicts with a
//!    concurrent request of the same session, see [`ConflictRetry`]); an
//!    emptied or destroyed session is deleted and its cookie removed.
//!    Responses that set the cookie carry `Cache-Control: no-store`.
//! 4. `max_age` is the idle lifetime, renewed once `refresh_after` of it has
//!    passed; `absolute_max_age` caps renewals. Dead cookies are cleared.
//!    A damaged record is deleted and served as no session.
//! 5. A store failure answers 503 (see [`OnStoreError`]); a failed save is
//!    never reported as success, and a save whose session ended meanwhile
//!    answers 409.
//!
//! Logs go through `tracing` with the target `session_core::adapter`, by
//! storage key only (never an ID, a cookie, data or the user).
//!
//! # Features
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `memory` | yes | `MemoryStore`, in-process, for one machine and tests |
//! | `redis` | | `RedisStore` on Redis, Redis Sentinel or Redis Cluster, and `redis` (the driver) |
//! | `postgres`, `sqlite`, `mysql` | | `PostgresStore`, `SqliteStore`, `MySqlStore`, `CleanupHandle`, and `sqlx` (the driver) |
//! | `tls` | | TLS to the backends that are on (rustls with ring, the platform's trust roots; no OpenSSL) |
//!
//! The middleware runs the store calls on the worker's runtime: actix-web's
//! workers run tokio, as every store here does.
//!
//! # Building the store
//!
//! Build the store once, in `main`, and share it: clone one
//! [`SessionMiddleware`] into each worker's `App` (see its example). Every
//! worker then shares the store's settings and its one-writer-per-session
//! queue. Nothing more is needed for speed: a standalone `RedisStore` used
//! from an actix-web worker (a single-threaded runtime) opens that worker's
//! own Redis connection on its first command, so no command hops to the
//! thread the store connected on (the actix `System` thread of `main`) and
//! back. In the project's load harness (one worker on one core, Redis)
//! that hop cost up to 1.3 context switches and 5 to 8 µs of CPU per
//! request, a quarter of the request's cost. (Redis Cluster and Sentinel
//! connections are still shared by every worker.)

#![cfg_attr(docsrs, feature(doc_cfg))]

mod connect;
mod error;
mod middleware;
mod session;

pub use connect::connect;
pub use error::Error;
pub use middleware::{SessionMiddleware, SessionMiddlewareService};
pub use session::Session;

// The settings types, the `core` crate and the stores, as session-cookie
// re-exports them; `connect` and `Error` are this crate's own.
#[doc(inline)]
pub use session_stores::*;
