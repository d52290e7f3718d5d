//! Servers a test stops and starts again under a running app (the fault
//! tests), and polling a server until it accepts connections.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// How long a start-up or restart may take before the test gives up.
pub const READY_WITHIN: Duration = Duration::from_secs(60);

/// A server the fault tests can stop and start again on the same data and
/// port, with the app using it left running.
pub trait Restartable: Send + Sync + 'static {
    /// Stops the server, closing open connections; returns once it is gone.
    /// Blocking.
    fn stop(&self);
    /// Starts it again on the same data and port; returns once it has been
    /// launched (see [`wait_ready`](Self::wait_ready)). Blocking.
    fn start_again(&self);
    /// Returns once the server accepts connections (polling; panics after
    /// [`READY_WITHIN`]).
    fn wait_ready(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
    /// The plain URL of the server (its test database, for SQL servers).
    fn url(&self) -> String;
}

/// Polls until a sqlx connection of type `C` to `url` opens (and closes);
/// the failure shows the server log in `scratch`.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) async fn sql_ready<C: sqlx::Connection>(
    what: &str,
    url: &str,
    scratch: &crate::process::Scratch,
) {
    let log = || scratch.read("server.log");
    poll_ready(what, url, log, || async {
        C::connect(url).await?.close().await
    })
    .await;
}

/// Polls `connect` (one attempt to connect and close, each given 1 s)
/// until it succeeds.
///
/// # Panics
///
/// After [`READY_WITHIN`], with `what`, `url`, the last attempt and `log`
/// (the server's log).
pub async fn poll_ready<F, Fut, E>(what: &str, url: &str, log: impl Fn() -> String, connect: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Debug,
{
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        match tokio::time::timeout(Duration::from_secs(1), connect()).await {
            Ok(Ok(())) => return,
            other if Instant::now() > deadline => panic!(
                "{what} at {url} did not accept connections within {READY_WITHIN:?}: \
                 {other:?}\n--- server log ---\n{}",
                log()
            ),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}
