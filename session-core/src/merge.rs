//! What a request changed, key by key, so its changes can be re-applied on
//! top of a concurrent request's save (see [`SessionState::rebase`](crate::adapter::SessionState::rebase)).
//!
//! Semantics when requests of one session overlap:
//!
//! * requests that change different keys all keep their changes;
//! * [`update`](crate::adapter::SessionState::update) calls on one key compose: each
//!   closure re-runs on the fresh value, so no increment is lost;
//! * plain `insert` on the same key is last-writer-wins;
//! * `clear` / `destroy` win over concurrent changes (the record is deleted).

use std::fmt;
use std::sync::Arc;

use crate::record::Data;
use crate::Error;

/// A type-erased `update` closure: old encoded value in, new encoded value out.
pub(crate) type Updater = Arc<dyn Fn(Option<&[u8]>) -> Result<Vec<u8>, Error> + Send + Sync>;

/// One change a request made.
#[derive(Clone)]
pub(crate) enum Op {
    /// `insert(key, value)`.
    Set(String, Vec<u8>),
    /// `remove(key)`.
    Remove(String),
    /// `clear()`.
    Clear,
    /// `update(key, f)`.
    Update(String, Updater),
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Set(k, _) => write!(f, "Set({k:?})"),
            Self::Remove(k) => write!(f, "Remove({k:?})"),
            Self::Clear => f.write_str("Clear"),
            Self::Update(k, _) => write!(f, "Update({k:?})"),
        }
    }
}

impl Op {
    /// Applies this change to `data`.
    pub(crate) fn apply(&self, data: &mut Data) -> Result<(), Error> {
        match self {
            Self::Set(k, v) => {
                data.insert(k.clone(), v.clone());
            }
            Self::Remove(k) => {
                data.remove(k);
            }
            Self::Clear => data.clear(),
            Self::Update(k, f) => {
                let new = f(data.get(k).map(Vec::as_slice))?;
                data.insert(k.clone(), new);
            }
        }
        Ok(())
    }
}

/// What writers of one session changed, as a batch of them hands it on
/// (see `adapter::writers`): their changes in order, and their user
/// binding and expiry choice if one of them made one (the last one's).
#[derive(Clone, Debug, Default)]
pub(crate) struct Changes {
    pub(crate) ops: Vec<Op>,
    pub(crate) user: Option<Option<String>>,
    pub(crate) expiry: Option<Option<crate::Expiry>>,
}
