//! Throwaway servers for `scripts/test.sh` when no shared server answers:
//! `throwaway-servers redis postgres mysql` (any of them) starts each from
//! the installed binaries on a free loopback port, prints `VAR=URL` lines
//! (`REDIS_URL`, `DATABASE_URL`, `MYSQL_URL`) and then `ready`, and keeps
//! them until its standard input closes; then it stops them and removes
//! their temp dirs. A missing binary ends it with the package to install.

use std::io::{BufRead as _, Write as _};

use session_test_support::mariadb::ThrowawayMariaDb;
use session_test_support::postgres::ThrowawayPostgres;
use session_test_support::redis::RedisProcs;
use session_test_support::restart::Restartable as _;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut keep: Vec<Box<dyn std::any::Any>> = Vec::new();
    let mut out = std::io::stdout().lock();
    for name in std::env::args().skip(1) {
        let (var, url) = match name.as_str() {
            "redis" => {
                let procs = RedisProcs::start_standalone(None);
                let url = procs.urls().remove(0);
                keep.push(Box::new(procs));
                ("REDIS_URL", url)
            }
            "postgres" => {
                let server = ThrowawayPostgres::start();
                let url = server.url();
                keep.push(Box::new(server));
                ("DATABASE_URL", url)
            }
            "mysql" => {
                let server = ThrowawayMariaDb::start().await;
                let url = server.url();
                keep.push(Box::new(server));
                ("MYSQL_URL", url)
            }
            other => panic!("unknown server `{other}`: use redis, postgres or mysql"),
        };
        writeln!(out, "{var}={url}").expect("stdout");
    }
    writeln!(out, "ready").expect("stdout");
    out.flush().expect("stdout");
    // Until the caller closes our stdin (or exits).
    for _ in std::io::stdin().lock().lines() {}
    drop(keep);
}
