//! The background task that removes expired records and, on request, gives
//! memory back once a burst is over.

use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::{Duration, SystemTime};

use session_core::record::unix_ms;

use crate::release;
use crate::store::Inner;
use crate::SWEEP_BATCH;

/// A release needs the store to have shrunk by at least this many records.
const RELEASE_MIN: usize = 4096;

/// Aborts the sweeping task when the last store clone goes away.
pub(crate) struct Sweeper(pub(crate) tokio::task::AbortHandle);

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the sweeper remembers between sweeps to decide when to give memory
/// back: the most records held since the last release, how many were left
/// after the previous sweep, and whether a release is owed a follow-up.
#[derive(Debug, Default)]
struct ReleaseGate {
    high: usize,
    after_last_sweep: usize,
    follow_up: bool,
}

impl ReleaseGate {
    /// Records one sweep that went from `before` to `after` records;
    /// `true` when memory should be released now.
    ///
    /// A release comes when the store holds at most half of its high-water
    /// mark, at least [`RELEASE_MIN`] records fewer, and is not still
    /// growing (fewer records arrived since the previous sweep than an
    /// eighth of the mark). During a steady storm each sweep halves the
    /// store too, but as many records arrive again by the next, and their
    /// memory is reused rather than given back and asked for anew.
    ///
    /// The first sweep after a release that removes anything releases once
    /// more: the last records of a burst, still live at the first release,
    /// are scattered over the burst's memory and keep many of its pages in
    /// use until they go.
    fn should_release(&mut self, before: usize, after: usize) -> bool {
        self.high = self.high.max(before);
        let arrived = before.saturating_sub(self.after_last_sweep);
        self.after_last_sweep = after;
        if self.follow_up && after < before {
            self.follow_up = false;
            self.high = after;
            return true;
        }
        let release =
            after <= self.high / 2 && self.high - after >= RELEASE_MIN && arrived <= self.high / 8;
        if release {
            self.high = after;
            self.follow_up = true;
        }
        release
    }
}

/// Sweeps every `every` until the store is gone.
pub(crate) async fn sweep_loop(inner: Weak<Inner>, every: Duration, release: bool) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut gate = ReleaseGate::default();
    loop {
        ticks.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let before = inner.shared.len.load(Ordering::Relaxed);
        let now_ms = unix_ms(SystemTime::now());
        for i in 0..inner.shards.len() {
            // One batch at a time, yielding in between: the sweeper shares
            // the runtime's threads with the requests, and a burst's sweep
            // must not hold one of them for long.
            while inner.sweep_shard(i, now_ms) == SWEEP_BATCH {
                tokio::task::yield_now().await;
            }
        }
        let after = inner.shared.len.load(Ordering::Relaxed);
        if release && gate.should_release(before, after) {
            inner.shrink();
            drop(inner);
            // A panic there would only mean no memory was returned.
            let _ = tokio::task::spawn_blocking(release::release_freed_memory).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_released_once_a_burst_is_over_not_during_it() {
        let mut gate = ReleaseGate::default();
        // A steady storm: 100k records arrive per interval, half expire.
        assert!(
            !gate.should_release(100_000, 50_000),
            "released on the first sweep"
        );
        for _ in 0..10 {
            assert!(
                !gate.should_release(150_000, 75_000),
                "released during the storm"
            );
        }
        // The storm is over: nothing arrives, most expires; then the rest.
        assert!(
            gate.should_release(75_000, 2_000),
            "kept the storm's memory"
        );
        assert!(
            !gate.should_release(2_000, 2_000),
            "released with nothing swept"
        );
        assert!(
            gate.should_release(2_000, 0),
            "no follow-up for the burst's last records"
        );
        assert!(
            !gate.should_release(0, 0),
            "released again with nothing to release"
        );
        assert!(
            !gate.should_release(10, 0),
            "a trickle after the burst released again"
        );
        // Traffic drops to a trickle rather than to nothing.
        let mut gate = ReleaseGate::default();
        assert!(!gate.should_release(100_000, 50_000));
        assert!(
            gate.should_release(51_000, 1_000),
            "a trickle kept the memory"
        );
        // Small stores never bother.
        let mut gate = ReleaseGate::default();
        assert!(!gate.should_release(3_000, 0));
    }
}
