//! The near cache's change channel on PostgreSQL: the channel's name, the
//! triggers that announce the session table's changes on it (all but the
//! writes a store announces itself), and the messages it carries.
//!
//! The triggers (`<table>_near_cache` for `UPDATE`, `<table>_near_cache_i`
//! for `INSERT`, `<table>_near_cache_d` for `DELETE`, row by row, and
//! `<table>_near_cache_t` for `TRUNCATE`) run one function,
//! `<table>_near_cache()`, in the table's schema. They catch every writer:
//! this crate's stores with or without the cache, the `keycard` CLI,
//! hand-written SQL. The one exception is an insert or update by a store
//! with the cache on, which announces it itself (see `announce.rs`) and
//! says so by setting the column [`ANNOUNCED`] to the row's new version:
//! the insert and update triggers' `WHEN` fire only for a write that left
//! that column as it was (an insert: `NULL`). Comparing two columns of the
//! row costs next to nothing, where a per-transaction setting
//! (`set_config(…, true)`) cost PostgreSQL a quarter of the `UPDATE`
//! (pgbench). The column and the triggers are added by the first store
//! that turns the near cache on, not by
//! [`migrate`](crate::SqlStore::migrate), so a table whose stores all leave
//! the cache off never pays for them.
//!
//! Messages (text, at most about 80 bytes each; a trigger's payload is one
//! message, an announcer's holds as many as fit in [`MAX_PAYLOAD`], one per
//! line, so that a listener receives one notification per batch, not one
//! per write):
//!
//! * `w <key> <version> <expires_at ms>`: the row was inserted or updated
//!   and is now at that version and expiry;
//! * `d <key>`: the row was deleted;
//! * `f`: the table was truncated, or an announcer lost a batch: anything
//!   may have changed;
//! * `p <feed> <n>`: a feed's heartbeat (sent by the feed itself through
//!   its announcer or the pool, not by the trigger).

use session_core::near_cache::Stamp;

use crate::sql::Names;
use crate::table::dquote;

/// The column a store's own insert or update sets to the row's new version
/// when the store announces the write itself (`BIGINT`, nullable, not
/// indexed: it never stops an update from being HOT).
pub(crate) const ANNOUNCED: &str = "announced";

/// The longest payload an announcer sends (PostgreSQL refuses 8,000 bytes
/// or more).
pub(crate) const MAX_PAYLOAD: usize = 7_900;

/// `messages` packed into as few payloads as [`MAX_PAYLOAD`] allows, one
/// message per line, in order.
pub(crate) fn pack(messages: &[String]) -> Vec<String> {
    let mut payloads: Vec<String> = Vec::new();
    for message in messages {
        match payloads.last_mut() {
            Some(last) if last.len() + 1 + message.len() <= MAX_PAYLOAD => {
                last.push('\n');
                last.push_str(message);
            }
            _ => payloads.push(message.clone()),
        }
    }
    payloads
}

/// PostgreSQL's limit on a channel name (`NAMEDATALEN - 1`).
const MAX_CHANNEL: usize = 63;

/// What the listener heard.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Message<'a> {
    /// The row under the key is now at this version and expiry.
    Write(&'a str, Stamp),
    /// The row under the key is gone.
    Delete(&'a str),
    /// Every row may be gone.
    Flush,
    /// A heartbeat: the feed's ID and the ping's number.
    Ping(&'a str, u64),
    /// Nothing this version sends: treat as "anything may have changed".
    Unknown,
}

/// Reads a payload.
pub(crate) fn parse(payload: &str) -> Message<'_> {
    let mut words = payload.split(' ');
    let parsed = match (words.next(), words.next(), words.next(), words.next()) {
        (Some("w"), Some(key), Some(version), Some(expires)) => {
            match (version.parse::<i64>(), expires.parse::<i64>()) {
                (Ok(version), Ok(expires)) => Some(Message::Write(
                    key,
                    Stamp {
                        // The column holds the u64's bits (see `row::version`).
                        version: version as u64,
                        expires_at_ms: u64::try_from(expires).unwrap_or(0),
                    },
                )),
                _ => None,
            }
        }
        (Some("d"), Some(key), None, None) => Some(Message::Delete(key)),
        (Some("f"), None, None, None) => Some(Message::Flush),
        (Some("p"), Some(feed), Some(n), None) => n.parse().ok().map(|n| Message::Ping(feed, n)),
        _ => None,
    };
    match parsed {
        Some(Message::Write("", _) | Message::Delete("")) | None => Message::Unknown,
        Some(m) => m,
    }
}

/// The channel of the table: `session_sqlx:<schema>.<table>`, or, when that
/// is longer than PostgreSQL's 63 bytes, the table's first 28 characters and
/// a stable 64-bit hash of the full name.
pub(crate) fn channel(n: &Names) -> String {
    let schema = n.schema.as_deref().unwrap_or(super::DEFAULT_SCHEMA);
    let full = format!("session_sqlx:{schema}.{}", n.table);
    if full.len() <= MAX_CHANNEL {
        return full;
    }
    // Names are ASCII (validated), so any byte index is a char boundary.
    let short = &n.table[..n.table.len().min(28)];
    format!("session_sqlx:{short}:{:016x}", fnv1a(full.as_bytes()))
}

/// FNV-1a, 64 bits: the same in every build and process (unlike std's
/// `DefaultHasher`), so every process derives the same channel.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A string as a SQL literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The trigger function, its triggers, and the SQL that installs them.
#[derive(Debug, Clone)]
pub(crate) struct Trigger {
    /// The function's body, as `pg_proc.prosrc` holds it.
    pub(crate) body: String,
    /// The triggers' names, unquoted: update, insert, delete, truncate.
    pub(crate) names: Vec<String>,
    /// The table, qualified and quoted.
    pub(crate) table: String,
    /// The advisory lock's key text, the one `migrate` takes.
    pub(crate) lock: String,
    /// The statements that (re)install the column, the function and the
    /// triggers, in order.
    pub(crate) install: Vec<String>,
}

impl Trigger {
    /// The triggers of the table `n`, notifying on `channel`.
    pub(crate) fn new(n: &Names, channel: &str) -> Self {
        let schema = n.schema.as_deref().unwrap_or(super::DEFAULT_SCHEMA);
        let name = format!("{}_near_cache", n.table);
        let function = format!("{}.{}", dquote(schema), dquote(&name));
        let ch = literal(channel);
        let body = format!(
            "\n-- session_sqlx near cache, layout 3\n\
             BEGIN\n\
             IF TG_OP = 'DELETE' THEN\n\
             PERFORM pg_notify({ch}, 'd ' || OLD.id);\n\
             ELSIF TG_OP = 'TRUNCATE' THEN\n\
             PERFORM pg_notify({ch}, 'f');\n\
             ELSE\n\
             IF TG_OP = 'UPDATE' AND NEW.id IS DISTINCT FROM OLD.id THEN\n\
             PERFORM pg_notify({ch}, 'd ' || OLD.id);\n\
             END IF;\n\
             PERFORM pg_notify({ch}, 'w ' || NEW.id || ' ' || NEW.version || ' ' || NEW.expires_at);\n\
             END IF;\n\
             RETURN NULL;\n\
             END\n"
        );
        let t = &n.qualified;
        let a = ANNOUNCED;
        let triggers = [
            (
                name.clone(),
                format!("UPDATE ON {t} FOR EACH ROW WHEN (NEW.{a} IS NOT DISTINCT FROM OLD.{a})"),
            ),
            (
                format!("{name}_i"),
                format!("INSERT ON {t} FOR EACH ROW WHEN (NEW.{a} IS NULL)"),
            ),
            (format!("{name}_d"), format!("DELETE ON {t} FOR EACH ROW")),
            (
                format!("{name}_t"),
                format!("TRUNCATE ON {t} FOR EACH STATEMENT"),
            ),
        ];
        let mut install = vec![
            format!("ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {a} BIGINT"),
            format!(
                "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql \
                 AS $near_cache${body}$near_cache$"
            ),
        ];
        for (trigger, on) in &triggers {
            install.push(format!("DROP TRIGGER IF EXISTS {} ON {t}", dquote(trigger)));
            install.push(format!(
                "CREATE TRIGGER {} AFTER {on} EXECUTE FUNCTION {function}()",
                dquote(trigger)
            ));
        }
        Self {
            body,
            names: triggers.into_iter().map(|(trigger, _)| trigger).collect(),
            table: t.clone(),
            lock: format!("session_sqlx:{schema}.{}", n.table),
            install,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Postgres;

    #[test]
    fn payloads_parse_and_anything_else_is_unknown() {
        let key = "a".repeat(43);
        assert_eq!(
            parse(&format!("w {key} 7 1700000000000")),
            Message::Write(
                &key,
                Stamp {
                    version: 7,
                    expires_at_ms: 1_700_000_000_000
                }
            )
        );
        // A u64 version above i64::MAX is stored as a negative BIGINT.
        assert_eq!(
            parse(&format!("w {key} -1 5")),
            Message::Write(
                &key,
                Stamp {
                    version: u64::MAX,
                    expires_at_ms: 5
                }
            )
        );
        assert_eq!(parse(&format!("d {key}")), Message::Delete(&key));
        assert_eq!(parse("f"), Message::Flush);
        assert_eq!(parse("p abc 12"), Message::Ping("abc", 12));
        for bad in [
            "",
            "w",
            "w k 1",
            "w k x 1",
            "d",
            "d  ",
            "x k",
            "p abc",
            "f f",
            "d k extra",
        ] {
            assert_eq!(parse(bad), Message::Unknown, "{bad:?}");
        }
    }

    #[test]
    fn the_stores_announcements_are_the_triggers_messages() {
        use crate::dialect::Dialect;
        let key = "k".repeat(43);
        let message = crate::announce::write_message(&key, 9, 1_700_000_000_123);
        assert_eq!(
            parse(&message),
            Message::Write(
                &key,
                Stamp {
                    version: 9,
                    expires_at_ms: 1_700_000_000_123
                }
            )
        );
        // The marked statements set the very column the triggers compare.
        assert_eq!(Postgres::ANNOUNCED, Some(ANNOUNCED));
        let t = Trigger::new(&Names::new::<Postgres>(None, "s".into()), "ch");
        assert!(t.install[0].contains(&format!("ADD COLUMN IF NOT EXISTS {ANNOUNCED}")));
        assert_eq!(
            t.names,
            [
                "s_near_cache",
                "s_near_cache_i",
                "s_near_cache_d",
                "s_near_cache_t"
            ]
        );
    }

    #[test]
    fn a_batch_packs_into_few_payloads_in_order() {
        let messages: Vec<String> = (0..500)
            .map(|n| crate::announce::write_message(&format!("{n:043}"), n, 1_700_000_000_000))
            .collect();
        let payloads = pack(&messages);
        assert!(payloads.iter().all(|p| p.len() <= MAX_PAYLOAD));
        // Full payloads: each but the last lacks room for one more message.
        let total: usize = messages.iter().map(|m| m.len() + 1).sum();
        assert!(payloads.len() >= 2 && payloads.len() <= total / (MAX_PAYLOAD - 80) + 1);
        let unpacked: Vec<&str> = payloads.iter().flat_map(|p| p.split('\n')).collect();
        assert_eq!(unpacked, messages);
        assert!(pack(&[]).is_empty());
    }

    #[test]
    fn channels_fit_postgres_and_differ_per_table() {
        let names = |schema: &str, table: &str| {
            Names::new::<Postgres>(Some(schema.to_owned()), table.to_owned())
        };
        assert_eq!(
            channel(&names("public", "sessions")),
            "session_sqlx:public.sessions"
        );
        let long = "t".repeat(48);
        let a = channel(&names(&"s".repeat(48), &long));
        let b = channel(&names(&"r".repeat(48), &long));
        assert!(a.len() <= MAX_CHANNEL && b.len() <= MAX_CHANNEL, "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(a, channel(&names(&"s".repeat(48), &long)));
        let t = Trigger::new(&names("public", &long), "c'h");
        assert!(t.names.iter().all(|name| name.len() <= MAX_CHANNEL));
        assert!(t.body.contains("pg_notify('c''h', 'd ' || OLD.id)"));
    }
}
