//! A [`SessionStore`] on Redis or Redis Cluster, built on the [`redis`] crate
//! with Tokio.
//!
//! One public type, [`RedisStore`], talks to either deployment (see
//! [Connections](#connections) and [Redis Cluster](#redis-cluster)).
//!
//! ```no_run
//! use std::time::{Duration, SystemTime};
//! use session_core::{Data, Record, SessionId, SessionStore};
//! use session_redis::RedisStore;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), session_core::Error> {
//! let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
//! let store = RedisStore::builder()
//!     .key_prefix("myapp:session:")
//!     .command_timeout(Duration::from_millis(500))
//!     .connect(url.as_str())
//!     .await?;
//!
//! let record = Record::new(SessionId::generate(), Data::new(), SystemTime::now() + Duration::from_secs(3600));
//! store.create(&record).await?;
//! assert!(store.load(&record.id).await?.is_some());
//! store.delete(&record.id).await?;
//! # Ok(()) }
//! ```
//!
//! # Operations
//!
//! A session **not bound to a user** ([`Record::user`] is `None`, before
//! and after the write) costs **one round trip** per operation, a single
//! command or a Lua script, atomic on the server. A **bound** session also
//! writes its user's index (see [The per-user index](#the-per-user-index)):
//! on a standalone Redis, `create` and `save` do it inside their own script
//! (still one round trip); otherwise it is one more command:
//!
//! | method | unbound session | bound session: in addition |
//! |---|---|---|
//! | `create` | `SET key value PXAT <expires_ms - 1> NX` (nil reply: [`Error::Conflict`]) | standalone: instead, `EVALSHA` of the *create* script, which runs that `SET` and then, if it wrote, the *index* script's steps on the user's index (one round trip); cluster: then the *index* script on the user's index |
//! | `load` | `GET key`, then the record's own expiry is checked again | nothing |
//! | `save` | `EVALSHA` of the *save* script: `GETRANGE` the first 85 bytes (the header, which holds the version and the user), compare the stored version with `record.version - 1`, and only if equal `SET key value PXAT <expires_ms - 1> XX` (missing key: [`Error::Vanished`]; other version: [`Error::VersionConflict`]); it replies with the user the replaced value was bound to | standalone: the same *save* script, given the new user's index as a second key: after the version check, if the stored value is not bound to this user yet, it runs the *index* script's steps on it; if it is (the session is filed already), it only keeps the index's expiry covering a moved session expiry (`PTTL`, `TIME`, perhaps `PEXPIREAT`), and does nothing more when the expiry stays (one round trip either way); cluster: first the *index* script on the new user's index; either way, after a save that unbinds or re-binds the session, the *unindex* script on the old user's index |
//! | `delete` | `GETDEL key` (the old value tells whether it was bound) | then the *unindex* script on the user's index |
//! | `touch` | `EVALSHA` of the *touch* script: if the key is live, `SETRANGE` the 8-byte expiry in place and `PEXPIREAT` (missing key: [`Error::Vanished`]); it replies with the user the session is bound to | then the *index* script on the user's index |
//! | `delete_expired` | nothing: Redis expires keys itself, so it returns `0` | nothing |
//! | `user_sessions`, `count_user_sessions` | | `ZRANGE index 0 -1 WITHSCORES`; one `GET` per member, all at once; the *unindex* script if any member was stale: 2 or 3 round trips, `n + 1` or `n + 2` commands for `n` members |
//! | `delete_user_sessions` | | `ZRANGE index 0 -1 WITHSCORES`; the *revoke* script on each member but the kept one, all at once; the *unindex* script: 3 round trips, `n + 2` commands |
//!
//! So on a standalone Redis a bound `create` or `save` is 1 round trip
//! (one `EVALSHA`), a `save` that changes the user 2, and a bound `touch`
//! or `delete` 2; on a cluster a bound `create`, `save`, `touch` or
//! `delete` is 2 commands (2 round trips), a `save` that changes the user 3.
//! Unbinding through `save` is 2. "All at once" means concurrently: on a standalone Redis the
//! multiplexed connection pipelines them; on a cluster each goes to the
//! master owning its key. Commands run inside scripts are not round trips
//! (for the figures Redis counts, see [the per-user index](#the-per-user-index)).
//! The command count never depends on how many other users or sessions
//! there are.
//!
//! The scripts run by `EVALSHA` (through [`redis::Script`]); when Redis does
//! not know a script yet, after a (re)start or a failover, the driver loads
//! it and retries, so the first use of each script then costs two extra
//! round trips.
//!
//! The `save` script reads the version without decoding the data: in the
//! envelope format (3, see [`codec`]) it is the big-endian `u64` at
//! [`codec::VERSION_OFFSET`]. A value too short or of another format number
//! (formats 1 and 2 were written only by pre-release builds and are not
//! read) is [`Error::Envelope`] for `load`, `save` and `touch`, and is left
//! as it is.
//!
//! Records are filed under `<prefix><storage key>`, where the storage key is
//! [`SessionId::storage_key`] (a hash of the ID), so a dump of Redis holds no
//! usable cookie. The key's expiry is set from the record's `expires_at`
//! exactly, to the millisecond: Redis keeps a key through its `PXAT`
//! millisecond while a session is gone *at* its `expires_at`, so the key gets
//! `PXAT expires_ms - 1` and Redis drops it at the very instant the
//! [`SessionStore`] contract does. Because `touch` rewrites the expiry inside
//! the stored envelope as well, a plain `GET` always knows the current
//! expiry. No store method ever runs `KEYS`, `SCAN` or `FLUSHDB`.
//!
//! Requires Redis 6.2 or later (for `SET ... PXAT`, `GETDEL` and `ZADD GT`).
//!
//! # The per-user index
//!
//! [`indexes_users`](SessionStore::indexes_users) is `true`: "log out
//! everywhere" ([`delete_user_sessions`](SessionStore::delete_user_sessions))
//! and the list of a user's sessions read one index, never scan.
//!
//! * **Layout.** Each user has a sorted set under
//!   `<prefix>user:<escaped user>` ([`RedisStore::user_index_key`]; bytes
//!   other than ASCII letters, digits and `-._~@+=` are percent-encoded, so
//!   any string is a safe key and never a cluster hash tag). Its members are
//!   the storage keys of the user's sessions; a member's score is the
//!   highest record version the session was filed at.
//! * **Expiry.** The index expires on its own: every filing moves its
//!   `PEXPIREAT` to the session's expiry plus 1 s if that is later than the
//!   index's current expiry, never earlier. It therefore always outlives
//!   every session filed in it, including one kept alive by `touch` alone,
//!   and an abandoned index goes away 1 s after its last session.
//! * **Filing.** `create` and `touch` file the session right after their
//!   write; `save` files it *before* its write, at the version it writes.
//!   On a standalone Redis, `create` and `save` do both steps inside one
//!   script, in that order and atomically (a `save` whose filing fails
//!   stops before writing anything); on a cluster, where the index is on
//!   another slot, they are two commands sent one after the other.
//!   So a bound session is in its user's index from the moment its write
//!   completes (for `save`, from the moment it is bound), and a `save` that
//!   then fails leaves only a harmless extra member.
//! * **Unfiling.** `delete`, and a `save` that unbinds or re-binds, take the
//!   session out of the old user's index right away; listing and revoking
//!   prune members whose session is gone or bound elsewhere. A removal is
//!   *conditional*: the member goes only if its score is at most the version
//!   at which the session was seen leaving (the *unindex* script checks
//!   this on the index's own node). A write that binds the session to the
//!   user again carries a higher version and files it with that score, so a
//!   removal racing with it, in either order, never undoes it. Members of
//!   sessions that merely expired are pruned once Redis has dropped the
//!   session's key. (Session IDs are never reused, so a session that is
//!   gone never comes back.)
//! * **Reading.** `user_sessions` reads every member's value and returns
//!   only live sessions whose stored user is still this user; the value is
//!   the truth, the index only says where to look. `count_user_sessions`
//!   is the length of that list.
//! * **Revoking.** `delete_user_sessions` runs, per member except `keep`, a
//!   script that deletes the session only if its stored user is still this
//!   user, checked and deleted in one step on the session's node. It returns
//!   how many live sessions it deleted. The scripts find the stored user in
//!   the value's header (format 3: its length at a fixed offset, then the
//!   user), so the data is never read.
//! * **When the index cannot be written.** If filing fails after the
//!   session was written, the operation returns the error and undoes what
//!   would otherwise escape the index: `create` deletes the new session
//!   (its ID was never handed out), `touch` moves the expiry back to the
//!   previous one, which the index still covers. Only if that undo fails
//!   too (Redis unreachable in between) can a session outlive its index;
//!   its next `save` or `touch` files it again. Failures to *unfile* are
//!   ignored: a stale member is harmless and pruned by the next read.
//! * **Damaged values** (bytes that do not decode) are never listed (each
//!   is logged at `warn` with its storage key) and stay in the index until
//!   revocation, which deletes them: no request can load them, and they
//!   must not escape "log out everywhere". They are not counted as ended
//!   sessions. `load` reports them as [`Error::Envelope`] or
//!   [`Error::Decode`], and the session layer deletes them.
//!
//! What Redis counts (`INFO commandstats`, commands inside scripts
//! included), measured by `tests/index.rs` with 1,000 users × 3 sessions:
//! listing one user's sessions is 4 commands (`ZRANGE`, 3 × `GET`);
//! revoking them is 17 (`ZRANGE`, 4 × `EVALSHA`, and inside the scripts
//! 3 × `GETRANGE`, 3 × `DEL`, 3 × `ZSCORE`, 3 × `ZREM`), the same as with
//! that user alone in Redis. An unbound `create` is 1 `SET`, `save` 1
//! `EVALSHA` (1 `GETRANGE`, 1 `SET` inside), `delete` 1 `GETDEL`. A bound
//! `save` that keeps the binding and the expiry costs exactly the same as
//! an unbound one.
//!
//! # What is atomic and what is not
//!
//! * **Each command** is atomic: Redis runs a command or a script without
//!   interleaving any other client's commands, so a `create` race has one
//!   winner, and a `save` compares the version and writes in one step: of
//!   concurrent saves from the same loaded version exactly one is written,
//!   the others get [`Error::VersionConflict`] and write nothing, across any
//!   number of application instances.
//! * **An unbound session's operations are one command each**, so each
//!   method is atomic, on a standalone Redis and on a cluster alike.
//! * **A bound session's write and its index update are two commands**, not
//!   a transaction, on both deployments: on a cluster the index lives in
//!   another slot, usually on another master, so no script can cover both;
//!   a standalone Redis runs the very same protocol. Between the two
//!   commands other clients' commands may run. The ordering above (filing
//!   before a `save`, after a `create` or `touch`; conditional removals) is
//!   what makes that safe: a bound session is findable by its user's index
//!   from the moment its write completes, and the index outlives it. A
//!   concurrent `delete_user_sessions` may miss a session whose `create`
//!   had not completed when the revocation read the index (the two were
//!   concurrent, so either order is a correct outcome); it never misses one
//!   created before it started.
//! * **Listing and revoking are not atomic as a whole**: the index read,
//!   the per-session reads or revocations and the pruning are separate
//!   commands, each atomic on its own node. Each session is revoked
//!   atomically (its user is checked and it is deleted in one script), so a
//!   session re-bound to someone else meanwhile is never deleted by
//!   mistake. A listing is a snapshot per session, not of the whole set.
//! * **A request is not a transaction.** `load` and the later `save` are two
//!   round trips with no lock in between; the version makes this optimistic
//!   concurrency: a save that lost the race is reported, never silently
//!   applied, and the session layer reloads, re-applies its changes and saves
//!   again.
//! * `delete` is unconditional: a logout wins over concurrent saves, which
//!   then get [`Error::Vanished`] and do not resurrect the session. `touch`
//!   checks no version: it moves only the expiry and leaves data and version
//!   alone, so it composes with concurrent saves.
//! * **A timeout is not a "no".** An operation that fails with
//!   [`Error::Timeout`] (or a dropped connection) may still have been carried
//!   out by Redis; the application only knows that it did not hear back.
//!   `delete_user_sessions` failing may have revoked some sessions; calling
//!   it again is safe.
//! * **Durability is Redis's.** Without RDB or AOF persistence a restart
//!   loses every session (everyone is logged out, nothing worse). Replication
//!   is asynchronous: after a failover (a replica promoted, or a cluster
//!   master replaced) the last acknowledged writes may be missing; on a
//!   cluster a session and its index entry may be on different masters, so
//!   a failover can lose one without the other (a lost index entry is
//!   restored by the session's next `save` or `touch`). See [what a
//!   failover can lose](#what-a-failover-can-lose) and the opt-in durable
//!   writes.
//!
//! # Connections
//!
//! * **Standalone Redis** uses one [`ConnectionManager`]: a single
//!   multiplexed connection that every clone of the store shares and that
//!   pipelines concurrent commands. No pool is needed (and none to size):
//!   the store sends no blocking commands and no `MULTI` transactions, so
//!   commands of concurrent requests share the socket, pipelined, instead
//!   of waiting for a free connection.
//!   When the connection drops, the manager reconnects by itself, with two
//!   quick retries (10 ms backoff, doubling); a command issued while Redis
//!   refuses connections fails within tens of milliseconds with
//!   [`Error::Backend`], and the first command after Redis is back
//!   reconnects. The application never needs restarting.
//! * **Redis Cluster** uses the `cluster-async` connection, which keeps one
//!   multiplexed connection per node, follows `MOVED`/`ASK` redirects and
//!   refreshes the slot map itself.
//!
//! A failed `connect` / `connect_cluster` is [`Error::Backend`] whose source
//! is a [`ConnectError`]: it names the store, shows the URL with its
//! password masked and says the likely fix (Redis not running there, wrong
//! user or password, database number out of range, unknown host), with the
//! driver's error as its own source.
//!
//! # Timeouts
//!
//! * The [connection timeout](RedisStoreBuilder::connection_timeout)
//!   (default 5 s) bounds [`connect`](RedisStoreBuilder::connect) /
//!   [`connect_cluster`](RedisStoreBuilder::connect_cluster) and each later
//!   reconnection attempt.
//! * The [command timeout](RedisStoreBuilder::command_timeout) (default 1 s)
//!   bounds each round trip from start to reply, including waiting on a
//!   reconnection, a script load or a cluster redirect; a batch of
//!   per-session commands sent at once counts as one. Past it the
//!   operation fails with [`Error::Timeout`]: a Redis that is unreachable or
//!   silent (rather than refusing connections) costs at most this long per
//!   round trip (one for an unbound session; see [Operations](#operations)).
//!
//! Connection and server failures are [`Error::Backend`] with the
//! [`redis::RedisError`] as the source. Both are
//! [unavailable](Error::is_unavailable) errors, which the session layer of
//! `session-cookie` answers with 503. No method panics.
//!
//! # Redis Cluster
//!
//! Pass the seed nodes (one reachable node is enough; the rest are
//! discovered):
//!
//! ```no_run
//! # async fn f() -> Result<(), session_core::Error> {
//! let store = session_redis::RedisStore::connect_cluster([
//!     "redis://127.0.0.1:7000",
//!     "redis://127.0.0.1:7001",
//!     "redis://127.0.0.1:7002",
//! ])
//! .await?;
//! # Ok(()) }
//! ```
//!
//! or, with [`RedisStore::builder`], `.connect_cluster(urls)`. Through
//! `session-cookie` (feature `redis`), `session_cookie::connect` and the
//! hotel example take the same list as
//! `SESSION_STORE=redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002`.
//!
//! Every command touches exactly one key, and the scripts name it in
//! `KEYS`, so nothing is ever `CROSSSLOT` and each command goes straight to
//! the master owning its key's slot: a session's commands to the session's
//! master, a user's index commands to the index's master (see [what is
//! atomic](#what-is-atomic-and-what-is-not) for what that split means).
//! Keep hash tags (`{...}`) out of the [key prefix](RedisStoreBuilder::key_prefix),
//! so that sessions and indexes spread over all masters.
//!
//! # TLS
//!
//! With the `tls` feature (off by default; `session-cookie`'s `tls` feature
//! turns it on), `rediss://host:port` connects over TLS through rustls with
//! the `ring` provider: no OpenSSL, nothing to install on the host.
//!
//! * **Trust.** By default the server's certificate must chain to the
//!   platform's trust roots, read by rustls-native-certs: the system store,
//!   or the PEM bundle named by the `SSL_CERT_FILE` environment variable, so
//!   a CA installed on the host or named there just works.
//!   `RedisStoreBuilder::tls_ca_pem` trusts a given bundle
//!   instead (a managed service's private CA), and
//!   `tls_client_cert` presents a
//!   client certificate (mutual TLS, `tls-auth-clients yes`). The host name
//!   in the URL must be one the certificate names.
//! * **No verification** only when the URL says so, as the driver spells
//!   it: `rediss://host:port/#insecure`. The store then logs a warning at
//!   `warn` level when it connects. Use it for a throwaway test, never in
//!   production.
//! * **Cluster**: `rediss://` seed URLs with
//!   [`connect_cluster`](RedisStoreBuilder::connect_cluster) (or
//!   `rediss+cluster://` through `session_cookie::connect`); the builder's
//!   certificates apply to every node. **Sentinel**: `rediss+sentinel://`
//!   speaks TLS to the sentinels and to the master.
//! * **Errors** at connect time name the URL (password masked) and the fix:
//!   a certificate from a CA that is not trusted, a certificate for another
//!   host, a server that asks for a client certificate, a plaintext port
//!   (which never answers the TLS hello: reported when the connection
//!   timeout passes), a CA bundle without certificates.
//! * **Why opt-in:** rustls, ring and webpki add about 30 s to a clean debug
//!   build of this crate on 2 cores (measured: 28 s for the crates `tls`
//!   adds, on a busy machine), which an application on a private network
//!   does not need. Without the feature a `rediss://` URL is a
//!   configuration error that names the feature.
//! * rustls needs one process-wide crypto provider; when the application has
//!   not installed one, the store installs `ring`'s on its first TLS
//!   connect.
//!
//! ```no_run
//! # #[cfg(feature = "tls")]
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let store = session_redis::RedisStore::builder()
//!     .tls_ca_pem(std::fs::read("/etc/keycard/redis-ca.pem")?)
//!     .connect("rediss://:password@redis.internal:6380")
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! # Redis Sentinel
//!
//! [`connect_sentinel`](RedisStoreBuilder::connect_sentinel) /
//! [`connect_sentinel_url`](RedisStoreBuilder::connect_sentinel_url)
//! (`redis+sentinel://[user:password@]host:port,host:port/<master name>[/<db>]`,
//! also accepted by `session_cookie::connect`) ask the sentinels for the
//! master, connect to it and check with `ROLE` that it is one. The
//! credentials and database in the URL are the master's.
//!
//! * **Following a failover.** When a command fails in a way that means the
//!   master may have changed (the socket dropped, a timeout, `READONLY` from
//!   a demoted master, `MASTERDOWN`), the store forgets that connection; the
//!   next command asks the sentinels again and connects to the master they
//!   name. Until the sentinels have promoted a replica, commands fail fast
//!   (503) because the old master refuses connections; afterwards they
//!   succeed, with the same store: no restart. `tests/sentinel.rs` kills the
//!   master with SIGKILL under load and checks exactly this (promotion took
//!   about 1.8 s there, with `down-after-milliseconds 500`). A command is
//!   never retried by the store: a write that failed in flight may or may
//!   not have happened.
//! * One multiplexed connection to the master is shared by every clone of
//!   the store, as for a standalone Redis; resolving the master happens once
//!   at a time, and the other commands wait for it (within their command
//!   timeout).
//!
//! # What a failover can lose
//!
//! Redis replicates asynchronously: the master answers a write before any
//! replica has it. If the master dies (or is cut off) right after, the
//! promoted replica may lack the last writes, typically the last
//! milliseconds, more if the replica was lagging. For sessions that means:
//! a login or a cart change the user saw succeed can be gone (the user is
//! logged out or sees older data), and, worse, a **logout** or a
//! "log out everywhere" can be undone, bringing a revoked session back.
//! (On a Cluster the same holds per master.)
//!
//! [`wait_for_replicas(n, timeout)`](RedisStoreBuilder::wait_for_replicas)
//! makes writes durable against a single failure: after every write the
//! store sends `WAIT n timeout` and reports the write as failed (503) when
//! fewer than `n` replicas have it in time. Then a write reported as done is
//! on a replica that Sentinel can promote (Sentinel prefers the most
//! up-to-date replica). It is not a transaction: a failed wait leaves the
//! write on the master. Keep `n` at most the number of replicas that remain
//! after a failover, or every write fails until one is added back.
//!
//! Cost, measured by `benches/durable.rs` (criterion; master and one replica
//! on the same 2-core machine over loopback, the machine busy with other
//! builds, so the absolute figures are noisy): one `save` 127 µs plain,
//! 371 µs with `WAIT 1 100`; 8 saves in flight 203 µs plain, 417 µs with
//! the wait. So about a quarter of a millisecond more per write on loopback,
//! plus the replica's network round trip in a real deployment. Note that
//! Redis holds a client's later commands while its `WAIT` waits, and every
//! request shares the store's one connection: while a write waits for its
//! replica, the other requests' commands (reads too) queue behind it. With
//! a replica 1 ms away that caps the store at roughly one durable write per
//! replica round trip; measure before turning it on for a busy site (the
//! bench above ran on loopback only).
//!
//! [`ConnectionManager`]: redis::aio::ConnectionManager

mod builder;
mod durable;
mod error;
mod index;
mod scripts;
mod sentinel;
mod store;
mod tls;

use std::time::Duration;

#[cfg(doc)]
use session_core::{codec, Error, Record, SessionId, SessionStore};

/// The Redis driver this crate is built on, re-exported so applications can
/// name its types (for example [`redis::ConnectionInfo`]) without depending
/// on a matching version themselves.
pub use redis;

pub use builder::RedisStoreBuilder;
pub use error::ConnectError;
pub use store::RedisStore;

/// The default key prefix: records are filed under `session:<storage key>`.
pub const DEFAULT_KEY_PREFIX: &str = "session:";
/// The default bound on establishing a connection.
pub const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// The default bound on one command, from sending it to its reply.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(1);
