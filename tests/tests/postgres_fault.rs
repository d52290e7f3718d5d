//! The hotel app on PostgreSQL, under steady load while PostgreSQL is
//! stopped for about two seconds and started again on the same data
//! directory and port.
//!
//! The test starts its own throwaway PostgreSQL (`initdb` + `pg_ctl`, found
//! on `PATH` or in `/usr/lib/postgresql/*/bin`) in a temp dir on a free
//! loopback port; the shared server at `DATABASE_URL` is never touched.
//! While PostgreSQL is down every request must fail fast with 503 (the
//! pool's acquire timeout bounds it; no hang, no other status, no panic).
//! Once it is back the same app, never restarted, serves 200s again, and
//! every session committed before the restart is still there: the clients
//! stay logged in and their visit counts continue.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use session_cookie::sqlx::postgres::{PgConnection, PgPoolOptions};
use session_cookie::sqlx::Connection as _;
use session_cookie::{PostgresStore, SessionConfig, SessionStore};
use session_tests::servers::{cookie_client, free_port, unique_name};
use session_tests::{hotel, TestApp, SECRET};

/// The pool's acquire timeout: how long a request waits for a connection
/// while the server is down before the store reports it unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);
/// The bound on any one request: the acquire timeout plus a generous
/// margin for a small, shared test machine.
const REQUEST_BOUND: Duration = Duration::from_secs(5);
/// How long PostgreSQL stays down (a sleep by design: the outage itself).
const OUTAGE: Duration = Duration::from_secs(2);
/// Logged-in clients, each its own session.
const CLIENTS: usize = 20;
/// Load tasks; client `c` belongs to task `c % TASKS`, so each session sees
/// one request at a time and its visit counts must rise one by one.
const TASKS: usize = 5;
/// Pause between two requests of one task.
const PACE: Duration = Duration::from_millis(10);
/// Successful requests of the steady load before the server is stopped.
const OK_BEFORE: usize = 5 * CLIENTS;
/// Load kept up after the server is back.
const LOAD_AFTER: Duration = Duration::from_secs(2);
/// Safety bound on the requests of one task.
const MAX_REQUESTS: usize = 5_000;
/// How long a start-up or restart may take before the test gives up.
const READY_WITHIN: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// The throwaway server
// ---------------------------------------------------------------------------

/// A throwaway PostgreSQL in a temp dir, with a `sh` watchdog.
///
/// The watchdog's stdin is a pipe held by this handle. Dropping the handle
/// (at the end of the test or while a failed assertion unwinds), or the
/// test process ending in any other way, closes the pipe; the watchdog then
/// stops the server (`pg_ctl stop -m immediate`) and removes the temp dir.
/// The watchdog runs in its own process group, so a Ctrl-C on the test does
/// not kill it before it has cleaned up.
#[derive(Debug)]
struct ThrowawayPostgres {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    /// `runuser -u USER --` when the test runs as root (PostgreSQL refuses root).
    run_as: Vec<String>,
    watchdog: Child,
    stdin: Option<ChildStdin>,
}

// The second stop catches a server whose `pg_ctl start` was still running
// when the test process died.
const WATCHDOG: &str = r#"
dir="$1"; pg_ctl="$2"; shift 2
cat >/dev/null
"$@" "$pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1
sleep 0.3
"$@" "$pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1
rm -rf "$dir"
"#;

impl ThrowawayPostgres {
    /// `initdb` and `pg_ctl start` (which waits until the server accepts
    /// connections). Blocking: run it on a blocking thread.
    fn start() -> Self {
        let bin = pg_bin_dir();
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "session-tests-pg-fault-{}-{}",
            std::process::id(),
            unique_name("d")
        ));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let run_as = if running_as_root() {
            let user = if command_ok(Command::new("id").args(["-u", "postgres"])) {
                "postgres"
            } else {
                "nobody"
            };
            assert!(
                command_ok(Command::new("chown").args(["-R", user]).arg(&dir)),
                "cannot chown {} to {user}",
                dir.display()
            );
            ["runuser", "-u", user, "--"].map(String::from).to_vec()
        } else {
            Vec::new()
        };

        // The watchdog first, so that every later failure is cleaned up too.
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("pg-fault-watchdog")
            .arg(&dir)
            .arg(bin.join("pg_ctl"))
            .args(&run_as)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `sh` for the PostgreSQL watchdog: {e}"));
        let stdin = watchdog.stdin.take();
        let server = Self {
            dir,
            port,
            bin,
            run_as,
            watchdog,
            stdin,
        };

        let data = server.dir.join("data");
        server.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        server.start_again();
        server
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl start` on the existing data dir and port; returns once the
    /// server accepts connections (`-w`). Blocking.
    fn start_again(&self) {
        let data = self.dir.join("data");
        let log = self.dir.join("server.log");
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.display()
        );
        let timeout = READY_WITHIN.as_secs().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                timeout.as_ref(),
                "-o".as_ref(),
                options.as_ref(),
                "start".as_ref(),
            ],
        );
    }

    /// `pg_ctl stop -m fast`: open connections are terminated; returns once
    /// the server is gone (`-w`). Blocking.
    fn stop(&self) {
        let data = self.dir.join("data");
        let timeout = READY_WITHIN.as_secs().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                timeout.as_ref(),
                "stop".as_ref(),
            ],
        );
    }

    /// Runs a PostgreSQL program (as the server's OS user), its output in
    /// `<dir>/<program>.log`; panics with the logs when it fails.
    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) {
        let log_path = self.dir.join(format!("{program}.log"));
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", log_path.display()));
        let exe = self.bin.join(program);
        let mut cmd = match self.run_as.split_first() {
            Some((runner, rest)) => {
                let mut cmd = Command::new(runner);
                cmd.args(rest).arg(&exe);
                cmd
            }
            None => Command::new(&exe),
        };
        // Output to a file, never a pipe: the postmaster would inherit it.
        let status = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a second handle on the log"))
            .stderr(log)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
        assert!(
            status.success(),
            "{} {args:?} failed ({status}):\n{}\n--- server.log ---\n{}",
            exe.display(),
            read(&log_path),
            read(&self.dir.join("server.log")),
        );
    }

    /// Readiness: polls a plain connection until one succeeds.
    async fn wait_ready(&self) {
        let url = self.url();
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let attempt =
                tokio::time::timeout(Duration::from_secs(1), PgConnection::connect(&url)).await;
            match attempt {
                Ok(Ok(conn)) => {
                    let _ = conn.close().await;
                    return;
                }
                other if Instant::now() > deadline => panic!(
                    "PostgreSQL at {url} did not accept connections within {READY_WITHIN:?}: \
                     {other:?}\n--- server.log ---\n{}",
                    read(&self.dir.join("server.log"))
                ),
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        // EOF for the watchdog: it stops the server and removes the dir.
        drop(self.stdin.take());
        let _ = self.watchdog.wait();
    }
}

/// The directory holding `initdb` and `pg_ctl`: the one on `PATH` (through
/// symlinks), else the newest `/usr/lib/postgresql/*/bin`.
fn pg_bin_dir() -> PathBuf {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|dir| std::fs::canonicalize(dir.join("initdb")).ok())
        .filter_map(|initdb| initdb.parent().map(Path::to_path_buf))
        .find(|dir| has_both(dir));
    if let Some(dir) = on_path {
        return dir;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_both(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir).unwrap_or_else(|| {
        panic!(
            "initdb and pg_ctl were found neither on PATH nor in /usr/lib/postgresql/*/bin: \
             install the PostgreSQL server (Debian: apt-get install postgresql)"
        )
    })
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").map_or_else(
        |_| {
            Command::new("id")
                .arg("-u")
                .output()
                .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
        },
        |m| m.uid() == 0,
    )
}

fn command_ok(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn read(path: &Path) -> String {
    let mut text = String::new();
    let _ = File::open(path).and_then(|mut f| f.read_to_string(&mut text));
    text
}

// ---------------------------------------------------------------------------
// The load
// ---------------------------------------------------------------------------

/// The server's state when a request was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
enum Phase {
    /// Up (the request may still be in flight when the stop begins).
    Up,
    /// `pg_ctl stop -m fast` running.
    Stopping,
    /// Stopped: every request must be 503, except one still waiting for a
    /// connection when the server came back.
    Down,
    /// `pg_ctl start` running, or readiness not yet confirmed.
    Starting,
    /// Back and accepting connections: every request must be 200.
    Back,
}

impl Phase {
    fn from_u8(n: u8) -> Self {
        [
            Self::Up,
            Self::Stopping,
            Self::Down,
            Self::Starting,
            Self::Back,
        ][usize::from(n)]
    }
}

#[derive(Debug)]
struct Sample {
    client: usize,
    path: &'static str,
    phase: Phase,
    sent: Instant,
    done: Instant,
    /// `Err` when the request itself failed (connection error, client timeout).
    status: Result<StatusCode, String>,
    /// The body of a 200.
    body: Option<Value>,
}

impl Sample {
    fn took(&self) -> Duration {
        self.done - self.sent
    }
    fn is(&self, status: StatusCode) -> bool {
        self.status.as_ref().is_ok_and(|s| *s == status)
    }
    fn visits(&self) -> Option<u64> {
        self.body.as_ref()?["visits"].as_u64()
    }
}

struct Shared {
    app: String,
    clients: Vec<reqwest::Client>,
    phase: AtomicU8,
    stop: AtomicBool,
    samples: Mutex<Vec<Sample>>,
}

impl Shared {
    fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::SeqCst);
    }
    fn ok_count(&self) -> usize {
        let samples = self.samples.lock().unwrap();
        samples.iter().filter(|s| s.is(StatusCode::OK)).count()
    }
}

/// One GET, timed; the body of a 200 is kept for the checks.
async fn timed(shared: &Shared, client: usize, path: &'static str) -> Sample {
    let phase = Phase::from_u8(shared.phase.load(Ordering::SeqCst));
    let sent = Instant::now();
    let result = shared.clients[client]
        .get(format!("{}{path}", shared.app))
        .send()
        .await;
    let (status, body) = match result {
        Ok(r) => {
            let status = r.status();
            let body = if status == StatusCode::OK {
                r.json::<Value>().await.ok()
            } else {
                None
            };
            (Ok(status), body)
        }
        Err(e) => (Err(e.to_string()), None),
    };
    Sample {
        client,
        path,
        phase,
        sent,
        done: Instant::now(),
        status,
        body,
    }
}

/// One task's load: its clients in turn, `/visits` and `/profile`
/// alternating, until told to stop.
async fn load(shared: Arc<Shared>, task: usize) {
    let mine: Vec<usize> = (task..CLIENTS).step_by(TASKS).collect();
    for n in 0..MAX_REQUESTS {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let client = mine[n % mine.len()];
        let round = n / mine.len();
        let path = if (round + client).is_multiple_of(2) {
            "/visits"
        } else {
            "/profile"
        };
        let sample = timed(&shared, client, path).await;
        shared.samples.lock().unwrap().push(sample);
        tokio::time::sleep(PACE).await;
    }
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_is_503_then_sessions_continue() {
    let server = Arc::new(
        tokio::task::spawn_blocking(ThrowawayPostgres::start)
            .await
            .expect("starting PostgreSQL panicked"),
    );
    server.wait_ready().await;
    let url = server.url();
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect(&url)
        .await
        .expect("a pool on the throwaway PostgreSQL");
    let store = PostgresStore::builder(pool)
        .table(unique_name("fault"))
        .build()
        .expect("a valid table name");
    store.migrate().await.expect("migrate");
    let store: Arc<dyn SessionStore> = Arc::new(store);
    let config = SessionConfig::builder(SECRET)
        .build()
        .expect("valid config");
    let app = TestApp::hotel(store, config).await;

    // Log in every client and give each a visit count of its own (1 to 3):
    // the sessions committed before the restart.
    let clients: Vec<reqwest::Client> = (0..CLIENTS).map(|_| cookie_client()).collect();
    let mut committed = Vec::with_capacity(CLIENTS);
    for (c, client) in clients.iter().enumerate() {
        let r = client
            .post(app.at("/login"))
            .json(&serde_json::json!({ "email": hotel::DEMO_EMAIL, "password": hotel::DEMO_PASSWORD }))
            .send()
            .await
            .expect("POST /login");
        assert_eq!(r.status(), StatusCode::OK, "login of client {c}");
        let mut visits = 0;
        for _ in 0..=c % 3 {
            let r = client.get(app.at("/visits")).send().await.expect("GET");
            assert_eq!(r.status(), StatusCode::OK);
            visits = r.json::<Value>().await.expect("JSON")["visits"]
                .as_u64()
                .expect("a visit count");
        }
        assert_eq!(visits, (c % 3 + 1) as u64);
        committed.push(visits);
    }

    let shared = Arc::new(Shared {
        app: app.url.clone(),
        clients,
        phase: AtomicU8::new(Phase::Up as u8),
        stop: AtomicBool::new(false),
        samples: Mutex::new(Vec::new()),
    });
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| tokio::spawn(load(Arc::clone(&shared), t)))
        .collect();

    // Steady load with the server up: wait for some successes (polling).
    let deadline = Instant::now() + Duration::from_secs(20);
    while shared.ok_count() < OK_BEFORE {
        assert!(
            Instant::now() < deadline,
            "no steady 200s before the restart"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The restart: stop (fast), stay down for OUTAGE, start on the same
    // data dir and port, confirm readiness by polling.
    shared.set_phase(Phase::Stopping);
    let stop_began = Instant::now();
    let s = Arc::clone(&server);
    tokio::task::spawn_blocking(move || s.stop())
        .await
        .expect("pg_ctl stop panicked");
    shared.set_phase(Phase::Down);
    let stopped = Instant::now();
    tokio::time::sleep(OUTAGE).await;
    shared.set_phase(Phase::Starting);
    let start_began = Instant::now();
    let s = Arc::clone(&server);
    tokio::task::spawn_blocking(move || s.start_again())
        .await
        .expect("pg_ctl start panicked");
    server.wait_ready().await;
    shared.set_phase(Phase::Back);
    let ready = Instant::now();

    // The same app, never restarted, under the same load.
    tokio::time::sleep(LOAD_AFTER).await;
    shared.stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.expect("a load task panicked");
    }
    let samples = std::mem::take(&mut *shared.samples.lock().unwrap());

    // Every session committed before the restart is still there: still
    // logged in, and the visit count continues where the 200s left it.
    let mut last_ok: Vec<u64> = committed.clone();
    let mut lost_since: Vec<u64> = vec![0; CLIENTS];
    let mut problems: Vec<String> = Vec::new();
    for s in samples.iter().filter(|s| s.path == "/visits") {
        if let Some(v) = s.visits().filter(|_| s.is(StatusCode::OK)) {
            if v <= last_ok[s.client] {
                problems.push(format!(
                    "client {}: /visits went from {} to {v}",
                    s.client, last_ok[s.client]
                ));
            }
            last_ok[s.client] = v;
            lost_since[s.client] = 0;
        } else {
            lost_since[s.client] += 1;
        }
    }
    for (c, client) in shared.clients.iter().enumerate() {
        let r = client.get(app.at("/profile")).send().await.expect("GET");
        let status = r.status();
        let body: Value = r.json().await.unwrap_or_default();
        if status != StatusCode::OK || body["user"]["email"] != hotel::DEMO_EMAIL {
            problems.push(format!(
                "client {c}: /profile after the restart: {status} {body}"
            ));
        }
        let r = client.get(app.at("/visits")).send().await.expect("GET");
        let status = r.status();
        let body: Value = r.json().await.unwrap_or_default();
        let visits = body["visits"].as_u64().unwrap_or(0);
        // At least one more than the last 200 (nothing committed was lost);
        // a 503'd increment may or may not have been committed.
        let (low, high) = (last_ok[c] + 1, last_ok[c] + 1 + lost_since[c]);
        if status != StatusCode::OK || visits < low || visits > high || visits <= committed[c] {
            problems.push(format!(
                "client {c}: /visits after the restart: {status} {body}, expected {low}..={high} \
                 (committed before the restart: {})",
                committed[c]
            ));
        }
    }

    // Counts and timings.
    let count = |f: &dyn Fn(&Sample) -> bool| samples.iter().filter(|s| f(s)).count();
    let ok = count(&|s| s.is(StatusCode::OK));
    let unavailable = count(&|s| s.is(StatusCode::SERVICE_UNAVAILABLE));
    let other = samples.len() - ok - unavailable;
    let in_phase = |p: Phase| count(&|s| s.phase == p);
    let ok_in = |p: Phase| count(&|s| s.phase == p && s.is(StatusCode::OK));
    let slowest = samples.iter().map(Sample::took).max().unwrap_or_default();
    let failed: Vec<&Sample> = samples.iter().filter(|s| !s.is(StatusCode::OK)).collect();
    let seen_outage = match (
        failed.iter().map(|s| s.sent).min(),
        failed.iter().map(|s| s.done).max(),
    ) {
        (Some(first), Some(last)) => last - first,
        _ => Duration::ZERO,
    };
    let first_ok_after = samples
        .iter()
        .filter(|s| s.sent >= start_began && s.is(StatusCode::OK))
        .map(|s| s.done)
        .min()
        .map(|t| t.saturating_duration_since(start_began));
    eprintln!(
        "postgres fault: {} requests: ok {ok}, 503 {unavailable}, other {other}; \
         by phase sent (ok/all): up {}/{}, stopping {}/{}, down {}/{}, starting {}/{}, back {}/{}; \
         pg_ctl stop took {:?}, server down (stop began → ready) {:?}, pg_ctl start + readiness {:?}; \
         outage seen by clients (first failed sent → last failed done) {seen_outage:?}; \
         first 200 {first_ok_after:?} after start began; slowest request {slowest:?}",
        samples.len(),
        ok_in(Phase::Up),
        in_phase(Phase::Up),
        ok_in(Phase::Stopping),
        in_phase(Phase::Stopping),
        ok_in(Phase::Down),
        in_phase(Phase::Down),
        ok_in(Phase::Starting),
        in_phase(Phase::Starting),
        ok_in(Phase::Back),
        in_phase(Phase::Back),
        stopped - stop_began,
        ready - stop_began,
        ready - start_began,
    );

    assert!(
        problems.is_empty(),
        "sessions after the restart: {problems:#?}"
    );
    let odd: Vec<&Sample> = samples
        .iter()
        .filter(|s| !s.is(StatusCode::OK) && !s.is(StatusCode::SERVICE_UNAVAILABLE))
        .collect();
    assert!(odd.is_empty(), "statuses other than 200 and 503: {odd:#?}");
    let bad_profile: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.path == "/profile" && s.is(StatusCode::OK))
        .filter(|s| s.body.as_ref().map(|b| &b["user"]["email"]) != Some(&hotel::DEMO_EMAIL.into()))
        .collect();
    assert!(
        bad_profile.is_empty(),
        "a 200 /profile without the user: {bad_profile:#?}"
    );
    let slow: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.took() > REQUEST_BOUND)
        .collect();
    assert!(
        slow.is_empty(),
        "requests slower than {REQUEST_BOUND:?} (acquire timeout {ACQUIRE_TIMEOUT:?}): {slow:#?}"
    );
    // While the server was down every request is a 503: each one answered
    // before the start began, and each one sent while down unless it was
    // still waiting for a connection when the server came back. Every task
    // sent some (the outage is longer than the acquire timeout).
    let down_not_503: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.phase == Phase::Down || (s.sent >= stopped && s.done <= start_began))
        .filter(|s| !s.is(StatusCode::SERVICE_UNAVAILABLE))
        .filter(|s| !(s.is(StatusCode::OK) && s.done > start_began))
        .collect();
    assert!(
        down_not_503.is_empty(),
        "requests while PostgreSQL was down must be 503: {down_not_503:#?}"
    );
    assert!(
        in_phase(Phase::Down) >= TASKS && unavailable >= TASKS,
        "too little load while the server was down: {} sent, {unavailable} answered 503",
        in_phase(Phase::Down)
    );
    // Back: every request sent after readiness is a 200, for every client.
    let back_not_ok: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.phase == Phase::Back && !s.is(StatusCode::OK))
        .collect();
    assert!(
        back_not_ok.is_empty(),
        "requests after the server was back must be 200: {back_not_ok:#?}"
    );
    let mut back_per_client: BTreeMap<usize, usize> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.phase == Phase::Back) {
        *back_per_client.entry(s.client).or_default() += 1;
    }
    assert!(
        back_per_client.len() == CLIENTS && back_per_client.values().all(|&n| n >= 2),
        "every client must be served after the restart: {back_per_client:?}"
    );
    assert!(ok_in(Phase::Up) >= OK_BEFORE);
    drop(app);
    drop(shared);
    drop(server);
}
