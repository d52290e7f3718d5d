//! The commands on a store: count, sessions, revoke, purge-expired, migrate.

use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use session_cookie::core::Error;
use session_cookie::SessionStore;

use crate::time::{rfc3339, unix_ms};
use crate::Failure;

/// How results are printed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    /// One JSON document instead of text.
    pub(crate) json: bool,
}

impl Output {
    /// Prints `text`, or `doc` with `--json`.
    pub(crate) fn print(&self, text: impl FnOnce() -> String, doc: Value) {
        if self.json {
            println!("{doc}");
        } else {
            println!("{}", text());
        }
    }
}

/// Opens the store at `url` with `session_cookie::connect`, as the app
/// does (SQL stores are migrated on the way).
pub(crate) async fn open(url: &str) -> Result<Arc<dyn SessionStore>, Failure> {
    Ok(session_cookie::connect(url).await?)
}

/// `Unsupported` as a line that names the store and what it lacks.
fn unsupported(store: &dyn SessionStore, err: Error) -> Failure {
    match err {
        Error::Unsupported(what) => {
            format!("the {} store does not support {what}", store.backend_name()).into()
        }
        other => other.into(),
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `keycard count [--user U]`.
pub(crate) async fn count(
    out: &Output,
    store: &dyn SessionStore,
    user: Option<&str>,
) -> Result<(), Failure> {
    if let Some(user) = user {
        let live = store
            .count_user_sessions(user)
            .await
            .map_err(|e| unsupported(store, e))?;
        let text = || {
            format!(
                "{} of user {user}",
                plural(live, "live session", "live sessions")
            )
        };
        out.print(text, json!({ "user": user, "live": live }));
        return Ok(());
    }
    let live = store
        .count_sessions()
        .await
        .map_err(|e| unsupported(store, e))?;
    let expired = match store.count_expired().await {
        Ok(n) => Some(n),
        Err(Error::Unsupported(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let text = || match expired {
        Some(n) if n > 0 => format!(
            "{} ({} waiting for cleanup)",
            plural(live, "live session", "live sessions"),
            plural(n, "expired record", "expired records")
        ),
        _ => plural(live, "live session", "live sessions"),
    };
    out.print(text, json!({ "live": live, "expired": expired }));
    Ok(())
}

/// `keycard sessions --user U`.
pub(crate) async fn sessions(
    out: &Output,
    store: &dyn SessionStore,
    user: &str,
) -> Result<(), Failure> {
    let mut list = store
        .user_sessions(user)
        .await
        .map_err(|e| unsupported(store, e))?;
    list.sort_by_key(|s| s.created_at);
    let docs: Vec<Value> = list
        .iter()
        .map(|s| {
            json!({
                "key": s.key,
                "created_at": rfc3339(s.created_at),
                "expires_at": rfc3339(s.expires_at),
                "created_at_ms": unix_ms(s.created_at),
                "expires_at_ms": unix_ms(s.expires_at),
            })
        })
        .collect();
    let text = || {
        let mut lines = vec![format!(
            "{} of user {user}",
            plural(list.len() as u64, "live session", "live sessions")
        )];
        if !list.is_empty() {
            lines.push(format!("{:<43}  {:<24}  EXPIRES", "STORAGE KEY", "CREATED"));
        }
        for s in &list {
            lines.push(format!(
                "{:<43}  {:<24}  {}",
                s.key,
                rfc3339(s.created_at),
                rfc3339(s.expires_at)
            ));
        }
        lines.join("\n")
    };
    out.print(text, json!({ "user": user, "sessions": docs }));
    Ok(())
}

/// `keycard revoke --user U [--keep KEY]`. A `--keep` that names none of
/// the user's live sessions is refused (a typo would otherwise end them
/// all).
pub(crate) async fn revoke(
    out: &Output,
    store: &dyn SessionStore,
    user: &str,
    keep: Option<&str>,
) -> Result<(), Failure> {
    let revoked = match keep {
        None => store.delete_user_sessions(user, None).await,
        Some(key) => {
            let listed = store
                .user_sessions(user)
                .await
                .map_err(|e| unsupported(store, e))?;
            if !listed.iter().any(|s| s.key == key) {
                return Err(format!(
                    "no live session of user {user} has the storage key {key} \
                     (see `keycard sessions --user {user}`); nothing revoked"
                )
                .into());
            }
            store.delete_user_sessions_except_key(user, key).await
        }
    }
    .map_err(|e| unsupported(store, e))?;
    let text = || {
        let kept = keep.map_or(String::new(), |k| format!(", kept {k}"));
        format!(
            "revoked {} of user {user}{kept}",
            plural(revoked, "session", "sessions")
        )
    };
    out.print(
        text,
        json!({ "user": user, "revoked": revoked, "kept": keep }),
    );
    Ok(())
}

/// `keycard purge-expired`: `delete_expired_batch` until a batch comes back
/// short, with a progress bar on stderr (a terminal only, never with
/// `--json`); a store without batches gets one `delete_expired`.
pub(crate) async fn purge(
    out: &Output,
    store: &dyn SessionStore,
    batch: u32,
) -> Result<(), Failure> {
    let waiting = match store.count_expired().await {
        Ok(n) => Some(n),
        Err(Error::Unsupported(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let bar = match (out.json, waiting) {
        (true, _) => ProgressBar::hidden(),
        (false, Some(n)) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(
                "{bar:40} {pos}/{len} expired records removed ({per_sec})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        (false, None) => ProgressBar::new_spinner().with_message("removing expired records"),
    };
    bar.enable_steady_tick(Duration::from_millis(200));
    let purged = purge_batches(store, batch, &bar).await;
    bar.finish_and_clear();
    let purged = purged?;
    let text = || {
        format!(
            "purged {}",
            plural(purged, "expired record", "expired records")
        )
    };
    out.print(text, json!({ "purged": purged }));
    Ok(())
}

async fn purge_batches(
    store: &dyn SessionStore,
    batch: u32,
    bar: &ProgressBar,
) -> Result<u64, Error> {
    let mut purged = 0;
    loop {
        let n = match store.delete_expired_batch(batch).await {
            Ok(n) => n,
            Err(Error::Unsupported(_)) if purged == 0 => return store.delete_expired().await,
            Err(e) => return Err(e),
        };
        purged += n;
        // Records expiring meanwhile can take it past the count it started from.
        if bar.length().is_some_and(|len| purged > len) {
            bar.set_length(purged);
        }
        bar.set_position(purged);
        if n < u64::from(batch) {
            return Ok(purged);
        }
    }
}

/// `keycard migrate`: `connect` has already migrated a SQL store; say so.
pub(crate) fn migrated(out: &Output, store: &dyn SessionStore) {
    let backend = store.backend_name();
    let sql = matches!(backend, "postgres" | "sqlite" | "mysql");
    let text = || {
        if sql {
            format!("migrated: the {backend} session table is at this version's schema")
        } else {
            format!("nothing to migrate: the {backend} store has no schema")
        }
    };
    out.print(text, json!({ "backend": backend, "migrated": sql }));
}
