//! The published store conformance suite against the standalone Redis at
//! `REDIS_URL` (default `redis://127.0.0.1:6379`). Each test gets its own
//! random key prefix. An unreachable Redis fails every test, with the
//! command to start one.

mod common;

session_core::store_conformance!(common::standalone_store());
