//! The hotel app on Redis, under steady load while Redis is killed for about
//! two seconds and started again on the same port.
//!
//! The test starts its own throwaway `redis-server` on a free loopback port
//! in a temp dir (never the shared one at `REDIS_URL`), and drives it with
//! the outage harness every fault test shares (`session_test_support`).
//! While Redis is down every request must fail fast with 503 (no hang past
//! the command timeout, no other status); once it is back the same app,
//! never restarted, serves 200s again. Redis keeps nothing on disk here, so
//! the sessions are gone after the restart and the clients log in again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use session_cookie::{RedisStore, SessionConfig, SessionStore};
use session_test_support::outage::{summary, Load, Outage, Phase, Sample};
use session_test_support::redis::RestartableRedis;
use session_test_support::restart::Restartable as _;
use session_tests::servers::{cookie_client, unique_name};
use session_tests::{hotel, TestApp, SECRET};

/// The store's bound on each Redis command.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(300);
/// The bound on any one request: the command timeout plus a generous margin
/// for a small, shared test machine.
const REQUEST_BOUND: Duration = Duration::from_secs(2);
/// How long Redis stays down.
const OUTAGE: Duration = Duration::from_secs(2);
/// Concurrent clients, each its own session and load task.
const CLIENTS: usize = 4;
/// `/profile` + `/visits` rounds per client after the restart.
const ROUNDS_AFTER: u64 = 10;

/// Client `task`, `/profile` and `/visits` in turn.
fn plan(task: usize, n: usize) -> (usize, &'static str) {
    (
        task,
        if n.is_multiple_of(2) {
            "/profile"
        } else {
            "/visits"
        },
    )
}

/// `POST /login` as the demo user by client `client`, timed like a load
/// sample (its status only).
async fn login(load: &Load, app: &str, client: usize) -> Sample {
    let sent = Instant::now();
    let status = load.clients[client]
        .post(format!("{app}/login"))
        .json(&serde_json::json!({ "email": hotel::DEMO_EMAIL, "password": hotel::DEMO_PASSWORD }))
        .send()
        .await
        .map(|r| r.status())
        .map_err(|e| e.to_string());
    Sample {
        client,
        path: "/login",
        phase: Phase::Back,
        sent,
        done: Instant::now(),
        status,
        body: None,
    }
}

/// After the restart, client `client` logs in again (polling while the
/// store reconnects: a 503 is fine then, nothing else is) and checks a
/// few rounds of a fresh session. Returns its samples and what went wrong.
async fn again(load: Arc<Load>, app: String, client: usize) -> (Vec<Sample>, Vec<String>) {
    let (mut samples, mut problems) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sample = login(&load, &app, client).await;
        let status = sample.status.clone();
        samples.push(sample);
        match status {
            Ok(StatusCode::OK) => break,
            Ok(StatusCode::SERVICE_UNAVAILABLE) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => {
                problems.push(format!(
                    "client {client}: login after the restart: {other:?}"
                ));
                return (samples, problems);
            }
        }
    }
    for round in 1..=ROUNDS_AFTER {
        let profile = load.get(client, "/profile").await;
        let email = profile.body.as_ref().map(|b| b["user"]["email"].clone());
        if email != Some(Value::from(hotel::DEMO_EMAIL)) {
            problems.push(format!(
                "client {client}: /profile after the restart: {profile:?}"
            ));
        }
        // A fresh session after the restart: the count starts again at 1.
        let visits = load.get(client, "/visits").await;
        if visits.visits() != Some(round) {
            problems.push(format!(
                "client {client}: /visits round {round}: {visits:?}"
            ));
        }
        samples.extend([profile, visits]);
    }
    (samples, problems)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_is_503_and_the_app_recovers() {
    let server = Arc::new(
        tokio::task::spawn_blocking(RestartableRedis::start)
            .await
            .expect("starting redis-server panicked"),
    );
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

    let load = Load::new(
        &app.url,
        (0..CLIENTS).map(|_| cookie_client()).collect(),
        plan,
        Duration::from_millis(10),
    );
    for client in 0..CLIENTS {
        let status = login(&load, &app.url, client).await.status;
        assert_eq!(status, Ok(StatusCode::OK), "POST /login");
    }

    // The load stops before Redis is back: the sessions died with it.
    let outage = Outage {
        tasks: CLIENTS,
        ok_before: 5 * CLIENTS,
        down_for: OUTAGE,
        load_after: None,
    };
    let (mut samples, restart) = load.through_restart(&server, outage).await;
    eprintln!("redis fault: {}", summary(&samples, &restart));
    let in_down = samples.iter().filter(|s| s.phase == Phase::Down).count();

    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| tokio::spawn(again(Arc::clone(&load), app.url.clone(), c)))
        .collect();
    let mut problems = Vec::new();
    for task in tasks {
        let (more, found) = task.await.expect("a client panicked");
        samples.extend(more);
        problems.extend(found);
    }
    eprintln!(
        "redis fault: all clients served again {:?} after Redis was ready",
        restart.ready.elapsed()
    );

    assert!(problems.is_empty(), "after the restart: {problems:#?}");
    let count = |f: &dyn Fn(&Sample) -> bool| samples.iter().filter(|s| f(s)).count();
    let ok = count(&|s| s.is(StatusCode::OK));
    let unavailable = count(&|s| s.is(StatusCode::SERVICE_UNAVAILABLE));
    let odd: Vec<&Sample> = samples
        .iter()
        .filter(|s| !s.is(StatusCode::OK) && !s.is(StatusCode::SERVICE_UNAVAILABLE))
        .collect();
    assert!(odd.is_empty(), "statuses other than 200 and 503: {odd:#?}");
    assert!(ok > 0 && unavailable > 0, "ok {ok}, 503 {unavailable}");
    let slow: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.took() > REQUEST_BOUND)
        .collect();
    assert!(
        slow.is_empty(),
        "requests slower than {REQUEST_BOUND:?} (command timeout {COMMAND_TIMEOUT:?}): {slow:#?}"
    );
    let down_not_503: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.phase == Phase::Down && !s.is(StatusCode::SERVICE_UNAVAILABLE))
        .collect();
    assert!(
        down_not_503.is_empty(),
        "requests sent while Redis was down must be 503: {down_not_503:#?}"
    );
    assert!(in_down >= CLIENTS, "too little load during the outage");
    let after: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.phase == Phase::Back && s.path != "/login")
        .collect();
    let after_not_ok: Vec<&&Sample> = after.iter().filter(|s| !s.is(StatusCode::OK)).collect();
    assert!(
        after_not_ok.is_empty(),
        "requests after the restart and a new login must be 200: {after_not_ok:#?}"
    );
    assert_eq!(
        after.len(),
        CLIENTS * 2 * usize::try_from(ROUNDS_AFTER).unwrap()
    );
    drop(app);
    drop(load);
    drop(server);
}
