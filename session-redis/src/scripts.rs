//! The Lua scripts behind the operations that must read before they write.
//!
//! Every script names exactly one key in `KEYS`, so each runs on the master
//! owning that key's slot on a cluster. The exceptions, the create script
//! and the save script with the user's index as a second key, are only
//! sent to a standalone Redis. Each replies with an array whose first element is a status code;
//! [`Reply`] reads it. The envelope's offsets are compiled into the scripts
//! ([`PRELUDE_LUA`]), not sent with every call; [`Call`] sends a script.
//!
//! The Lua itself lives in `src/lua/*.lua`, one file per script body or
//! shared function, pulled in with `include_str!`; what each one expects
//! and replies is documented on its constant here.

use std::sync::LazyLock;

use redis::aio::ConnectionLike;
use redis::{Cmd, ErrorKind, RedisResult, Script, ServerErrorKind, ToRedisArgs, Value};
use session_core::codec;

/// Constants every script starts with: where the envelope keeps its expiry
/// and version, and how many leading bytes the scripts read at first
/// ([`HEAD_LEN`]).
static PRELUDE_LUA: LazyLock<String> = LazyLock::new(|| {
    format!(
        "local EXPIRY_AT, VERSION_AT, HEAD_LEN = {}, {}, {}\n",
        codec::EXPIRY_OFFSET,
        codec::VERSION_OFFSET,
        HEAD_LEN
    )
});

/// A script made of [`PRELUDE_LUA`] and `parts`, each part after a blank
/// line (the text the scripts have always had, so their SHA1s are those
/// Redis may already have cached).
fn script(parts: &[&str]) -> Script {
    let mut text = PRELUDE_LUA.clone();
    for part in parts {
        text.push('\n');
        text.push_str(part);
    }
    Script::new(&text)
}

/// How many leading bytes of a stored value the scripts read at first:
/// the whole header and a user identity of up to 64 bytes, so that one
/// `GETRANGE` usually says everything a script needs.
pub(crate) const HEAD_LEN: usize = codec::USER_OFFSET + 64;
const _: () = assert!(codec::VERSION_OFFSET + 8 <= HEAD_LEN);
const _: () = assert!(codec::FORMAT == 3, "the Lua below reads format 3 only");
const _: () = assert!(
    codec::EXPIRY_OFFSET == 1,
    "the Lua below reads the expiry at 2..9"
);
const _: () = assert!(
    codec::USER_LEN_OFFSET == 17 && codec::USER_OFFSET == 21,
    "the Lua below reads the user length at 18..21 and the user from 22"
);
const _: () = assert!(
    codec::UNBOUND == 0xFFFF_FFFF,
    "the Lua below hard-codes UNBOUND"
);

/// Shared by the scripts that need the user a stored value is bound to:
/// `user_of(key, head)` with `head` the first bytes of the value (at least
/// the header of its format, as read with [`HEAD_LEN`]).
///
/// Format 3 names the user in its header: its length at bytes 17..21
/// (`0xFFFFFFFF`: nobody), the user right after. When `head` is too short
/// for the user, one more `GETRANGE` reads it.
///
/// Returns the user, `false` when the value is bound to nobody, or `nil`
/// when it cannot be read (too short, or not format 3: formats 1 and 2 were
/// written only by pre-release builds and are not read).
const USER_OF_LUA: &str = include_str!("lua/user_of.lua");

/// `touch` in one step. KEYS[1]: the record's key. ARGV[1]: the new expiry as
/// 8 big-endian bytes, ARGV[2]: the key's new `PEXPIREAT` (see
/// [`redis_expiry`](crate::store::redis_expiry)).
///
/// Replies `{1}` when moved and the record is bound to nobody, `{1, user,
/// head}` when moved and it is bound to `user` (`head`: the header as it
/// was before the move, for the version and the previous expiry), `{0}`
/// when there is no live record, `{-1}` when the value is too short to be
/// an envelope, `{-3}` for a format number other than 3 (nothing written).
const TOUCH_LUA: &str = include_str!("lua/touch.lua");

pub(crate) static TOUCH: LazyLock<Script> = LazyLock::new(|| script(&[USER_OF_LUA, TOUCH_LUA]));

/// Versioned `save` in one step. KEYS[1]: the record's key. ARGV[1]: the
/// new envelope, ARGV[2]: the key's new `PXAT` (see
/// [`redis_expiry`](crate::store::redis_expiry)), ARGV[3]: the version the
/// caller loaded (`record.version - 1`) as 8 big-endian bytes, ARGV[4]: the
/// user the new record is bound to (absent when it is bound to nobody).
///
/// Reads the stored version without decoding the data: the 8 bytes at
/// `VERSION_AT` of a format-3 value (any other format number is refused,
/// `{-3}`). Then `SET ... PXAT ... XX` only if it equals ARGV[3].
///
/// With a second key (standalone Redis only: on a cluster the two keys are
/// on different slots), the session is also kept in that user's index:
/// KEYS[2]: the user's index, ARGV[5]: the session's storage key, ARGV[6]:
/// the record's version, ARGV[7]: the index's `PEXPIREAT` bound. When the
/// stored value is bound to another user or to nobody,
/// the session is filed exactly as [`INDEX_LUA`] does; when it is already
/// bound to this user it is already filed (a member only leaves an index
/// once its record is gone or bound elsewhere), so only the index's expiry
/// is kept covering the session's, and only if the expiry changes. Either
/// way before the write: if that fails, the script stops with the error
/// before anything is written. The version check comes first, so a
/// conflicting save touches nothing.
///
/// Replies `{1}` when written and the replaced value was bound to the same
/// user (or both to nobody), `{1, old user or nil}` when written and the
/// binding changed (the user the replaced value was bound to, so that the
/// caller can take the session out of that user's index), `{0}` when there
/// is no live record, `{-1}` for a value too
/// short to hold a version, `{-2}` on a version mismatch, `{-3}` for an
/// unknown format number.
const SAVE_LUA: &str = include_str!("lua/save.lua");

pub(crate) static SAVE: LazyLock<Script> =
    LazyLock::new(|| script(&[USER_OF_LUA, INDEX_FN_LUA, SAVE_LUA]));

/// Revocation of one session, in one step: delete it only if it is bound
/// to the user being logged out. KEYS[1]: the record's key. ARGV[1]: the
/// user.
///
/// Replies `{1, head}` when deleted, `{2, head}` when it is bound to someone
/// else or to nobody (kept), `{0}` when there is no such key, `{3}` when the
/// value cannot be read: a damaged record, which no request can ever load
/// again, so it is deleted too (it was filed in this user's index, and it
/// must not escape "log out everywhere"). `head` is the value's header, for
/// its version and expiry.
const REVOKE_LUA: &str = include_str!("lua/revoke.lua");

pub(crate) static REVOKE: LazyLock<Script> = LazyLock::new(|| script(&[USER_OF_LUA, REVOKE_LUA]));

/// A bound `create` on a standalone Redis in one round trip. KEYS[1]: the
/// record's key, KEYS[2]: the user's index. ARGV[1]: the envelope, ARGV[2]:
/// the key's `PXAT` (see [`redis_expiry`](crate::store::redis_expiry)),
/// ARGV[3..5]: as ARGV[1..3] of [`INDEX_LUA`].
///
/// `SET ... PXAT ... NX`, then, only if it wrote, the session is filed in
/// the index exactly as [`INDEX_LUA`] does: after the write, as the
/// sequential `create` does. If filing fails, the script stops with the
/// error after the write (scripts are not rolled back) and the caller
/// deletes the session, as it does when the index script fails.
///
/// Replies `{1}` when written and filed, `{0}` when the key exists.
const CREATE_LUA: &str = include_str!("lua/create.lua");

pub(crate) static CREATE: LazyLock<Script> = LazyLock::new(|| script(&[INDEX_FN_LUA, CREATE_LUA]));

/// Files a session in its user's index and keeps the index alive as long
/// as the session. KEYS[1]: the user's index (a sorted set). ARGV[1]: the
/// session's storage key, ARGV[2]: the record's version, ARGV[3]: the
/// `PEXPIREAT` the index must last at least until.
///
/// The member's score is the highest record version it was filed at
/// (`ZADD GT`), which is what makes removals safe (see [`UNINDEX_LUA`]).
/// The index's expiry only ever moves later: it is set when the index has
/// none (it was just created) or ends before ARGV[3]. Redis 6.2 has no
/// `PEXPIRETIME`, so the current expiry is `TIME` plus `PTTL`; the caller
/// adds a margin far larger than the millisecond this can be off by.
///
/// Replies `{1}`.
const INDEX_LUA: &str = include_str!("lua/index.lua");

/// The body of [`INDEX_LUA`], shared with [`SAVE_LUA`] and [`CREATE_LUA`]:
/// `file_in_index(index, member, version, until_ms)`, and its second half
/// `keep_index_until(index, until_ms)`, which only moves the expiry.
const INDEX_FN_LUA: &str = include_str!("lua/index_fn.lua");

pub(crate) static INDEX: LazyLock<Script> = LazyLock::new(|| script(&[INDEX_FN_LUA, INDEX_LUA]));

/// Takes sessions out of a user's index, each only if it has not been
/// filed again since the caller saw it leave. KEYS[1]: the user's index.
/// ARGV: pairs of a storage key and a version bound.
///
/// A member is removed only while its score is at most its bound. The
/// bound is the version at which the caller saw the record deleted, bound
/// elsewhere or unbound (or, for a record that is gone, the score the
/// caller read): a write that binds the record to this user again carries
/// a higher version and files it with that score, before or after this
/// runs, so it is never undone.
///
/// Replies `{removed}`.
const UNINDEX_LUA: &str = include_str!("lua/unindex.lua");

pub(crate) static UNINDEX: LazyLock<Script> = LazyLock::new(|| script(&[UNINDEX_LUA]));

/// One `EVALSHA` of a script, built straight into one command: the hash,
/// the keys, then the arguments. (The driver's `ScriptInvocation` first
/// keeps every argument in a buffer of its own and copies them into a
/// command on each call; this is the hot path of every save.)
pub(crate) struct Call {
    script: &'static Script,
    cmd: Cmd,
}

impl Call {
    /// A call of `script` on `keys`.
    pub(crate) fn new(script: &'static Script, keys: &[&str]) -> Self {
        let mut cmd = Cmd::with_capacity(3 + keys.len() + 8, 128);
        cmd.arg("EVALSHA").arg(script.get_hash()).arg(keys.len());
        for key in keys {
            cmd.arg(*key);
        }
        Self { script, cmd }
    }

    /// Appends an argument (`ARGV`).
    pub(crate) fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        self.cmd.arg(arg);
        self
    }

    /// Runs the script. When Redis does not know it (`NOSCRIPT`: it was
    /// restarted or failed over since the script was last loaded), loads
    /// it and runs it once more, as the driver's own invocation does.
    pub(crate) async fn invoke<C: ConnectionLike>(&self, conn: &mut C) -> RedisResult<Reply> {
        match self.cmd.query_async(conn).await {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                self.script.load_async(conn).await?;
                self.cmd.query_async(conn).await
            }
            other => other,
        }
    }
}

/// A script's reply: its status code and the values after it.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) code: i64,
    rest: Vec<Value>,
}

impl redis::FromRedisValue for Reply {
    fn from_redis_value(v: Value) -> Result<Self, redis::ParsingError> {
        let mut items = Vec::<Value>::from_redis_value(v)?.into_iter();
        let code = match items.next() {
            Some(Value::Int(code)) => code,
            other => {
                return Err(format!("a script status code, got {other:?}").into());
            }
        };
        Ok(Self {
            code,
            rest: items.collect(),
        })
    }
}

impl Reply {
    /// The `n`th value after the status code as bytes; `None` for nil or absent.
    pub(crate) fn bytes(&self, n: usize) -> Option<&[u8]> {
        match self.rest.get(n) {
            Some(Value::BulkString(b)) => Some(b),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scripts assembled from `src/lua/*.lua` are, byte for byte, the
    /// ones the crate sent before the Lua moved out of this file: the SHA1s
    /// below were computed from the inline scripts. A change to a script
    /// (or to the offsets compiled into [`PRELUDE_LUA`]) must update them
    /// on purpose.
    #[test]
    fn scripts_are_unchanged() {
        for (name, script, sha1) in [
            ("touch", &*TOUCH, "bef0d183384ca058facb4d9e1e308e93348384b7"),
            ("save", &*SAVE, "e3083b5558e0cf477a8b4385069f8cf43d176b83"),
            (
                "revoke",
                &*REVOKE,
                "b29109e1b1916e44f608f6d89653d9b67ab4fe3f",
            ),
            (
                "create",
                &*CREATE,
                "4afb72e268cdf254a50e27066ff33ee457600006",
            ),
            ("index", &*INDEX, "6e56ff3ead4d62af75ffe684198845dd30d8bb0d"),
            (
                "unindex",
                &*UNINDEX,
                "40fc2118d83fd6b818a240fca3f84fab3780a5a1",
            ),
        ] {
            assert_eq!(script.get_hash(), sha1, "the {name} script changed");
        }
    }
}
