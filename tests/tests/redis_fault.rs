//! The hotel app on Redis, under steady load while Redis is killed for about
//! two seconds and started again on the same port.
//!
//! The test starts its own throwaway `redis-server` on a free loopback port
//! in a temp dir (never the shared one at `REDIS_URL`). While Redis is down
//! every request must fail fast with 503 (no hang past the command timeout,
//! no other status); once it is back the same app, never restarted, serves
//! 200s again. Redis keeps nothing on disk here, so the sessions are gone
//! after the restart and the clients log in again.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use session_cookie::{redis, RedisStore, SessionConfig, SessionStore};
use session_tests::servers::{cookie_client, free_port, unique_name};
use session_tests::{hotel, TestApp, SECRET};
use tokio::sync::{watch, Barrier};

/// The store's bound on each Redis command.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(300);
/// The bound on any one request: the command timeout plus a generous margin
/// for a small, shared test machine.
const REQUEST_BOUND: Duration = Duration::from_secs(2);
/// How long Redis stays down.
const OUTAGE: Duration = Duration::from_secs(2);
/// Concurrent clients, each its own session and load task.
const CLIENTS: usize = 4;
/// Pause between two requests of one client.
const PACE: Duration = Duration::from_millis(10);
/// Safety bound on the requests of one client before the restart.
const MAX_REQUESTS: usize = 2_000;
/// `/profile` + `/visits` rounds per client after the restart.
const ROUNDS_AFTER: u64 = 10;

/// A throwaway `redis-server` (no persistence) under a `sh` watchdog.
///
/// The watchdog's stdin is a pipe held by this handle. Dropping the handle,
/// or the test process ending in any way (panic, failure, `SIGKILL`), closes
/// the pipe; the watchdog then kills the server with `SIGKILL`, waits for it
/// and removes the temp dir.
#[derive(Debug)]
struct ThrowawayRedis {
    port: u16,
    dir: PathBuf,
    watchdog: Child,
    stdin: Option<ChildStdin>,
}

const WATCHDOG: &str = r#"
dir="$1"; port="$2"
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$dir" --logfile "$dir/redis.log" </dev/null &
pid=$!
cat >/dev/null
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
rm -rf "$dir"
"#;

impl ThrowawayRedis {
    /// Starts `redis-server` on `port` and returns once it answers PING.
    async fn start(port: u16) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "session-tests-redis-fault-{}-{}",
            std::process::id(),
            unique_name("d")
        ));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("redis-fault-watchdog")
            .arg(&dir)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `sh` to start redis-server: {e}"));
        let stdin = watchdog.stdin.take();
        let server = Self {
            port,
            dir,
            watchdog,
            stdin,
        };
        server.wait_for_ping().await;
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Readiness: polls PING until it answers, for at most 15 s.
    async fn wait_for_ping(&self) {
        let client = redis::Client::open(self.url()).expect("a redis URL");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let ping = tokio::time::timeout(Duration::from_millis(500), async {
                let mut conn = client.get_multiplexed_async_connection().await?;
                redis::cmd("PING").query_async::<String>(&mut conn).await
            })
            .await;
            match ping {
                Ok(Ok(pong)) if pong == "PONG" => return,
                other if Instant::now() > deadline => panic!(
                    "redis-server on port {} did not answer PING within 15 s: {other:?} \
                     (is redis-server on PATH?)\n{}",
                    self.port,
                    self.log()
                ),
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    fn log(&self) -> String {
        let mut log = String::new();
        let _ = std::fs::File::open(self.dir.join("redis.log"))
            .and_then(|mut f| f.read_to_string(&mut log));
        log
    }

    /// Kills the server (`SIGKILL`) and waits until it is gone.
    fn kill(self) {
        tokio::task::block_in_place(|| drop(self));
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.watchdog.wait();
    }
}

/// Where a request fell relative to the outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Sent while Redis was up (it may still have been in flight at the kill).
    Before,
    /// Sent after Redis was confirmed dead and before it was restarted.
    Outage,
    /// A login attempt after the restart, while the store reconnects.
    Relogin,
    /// After the restart and a successful login.
    After,
}

#[derive(Debug)]
struct Sample {
    phase: Phase,
    path: &'static str,
    /// `None` when the request itself failed (connection error, client timeout).
    status: Option<StatusCode>,
    took: Duration,
}

/// What the main task tells the load tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Run,
    /// Finish the request in flight and wait at the barrier.
    Pause,
    /// Redis is back: log in again and finish.
    Resume,
}

async fn login(client: &reqwest::Client, app: &str) -> Result<StatusCode, reqwest::Error> {
    let r = client
        .post(format!("{app}/login"))
        .json(&serde_json::json!({ "email": hotel::DEMO_EMAIL, "password": hotel::DEMO_PASSWORD }))
        .send()
        .await?;
    Ok(r.status())
}

/// One request, timed. The body of a 200 is returned for checks.
async fn timed(
    client: &reqwest::Client,
    app: &str,
    path: &'static str,
    phase: Phase,
) -> (Sample, Option<Value>) {
    let started = Instant::now();
    let result = client.get(format!("{app}{path}")).send().await;
    let (status, body) = match result {
        Ok(r) => {
            let status = r.status();
            let body = if status == StatusCode::OK {
                r.json::<Value>().await.ok()
            } else {
                None
            };
            (Some(status), body)
        }
        Err(_) => (None, None),
    };
    let sample = Sample {
        phase,
        path,
        status,
        took: started.elapsed(),
    };
    (sample, body)
}

struct Shared {
    app: String,
    down: AtomicBool,
    ok_before: AtomicUsize,
    paused: Barrier,
    samples: Mutex<Vec<Sample>>,
    /// Unexpected replies after the restart, described for the failure message.
    problems: Mutex<Vec<String>>,
}

impl Shared {
    fn record(&self, sample: Sample) {
        self.samples.lock().unwrap().push(sample);
    }
    fn problem(&self, what: String) {
        self.problems.lock().unwrap().push(what);
    }
}

/// One client's load: `/profile` and `/visits` in turn until told to pause;
/// after the restart, log in again and check a few rounds.
async fn load(shared: Arc<Shared>, client: reqwest::Client, mut control: watch::Receiver<Control>) {
    let app = shared.app.as_str();
    for n in 0..MAX_REQUESTS {
        if *control.borrow() != Control::Run {
            break;
        }
        let phase = if shared.down.load(Ordering::SeqCst) {
            Phase::Outage
        } else {
            Phase::Before
        };
        let path = if n % 2 == 0 { "/profile" } else { "/visits" };
        let (sample, _) = timed(&client, app, path, phase).await;
        if phase == Phase::Before && sample.status == Some(StatusCode::OK) {
            shared.ok_before.fetch_add(1, Ordering::SeqCst);
        }
        shared.record(sample);
        tokio::time::sleep(PACE).await;
    }
    shared.paused.wait().await;
    if control.wait_for(|c| *c == Control::Resume).await.is_err() {
        shared.problem("the main task went away before resuming".into());
        return;
    }

    // The sessions died with Redis: log in again, polling while the store
    // reconnects (a 503 is fine here, nothing else is).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let started = Instant::now();
        let status = login(&client, app).await.ok();
        shared.record(Sample {
            phase: Phase::Relogin,
            path: "/login",
            status,
            took: started.elapsed(),
        });
        match status {
            Some(StatusCode::OK) => break,
            Some(StatusCode::SERVICE_UNAVAILABLE) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => {
                shared.problem(format!("login after the restart: {other:?}"));
                return;
            }
        }
    }
    for round in 1..=ROUNDS_AFTER {
        let (sample, body) = timed(&client, app, "/profile", Phase::After).await;
        shared.record(sample);
        let email = body.as_ref().map(|b| b["user"]["email"].clone());
        if email != Some(Value::from(hotel::DEMO_EMAIL)) {
            shared.problem(format!("/profile after the restart: {body:?}"));
        }
        let (sample, body) = timed(&client, app, "/visits", Phase::After).await;
        shared.record(sample);
        // A fresh session after the restart: the count starts again at 1.
        let visits = body.as_ref().map(|b| b["visits"].clone());
        if visits != Some(Value::from(round)) {
            shared.problem(format!("/visits round {round} after the restart: {body:?}"));
        }
        tokio::time::sleep(PACE).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_is_503_and_the_app_recovers() {
    let port = free_port();
    let server = ThrowawayRedis::start(port).await;
    let store = RedisStore::builder()
        .key_prefix(format!("{}:", unique_name("fault")))
        .connection_timeout(COMMAND_TIMEOUT)
        .command_timeout(COMMAND_TIMEOUT)
        .connect(server.url().as_str())
        .await
        .expect("a store on the throwaway Redis");
    let store: Arc<dyn SessionStore> = Arc::new(store);
    let config = SessionConfig::builder(SECRET)
        .build()
        .expect("valid config");
    let app = TestApp::hotel(store, config).await;

    let clients: Vec<reqwest::Client> = (0..CLIENTS).map(|_| cookie_client()).collect();
    for client in &clients {
        assert_eq!(
            login(client, &app.url).await.expect("POST /login"),
            StatusCode::OK
        );
    }

    let shared = Arc::new(Shared {
        app: app.url.clone(),
        down: AtomicBool::new(false),
        ok_before: AtomicUsize::new(0),
        paused: Barrier::new(CLIENTS + 1),
        samples: Mutex::new(Vec::new()),
        problems: Mutex::new(Vec::new()),
    });
    let (control, rx) = watch::channel(Control::Run);
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| tokio::spawn(load(Arc::clone(&shared), client, rx.clone())))
        .collect();

    // Steady load with Redis up: wait for some successes (polling).
    let deadline = Instant::now() + Duration::from_secs(10);
    while shared.ok_before.load(Ordering::SeqCst) < 5 * CLIENTS {
        assert!(
            Instant::now() < deadline,
            "no steady 200s before the outage"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The outage: kill Redis, keep the load going for OUTAGE (a sleep by design).
    server.kill();
    shared.down.store(true, Ordering::SeqCst);
    let killed = Instant::now();
    tokio::time::sleep(OUTAGE).await;
    control.send(Control::Pause).expect("load tasks listen");
    shared.paused.wait().await;
    let outage = killed.elapsed();

    // Back on the same port, same app.
    let server = ThrowawayRedis::start(port).await;
    let restarted = Instant::now();
    control.send(Control::Resume).expect("load tasks listen");
    for task in tasks {
        task.await.expect("a load task panicked");
    }
    let recovered_in = restarted.elapsed();

    let samples = std::mem::take(&mut *shared.samples.lock().unwrap());
    let problems = std::mem::take(&mut *shared.problems.lock().unwrap());
    let count = |f: &dyn Fn(&Sample) -> bool| samples.iter().filter(|s| f(s)).count();
    let ok = count(&|s| s.status == Some(StatusCode::OK));
    let unavailable = count(&|s| s.status == Some(StatusCode::SERVICE_UNAVAILABLE));
    let other = samples.len() - ok - unavailable;
    let slowest = |phase: Phase| {
        samples
            .iter()
            .filter(|s| s.phase == phase)
            .map(|s| s.took)
            .max()
            .unwrap_or_default()
    };
    let in_phase = |phase: Phase| count(&|s| s.phase == phase);
    let outage_on = |path: &str| count(&|s| s.phase == Phase::Outage && s.path == path);
    eprintln!(
        "redis fault: {} requests: ok {ok}, 503 {unavailable}, other {other}; \
         Redis down for {outage:?}; before: {} (slowest {:?}), \
         outage: {} ({} /profile, {} /visits; slowest {:?}), \
         relogin attempts: {} (slowest {:?}), after: {} (slowest {:?}); \
         all clients done {recovered_in:?} after the restart",
        samples.len(),
        in_phase(Phase::Before),
        slowest(Phase::Before),
        in_phase(Phase::Outage),
        outage_on("/profile"),
        outage_on("/visits"),
        slowest(Phase::Outage),
        in_phase(Phase::Relogin),
        slowest(Phase::Relogin),
        in_phase(Phase::After),
        slowest(Phase::After),
    );

    assert!(problems.is_empty(), "after the restart: {problems:#?}");
    let odd: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            !matches!(
                s.status,
                Some(StatusCode::OK | StatusCode::SERVICE_UNAVAILABLE)
            )
        })
        .collect();
    assert_eq!(other, 0, "statuses other than 200 and 503: {odd:#?}");
    assert!(ok > 0 && unavailable > 0, "ok {ok}, 503 {unavailable}");
    let slow: Vec<&Sample> = samples.iter().filter(|s| s.took > REQUEST_BOUND).collect();
    assert!(
        slow.is_empty(),
        "requests slower than {REQUEST_BOUND:?} (command timeout {COMMAND_TIMEOUT:?}): {slow:#?}"
    );
    let outage_not_503: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.phase == Phase::Outage && s.status != Some(StatusCode::SERVICE_UNAVAILABLE))
        .collect();
    assert!(
        outage_not_503.is_empty(),
        "requests sent while Redis was down must be 503: {outage_not_503:#?}"
    );
    assert!(
        in_phase(Phase::Outage) >= CLIENTS,
        "too little load during the outage"
    );
    let after_not_ok: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.phase == Phase::After && s.status != Some(StatusCode::OK))
        .collect();
    assert!(
        after_not_ok.is_empty(),
        "requests after the restart and a new login must be 200: {after_not_ok:#?}"
    );
    assert_eq!(
        in_phase(Phase::After),
        CLIENTS * 2 * usize::try_from(ROUNDS_AFTER).unwrap()
    );
    drop(server);
}
