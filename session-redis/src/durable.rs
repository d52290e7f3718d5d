//! Opt-in durable writes: `WAIT <replicas> <ms>` after every write.

use std::time::Duration;

use session_core::Error;

use crate::store::RedisStore;

/// How many replicas must acknowledge a write, and how long to wait for
/// them (see [`RedisStoreBuilder::wait_for_replicas`](crate::RedisStoreBuilder::wait_for_replicas)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Durable {
    pub(crate) replicas: u32,
    pub(crate) timeout: Duration,
}

impl Durable {
    /// Refuses settings that could never work with `command_timeout`.
    pub(crate) fn check(&self, command_timeout: Duration) -> Result<(), Error> {
        if self.replicas == 0 {
            return Err(Error::config(
                "wait_for_replicas",
                "ask for at least 1 replica (or do not call wait_for_replicas)",
            ));
        }
        if self.timeout.is_zero() || self.timeout >= command_timeout {
            return Err(Error::config(
                "wait_for_replicas",
                format!(
                    "the wait must be longer than zero and shorter than the command timeout \
                     ({command_timeout:?}), which bounds it"
                ),
            ));
        }
        Ok(())
    }
}

impl RedisStore {
    /// With durable writes on, waits until enough replicas hold every write
    /// this store's connection made so far (`WAIT`); an error when fewer
    /// acknowledge in time. The write itself stays on the master: a failed
    /// wait does not undo it, it only says it may not survive a failover.
    pub(crate) async fn replicated(&self) -> Result<(), Error> {
        let Some(durable) = self.durable() else {
            return Ok(());
        };
        let mut cmd = redis::cmd("WAIT");
        cmd.arg(durable.replicas)
            .arg(u64::try_from(durable.timeout.as_millis()).unwrap_or(u64::MAX));
        let acked: u32 = self.query(&cmd).await?;
        if acked < durable.replicas {
            return Err(Error::backend(format!(
                "only {acked} of {} replicas acknowledged the write within {:?} (WAIT): it is on \
                 the master but may be lost if the master fails now",
                durable.replicas, durable.timeout
            )));
        }
        Ok(())
    }
}
