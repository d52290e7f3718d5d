//! Per-request session state: what a handler reads and changes, and what the
//! layer must write back afterwards. (Over 500 lines: more than half is the
//! unit tests of the commit rules, kept next to the rules they check.)

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec::{decode_value, encode_value};
use crate::merge::{Changes, Op};
use crate::record::{truncate_ms, Data};
use crate::{Error, Expiry, Lifetime, Record, SessionConfig, SessionId};

/// One request's view of a session.
///
/// It tracks whether anything really changed (inserting a value equal to the
/// stored one is not a change), so the layer writes only when needed.
///
/// ```
/// use session_core::adapter::SessionState;
///
/// let mut s = SessionState::new(64 * 1024);
/// s.insert("user_id", &42u64)?;
/// assert_eq!(s.get::<u64>("user_id")?, Some(42));
/// assert!(s.is_changed());
/// # Ok::<(), session_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SessionState {
    /// The stored record's ID; `None` for a session not stored yet (or cycled/destroyed).
    id: Option<SessionId>,
    data: Data,
    created_at: Option<SystemTime>,
    expires_at: Option<SystemTime>,
    version: u64,
    changed: bool,
    /// IDs whose records must be deleted at commit (after `cycle_id` / `destroy`).
    retired: Vec<SessionId>,
    /// This request's changes, in order, for re-applying after a conflict.
    ops: Vec<Op>,
    /// The changes of the writers before this one in a batch it joined
    /// (see [`join`](Self::join)): re-applied before this request's own
    /// after a conflict.
    adopted: Changes,
    /// The user the session is bound to.
    user: Option<String>,
    /// `set_user` was called: this request's binding wins on rebase.
    user_set: bool,
    /// The session's own expiry choice; `None` follows the configuration.
    expiry: Option<Expiry>,
    /// `set_expiry` changed the choice: this request's choice wins on
    /// rebase, and the next write renews the expiry and the cookie.
    expiry_set: bool,
    max_size: usize,
}

/// What to write to the store after the handler ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Nothing.
    None,
    /// Create a new record (fresh ID; on [`Error::Conflict`] draw another ID).
    Create(Record),
    /// Save the changed record.
    Save(Record),
    /// Renew the expiry only.
    Touch(SessionId, SystemTime),
}

/// What to do with the cookie after the handler ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieAction {
    /// Leave the client's cookie alone.
    Keep,
    /// Send the cookie for the written record.
    Set,
    /// Send a removal cookie: the client's cookie no longer works.
    Remove,
}

/// The outcome of a request: deletes, then one write, then the cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// Records to delete (cycled or destroyed IDs).
    pub delete: Vec<SessionId>,
    /// The one write.
    pub write: Write,
    /// The cookie to send.
    pub cookie: CookieAction,
    /// The session's lifetime: whether a cookie sent carries `Max-Age`.
    pub lifetime: Lifetime,
}

impl SessionState {
    /// A new, empty session that is not stored yet. `max_size` bounds the
    /// encoded data, in bytes.
    pub fn new(max_size: usize) -> Self {
        Self {
            id: None,
            data: Data::new(),
            created_at: None,
            expires_at: None,
            version: 0,
            changed: false,
            retired: Vec::new(),
            ops: Vec::new(),
            adopted: Changes::default(),
            user: None,
            user_set: false,
            expiry: None,
            expiry_set: false,
            max_size,
        }
    }

    /// The state of a loaded record.
    pub fn from_record(record: Record, max_size: usize) -> Self {
        Self {
            id: Some(record.id),
            data: record.data,
            created_at: Some(record.created_at),
            expires_at: Some(record.expires_at),
            version: record.version,
            changed: false,
            retired: Vec::new(),
            ops: Vec::new(),
            adopted: Changes::default(),
            user: record.user,
            user_set: false,
            expiry: record.expiry,
            expiry_set: false,
            max_size,
        }
    }

    /// Reads `key` as a `T`; `Ok(None)` when absent.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] when the stored value is not a `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.data.get(key).map(|v| decode_value(v)).transpose()
    }

    /// Stores `value` under `key`. An equal value already there is not a change.
    ///
    /// When requests of one session overlap, `insert` is last-writer-wins
    /// for its key; use [`update`](Self::update) for read-modify-write.
    ///
    /// # Errors
    ///
    /// [`Error::Encode`] when the value cannot be serialised, and
    /// [`Error::TooLarge`] when the session would exceed its size limit; in
    /// both cases the session is left as it was.
    pub fn insert<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        let bytes = encode_value(value)?;
        if self.data.get(key) == Some(&bytes) {
            return Ok(());
        }
        self.check_size(key, bytes.len())?;
        self.data.insert(key.to_owned(), bytes.clone());
        self.record(Op::Set(key.to_owned(), bytes));
        Ok(())
    }

    /// Read-modify-write of one key: stores `f(current value)` and returns it.
    ///
    /// If a concurrent request saves first, the layer reloads the session and
    /// runs `f` again on the fresh value, so concurrent `update`s compose (no
    /// lost increments). `f` may therefore run more than once and should have
    /// no side effects. The returned value is this request's view; after a
    /// re-run the stored value can differ. `f` is kept with the recorded
    /// change and re-run on conflict retries after the handler returned,
    /// hence `Fn + Send + Sync + 'static`: move owned values in and clone
    /// them inside.
    ///
    /// ```
    /// let mut s = session_core::adapter::SessionState::new(1024);
    /// let n: u64 = s.update("visits", |n: Option<u64>| n.unwrap_or(0) + 1)?;
    /// assert_eq!(n, 1);
    /// # Ok::<(), session_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] when the current value is not a `T`, and the errors
    /// of [`insert`](Self::insert); the session is then left as it was.
    pub fn update<T, F>(&mut self, key: &str, f: F) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned,
        F: Fn(Option<T>) -> T + Send + Sync + 'static,
    {
        let apply = move |old: Option<&[u8]>| -> Result<Vec<u8>, Error> {
            let old = old.map(decode_value::<T>).transpose()?;
            encode_value(&f(old))
        };
        let bytes = apply(self.data.get(key).map(Vec::as_slice))?;
        let value = decode_value(&bytes)?;
        if self.data.get(key) != Some(&bytes) {
            self.check_size(key, bytes.len())?;
            self.data.insert(key.to_owned(), bytes);
            self.record(Op::Update(key.to_owned(), Arc::new(apply)));
        }
        Ok(value)
    }

    /// Removes `key`, returning whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        let removed = self.data.remove(key).is_some();
        if removed {
            self.record(Op::Remove(key.to_owned()));
        }
        removed
    }

    /// Removes every key. A session left empty is deleted from the store.
    pub fn clear(&mut self) {
        if !self.data.is_empty() {
            self.data.clear();
            self.record(Op::Clear);
        }
    }

    /// Moves the data to a new ID (call it at login): the old cookie stops
    /// working, the data stays. The new record counts as created now, so
    /// the `absolute_max_age` cap runs from the login, not from the first
    /// anonymous visit.
    pub fn cycle_id(&mut self) {
        if let Some(old) = self.id.take() {
            self.retired.push(old);
            self.created_at = None;
            self.changed = true;
        }
    }

    /// Ends the session (logout): the record is deleted and the cookie removed.
    pub fn destroy(&mut self) {
        self.cycle_id();
        self.clear();
        self.user = None;
        self.expiry = None;
    }

    /// Chooses how this session expires ("remember me"), or `None` to
    /// follow the configuration. The choice is stored with the record:
    /// every later renewal keeps it, and it survives
    /// [`cycle_id`](Self::cycle_id). A new choice renews the expiry and the
    /// cookie at once (still capped by `absolute_max_age`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use session_core::{adapter::SessionState, Expiry};
    ///
    /// let mut s = SessionState::new(1024);
    /// s.set_expiry(Some(Expiry::Persistent(Duration::from_secs(30 * 86_400))))?;
    /// assert!(s.set_expiry(Some(Expiry::Persistent(Duration::ZERO))).is_err());
    /// # Ok::<(), session_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming `expiry` for a persistent lifetime outside
    /// 1 s to 400 days; the session is then left as it was.
    pub fn set_expiry(&mut self, expiry: Option<Expiry>) -> Result<(), Error> {
        let expiry = expiry.map(Expiry::validate).transpose()?;
        if self.expiry != expiry {
            self.expiry = expiry;
            self.changed = true;
            self.expiry_set = true;
        }
        Ok(())
    }

    /// The session's own expiry choice; `None` when it follows the
    /// configuration.
    pub fn expiry(&self) -> Option<Expiry> {
        self.expiry
    }

    /// When the stored record was created (or last cycled), if it is stored.
    pub fn created_at(&self) -> Option<SystemTime> {
        self.created_at.filter(|_| self.id.is_some())
    }

    /// Binds the session to a user identity (at login), or unbinds it
    /// (`None`). Stores with a per-user index then list and revoke the
    /// session with the user's others.
    pub fn set_user(&mut self, user: Option<&str>) {
        if self.user.as_deref() != user {
            self.user = user.map(str::to_owned);
            self.changed = true;
        }
        self.user_set = true;
    }

    /// The user the session is bound to, if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The stored record's ID, if the session is stored.
    pub fn id(&self) -> Option<&SessionId> {
        self.id.as_ref()
    }

    /// `true` when the handler changed something that must be written.
    pub fn is_changed(&self) -> bool {
        self.changed
    }

    /// `true` when the session holds no keys.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.data.keys().map(String::as_str)
    }

    /// `true` when this state came from a stored record that is still current.
    pub fn is_stored(&self) -> bool {
        self.id.is_some()
    }

    /// The version of the record this state was loaded from (or last
    /// rebased on); 0 for a session not stored yet.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// `true` when a stored session was changed: its commit writes it.
    pub(crate) fn saves(&self) -> bool {
        self.id.is_some() && self.changed
    }

    /// When the stored record expires, if there is one.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// Approximate encoded size of the data, in bytes.
    fn size(&self) -> usize {
        self.data.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    fn check_size(&self, key: &str, value_len: usize) -> Result<(), Error> {
        let old = self.data.get(key).map_or(0, |v| key.len() + v.len());
        let size = self.size() - old + key.len() + value_len;
        if size > self.max_size {
            return Err(Error::TooLarge {
                size,
                limit: self.max_size,
            });
        }
        Ok(())
    }

    fn record(&mut self, op: Op) {
        self.ops.push(op);
        self.changed = true;
    }

    /// Re-applies this request's changes on top of `fresh`, the record as a
    /// concurrent request saved it, after a [`Error::VersionConflict`].
    /// The next [`commit`](Self::commit) then saves at the fresh version.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] when an `update` closure meets a value of another
    /// type, [`Error::TooLarge`] when the merged data exceeds the limit.
    pub fn rebase(&mut self, fresh: Record) -> Result<(), Error> {
        let (adopted, ops) = (
            std::mem::take(&mut self.adopted),
            std::mem::take(&mut self.ops),
        );
        let replayed = self.replay_on(fresh, adopted.ops.iter().chain(&ops));
        (self.adopted, self.ops) = (adopted, ops);
        replayed?;
        let user = self.adopted.user.clone().filter(|_| !self.user_set);
        let expiry = self.adopted.expiry.filter(|_| !self.expiry_set);
        if let Some(user) = user {
            self.user = user;
        }
        if let Some(expiry) = expiry {
            self.expiry = expiry;
        }
        Ok(())
    }

    /// Joins a batch of writers of this session: goes on top of `folded`
    /// (their changes applied, at the stored version) and keeps `changes`
    /// (theirs) to re-apply before its own if the save conflicts.
    pub(crate) fn join(&mut self, folded: Record, changes: Changes) -> Result<(), Error> {
        let ops = std::mem::take(&mut self.ops);
        let replayed = self.replay_on(folded, ops.iter());
        self.ops = ops;
        replayed?;
        self.adopted = changes;
        Ok(())
    }

    /// Leaves the batch joined: its writers save their own changes.
    pub(crate) fn leave(&mut self) {
        self.adopted = Changes::default();
    }

    /// The changes of the batch joined and this request's, for the writer
    /// this one hands its turn on to.
    pub(crate) fn changes(&self) -> Changes {
        let adopted = &self.adopted;
        Changes {
            ops: adopted.ops.iter().chain(&self.ops).cloned().collect(),
            user: match self.user_set {
                true => Some(self.user.clone()),
                false => adopted.user.clone(),
            },
            expiry: match self.expiry_set {
                true => Some(self.expiry),
                false => adopted.expiry,
            },
        }
    }

    /// `fresh` with `ops` re-applied becomes this state (see
    /// [`rebase`](Self::rebase)).
    fn replay_on<'a>(
        &mut self,
        fresh: Record,
        mut ops: impl Iterator<Item = &'a Op>,
    ) -> Result<(), Error> {
        let mut data = fresh.data;
        ops.try_for_each(|op| op.apply(&mut data))?;
        let size: usize = data.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > self.max_size {
            return Err(Error::TooLarge {
                size,
                limit: self.max_size,
            });
        }
        self.data = data;
        if !self.user_set {
            self.user = fresh.user;
        }
        if !self.expiry_set {
            self.expiry = fresh.expiry;
        }
        self.version = fresh.version;
        self.created_at = Some(fresh.created_at);
        self.expires_at = Some(fresh.expires_at);
        Ok(())
    }

    /// Decides what must be written after the handler, at instant `now`.
    ///
    /// * changed and non-empty: one `Create` (new or cycled ID, cookie set)
    ///   or one `Save`; a save moves the expiry (and sets the cookie) only
    ///   once `refresh_after` of `max_age` has passed, like a read;
    /// * emptied or destroyed: the record is deleted and the cookie removed;
    /// * unchanged: a `Touch` once `refresh_after` of `max_age` has passed
    ///   since the last renewal (and the absolute cap allows it), else nothing.
    pub fn commit(&self, config: &SessionConfig, now: SystemTime) -> Commit {
        self.plan(config, now, true)
    }

    /// Like [`commit`](Self::commit), but the data moves into the write
    /// instead of being copied: until [`put_back`](Self::put_back) (or a
    /// [`rebase`](Self::rebase)), this state's data is empty. For a caller
    /// that writes the record by reference and then hands the commit back,
    /// as the session layer does: no copy of the data at all.
    pub fn take_commit(&mut self, config: &SessionConfig, now: SystemTime) -> Commit {
        let mut commit = self.plan(config, now, false);
        if let Write::Save(record) | Write::Create(record) = &mut commit.write {
            record.data = std::mem::take(&mut self.data);
        }
        commit
    }

    /// Takes back the data [`take_commit`](Self::take_commit) moved into
    /// `commit`'s write (leaving that write's data empty). Does nothing if
    /// this state holds data again (after a [`rebase`](Self::rebase)).
    pub fn put_back(&mut self, commit: &mut Commit) {
        if let Write::Save(record) | Write::Create(record) = &mut commit.write {
            if self.data.is_empty() {
                self.data = std::mem::take(&mut record.data);
            }
        }
    }

    /// The commit plan; the written record carries a copy of the data when
    /// `copy`, else empty data (see [`take_commit`](Self::take_commit)).
    fn plan(&self, config: &SessionConfig, now: SystemTime, copy: bool) -> Commit {
        let data = || if copy { self.data.clone() } else { Data::new() };
        let mut delete = self.retired.clone();
        let created_at = self.created_at.unwrap_or_else(|| truncate_ms(now));
        let lifetime = Lifetime::of(config, self.expiry);
        let expires_at = lifetime.next_expiry(config, created_at, now);
        let needs_renewal = |current| lifetime.needs_renewal(config, current, expires_at, now);
        let (write, cookie) = match &self.id {
            _ if !self.changed => match (&self.id, self.expires_at) {
                (Some(id), Some(current)) if needs_renewal(current) => {
                    (Write::Touch(id.clone(), expires_at), CookieAction::Set)
                }
                _ => (Write::None, CookieAction::Keep),
            },
            Some(id) if self.data.is_empty() => {
                delete.push(id.clone());
                (Write::None, CookieAction::Remove)
            }
            None if self.data.is_empty() => {
                let cookie = if delete.is_empty() {
                    CookieAction::Keep
                } else {
                    CookieAction::Remove
                };
                (Write::None, cookie)
            }
            Some(id) => {
                // A write renews the expiry by the same rule as a read, so an
                // active session rewrites neither its expiry (index entries,
                // on SQL) nor its cookie on every request.
                // A new expiry choice renews at once.
                let (expires_at, cookie) = match self.expires_at {
                    Some(current) if !self.expiry_set && !needs_renewal(current) => {
                        (current, CookieAction::Keep)
                    }
                    _ => (expires_at, CookieAction::Set),
                };
                (
                    Write::Save(Record {
                        id: id.clone(),
                        data: data(),
                        created_at,
                        expires_at,
                        version: self.version + 1,
                        user: self.user.clone(),
                        expiry: self.expiry,
                    }),
                    cookie,
                )
            }
            None => (
                Write::Create(Record {
                    id: SessionId::generate(),
                    data: data(),
                    created_at,
                    expires_at,
                    version: 1,
                    user: self.user.clone(),
                    expiry: self.expiry,
                }),
                CookieAction::Set,
            ),
        };
        Commit {
            delete,
            write,
            cookie,
            lifetime,
        }
    }
}

/// The expiry a write at `now` gives a session following the
/// configuration: `now` plus its idle lifetime, capped by `created_at +
/// absolute_max_age` (see [`Lifetime::next_expiry`]).
pub fn next_expiry(config: &SessionConfig, created_at: SystemTime, now: SystemTime) -> SystemTime {
    Lifetime::of(config, None).next_expiry(config, created_at, now)
}

/// The cookie `Max-Age` for a record expiring at `expires_at`, in whole
/// seconds (rounded to nearest, never negative).
pub fn max_age_at(expires_at: SystemTime, now: SystemTime) -> u64 {
    let left = expires_at.duration_since(now).unwrap_or(Duration::ZERO);
    (left + Duration::from_millis(500)).as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn config() -> SessionConfig {
        SessionConfig::builder("0123456789abcdef0123456789abcdef")
            .max_age(Duration::from_secs(100))
            .build()
            .unwrap()
    }

    fn stored(data: &[(&str, u64)], expires_in: Duration) -> SessionState {
        let mut d = Data::new();
        for (k, v) in data {
            d.insert((*k).into(), encode_value(v).unwrap());
        }
        let rec = Record::new(SessionId::generate(), d, SystemTime::now() + expires_in);
        SessionState::from_record(rec, 1024)
    }

    #[test]
    fn typed_values_round_trip() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Cart {
            items: Vec<String>,
        }
        let mut s = SessionState::new(1024);
        s.insert(
            "cart",
            &Cart {
                items: vec!["tea".into()],
            },
        )
        .unwrap();
        assert_eq!(
            s.get::<Cart>("cart").unwrap(),
            Some(Cart {
                items: vec!["tea".into()]
            })
        );
        assert!(s.get::<u64>("cart").is_err());
        assert_eq!(s.get::<u64>("missing").unwrap(), None);
    }

    #[test]
    fn take_commit_lends_the_data_and_put_back_returns_it() {
        for mut s in [
            stored(&[("n", 1), ("m", 2)], Duration::from_secs(100)),
            SessionState::new(1024),
        ] {
            s.insert("n", &5u64).unwrap();
            let copied = s.commit(&config(), SystemTime::now());
            let mut taken = s.take_commit(&config(), SystemTime::now());
            let (Write::Save(a) | Write::Create(a), Write::Save(b) | Write::Create(b)) =
                (&copied.write, &taken.write)
            else {
                panic!("no write: {:?}", copied.write);
            };
            assert_eq!(a.data, b.data, "the taken write carries the same data");
            assert_eq!(s.get::<u64>("n").unwrap(), None, "the data was copied");
            s.put_back(&mut taken);
            assert_eq!(s.get::<u64>("n").unwrap(), Some(5));
            let again = s.commit(&config(), SystemTime::now());
            let (Write::Save(c) | Write::Create(c)) = &again.write else {
                panic!("no write after put_back");
            };
            assert_eq!(c.data, a.data);
        }
    }

    #[test]
    fn equal_insert_and_missing_remove_are_not_changes() {
        let mut s = stored(&[("n", 1)], Duration::from_secs(100));
        s.insert("n", &1u64).unwrap();
        assert!(!s.remove("absent"));
        assert!(!s.is_changed());
        assert_eq!(s.commit(&config(), SystemTime::now()).write, Write::None);
        s.insert("n", &2u64).unwrap();
        assert!(s.is_changed());
    }

    #[test]
    fn rebase_reapplies_changes_key_by_key() {
        // This request: update "n", set "mine", remove "gone".
        let mut s = stored(&[("n", 1), ("gone", 1)], Duration::from_secs(100));
        assert_eq!(
            s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).unwrap(),
            2
        );
        s.insert("mine", &7u64).unwrap();
        s.remove("gone");
        // Meanwhile another request saved n = 5 and its own key, version 2.
        let mut other = stored(
            &[("n", 5), ("theirs", 9), ("gone", 1)],
            Duration::from_secs(100),
        );
        other.version = 2;
        let fresh = Record {
            id: s.id.clone().unwrap(),
            data: other.data.clone(),
            created_at: SystemTime::now(),
            expires_at: SystemTime::now() + Duration::from_secs(100),
            version: 2,
            user: None,
            expiry: None,
        };
        s.rebase(fresh).unwrap();
        assert_eq!(
            s.get::<u64>("n").unwrap(),
            Some(6),
            "update re-ran on the fresh value"
        );
        assert_eq!(s.get::<u64>("theirs").unwrap(), Some(9), "their key kept");
        assert_eq!(s.get::<u64>("mine").unwrap(), Some(7), "our key kept");
        assert_eq!(s.get::<u64>("gone").unwrap(), None, "our remove re-applied");
        assert!(
            matches!(s.commit(&config(), SystemTime::now()).write, Write::Save(ref r) if r.version == 3)
        );
    }

    #[test]
    fn clear_wins_after_rebase() {
        let mut s = stored(&[("k", 1)], Duration::from_secs(100));
        s.clear();
        let fresh = Record::new(
            s.id.clone().unwrap(),
            stored(&[("k", 2), ("x", 3)], Duration::from_secs(1)).data,
            SystemTime::now() + Duration::from_secs(100),
        );
        s.rebase(fresh).unwrap();
        assert!(s.is_empty());
        assert_eq!(
            s.commit(&config(), SystemTime::now()).cookie,
            CookieAction::Remove
        );
    }

    #[test]
    fn too_large_is_refused_and_loses_nothing() {
        let mut s = SessionState::new(64);
        s.insert("a", &1u64).unwrap();
        let err = s.insert("b", &"x".repeat(100)).unwrap_err();
        assert!(matches!(err, Error::TooLarge { limit: 64, .. }));
        assert_eq!(s.keys().collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn new_session_creates_stored_one_saves() {
        let now = SystemTime::now();
        let mut s = SessionState::new(1024);
        assert_eq!(s.commit(&config(), now).write, Write::None);
        s.insert("k", &1u64).unwrap();
        let c = s.commit(&config(), now);
        assert!(
            matches!(c.write, Write::Create(ref r) if r.expires_at == truncate_ms(now + Duration::from_secs(100)))
        );
        assert_eq!(c.cookie, CookieAction::Set);

        let mut s = stored(&[("k", 1)], Duration::from_secs(90));
        s.insert("k", &2u64).unwrap();
        let c = s.commit(&config(), now);
        assert!(
            matches!(c.write, Write::Save(ref r) if r.version == 2 && Some(r.expires_at) == s.expires_at)
        );
        assert_eq!(
            c.cookie,
            CookieAction::Keep,
            "a save inside the renewal window keeps the expiry"
        );
        let mut old = stored(&[("k", 1)], Duration::from_secs(70));
        old.insert("k", &2u64).unwrap();
        let c = old.commit(&config(), now);
        assert!(
            matches!(c.write, Write::Save(ref r) if r.expires_at == truncate_ms(now + Duration::from_secs(100)))
        );
        assert_eq!(c.cookie, CookieAction::Set);
    }

    #[test]
    fn cycle_keeps_data_under_a_new_id() {
        let mut s = stored(&[("k", 1)], Duration::from_secs(100));
        let old = s.id.clone().unwrap();
        s.cycle_id();
        let c = s.commit(&config(), SystemTime::now());
        assert_eq!(c.delete, vec![old.clone()]);
        match c.write {
            Write::Create(r) => {
                assert_ne!(r.id, old);
                assert_eq!(decode_value::<u64>(&r.data["k"]).unwrap(), 1);
            }
            other => panic!("{other:?}"),
        }
    }

    /// 100 s idle lifetime, capped at 150 s.
    fn capped() -> SessionConfig {
        SessionConfig::builder("0123456789abcdef0123456789abcdef")
            .max_age(Duration::from_secs(100))
            .absolute_max_age(Duration::from_secs(150))
            .build()
            .unwrap()
    }

    #[test]
    fn cycle_id_restarts_the_absolute_clock() {
        let config = capped();
        let now = SystemTime::now();
        // An anonymous session first stored 120 s ago: 30 s left of its cap.
        let mut record = Record::new(
            SessionId::generate(),
            Data::new(),
            now + Duration::from_secs(60),
        );
        record.created_at = truncate_ms(now - Duration::from_secs(120));
        record
            .data
            .insert("cart".into(), encode_value(&1u64).unwrap());
        let mut s = SessionState::from_record(record, 1024);
        s.cycle_id(); // login
        match s.commit(&config, now).write {
            Write::Create(r) => {
                assert_eq!(r.created_at, truncate_ms(now), "the clock did not restart");
                assert_eq!(r.expires_at, truncate_ms(now + Duration::from_secs(100)));
            }
            other => panic!("cycle_id must create a new record, got {other:?}"),
        }
    }

    #[test]
    fn clear_and_destroy_delete_and_remove_the_cookie() {
        for end in [
            SessionState::clear as fn(&mut SessionState),
            SessionState::destroy,
        ] {
            let mut s = stored(&[("k", 1)], Duration::from_secs(100));
            let id = s.id.clone().unwrap();
            end(&mut s);
            let c = s.commit(&config(), SystemTime::now());
            assert_eq!(c.delete, vec![id]);
            assert_eq!((c.write, c.cookie), (Write::None, CookieAction::Remove));
        }
    }

    #[test]
    fn reads_renew_only_after_the_refresh_fraction() {
        let now = SystemTime::now();
        // 100 s max_age, refresh_after 0.25: renew once fewer than 75 s are left.
        let fresh = stored(&[("k", 1)], Duration::from_secs(90));
        assert_eq!(fresh.commit(&config(), now).write, Write::None);
        let old = stored(&[("k", 1)], Duration::from_secs(70));
        assert!(matches!(old.commit(&config(), now).write, Write::Touch(..)));
    }

    /// Issue 16: the choice is written with the record, survives
    /// `cycle_id`, renews at once, and sets the renewal window.
    #[test]
    fn a_sessions_own_expiry_is_stored_kept_and_capped() {
        let config = capped();
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        let mut s = stored(&[("k", 1)], Duration::from_secs(90));
        s.set_expiry(Some(Expiry::Persistent(day))).unwrap();
        s.cycle_id(); // login
        let c = s.commit(&config, now);
        let Write::Create(r) = &c.write else {
            panic!("{:?}", c.write)
        };
        assert_eq!(r.expiry, Some(Expiry::Persistent(day)));
        assert!(c.lifetime.persistent);
        // The cap (150 s from login) wins over the day.
        assert_eq!(r.expires_at, truncate_ms(now + Duration::from_secs(150)));
        // Reloaded: the window is a quarter of the day, not of max_age.
        let uncapped = config_with(|b| b);
        let mut fresh = r.clone();
        fresh.expires_at = truncate_ms(now + day.mul_f64(0.9));
        let mut again = SessionState::from_record(fresh, 1024);
        assert_eq!(again.commit(&uncapped, now).write, Write::None);
        let mut record = r.clone();
        record.expires_at = truncate_ms(now + day.mul_f64(0.7));
        let old = SessionState::from_record(record.clone(), 1024);
        match old.commit(&uncapped, now).write {
            Write::Touch(_, at) => assert_eq!(at, truncate_ms(now + day)),
            other => panic!("{other:?}"),
        }
        // A changed choice renews at once, even inside the window.
        again.set_expiry(Some(Expiry::BrowserSession)).unwrap();
        let c = again.commit(&uncapped, now);
        assert!(!c.lifetime.persistent);
        assert_eq!(c.cookie, CookieAction::Set);
        assert!(
            matches!(c.write, Write::Save(ref r) if r.expires_at == truncate_ms(now + Duration::from_secs(14_400)) && r.expiry == Some(Expiry::BrowserSession))
        );
        // An equal choice is no change; a bad one is refused.
        let mut same = SessionState::from_record(record, 1024);
        same.set_expiry(Some(Expiry::Persistent(day))).unwrap();
        assert!(!same.is_changed());
        assert!(same
            .set_expiry(Some(Expiry::Persistent(Duration::ZERO)))
            .is_err());
        assert_eq!(same.expiry(), Some(Expiry::Persistent(day)));
    }

    /// Issue 16: with `max_age = none`, the default session gets a
    /// browser-session cookie and a record living `browser_session_ttl`.
    #[test]
    fn browser_sessions_expire_server_side_after_their_ttl() {
        let config = config_with(|b| {
            b.browser_session()
                .browser_session_ttl(Duration::from_secs(40))
        });
        let now = SystemTime::now();
        let mut s = SessionState::new(1024);
        s.insert("k", &1u64).unwrap();
        let c = s.commit(&config, now);
        assert!(!c.lifetime.persistent);
        assert!(
            matches!(c.write, Write::Create(ref r) if r.expires_at == truncate_ms(now + Duration::from_secs(40)) && r.expiry.is_none())
        );
    }

    fn config_with(
        f: impl FnOnce(crate::SessionConfigBuilder) -> crate::SessionConfigBuilder,
    ) -> SessionConfig {
        f(SessionConfig::builder("0123456789abcdef0123456789abcdef"))
            .build()
            .unwrap()
    }

    #[test]
    fn absolute_cap_limits_renewal() {
        let config = capped();
        let created = SystemTime::now() - Duration::from_secs(120);
        let now = SystemTime::now();
        assert_eq!(
            next_expiry(&config, created, now),
            truncate_ms(created + Duration::from_secs(150))
        );
        assert_eq!(max_age_at(now + Duration::from_millis(29_600), now), 30);
    }
}
