//! The per-user index ("log out everywhere"): one sorted set per user whose
//! members are the storage keys of the user's sessions. See the
//! [crate docs](crate#the-per-user-index) for the design and its guarantees.

use std::future::Future;
use std::time::{Duration, SystemTime};

use redis::{RedisResult, Value};
use session_core::record::unix_ms;
use session_core::{codec, Error, SessionId, SessionInfo};
use tokio::task::JoinSet;

use crate::scripts::{Call, Reply, INDEX, REVOKE, UNINDEX};
use crate::store::{unexpected, RedisStore};

/// What follows the key prefix in the key of a user's index:
/// `<prefix>user:<escaped user>`. Storage keys are base64url and never hold
/// a `:`, so an index key can never be a session's key.
pub(crate) const INDEX_KEY_INFIX: &str = "user:";

/// How long a user's index outlives the latest expiry of its sessions. Far
/// more than the millisecond by which the index script's reading of the
/// current expiry can be off, and short enough that an abandoned index does
/// not linger.
pub(crate) const INDEX_TTL_MARGIN: Duration = Duration::from_secs(1);

/// The `PEXPIREAT` an index must last at least until for a session
/// expiring at `expires_ms`: that plus [`INDEX_TTL_MARGIN`].
pub(crate) fn index_until(expires_ms: u64) -> u64 {
    let margin = u64::try_from(INDEX_TTL_MARGIN.as_millis()).unwrap_or(u64::MAX);
    expires_ms.saturating_add(margin)
}

/// Appends `user` to `out` so that any byte string makes a distinct, safe
/// key: ASCII letters, digits and `-._~@+=` as they are, every other byte
/// (including `%`, `:`, `{`, `}`, spaces and non-ASCII) as `%XX`.
/// Injective, so two users never share an index, and free of `{`, so a
/// user name never acts as a cluster hash tag.
fn escape_user(user: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in user {
        if b.is_ascii_alphanumeric() || b"-._~@+=".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
}

/// A member of an index as read: the storage key and its score (the
/// highest version the session was filed at).
type Member = (String, u64);

impl RedisStore {
    /// The Redis key of `user`'s index: the prefix, `user:`, then the user
    /// with every byte other than ASCII letters, digits and `-._~@+=`
    /// percent-encoded, so that any string makes a safe key that is never a
    /// cluster hash tag (`alice@example.com` is filed under
    /// `session:user:alice@example.com`, `{ops} team` under
    /// `session:user:%7Bops%7D%20team`).
    ///
    /// It is a sorted set whose members are the [storage
    /// keys](SessionId::storage_key) of the user's sessions. Meant for
    /// inspection and tests; the store maintains it.
    pub fn user_index_key(&self, user: &str) -> String {
        self.index_key(user.as_bytes())
    }

    pub(crate) fn index_key(&self, user: &[u8]) -> String {
        let prefix = self.key_prefix();
        let mut key = String::with_capacity(prefix.len() + INDEX_KEY_INFIX.len() + user.len());
        key.push_str(prefix);
        key.push_str(INDEX_KEY_INFIX);
        escape_user(user, &mut key);
        key
    }

    /// Files the session under `user`'s index at `version` and makes the
    /// index last at least until its expiry (plus [`INDEX_TTL_MARGIN`]).
    /// One `EVALSHA` on the index's slot.
    pub(crate) async fn index(
        &self,
        user: &[u8],
        storage_key: &str,
        version: u64,
        expires_ms: u64,
    ) -> Result<(), Error> {
        let mut call = Call::new(&INDEX, &[&self.index_key(user)]);
        call.arg(storage_key)
            .arg(version)
            .arg(index_until(expires_ms));
        let mut conn = self.conn();
        let reply = self.bounded(call.invoke(&mut conn)).await?;
        match reply.code {
            1 => Ok(()),
            other => Err(unexpected("the index script", &Value::Int(other))),
        }
    }

    /// Takes sessions out of `user`'s index, each only while its score is
    /// at most the given version (see `UNINDEX_LUA`). One `EVALSHA`; none
    /// for an empty list.
    pub(crate) async fn unindex(&self, user: &[u8], members: &[Member]) -> Result<(), Error> {
        if members.is_empty() {
            return Ok(());
        }
        let mut call = Call::new(&UNINDEX, &[&self.index_key(user)]);
        for (storage_key, bound) in members {
            call.arg(storage_key).arg(*bound);
        }
        let mut conn = self.conn();
        self.bounded(call.invoke(&mut conn)).await.map(drop)
    }

    /// Every member of `user`'s index with its score: `ZRANGE key 0 -1
    /// WITHSCORES`.
    async fn members(&self, user: &str) -> Result<Vec<Member>, Error> {
        let mut cmd = redis::cmd("ZRANGE");
        cmd.arg(self.user_index_key(user))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES");
        let members: Vec<(String, f64)> = self.query(&cmd).await?;
        // Scores are record versions: whole numbers far below 2^53.
        Ok(members
            .into_iter()
            .map(|(key, score)| (key, score.max(0.0) as u64))
            .collect())
    }

    /// Runs one request per session key concurrently (on a cluster each goes
    /// to the master owning its key; on a standalone Redis the multiplexed
    /// connection pipelines them) and returns the replies in order. The
    /// whole batch is bounded by the command timeout.
    async fn each<T, F, Fut>(&self, keys: Vec<String>, request: F) -> Result<Vec<T>, Error>
    where
        T: Send + 'static,
        F: Fn(crate::store::Conn, String) -> Fut,
        Fut: Future<Output = RedisResult<T>> + Send + 'static,
    {
        let count = keys.len();
        let mut tasks = JoinSet::new();
        for (i, key) in keys.into_iter().enumerate() {
            let reply = request(self.conn(), key);
            tasks.spawn(async move { (i, reply.await) });
        }
        let all = async {
            let mut replies: Vec<Option<T>> = (0..count).map(|_| None).collect();
            while let Some(joined) = tasks.join_next().await {
                let (i, reply) = joined.map_err(Error::backend)?;
                replies[i] = Some(reply.map_err(|e| self.redis_error(e))?);
            }
            Ok(replies.into_iter().flatten().collect())
        };
        match tokio::time::timeout(self.command_timeout(), all).await {
            Ok(result) => result,
            Err(_elapsed) => Err(Error::Timeout(self.command_timeout())),
        }
    }

    /// `user_sessions`: the index's members, then every member's value, then
    /// the stale members pruned. See the crate docs for the costs.
    pub(crate) async fn sessions_of(&self, user: &str) -> Result<Vec<SessionInfo>, Error> {
        let members = self.members(user).await?;
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let keys = members.iter().map(|(sk, _)| self.key_of(sk)).collect();
        let values: Vec<Option<Vec<u8>>> = self
            .each(keys, |mut conn, key| async move {
                redis::cmd("GET").arg(key).query_async(&mut conn).await
            })
            .await?;
        let now = SystemTime::now();
        // The ID is not stored (only its hash); decode needs one to fill in.
        let placeholder = SessionId::generate();
        let mut sessions = Vec::new();
        let mut stale = Vec::new();
        for ((storage_key, score), value) in members.into_iter().zip(values) {
            let Some(bytes) = value else {
                // Gone (deleted or expired): nothing can file it again.
                stale.push((storage_key, score));
                continue;
            };
            let record = match codec::decode(placeholder.clone(), &bytes) {
                Ok(record) => record,
                Err(err) => {
                    // Damaged, so unusable: not listed, and not pruned
                    // either, so that revocation still finds and deletes it.
                    tracing::warn!(
                        key = %storage_key,
                        error = &err as &(dyn std::error::Error + 'static),
                        "damaged session record left out of a user's session list"
                    );
                    continue;
                }
            };
            if record.user.as_deref() != Some(user) {
                stale.push((storage_key, record.version));
            } else if !record.is_expired_at(now) {
                let mut info = SessionInfo::of(record);
                info.key = storage_key;
                sessions.push(info);
            }
            // Expired by the app's clock but still in Redis: not listed, and
            // not pruned either until Redis drops it (its clock has the say
            // on whether a touch can still extend it).
        }
        // Best effort: the list is right either way, and a member left
        // behind is pruned by the next read.
        let _ = self.unindex(user.as_bytes(), &stale).await;
        Ok(sessions)
    }

    /// `delete_user_sessions`: the index's members, then the revoke script
    /// on every member but `keep` (which also deletes damaged records: values
    /// that cannot be read), then the index pruned of what it no longer
    /// holds. The count is of live sessions ended; damaged records are not
    /// counted.
    /// `keep` is a storage key.
    pub(crate) async fn revoke(&self, user: &str, keep: Option<&str>) -> Result<u64, Error> {
        let members: Vec<Member> = self
            .members(user)
            .await?
            .into_iter()
            .filter(|(sk, _)| Some(sk.as_str()) != keep)
            .collect();
        if members.is_empty() {
            return Ok(0);
        }
        let keys = members.iter().map(|(sk, _)| self.key_of(sk)).collect();
        let owner = user.to_owned();
        let replies: Vec<Reply> = self
            .each(keys, |mut conn, key| {
                let mut call = Call::new(&REVOKE, &[&key]);
                call.arg(&owner);
                async move { call.invoke(&mut conn).await }
            })
            .await?;
        let now_ms = unix_ms(SystemTime::now());
        let mut deleted = 0;
        let mut stale = Vec::new();
        for ((storage_key, score), reply) in members.into_iter().zip(replies) {
            let head = reply.bytes(0).unwrap_or_default();
            match reply.code {
                0 => stale.push((storage_key, score)),
                1 => {
                    // Counted only if it was live by the app's clock.
                    if codec::read_expiry(head).is_some_and(|ms| ms > now_ms) {
                        deleted += 1;
                    }
                    stale.push((storage_key, codec::read_version(head).unwrap_or(score)));
                }
                2 => {
                    if let Some(version) = codec::read_version(head) {
                        stale.push((storage_key, version));
                    }
                }
                3 => {
                    // Damaged and deleted: not a live session, so not
                    // counted; out of the index like any gone record.
                    tracing::warn!(key = %storage_key, "damaged session record deleted by revocation");
                    stale.push((storage_key, score));
                }
                other => return Err(unexpected("the revoke script", &Value::Int(other))),
            }
        }
        let _ = self.unindex(user.as_bytes(), &stale).await;
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::escape_user;

    fn escaped(user: &[u8]) -> String {
        let mut out = String::new();
        escape_user(user, &mut out);
        out
    }

    #[test]
    fn escaping_is_injective_and_hash_tag_free() {
        assert_eq!(escaped(b"alice@example.com"), "alice@example.com");
        assert_eq!(escaped(b"42"), "42");
        assert_eq!(escaped(b"{x}:y z%"), "%7Bx%7D%3Ay%20z%25");
        assert_eq!(escaped("zoë".as_bytes()), "zo%C3%AB");
        // `%` itself is escaped, so an escaped-looking name stays distinct.
        assert_ne!(escaped(b"%41"), escaped(b"A"));
        assert_eq!(escaped(b""), "");
    }
}
