//! The deadline on every store call: pool acquire plus statement(s).

use std::future::Future;
use std::time::Duration;

use session_core::Error;

/// How long one store call (waiting for a pooled connection plus running
/// its statements) may take before it fails with [`Error::Timeout`], unless
/// set otherwise (the stores' builders, or `?timeout=` in the URL).
///
/// The same as the Redis store's command timeout
/// (`session_redis::DEFAULT_COMMAND_TIMEOUT`), so that both kinds of store
/// answer alike when their server is gone: the session layer turns the
/// timeout into a 503 about one second after the request needed the
/// store, instead of waiting for the database to come back.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// Runs `call` within `timeout`; past it, the call is dropped (its pooled
/// connection is returned or closed by the pool) and the answer is
/// [`Error::Timeout`].
pub(crate) async fn bounded<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(timeout, call).await {
        Ok(done) => done,
        Err(_elapsed) => Err(Error::Timeout(timeout)),
    }
}

/// Runs `batch` (one `DELETE` of at most [`DELETE_BATCH`](crate::DELETE_BATCH)
/// expired rows, answering how many it removed) until a batch removes
/// fewer, each batch within `timeout`; answers the total.
pub(crate) async fn delete_in_batches<F, Fut>(timeout: Duration, mut batch: F) -> Result<u64, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, Error>>,
{
    let mut removed = 0;
    loop {
        let n = bounded(timeout, batch()).await?;
        removed += n;
        if n < u64::from(crate::DELETE_BATCH) {
            return Ok(removed);
        }
    }
}

/// Checks a configured timeout; `field` names the option in the error.
pub(crate) fn check(field: &'static str, timeout: Duration) -> Result<(), Error> {
    if timeout.is_zero() {
        return Err(Error::config(
            field,
            "must be longer than zero (for example 1s or 500ms)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_call_past_the_deadline_is_a_timeout() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        };
        let err = bounded(Duration::from_millis(50), slow).await.unwrap_err();
        assert!(
            matches!(err, Error::Timeout(t) if t == Duration::from_millis(50)),
            "{err}"
        );
        assert_eq!(bounded(DEFAULT_TIMEOUT, async { Ok(7) }).await.unwrap(), 7);
    }

    #[test]
    fn zero_is_refused_naming_the_field() {
        let err = check("timeout", Duration::ZERO).unwrap_err();
        crate::test_util::assert_config_error(&err, "timeout");
        check("timeout", DEFAULT_TIMEOUT).unwrap();
    }
}
