//! Requeue delays: exponential backoff with jitter after failures (per object, reset on
//! success), and jittered refresh intervals so thousands of ExternalSecrets created together do
//! not refresh in lockstep.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Above this many tracked objects, entries not refreshed for two caps are dropped: an object
/// still failing fails again within one cap, so only deleted objects age out.
const PRUNE_ABOVE: usize = 1024;

/// Per-object failure counts.
#[derive(Debug)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    /// key → (consecutive failures, time of the last one).
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Backoff {
    /// Backoff doubling from `base` up to `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Records a failure of `key` and returns how long to wait before the next attempt, at least
    /// `at_least` (a backend's Retry-After).
    pub fn failed(&self, key: &str, at_least: Option<Duration>) -> Duration {
        let attempt = {
            let mut failures = self.failures.lock().expect("backoff lock");
            let now = Instant::now();
            let entry = failures.entry(key.to_owned()).or_insert((0, now));
            *entry = (entry.0.saturating_add(1), now);
            let attempt = entry.0;
            if failures.len() > PRUNE_ABOVE {
                let horizon = self.cap * 2;
                failures.retain(|_, (_, last)| now.duration_since(*last) <= horizon);
            }
            attempt
        };
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(20)));
        let delay = jitter(exp.min(self.cap), 0.2).min(self.cap);
        delay.max(at_least.unwrap_or_default())
    }

    /// How many objects are being backed off.
    pub fn tracked(&self) -> usize {
        self.failures.lock().expect("backoff lock").len()
    }

    /// Forgets the failures of `key`.
    pub fn succeeded(&self, key: &str) {
        self.failures.lock().expect("backoff lock").remove(key);
    }
}

/// `d` scaled by a random factor in `[1 - spread, 1 + spread]`.
pub fn jitter(d: Duration, spread: f64) -> Duration {
    let factor = 1.0 - spread + fastrand::f64() * 2.0 * spread;
    d.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_jitter_and_resets() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let delays: Vec<Duration> = (0..10).map(|_| b.failed("ns/a", None)).collect();
        for (i, d) in delays.iter().enumerate().take(5) {
            let nominal = 2f64.powi(i as i32);
            let s = d.as_secs_f64();
            assert!(
                s >= nominal * 0.8 - 1e-9 && s <= nominal * 1.2 + 1e-9,
                "attempt {i}: {s}"
            );
        }
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(60)));
        assert!(
            delays[9] >= Duration::from_secs(48),
            "capped region: {:?}",
            delays[9]
        );
        // Another object has its own count.
        assert!(b.failed("ns/b", None) <= Duration::from_millis(1200));
        b.succeeded("ns/a");
        assert!(b.failed("ns/a", None) <= Duration::from_millis(1200));
    }

    #[test]
    fn entries_of_objects_that_stopped_failing_age_out() {
        let b = Backoff::new(Duration::from_millis(1), Duration::from_millis(5));
        for i in 0..PRUNE_ABOVE {
            b.failed(&format!("deleted/{i}"), None);
        }
        assert_eq!(b.tracked(), PRUNE_ABOVE);
        std::thread::sleep(Duration::from_millis(20));
        b.failed("still/failing", None);
        assert_eq!(b.tracked(), 1, "only the object failing now is kept");
    }

    #[test]
    fn retry_after_is_a_floor() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        assert!(b.failed("k", Some(Duration::from_secs(30))) >= Duration::from_secs(30));
    }
}
