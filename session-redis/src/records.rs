//! The single-record operations of [`RedisStore`] (create, load, save,
//! delete, touch), each without the durable-write wait that the
//! [`SessionStore`](session_core::SessionStore) methods add.

use std::time::SystemTime;

use redis::Value;
use session_core::record::unix_ms;
use session_core::{codec, Error, Record, SessionId};

use crate::index::index_until;
use crate::scripts::{Call, Reply, CREATE, SAVE, TOUCH};
use crate::store::{indexed_user, redis_expiry, unexpected, RedisStore};

/// The single-record operations, each without the durable-write wait.
impl RedisStore {
    /// `SET key value PXAT ms <condition>`: `true` when written, `false` on a nil reply.
    async fn set(&self, record: &Record, condition: &str) -> Result<bool, Error> {
        let bytes = codec::encode(record)?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.redis_key(&record.id))
            .arg(bytes)
            .arg("PXAT")
            .arg(redis_expiry(record.expires_at_ms()))
            .arg(condition);
        match self.query::<Value>(&cmd).await? {
            Value::Okay => Ok(true),
            Value::Nil => Ok(false),
            other => Err(unexpected("SET", &other)),
        }
    }

    /// A bound `create` on a standalone Redis: the create script writes the
    /// record, then files it in `user`'s index. If filing fails (the record
    /// may then be written), the record is deleted and the error returned,
    /// as when the index script fails after a `SET`.
    async fn create_filed(&self, record: &Record, user: &str) -> Result<(), Error> {
        let bytes = codec::encode(record)?;
        let storage_key = record.id.storage_key();
        let key = self.key_of(&storage_key);
        let mut call = Call::new(&CREATE, &[&key, &self.index_key(user.as_bytes())]);
        call.arg(bytes)
            .arg(redis_expiry(record.expires_at_ms()))
            .arg(&storage_key)
            .arg(record.version)
            .arg(index_until(record.expires_at_ms()));
        let mut conn = self.conn();
        let reply: Result<Reply, Error> = self.bounded(call.invoke(&mut conn)).await;
        match reply {
            Ok(Reply { code: 1, .. }) => Ok(()),
            Ok(Reply { code: 0, .. }) => Err(Error::Conflict),
            Ok(other) => Err(unexpected("the create script", &Value::Int(other.code))),
            Err(e) => {
                // Perhaps written but not findable through its user's
                // index: take it back (see `create`). Only a failure before
                // the SET could leave someone else's session under this key,
                // and IDs are random, so none is there.
                let mut del = redis::cmd("DEL");
                del.arg(key);
                let _ = self.query::<()>(&del).await;
                Err(e)
            }
        }
    }

    /// The touch script: moves the expiry of the record under `key` to
    /// `expires_ms`.
    async fn touch_key(&self, key: String, expires_ms: u64) -> Result<Reply, Error> {
        let mut call = Call::new(&TOUCH, &[&key]);
        call.arg(&expires_ms.to_be_bytes()[..])
            .arg(redis_expiry(expires_ms));
        let mut conn = self.conn();
        self.bounded(call.invoke(&mut conn)).await
    }

    pub(crate) async fn create_record(&self, record: &Record) -> Result<(), Error> {
        let user = indexed_user(record);
        if let (Some(user), false) = (user, self.is_cluster()) {
            // Written, then filed, in one script: one round trip.
            return self.create_filed(record, user).await;
        }
        if !self.set(record, "NX").await? {
            return Err(Error::Conflict);
        }
        if let Some(user) = user {
            let storage_key = record.id.storage_key();
            // Filed after the write, so that a concurrent read of the index
            // never prunes the member before the record exists.
            let filed = self
                .index(
                    user.as_bytes(),
                    &storage_key,
                    record.version,
                    record.expires_at_ms(),
                )
                .await;
            if let Err(e) = filed {
                // Not findable through its user's index: take it back. The
                // caller gets the error and never hands out its ID, so even
                // if this fails too, nobody holds a cookie for it.
                let mut del = redis::cmd("DEL");
                del.arg(self.key_of(&storage_key));
                let _ = self.query::<()>(&del).await;
                return Err(e);
            }
        }
        Ok(())
    }

    pub(crate) async fn load_record(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.redis_key(id));
        let Some(bytes) = self.query::<Option<Vec<u8>>>(&cmd).await? else {
            return Ok(None);
        };
        let record = codec::decode(id.clone(), &bytes)?;
        // Redis drops a key only once its expiry has passed; expiry here is
        // exclusive, and the app's clock has the last word.
        Ok((!record.is_expired_at(SystemTime::now())).then_some(record))
    }

    pub(crate) async fn save_record(&self, record: &Record) -> Result<(), Error> {
        let bytes = codec::encode(record)?;
        let storage_key = record.id.storage_key();
        let user = indexed_user(record);
        // Filed before the write, at the version being written: if the save
        // then fails, the member is a harmless extra that the next read
        // prunes; if it succeeds, the session was findable from the instant
        // it was bound. (Nothing written yet if filing fails.) On a
        // standalone Redis the save script files it itself, in the same
        // round trip, after its version check and only if the stored value
        // is not already bound to this user; on a cluster the index is on
        // another slot, so the index script runs first, on its own.
        let file_in_script = match user {
            Some(user) if self.is_cluster() => {
                self.index(
                    user.as_bytes(),
                    &storage_key,
                    record.version,
                    record.expires_at_ms(),
                )
                .await?;
                None
            }
            other => other,
        };
        // Version 0 is never stored (records start at 1), so a save stating
        // version 0 expects a version that cannot match: a conflict.
        let loaded_version = record.version.wrapping_sub(1);
        let key = self.key_of(&storage_key);
        let mut call = match file_in_script {
            Some(user) => Call::new(&SAVE, &[&key, &self.index_key(user.as_bytes())]),
            None => Call::new(&SAVE, &[&key]),
        };
        call.arg(bytes)
            .arg(redis_expiry(record.expires_at_ms()))
            .arg(&loaded_version.to_be_bytes()[..]);
        if let Some(user) = user {
            call.arg(user);
        }
        if file_in_script.is_some() {
            call.arg(&storage_key)
                .arg(record.version)
                .arg(index_until(record.expires_at_ms()));
        }
        let mut conn = self.conn();
        let reply = self.bounded(call.invoke(&mut conn)).await?;
        match reply.code {
            1 => {
                // The script names the old user only when the binding
                // changed (and the old one was a user).
                if let Some(old) = reply.bytes(0) {
                    // Unbound or re-bound: out of the old user's index,
                    // unless a later write filed it there again. Best
                    // effort: a member left behind is pruned by the next
                    // read of that index.
                    let _ = self.unindex(old, &[(storage_key, record.version)]).await;
                }
                Ok(())
            }
            0 => Err(Error::Vanished),
            -1 => Err(Error::Envelope {
                reason: "truncated header",
            }),
            -2 => Err(Error::VersionConflict),
            -3 => Err(Error::Envelope {
                reason: "unknown format number",
            }),
            other => Err(unexpected("the save script", &Value::Int(other))),
        }
    }

    pub(crate) async fn delete_record(&self, id: &SessionId) -> Result<(), Error> {
        let storage_key = id.storage_key();
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(self.key_of(&storage_key));
        let old = self.query::<Option<Vec<u8>>>(&cmd).await?;
        let bound = old.and_then(|bytes| codec::decode(id.clone(), &bytes).ok());
        if let Some(Record {
            user: Some(user),
            version,
            ..
        }) = bound
        {
            // Best effort: the record is gone, and a member left behind is
            // pruned by the next read of the index.
            let _ = self
                .unindex(user.as_bytes(), &[(storage_key, version)])
                .await;
        }
        Ok(())
    }

    pub(crate) async fn touch_record(
        &self,
        id: &SessionId,
        expires_at: SystemTime,
    ) -> Result<(), Error> {
        let ms = unix_ms(expires_at);
        let storage_key = id.storage_key();
        let reply = self.touch_key(self.key_of(&storage_key), ms).await?;
        match reply.code {
            1 => {}
            0 => return Err(Error::Vanished),
            -1 => {
                return Err(Error::Envelope {
                    reason: "truncated header",
                })
            }
            -3 => {
                return Err(Error::Envelope {
                    reason: "unknown format number",
                })
            }
            other => return Err(unexpected("the touch script", &Value::Int(other))),
        }
        let (Some(user), Some(head)) = (reply.bytes(0), reply.bytes(1)) else {
            return Ok(());
        };
        if ms <= unix_ms(SystemTime::now()) {
            return Ok(());
        }
        let version = codec::read_version(head).unwrap_or(0);
        if let Err(e) = self.index(user, &storage_key, version, ms).await {
            // The index may now end before the session: move the expiry
            // back to where it was (still covered by the index), so that
            // revocation cannot miss it.
            if let Some(previous) = codec::read_expiry(head) {
                let _ = self.touch_key(self.key_of(&storage_key), previous).await;
            }
            return Err(e);
        }
        Ok(())
    }
}
