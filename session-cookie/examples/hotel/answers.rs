//! What the hotel's routes answer, whatever the web framework: the axum app
//! (`app.rs` beside this file) and the actix-web one
//! (`session-actix/examples/hotel`) hand these functions the request's
//! session (their `Session` derefs to [`SessionHandle`]) and send back the
//! [`Reply`], so the two apps answer alike, byte for byte.
#![allow(unreachable_pub, dead_code)]

use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{json, Value};
use session_core::adapter::SessionHandle;
use session_core::{Error, Expiry};

/// The demo account.
pub const DEMO_EMAIL: &str = "guest@example.com";
/// The demo account's password.
pub const DEMO_PASSWORD: &str = "guest";
const DEMO_USER_ID: u64 = 1;
/// How long a login with `"remember": true` lasts without use: a persistent
/// cookie with this `Max-Age`, renewed like any other (and still capped by
/// `absolute_max_age`).
pub const REMEMBER_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// A JSON answer.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

fn reply(status: u16, body: Value) -> Reply {
    Reply { status, body }
}

fn not_authenticated() -> Reply {
    reply(401, json!({ "error": "Not authenticated" }))
}

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
    /// "Remember me": a persistent cookie instead of a browser-session one.
    #[serde(default)]
    remember: bool,
}

/// The login body, read as axum's `Json` reads one: 415 without a JSON
/// `Content-Type`, 400 for malformed JSON, 422 for JSON of another shape.
fn credentials(content_type: Option<&[u8]>, body: &[u8]) -> Result<Credentials, Reply> {
    let mime = content_type
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let is_json =
        mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"));
    if !is_json {
        let error = "Expected request with `Content-Type: application/json`";
        return Err(reply(415, json!({ "error": error })));
    }
    serde_json::from_slice(body).map_err(|e| match e.is_data() {
        true => {
            let error = format!("Failed to deserialize the JSON body into the target type: {e}");
            reply(422, json!({ "error": error }))
        }
        false => {
            let error = format!("Failed to parse the request body as JSON: {e}");
            reply(400, json!({ "error": error }))
        }
    })
}

/// `POST /login` with `{"email", "password", "remember"?}`.
pub fn login<E: From<Error>>(
    session: &SessionHandle<E>,
    content_type: Option<&[u8]>,
    body: &[u8],
    user_agent: Option<&str>,
) -> Result<Reply, E> {
    let creds = match credentials(content_type, body) {
        Ok(creds) => creds,
        Err(rejection) => return Ok(rejection),
    };
    if creds.email != DEMO_EMAIL || creds.password != DEMO_PASSWORD {
        return Ok(reply(401, json!({ "error": "Invalid credentials" })));
    }
    // A new key card at login (no session fixation); existing data is kept.
    session.cycle_id();
    // "Remember me": a cookie that outlives the browser, for REMEMBER_FOR
    // without use; otherwise one the browser drops when it closes (the
    // record still ends after `browser_session_ttl` without use).
    session.set_expiry(Some(if creds.remember {
        Expiry::Persistent(REMEMBER_FOR)
    } else {
        Expiry::BrowserSession
    }))?;
    session.set_user(Some(&DEMO_USER_ID.to_string()));
    session.insert("user_id", &DEMO_USER_ID)?;
    session.insert("email", &creds.email)?;
    session.insert("user_agent", user_agent.unwrap_or("unknown"))?;
    Ok(reply(200, json!({ "message": "Logged in" })))
}

/// `GET /profile`: who is logged in.
pub fn profile<E: From<Error>>(session: &SessionHandle<E>) -> Result<Reply, E> {
    Ok(
        match (
            session.get::<u64>("user_id")?,
            session.get::<String>("email")?,
        ) {
            (Some(id), Some(email)) => reply(200, json!({ "user": { "id": id, "email": email } })),
            _ => not_authenticated(),
        },
    )
}

/// `POST /logout`: the record is deleted, the cookie removed.
pub fn logout<E>(session: &SessionHandle<E>) -> Reply {
    session.destroy();
    reply(200, json!({ "message": "Logged out" }))
}

/// `GET /visits`: counts this session's visits.
pub fn visits<E: From<Error>>(session: &SessionHandle<E>) -> Result<Reply, E> {
    // `update` composes with concurrent requests of the same session: no
    // increment is lost when several tabs hit /visits at once.
    let visits = session.update("visits", |n: Option<u64>| n.unwrap_or(0) + 1)?;
    Ok(reply(200, json!({ "visits": visits })))
}

/// `GET /sessions`: the logged-in user's active sessions (where they are
/// logged in).
pub async fn sessions<E: From<Error>>(session: &SessionHandle<E>) -> Result<Reply, E> {
    if session.user().is_none() {
        return Ok(not_authenticated());
    }
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut list = Vec::new();
    for s in session.user_sessions().await? {
        list.push(json!({
            "current": s.current,
            "created_at": secs(s.created_at),
            "last_active": secs(s.last_active),
            "user_agent": s.get::<String>("user_agent")?,
        }));
    }
    Ok(reply(200, json!({ "sessions": list })))
}

/// `POST /logout-everywhere`: ends every other session of the logged-in
/// user; this one stays.
pub async fn logout_everywhere<E: From<Error>>(session: &SessionHandle<E>) -> Result<Reply, E> {
    if session.user().is_none() {
        return Ok(not_authenticated());
    }
    let ended = session.end_other_sessions().await?;
    Ok(reply(
        200,
        json!({ "message": "Logged out everywhere else", "ended": ended }),
    ))
}

/// `GET /`: the browser page (`index.html` beside this file, no build
/// step). It calls the JSON routes with `fetch()`, so it needs no session
/// handling of its own.
pub fn page() -> &'static str {
    static PAGE: LazyLock<String> = LazyLock::new(|| {
        include_str!("index.html")
            .replace("%DEMO_EMAIL%", DEMO_EMAIL)
            .replace("%DEMO_PASSWORD%", DEMO_PASSWORD)
    });
    PAGE.as_str()
}

/// `GET /health`: never touches the session.
pub const HEALTH: &str = "ok";
