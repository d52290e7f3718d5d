//! Redis-specific behaviour of the standalone store, one module per job:
//! how records are stored ([`storage`]: key layout, TTLs from the record's
//! expiry, `touch` in place, corrupt values) and how connecting goes wrong
//! ([`connection`]: configuration errors, and failing fast, never hanging,
//! when Redis is unreachable, silent or restarted, with one-line messages).

#[path = "../common/mod.rs"]
mod common;
mod connection;
mod storage;

use std::time::{Duration, SystemTime};

use session_core::codec::encode_value;
use session_core::{Data, Record, SessionId};

/// A record of one value that expires in `ttl`.
fn record(ttl: Duration) -> Record {
    let mut data = Data::new();
    data.insert("user".into(), encode_value("zoë").unwrap());
    Record::new(SessionId::generate(), data, SystemTime::now() + ttl)
}
