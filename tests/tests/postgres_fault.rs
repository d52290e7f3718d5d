//! The hotel app on PostgreSQL, under steady load while PostgreSQL is
//! stopped for a few seconds and started again on the same data directory
//! and port: one session per client (below), and several clients on one
//! session ([`session_tests::deadline`]).
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
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use session_cookie::sqlx::postgres::PgPoolOptions;
use session_cookie::{PostgresStore, SessionConfig, SessionStore};
use session_test_support::outage::{summary, Load, Outage, Phase, Sample};
use session_test_support::postgres::ThrowawayPostgres;
use session_test_support::restart::Restartable;
use session_tests::servers::{cookie_client, unique_name};
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
/// Successful requests of the steady load before the server is stopped.
const OK_BEFORE: usize = 5 * CLIENTS;
/// Load kept up after the server is back.
const LOAD_AFTER: Duration = Duration::from_secs(2);

/// Task `task`'s clients in turn, `/visits` and `/profile` alternating.
fn plan(task: usize, n: usize) -> (usize, &'static str) {
    let mine = CLIENTS.div_ceil(TASKS);
    let client = task + TASKS * (n % mine);
    let round = n / mine;
    let path = if (round + client).is_multiple_of(2) {
        "/visits"
    } else {
        "/profile"
    };
    (client, path)
}

async fn started() -> Arc<ThrowawayPostgres> {
    let server = Arc::new(
        tokio::task::spawn_blocking(ThrowawayPostgres::start)
            .await
            .expect("starting PostgreSQL panicked"),
    );
    server.wait_ready().await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_clients_on_one_session_get_200_or_503_within_the_deadline() {
    session_tests::deadline::one_session_through_restart(started().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_is_503_then_sessions_continue() {
    let server = started().await;
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

    let load = Load::new(&app.url, clients, plan, Duration::from_millis(10));
    let (samples, restart) = load
        .through_restart(
            &server,
            Outage {
                tasks: TASKS,
                ok_before: OK_BEFORE,
                down_for: OUTAGE,
                load_after: Some(LOAD_AFTER),
            },
        )
        .await;
    eprintln!("postgres fault: {}", summary(&samples, &restart));
    let (stopped, start_began) = (restart.stopped, restart.start_began);

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
    for (c, client) in load.clients.iter().enumerate() {
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

    let count = |f: &dyn Fn(&Sample) -> bool| samples.iter().filter(|s| f(s)).count();
    let unavailable = count(&|s| s.is(StatusCode::SERVICE_UNAVAILABLE));
    let in_phase = |p: Phase| count(&|s| s.phase == p);
    let ok_in = |p: Phase| count(&|s| s.phase == p && s.is(StatusCode::OK));

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
    drop(load);
    drop(server);
}
