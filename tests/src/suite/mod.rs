//! The HTTP suite: every rule of the request lifecycle, checked over a real
//! TCP connection against the hotel app. Every backend runs it through
//! [`http_suite!`](crate::http_suite). One module per topic, each rule a
//! public `async fn(Arc<dyn SessionStore>)` re-exported here (the macro
//! calls `suite::<rule>`):
//!
//! - [`lifecycle`]: log in and out, store calls per request, cookie
//!   attributes, clearing and cycling the ID, renewal, bad input;
//! - [`cards`]: forged, foreign and fallback-signed cards, several cookies,
//!   which cards are cleared;
//! - [`failures`]: a store that is down or fails during a retry;
//! - [`concurrency`]: concurrent requests on one session, one user on
//!   several browsers.

use std::sync::Arc;

use axum::routing::post;
use axum::Router;
use serde_json::Value;
use session_cookie::{Session, SessionConfig, SessionConfigBuilder, SessionStore};

use crate::{TestApp, SECRET};

pub mod cards;
pub mod concurrency;
pub mod failures;
pub mod lifecycle;

pub use cards::*;
pub use concurrency::*;
pub use failures::*;
pub use lifecycle::*;

/// Expands to one `#[tokio::test]` per HTTP rule (this module's and
/// [`expiry_suite`](crate::expiry_suite)'s) and per adapter (modules
/// `on_axum` and `on_actix`), each on a fresh store from `$factory` (an
/// expression evaluating to a future of `Arc<dyn SessionStore>`).
#[macro_export]
macro_rules! http_suite {
    ($factory:expr) => {
        /// The HTTP suite on session-cookie's layer, on axum.
        mod on_axum {
            #[allow(unused_imports)]
            use super::*;
            $crate::http_suite!(@adapter Axum $factory);
        }
        /// The same suite on session-actix's middleware, on actix-web.
        mod on_actix {
            #[allow(unused_imports)]
            use super::*;
            $crate::http_suite!(@adapter Actix $factory);
        }
    };
    (@adapter $adapter:ident $factory:expr) => {
        $crate::http_suite!(@tests $adapter suite $factory;
            login_profile_logout_replay, lazy_handler_costs_no_store_call,
            unchanged_session_writes_nothing, first_write_creates_later_writes_save,
            cookie_attributes_follow_config, clear_deletes_and_removes_cookie,
            cycle_id_moves_data_and_kills_old_card, forged_cards_get_fresh_sessions,
            fallback_secret_is_reissued, reads_renew_at_most_once_per_window,
            absolute_lifetime_caps_renewal, store_down_is_503_never_success,
            continue_empty_policy_serves_reads, bad_logins_create_nothing,
            oversized_value_is_413, missing_layer_is_named, concurrent_visits_on_one_session,
            queued_writers_commit_in_groups,
            concurrent_requests_keep_each_others_keys, log_out_everywhere_else,
            sibling_cookies_never_hide_the_session, first_session_cookie_that_verifies_wins,
            forged_cards_are_cleared_without_a_store_call, gone_cards_are_cleared_once_loaded,
            new_session_wins_over_the_removal, damaged_during_a_retry_ends_the_session,
            store_failure_during_a_retry_is_503);
        // Issue 16: the expiry model (see `expiry_suite`).
        $crate::http_suite!(@tests $adapter expiry_suite $factory;
            browser_session_cookie_has_no_expiry_but_its_record_does,
            remembered_session_keeps_its_lifetime_across_renewals_and_cycles,
            absolute_cap_holds_for_both_kinds, every_request_renews_without_extracting);
    };
    (@tests $adapter:ident $module:ident $factory:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store: ::std::sync::Arc<dyn ::session_cookie::SessionStore> = $factory.await;
                $crate::Adapter::$adapter.run($crate::$module::$name(store)).await;
            }
        )*
    };
}

/// Routes the suite adds to the hotel app.
pub fn extra_routes() -> Router {
    async fn clear(session: Session) -> &'static str {
        session.clear();
        "cleared"
    }
    async fn big(session: Session) -> Result<&'static str, session_cookie::Error> {
        session.insert("big", &"x".repeat(100 * 1024))?;
        Ok("stored")
    }
    async fn set_key(
        session: Session,
        axum::extract::Path(key): axum::extract::Path<String>,
    ) -> Result<&'static str, session_cookie::Error> {
        session.insert(&key, &true)?;
        Ok("set")
    }
    async fn keys(session: Session) -> axum::Json<Vec<String>> {
        axum::Json(session.keys())
    }
    Router::new()
        .route("/clear", post(clear))
        .route("/big", post(big))
        .route("/keys/{key}", post(set_key))
        .route("/keys", axum::routing::get(keys))
}

fn config(edit: impl FnOnce(SessionConfigBuilder) -> SessionConfigBuilder) -> SessionConfig {
    edit(SessionConfig::builder(SECRET))
        .build()
        .expect("valid test config")
}

async fn app(store: Arc<dyn SessionStore>) -> TestApp {
    TestApp::hotel(store, config(|b| b)).await
}

async fn json(r: reqwest::Response) -> Value {
    r.json().await.expect("JSON body")
}
