//! Server-side HTTP sessions for tower and axum.
//!
//! The browser holds only an opaque, signed session ID. The
//! data lives server-side in a store picked by a cargo feature. Logging out
//! deletes the record, so a copied cookie stops working on the server.
//!
//! ```
//! use axum::{routing::{get, post}, Json, Router};
//! use session_cookie::{MemoryStore, Session, SessionConfig, SessionLayer};
//!
//! async fn login(session: Session) -> Result<&'static str, session_cookie::Error> {
//!     session.cycle_id(); // new cookie at login, same data
//!     session.insert("user_id", &42u64)?;
//!     Ok("Logged in")
//! }
//!
//! async fn profile(session: Session) -> Result<String, session_cookie::Error> {
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
//! let config = SessionConfig::builder("a-secret-of-at-least-32-bytes-long!!").build()?;
//! let app: Router = Router::new()
//!     .route("/login", post(login))
//!     .route("/profile", get(profile))
//!     .route("/logout", post(logout))
//!     .layer(SessionLayer::new(MemoryStore::new(), config));
//! # Ok::<(), session_cookie::Error>(())
//! ```
//!
//! # Lifecycle of a request
//!
//! 1. The layer reads the session cookie from the `Cookie` header, as bytes:
//!    other cookies (even with UTF-8 values such as `pref=Zürich`, or
//!    malformed) never matter, and only the session cookie's own value must
//!    be a cookie. It checks the cookie's HMAC tag; with several session cookies
//!    (one set for `/`, one for a sub-path) the first that verifies wins. A
//!    tampered, unknown or unsigned cookie means a fresh, empty session;
//!    nothing is ever stored under an ID the client chose.
//! 2. The store is asked only when a handler extracts [`Session`].
//! 3. After the handler: nothing changed and nothing to renew means no write
//!    and no `Set-Cookie`; a new session means one `create` and a
//!    `Set-Cookie`; a change to a stored session means one `save`; an emptied
//!    or destroyed session is deleted and its cookie removed. Responses that
//!    set the cookie carry `Cache-Control: no-store`.
//! 4. `max_age` is the idle lifetime, renewed only by requests whose handler
//!    extracts [`Session`] (a handler that never extracts it does not touch
//!    the store, so it renews nothing), and by such a request only once
//!    `refresh_after` of `max_age` has passed since the last renewal: a
//!    read renews with one `touch`, a write moves the expiry within its
//!    `save`, and the cookie is then re-sent with the new `Max-Age`.
//!    `absolute_max_age` caps renewals, counted from creation or the last
//!    `cycle_id` (login). The cookie's `Max-Age` and the store's expiry
//!    always come from one instant.
//! 5. Dead cookies are cleared: when the request sent a session cookie and the
//!    response ends with no session, it carries the removal cookie (same
//!    name, path and domain, `Cache-Control: no-store`), unless it sets the
//!    cookie of a session created in the same response. A cookie that fails
//!    verification is cleared by every response, without a store call; a
//!    cookie that verifies but whose record is gone (expired, revoked, logged
//!    out, damaged) is known dead only once a handler loads the session, so
//!    it is cleared by the first request that extracts [`Session`].
//! 6. A damaged record (stored bytes that do not decode) is no session: the
//!    layer deletes it, logs it once at `warn` by storage key, clears the
//!    cookie and serves the request as a cookieless one.
//! 7. A store failure answers 503 (see [`OnStoreError`]); a failed save is
//!    never reported as success, and a save whose session ended meanwhile
//!    answers 409.
//!
//! # Logging
//!
//! Through `tracing`, always naming a session by its storage key (a hash of
//! the ID that works as no cookie), never by ID, cookie or data, nor by the
//! user it is bound to: `debug` for sessions created, cycled and destroyed
//! (target `session_core::adapter`, the request lifecycle this crate shares
//! with the actix-web adapter); `info` for revocations; `warn` for
//! damaged records and saves that kept conflicting; `error` for store
//! failures.
//!
//! # Metrics and spans
//!
//! The layer wraps its store in
//! [`Instrumented`](session_core::telemetry::Instrumented): every store call
//! runs in an `info` span `session_store` (operation, backend, outcome,
//! duration), and with the `metrics` feature it is counted and timed
//! through the `metrics` facade, as are conflict retries, conflicts given
//! up and damaged records. Install a recorder (for example
//! metrics-exporter-prometheus) to export them; the names and labels are in
//! [`session_core::telemetry`]. No label holds a session ID, a cookie, a
//! storage key or a user.
//!
//! # Concurrent requests of one session
//!
//! Saves are versioned: a save that loses to a concurrent request of the
//! same session reloads the record, re-applies this request's changes key by
//! key and saves again (see [`ConflictRetry`]). Requests changing different
//! keys all keep their changes; [`update`](SessionHandle::update) calls on one key compose
//! (no lost increments); plain [`insert`](SessionHandle::insert) on one key is
//! last-writer-wins; `clear` and `destroy` win over concurrent changes.
//! Within one process, the requests changing one session write in turn,
//! each on top of the previous one's save, so they rarely conflict at all;
//! versions catch writers in other processes.
//!
//! # Features
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `axum` | yes | [`Session`] as an axum extractor, and [`Error`] as a response |
//! | `memory` | yes | `MemoryStore`, in-process, for one machine and tests |
//! | `redis` | | `RedisStore` on Redis, Redis Sentinel or Redis Cluster, and `redis` (the driver) |
//! | `postgres`, `sqlite`, `mysql` | | `PostgresStore`, `SqliteStore`, `MySqlStore`, `CleanupHandle`, and `sqlx` (the driver) |
//! | `metrics` | | store call counters, latency histograms and the layer's conflict and damage counters through the `metrics` facade ([`session_core::telemetry`]) |
//! | `tls` | | TLS to the backends that are on (rustls with ring, the platform's trust roots; no OpenSSL): `rediss://` for Redis, `sslmode=verify-full` on PostgreSQL, `ssl-mode=VERIFY_IDENTITY` on MySQL/MariaDB; adds nothing without such a backend |
//!
//! Turning the defaults off to pick one backend turns `axum` off too: write
//! `default-features = false, features = ["axum", "redis"]`. Without `axum`,
//! a handler taking `Session` does not compile (axum: "the trait bound
//! `fn(Session) -> … : Handler<_, _>` is not satisfied"; `#[axum::debug_handler]`
//! on the handler says "`FromRequestParts<()>` is not implemented for
//! `session_cookie::Session`"). The fix is the `axum` feature. Without `axum` the
//! crate is a plain tower layer: read the session from the request
//! extensions ([`LazySession`]).
//!
//! Which store? One machine: memory (or SQLite to survive restarts). Many app
//! servers: Redis (fastest, native expiry) or the PostgreSQL / MySQL database
//! the application already runs (durable, no extra service).

#![cfg_attr(docsrs, feature(doc_cfg))]

mod connect;
mod error;
#[cfg(feature = "axum")]
mod extract;
mod layer;
mod session;

pub use connect::connect;
pub use error::Error;
pub use layer::{SessionLayer, SessionService};
pub use session::{LazySession, Session};

// The settings types (`SessionConfig`, `OnStoreError`, `ConflictRetry`,
// `SessionHandle` …), the `core` crate, and the stores by the same
// features (`MemoryStore`, `RedisStore`, `PostgresStore`, `SqliteStore`,
// `MySqlStore`, `CleanupHandle`, and the `redis` and `sqlx` driver
// crates), all shared with session-actix. `connect` and `Error` are this
// crate's own.
#[doc(inline)]
pub use session_stores::*;

/// Not part of the API: the `Cookie` header reader the layer uses, exposed
/// only for the fuzz tests (`tests/tests/fuzz.rs`): the first cookie that
/// verified, and whether any cookie of that name was sent.
#[doc(hidden)]
pub fn __fuzz_read_card(
    headers: &http::HeaderMap,
    name: &str,
    cards: &session_core::IdSigner,
) -> (Option<session_core::Verified>, bool) {
    let cookies = headers.get_all(http::header::COOKIE);
    let read = session_core::adapter::read_card(
        cookies.iter().map(http::HeaderValue::as_bytes),
        name,
        cards,
    );
    (read.card, read.presented)
}

/// The README's examples, compiled as doctests so the README stays true
/// (they use every backend, so they build with all features, as
/// `scripts/test.sh` does).
#[cfg(all(
    doctest,
    feature = "memory",
    feature = "axum",
    feature = "redis",
    feature = "postgres",
    feature = "sqlite",
    feature = "mysql"
))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
