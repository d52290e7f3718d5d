//! `loadtest-server`: the hotel app's three session routes, served by one of
//! five session implementations, for `loadtest/run.sh`: this project on
//! axum (`ours`) and on actix-web (`ours-actix`), tower-sessions, actix-session
//! and no session layer.
//!
//! ```text
//! loadtest-server --variant ours|ours-actix|tower|tower-cached|actix|none --store memory|redis|postgres [--near-cache on]
//!                 [--port 8080] [--max-age 14400] [--index off|on] [--users same|distinct]
//!                 [--versions on|off]
//!                 [--sweep-secs N]
//!                 [--redis-url redis://127.0.0.1:6379] [--pg-url postgres://postgres@127.0.0.1:5432/test]
//!                 [--tower-redis-pool 6] [--workers 1]
//! ```
//!
//! Routes, the same in every variant (same paths, same JSON bodies):
//!
//! * `POST /login`: a new session (ID cycled) holding `user_id` and `email`;
//!   for `ours`, `--index on` also binds it to the user (`session.set_user`,
//!   the per-user index of issue 9, as the hotel example does); off by
//!   default, so that every variant does the same work;
//! * `GET /profile`: reads `user_id` and `email` (read-only);
//! * `GET /visits`: read-modify-write of the `visits` counter.
//!
//! Cookie settings, the same in every variant: name `session`, the same
//! 64-byte secret (signed, not encrypted), `Max-Age` = `--max-age` (4 h by
//! default) as an idle lifetime, `SameSite=Lax`, `HttpOnly`, `Path=/`, not
//! `Secure` (plain HTTP on loopback).

mod actix;
mod none;
mod ours;
mod ours_actix;
mod tower;
mod unversioned;

use std::net::SocketAddr;
use std::time::Duration;

/// The one signing secret of every variant (64 bytes: `cookie::Key::from`
/// needs at least 64).
pub const SECRET: &[u8; 64] = b"loadtest-secret-0123456789abcdef0123456789abcdef-0123456789abcde";
/// The cookie name of every variant.
pub const COOKIE: &str = "session";
/// The demo user.
pub const USER_ID: u64 = 1;
/// The demo user's email.
pub const EMAIL: &str = "guest@example.com";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Memory,
    Redis,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct Args {
    pub variant: String,
    pub store: Store,
    pub addr: SocketAddr,
    pub max_age: Duration,
    pub index: bool,
    /// ours: `false` with `--versions off` (see `unversioned.rs`).
    pub versions: bool,
    pub distinct_users: bool,
    /// ours on memory: the store's sweep interval (default: the store's, 60 s).
    pub sweep: Option<Duration>,
    pub redis_url: String,
    /// ours on redis: the CA bundle (PEM file) for a `rediss://` URL.
    pub redis_ca: Option<String>,
    pub pg_url: String,
    pub tower_redis_pool: usize,
    pub workers: usize,
    /// ours / ours-actix on redis or postgres: the near cache on.
    pub near_cache: bool,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn parse_args() -> Result<Args, BoxError> {
    let mut args = Args {
        variant: "ours".into(),
        store: Store::Memory,
        addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
        max_age: Duration::from_secs(14_400),
        index: false,
        versions: true,
        distinct_users: false,
        sweep: None,
        redis_url: std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
        redis_ca: None,
        pg_url: std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()),
        tower_redis_pool: 6,
        workers: 1,
        near_cache: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--variant" => args.variant = value()?,
            "--store" => {
                args.store = match value()?.as_str() {
                    "memory" => Store::Memory,
                    "redis" => Store::Redis,
                    "postgres" => Store::Postgres,
                    other => return Err(format!("unknown store {other}").into()),
                }
            }
            "--port" => args.addr.set_port(value()?.parse()?),
            "--max-age" => args.max_age = Duration::from_secs(value()?.parse()?),
            "--index" => args.index = value()? == "on",
            "--versions" => args.versions = value()? == "on",
            "--users" => args.distinct_users = value()? == "distinct",
            "--sweep-secs" => args.sweep = Some(Duration::from_secs(value()?.parse()?)),
            "--redis-url" => args.redis_url = value()?,
            "--redis-ca" => args.redis_ca = Some(value()?),
            "--pg-url" => args.pg_url = value()?,
            "--tower-redis-pool" => args.tower_redis_pool = value()?.parse()?,
            "--workers" => args.workers = value()?.parse()?,
            "--near-cache" => args.near_cache = value()? == "on",
            "-h" | "--help" => {
                println!("see the top of loadtest/src/main.rs");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(args)
}

fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    match args.variant.as_str() {
        "actix" => return actix::run(args),
        "ours-actix" => return ours_actix::run(args),
        _ => {}
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let router = match args.variant.as_str() {
            "ours" => ours::router(&args).await?,
            "tower" | "tower-cached" => tower::router(&args).await?,
            "none" => none::router(),
            other => return Err(format!("unknown variant {other}").into()),
        };
        let listener = tokio::net::TcpListener::bind(args.addr).await?;
        eprintln!(
            "loadtest-server: {} on {:?} listening on http://{}",
            args.variant, args.store, args.addr
        );
        axum::serve(listener, router).await?;
        Ok(())
    })
}
