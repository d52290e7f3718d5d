//! An in-process [`SessionStore`](session_core::SessionStore) for one machine and for tests.
//!
//! * Concurrent: records are spread over independently locked shards; no lock
//!   is ever held across an `.await`.
//! * TTL-aware: an expired record is never returned, and a background task
//!   sweeps expired records every second (see
//!   [`MemoryStoreBuilder::sweep_interval`]). The task ends when the last
//!   clone of the store is dropped or on [`MemoryStore::shutdown`].
//! * Bounded by memory by default: the records' approximate footprint
//!   ([`MemoryStore::approx_bytes`]) stays within [`DEFAULT_MAX_BYTES`]
//!   (128 MiB; measured: a full store costs 127–147 MiB of resident
//!   memory whether its sessions are small or at the 64 KiB
//!   `max_data_size`, see [`MemoryStoreBuilder::max_bytes`]). A `create` or
//!   `save` that would take its shard past the bound first drops expired
//!   records and then evicts the records closest to expiry in that shard,
//!   never the one being written. Set your own bound with
//!   [`MemoryStoreBuilder::max_bytes`], add a bound on the number of
//!   records with [`MemoryStoreBuilder::capacity`], or lift both with
//!   [`MemoryStoreBuilder::unbounded`].
//! * Gives memory back on request: with
//!   [`MemoryStoreBuilder::release_memory`], after a sweep that halved the
//!   store once a burst of sessions has ended (a login storm, say), the
//!   sweeper shrinks its tables and asks the allocator to return the freed
//!   memory to the system, so the process does not stay at its peak size.
//! * Compact: a record is kept as its envelope bytes (the
//!   [`codec`](session_core::codec) form the other stores write), one
//!   allocation per session, and decoded when loaded: a typical logged-in
//!   session costs about 0.3 KiB.
//! * Indexed by user: sessions bound to a user ([`Record::user`](session_core::Record::user)) are kept
//!   in a user -> IDs map maintained with the records, so listing, counting
//!   and revoking a user's sessions never scans the store.
//!
//! Sessions in this store live and die with the process: use Redis or SQL
//! when several app servers share sessions or sessions must survive restarts.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use session_core::{Data, Record, SessionId, SessionStore};
//! use session_memory::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), session_core::Error> {
//! let store = MemoryStore::new();
//! let record = Record::new(SessionId::generate(), Data::new(), SystemTime::now() + Duration::from_secs(60));
//! store.create(&record).await?;
//! assert!(store.load(&record.id).await?.is_some());
//! # Ok(()) }
//! ```

use std::time::Duration;

mod builder;
mod footprint;
mod release;
mod shard;
mod shared;
mod store;
mod sweeper;

pub use builder::MemoryStoreBuilder;
pub use store::MemoryStore;

/// Default interval between sweeps of expired records: one second. A sweep
/// that finds nothing expired costs one lock and one look per shard
/// (microseconds); expired records are found in order of expiry, never by
/// a scan.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_SHARDS: usize = 32;
/// Default bound on the records' approximate footprint
/// ([`MemoryStore::approx_bytes`]): 128 MiB, 4 MiB per shard.
///
/// Sized so that a full store stays within about 140 MiB of resident memory
/// whatever the sessions' sizes: about 2,000 sessions at the default 64 KiB
/// `max_data_size`, or about 420,000 typical small sessions; see
/// [`MemoryStoreBuilder::max_bytes`] for the measured figures.
pub const DEFAULT_MAX_BYTES: usize = 128 << 20;
/// At most this many expired records are removed per shard lock (and, in
/// the background sweeper, between two yields to the runtime), so that a
/// large sweep never keeps a request waiting for long.
const SWEEP_BATCH: usize = 1024;
