//! `keycard inspect CARD`: is the cookie valid, which key signed it, its
//! storage key and, with a store, its session's metadata (and data with
//! `--data`). The session ID itself is never printed.

use std::process::ExitCode;

use serde_json::{json, Map, Value};
use session_cookie::core::{codec, IdSigner, Record, SessionId};
use session_cookie::{SessionConfig, SessionStore};

use crate::commands::Output;
use crate::time::{rfc3339, unix_ms};
use crate::Failure;

/// Checks `card` with the keys of `SESSION_SECRET` and
/// `SESSION_FALLBACK_SECRET_KEYS` (and the cookie name of `SESSION_COOKIE`),
/// then looks its session up in `store`. Exit status 1 for a card no key
/// signed.
pub(crate) async fn run(
    out: &Output,
    store: Option<&dyn SessionStore>,
    card: &str,
    data: bool,
) -> Result<ExitCode, Failure> {
    let config = SessionConfig::from_env()?;
    let value = cookie_value(card);
    let name = config.session_cookie();
    let keys = std::iter::once(config.secret_key()).chain(config.fallback_secret_keys());
    let signed = keys.enumerate().find_map(|(i, key)| {
        IdSigner::new(name, key, [])
            .verify(value)
            .map(|v| (i, v.id))
    });
    let Some((key, id)) = signed else {
        out.print(
            || {
                format!(
                    "not valid: no key of SESSION_SECRET or SESSION_FALLBACK_SECRET_KEYS signed \
                     it for the cookie `{name}` (tampered, another secret, another cookie name, \
                     or not a session cookie)"
                )
            },
            json!({ "valid": false, "cookie": name }),
        );
        return Ok(ExitCode::FAILURE);
    };
    let signer = match key {
        0 => "the current key (SESSION_SECRET)".to_owned(),
        n => format!(
            "fallback key {n} of SESSION_FALLBACK_SECRET_KEYS (the app re-issues it under the current key)"
        ),
    };
    let mut doc = json!({
        "valid": true,
        "cookie": name,
        "signed_by": if key == 0 { "current".to_owned() } else { format!("fallback {key}") },
        "storage_key": id.storage_key(),
    });
    let mut lines = vec![
        format!("valid: signed by {signer}, for the cookie `{name}`"),
        format!("storage key: {}", id.storage_key()),
    ];
    if let Some(store) = store {
        let (text, session) = looked_up(store, &id, data).await?;
        lines.extend(text);
        doc["session"] = session;
    }
    out.print(|| lines.join("\n"), doc);
    Ok(ExitCode::SUCCESS)
}

/// The cookie's value from `CARD`, `NAME=CARD` or a `Set-Cookie` line.
fn cookie_value(card: &str) -> &str {
    let pair = card.split(';').next().unwrap_or(card).trim();
    pair.rsplit_once('=').map_or(pair, |(_, v)| v)
}

/// What the store holds for `id`, as text lines and JSON.
async fn looked_up(
    store: &dyn SessionStore,
    id: &SessionId,
    data: bool,
) -> Result<(Vec<String>, Value), Failure> {
    let record = match store.load(id).await {
        Ok(Some(record)) => record,
        Ok(None) => {
            let line = "session: none in the store (expired, logged out, revoked, or never stored)";
            return Ok((vec![line.to_owned()], json!({ "live": false })));
        }
        Err(
            err @ (session_cookie::core::Error::Envelope { .. }
            | session_cookie::core::Error::Decode(_)),
        ) => {
            let why = session_cookie::error_chain(&err);
            let line =
                format!("session: damaged record ({why}); the app deletes it at its next use");
            return Ok((vec![line], json!({ "live": false, "damaged": why })));
        }
        Err(err) => return Err(err.into()),
    };
    metadata(&record, data)
}

fn metadata(record: &Record, data: bool) -> Result<(Vec<String>, Value), Failure> {
    let size = codec::encode(record)?.len();
    let mut lines = vec![
        "session: live".to_owned(),
        format!("created: {}", rfc3339(record.created_at)),
        format!("expires: {}", rfc3339(record.expires_at)),
        format!("user: {}", record.user.as_deref().unwrap_or("(none)")),
        format!("size: {size} bytes stored, {} values", record.data.len()),
    ];
    let mut doc = json!({
        "live": true,
        "created_at": rfc3339(record.created_at),
        "expires_at": rfc3339(record.expires_at),
        "created_at_ms": unix_ms(record.created_at),
        "expires_at_ms": unix_ms(record.expires_at),
        "user": record.user,
        "size": size,
        "values": record.data.len(),
    });
    if data {
        let mut values = Map::new();
        lines.push("data:".to_owned());
        for (key, bytes) in &record.data {
            let value = codec::decode_value::<Value>(bytes).unwrap_or_else(|_| {
                Value::String(format!("<{} bytes that are not JSON>", bytes.len()))
            });
            lines.push(format!("  {key} = {value}"));
            values.insert(key.clone(), value);
        }
        doc["data"] = Value::Object(values);
    }
    Ok((lines, doc))
}

#[cfg(test)]
mod tests {
    use super::cookie_value;

    #[test]
    fn the_value_is_found_in_a_pair_or_a_set_cookie_line() {
        assert_eq!(cookie_value("abc.def"), "abc.def");
        assert_eq!(cookie_value("session=abc.def"), "abc.def");
        assert_eq!(
            cookie_value(" session=abc.def; Path=/; HttpOnly"),
            "abc.def"
        );
    }
}
