//! (d) No session layer: the same routes and bodies, no cookie, no store.
//! `/visits` counts in one process-wide atomic.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::{EMAIL, USER_ID};

static VISITS: AtomicU64 = AtomicU64::new(0);

async fn login() -> Json<Value> {
    Json(json!({ "message": "Logged in" }))
}

async fn profile() -> Json<Value> {
    Json(json!({ "user": { "id": USER_ID, "email": EMAIL } }))
}

async fn visits() -> Json<Value> {
    let n = VISITS.fetch_add(1, Ordering::Relaxed) + 1;
    Json(json!({ "visits": n }))
}

pub fn router() -> Router {
    Router::new()
        .route("/login", post(login))
        .route("/profile", get(profile))
        .route("/visits", get(visits))
}
