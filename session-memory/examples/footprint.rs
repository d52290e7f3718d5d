//! Run with: cargo run --release -p session-memory --example footprint
//!
//! Measures the resident memory (Linux `VmRSS`) a `MemoryStore` costs, for
//! `BENCHMARKS.md` and the capacity docs. Each measurement runs in a fresh
//! child process so one cannot inherit another's heap:
//!
//! * `full-max`: the default store (`MemoryStore::new()`, bounded at
//!   `DEFAULT_MAX_BYTES`) flooded with 8,192 sessions at the default 64 KiB
//!   `max_data_size` (four times what fits);
//! * `full-typical`: the default store flooded with 1,000,000 typical
//!   sessions (the hotel example's after login; more than fit);
//! * `unbounded-typical` / `unbounded-typical-1m`: 100,000 / 1,000,000
//!   typical sessions in an unbounded store (bytes per session);
//! * `storm-keep` / `storm-release`: 1,000,000 typical sessions living
//!   1 s in an unbounded store, then the size once the sweeper has removed
//!   them all, without and with `release_memory`.
//!
//! `FOOTPRINT_MODE=NAME` runs one measurement in this process.

use std::time::{Duration, Instant, SystemTime};

use session_core::codec::encode_value;
use session_core::{Data, Record, SessionId, SessionStore};
use session_memory::{MemoryStore, DEFAULT_MAX_BYTES};

const MODES: [&str; 6] = [
    "full-max",
    "full-typical",
    "unbounded-typical",
    "unbounded-typical-1m",
    "storm-keep",
    "storm-release",
];
/// The default `max_data_size`: the most a session may hold.
const MAX_DATA_SIZE: usize = 64 * 1024;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Ok(mode) = std::env::var("FOOTPRINT_MODE") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        return runtime.block_on(measure(&mode));
    }
    for mode in MODES {
        let out = std::process::Command::new(std::env::current_exe()?)
            .env("FOOTPRINT_MODE", mode)
            .output()?;
        if !out.status.success() {
            return Err(format!("{mode} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
    Ok(())
}

/// Resident memory of this process, in MiB (Linux only).
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(f64::NAN);
    kib / 1024.0
}

/// The hotel example's session after login: a user ID, an e-mail address
/// and a browser's user agent.
fn typical(ttl: Duration) -> Record {
    let agent = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    let mut data = Data::new();
    data.insert("user_id".into(), encode_value(&42u64).unwrap());
    data.insert("email".into(), encode_value("guest@example.com").unwrap());
    data.insert("user_agent".into(), encode_value(agent).unwrap());
    let mut record = Record::new(SessionId::generate(), data, SystemTime::now() + ttl);
    record.user = Some("42".into());
    record
}

fn max_size(ttl: Duration) -> Record {
    let mut data = Data::new();
    // Key plus value: exactly the default max_data_size.
    data.insert("blob".into(), vec![7; MAX_DATA_SIZE - 4]);
    Record::new(SessionId::generate(), data, SystemTime::now() + ttl)
}

async fn fill(store: &MemoryStore, n: usize, make: fn(Duration) -> Record, ttl: Duration) {
    for _ in 0..n {
        store.create(&make(ttl)).await.expect("create");
    }
}

/// Prints what `store` holds and what it cost since `before`.
fn report(mode: &str, what: &str, store: &MemoryStore, before: f64) {
    let after = rss_mib();
    let tracked = store.approx_bytes() as f64 / 1024.0 / 1024.0;
    let bound = DEFAULT_MAX_BYTES >> 20;
    println!(
        "{mode}: {} {what} held; tracked {tracked:.1} MiB (default bound {bound} MiB); RSS {before:.1} -> {after:.1} MiB, {:.2} KiB per session",
        store.len(),
        (after - before) * 1024.0 / store.len() as f64
    );
}

async fn measure(mode: &str) -> Result<(), Box<dyn std::error::Error>> {
    let hour = Duration::from_secs(3600);
    let before = rss_mib();
    match mode {
        "full-max" => {
            let store = MemoryStore::new();
            fill(&store, 8_192, max_size, hour).await;
            report(mode, "sessions of 64 KiB", &store, before);
        }
        "full-typical" => {
            let store = MemoryStore::new();
            fill(&store, 1_000_000, typical, hour).await;
            report(mode, "typical sessions", &store, before);
        }
        "unbounded-typical" | "unbounded-typical-1m" => {
            let n = if mode == "unbounded-typical" {
                100_000
            } else {
                1_000_000
            };
            let store = MemoryStore::builder().unbounded().build();
            fill(&store, n, typical, hour).await;
            report(mode, "typical sessions", &store, before);
        }
        "storm-keep" | "storm-release" => {
            let store = MemoryStore::builder()
                .unbounded()
                .sweep_interval(Duration::from_millis(100))
                .release_memory(mode == "storm-release")
                .build();
            let started = Instant::now();
            fill(&store, 1_000_000, typical, Duration::from_secs(1)).await;
            let peak = rss_mib();
            while !store.is_empty() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // A few more sweeps, for the release's follow-up.
            tokio::time::sleep(Duration::from_millis(500)).await;
            println!(
                "{mode}: 1,000,000 sessions in {:.1} s; RSS {before:.1} -> peak {peak:.1} -> {:.1} MiB once swept",
                started.elapsed().as_secs_f64(),
                rss_mib()
            );
        }
        other => return Err(format!("unknown FOOTPRINT_MODE {other:?}: one of {MODES:?}").into()),
    }
    Ok(())
}
