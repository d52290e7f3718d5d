//! The per-user index on a standalone Redis, one module per job: what it
//! costs ([`cost`]: commands counted with `INFO commandstats` on a
//! `redis-server` of its own; unbound sessions never pay for it) and that
//! it never loses a session ([`integrity`]: revocation finds sessions kept
//! alive by touches alone, every shape of stored value is read right by the
//! scripts, concurrent re-binding and pruning lose nothing, a failed filing
//! writes nothing).

#[path = "../common/mod.rs"]
mod common;
mod cost;
mod integrity;

use std::time::{Duration, SystemTime};

use session_core::codec::encode_value;
use session_core::{Data, Record, SessionId};

/// A record bound to `user` that expires in `ttl`.
fn bound(user: &str, ttl: Duration) -> Record {
    let mut data = Data::new();
    data.insert("agent".into(), encode_value("browser").unwrap());
    Record {
        user: Some(user.to_owned()),
        ..Record::new(SessionId::generate(), data, SystemTime::now() + ttl)
    }
}

/// A record bound to no user that expires in `ttl`.
fn unbound(ttl: Duration) -> Record {
    let mut data = Data::new();
    data.insert("cart".into(), encode_value(&[1, 2, 3]).unwrap());
    Record::new(SessionId::generate(), data, SystemTime::now() + ttl)
}
