//! Test support for the keycard-sessions workspace (not published): what
//! every crate's tests share to find, start and isolate the servers they
//! run against.
//!
//! - [`servers`]: the shared servers from `REDIS_URL`, `DATABASE_URL` and
//!   `MYSQL_URL` (local defaults), and the failure that says how to start
//!   one: a missing server is never a skip.
//! - [`names`]: key prefixes, table names and other names no other test
//!   uses, so tests run in parallel on shared servers.
//! - [`process`]: what every throwaway server shares: a temp dir cleaned
//!   up by a watchdog however the test ends, free loopback ports, finding
//!   binaries (a missing one fails the test, naming the package).
//! - [`redis`] (feature `redis`): throwaway `redis-server`s: standalone,
//!   Cluster, replicas and Sentinels, TLS-only variants (feature `tls`).
//! - [`postgres`] and [`mariadb`] (features `postgres`, `mysql`): a
//!   throwaway PostgreSQL and MariaDB, with TLS variants (feature `tls`).
//! - [`restart`]: servers the fault tests stop and start again.
//! - [`certs`] (feature `tls`): a test CA and certificates (rcgen).
//! - [`outage`] (feature `outage`): HTTP load on an app through a restart
//!   of its server, every request timed and tagged.
//!
//! It depends on no crate of the workspace, so that each can dev-depend on
//! it; what is specific to one store stays in that store's tests.

pub mod names;
pub mod process;
pub mod restart;
pub mod servers;

#[cfg(feature = "tls")]
pub mod certs;
#[cfg(feature = "mysql")]
pub mod mariadb;
#[cfg(feature = "outage")]
pub mod outage;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;

pub use names::{key_prefix, table_name, unique_name};
pub use process::free_port;
pub use servers::{database_url, mysql_url, redis_url, with_params, Server};
