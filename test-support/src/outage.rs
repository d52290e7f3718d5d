//! Load on a running app while its server is stopped and started again:
//! the sampler every fault test shares (each request timed, its status and
//! body kept, tagged with the server's phase when it was sent).

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::restart::Restartable;

/// The server's state when a request was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    /// Up (the request may still be in flight when the stop begins).
    Up,
    /// The stop is running.
    Stopping,
    /// Stopped.
    Down,
    /// The start is running, or readiness not yet confirmed.
    Starting,
    /// Back and accepting connections.
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

/// One timed request.
#[derive(Debug)]
pub struct Sample {
    /// Which client sent it.
    pub client: usize,
    /// The path requested.
    pub path: &'static str,
    /// The server's phase when it was sent.
    pub phase: Phase,
    /// When it was sent.
    pub sent: Instant,
    /// When its answer was read.
    pub done: Instant,
    /// `Err` when the request itself failed (connection error, client timeout).
    pub status: Result<StatusCode, String>,
    /// The body of a 200.
    pub body: Option<Value>,
}

impl Sample {
    /// How long the request took.
    pub fn took(&self) -> Duration {
        self.done - self.sent
    }
    /// `true` when it answered `status`.
    pub fn is(&self, status: StatusCode) -> bool {
        self.status.as_ref().is_ok_and(|s| *s == status)
    }
    /// The visit count of a 200 `/visits`.
    pub fn visits(&self) -> Option<u64> {
        self.body.as_ref()?["visits"].as_u64()
    }
}

/// Which client sends request `n` of load task `task`, and to which path.
pub type Plan = fn(task: usize, n: usize) -> (usize, &'static str);

/// The load's shared state.
#[derive(Debug)]
pub struct Load {
    app: String,
    /// The clients (each with its cookie jar).
    pub clients: Vec<reqwest::Client>,
    phase: AtomicU8,
    stop: AtomicBool,
    samples: Mutex<Vec<Sample>>,
    pace: Duration,
    plan: Plan,
}

/// When each step of a restart happened.
#[derive(Debug, Clone, Copy)]
pub struct Restart {
    /// The stop began.
    pub stop_began: Instant,
    /// The stop returned: the server is gone.
    pub stopped: Instant,
    /// The start began.
    pub start_began: Instant,
    /// The server accepts connections again.
    pub ready: Instant,
}

/// The course of one outage under load.
#[derive(Debug, Clone, Copy)]
pub struct Outage {
    /// Load tasks running at once.
    pub tasks: usize,
    /// 200s the load must see before the server is stopped.
    pub ok_before: usize,
    /// How long the server stays down (a sleep by design: the outage itself).
    pub down_for: Duration,
    /// How long the load goes on once the server is back; `None` ends the
    /// load before the server starts again (for a server that loses its
    /// data, after which the test logs in again itself).
    pub load_after: Option<Duration>,
}

/// Safety bound on the requests of one task.
const MAX_REQUESTS: usize = 5_000;

impl Load {
    /// Load on `app` (its base URL) from `clients`, following `plan`, with
    /// `pace` between two requests of one task.
    pub fn new(app: &str, clients: Vec<reqwest::Client>, plan: Plan, pace: Duration) -> Arc<Self> {
        Arc::new(Self {
            app: app.to_owned(),
            clients,
            phase: AtomicU8::new(Phase::Up as u8),
            stop: AtomicBool::new(false),
            samples: Mutex::new(Vec::new()),
            pace,
            plan,
        })
    }

    fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::SeqCst);
    }

    /// 200s so far.
    pub fn ok_count(&self) -> usize {
        let samples = self.samples.lock().unwrap();
        samples.iter().filter(|s| s.is(StatusCode::OK)).count()
    }

    /// Runs the load through `outage`: once `ok_before` requests have
    /// succeeded, stops `server`, keeps it down, starts it again and waits
    /// until it is ready, with the load running as `outage` says; returns
    /// the samples and the restart's times.
    ///
    /// # Panics
    ///
    /// When the load sees no 200s before the restart, or a task panics.
    pub async fn through_restart<S: Restartable>(
        self: &Arc<Self>,
        server: &Arc<S>,
        outage: Outage,
    ) -> (Vec<Sample>, Restart) {
        let handles: Vec<_> = (0..outage.tasks)
            .map(|t| tokio::spawn(Arc::clone(self).run(t)))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.ok_count() < outage.ok_before {
            assert!(
                Instant::now() < deadline,
                "no steady 200s before the restart"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.set_phase(Phase::Stopping);
        let stop_began = Instant::now();
        blocking(server, S::stop).await;
        self.set_phase(Phase::Down);
        let stopped = Instant::now();
        tokio::time::sleep(outage.down_for).await;
        let mut handles = Some(handles);
        if outage.load_after.is_none() {
            self.finish(handles.take()).await;
        }
        self.set_phase(Phase::Starting);
        let start_began = Instant::now();
        blocking(server, S::start_again).await;
        server.wait_ready().await;
        self.set_phase(Phase::Back);
        let ready = Instant::now();
        if let Some(after) = outage.load_after {
            tokio::time::sleep(after).await;
        }
        self.finish(handles).await;
        let samples = std::mem::take(&mut *self.samples.lock().unwrap());
        let restart = Restart {
            stop_began,
            stopped,
            start_began,
            ready,
        };
        (samples, restart)
    }

    /// Tells the load tasks to stop and waits for them.
    async fn finish(&self, handles: Option<Vec<tokio::task::JoinHandle<()>>>) {
        self.stop.store(true, Ordering::SeqCst);
        for handle in handles.into_iter().flatten() {
            handle.await.expect("a load task panicked");
        }
    }

    /// One task's load, until told to stop.
    async fn run(self: Arc<Self>, task: usize) {
        for n in 0..MAX_REQUESTS {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let (client, path) = (self.plan)(task, n);
            let sample = self.get(client, path).await;
            self.samples.lock().unwrap().push(sample);
            tokio::time::sleep(self.pace).await;
        }
    }

    /// One GET of `path` by client `client`, timed and tagged with the
    /// server's phase; the body of a 200 is kept for the checks.
    pub async fn get(&self, client: usize, path: &'static str) -> Sample {
        let phase = Phase::from_u8(self.phase.load(Ordering::SeqCst));
        let sent = Instant::now();
        let result = self.clients[client]
            .get(format!("{}{path}", self.app))
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
}

/// Runs `step` (a blocking [`Restartable`] method) on `server` on a
/// blocking thread.
///
/// # Panics
///
/// When `step` panics.
async fn blocking<S: Restartable>(server: &Arc<S>, step: fn(&S)) {
    let server = Arc::clone(server);
    tokio::task::spawn_blocking(move || step(&server))
        .await
        .expect("stopping or starting the server panicked");
}

/// A one-line account of a restart under load, for the test's output.
pub fn summary(samples: &[Sample], restart: &Restart) -> String {
    let count = |f: &dyn Fn(&Sample) -> bool| samples.iter().filter(|s| f(s)).count();
    let ok = count(&|s| s.is(StatusCode::OK));
    let unavailable = count(&|s| s.is(StatusCode::SERVICE_UNAVAILABLE));
    let phases = [
        Phase::Up,
        Phase::Stopping,
        Phase::Down,
        Phase::Starting,
        Phase::Back,
    ]
    .map(|p| {
        format!(
            "{p:?} {}/{}",
            count(&|s| s.phase == p && s.is(StatusCode::OK)),
            count(&|s| s.phase == p)
        )
    });
    let slowest = samples.iter().map(Sample::took).max().unwrap_or_default();
    format!(
        "{} requests: ok {ok}, 503 {unavailable}, other {}; by phase sent (ok/all): {}; \
         stop took {:?}, down (stop began → ready) {:?}, start + readiness {:?}; \
         slowest request {slowest:?}",
        samples.len(),
        samples.len() - ok - unavailable,
        phases.join(", "),
        restart.stopped - restart.stop_began,
        restart.ready - restart.stop_began,
        restart.ready - restart.start_began,
    )
}
