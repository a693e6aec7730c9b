//! Rolling restarts of workloads that opt in by annotation, when — and only when — the data of a
//! Secret they use really changed, and the outcome of each rollout reported back to the
//! ExternalSecrets that wrote those Secrets.
//!
//! - [`usage`]: opt-in annotations and the Secrets a pod template uses (pure).
//! - [`plan`]: data digests, the record kept on each workload, the rollout decision (pure).
//! - [`workload`]: per kind, where the pod template is, how to restart, how far a rollout got.
//! - [`engine`]: the watches, debounce, rate-limited queue and the writes (server-side apply,
//!   field manager `stagesync`), events and metrics.
//!
//! [`RestartHub`] is what the ExternalSecret controller shares with the engine: which Secrets
//! are about to be rewritten (so several Secrets changing together give one rollout, without
//! waiting the whole debounce window), which AWS versions a write moved between (for events),
//! and the rollout outcome per Secret (the `WorkloadsUpdated` condition).

mod engine;
pub mod plan;
pub mod usage;
pub mod workload;

pub use engine::run;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, broadcast};

use crate::resolve::EsRef;

/// Settings of the restart engine.
#[derive(Clone, Debug)]
pub struct RestartConfig {
    /// Watch workloads and restart them at all.
    pub enabled: bool,
    /// Longest wait for more Secrets of one workload to change before its one rollout.
    pub debounce: Duration,
    /// Rollouts started per minute, cluster-wide; the rest wait in order.
    pub max_rollouts_per_minute: u32,
    /// Also honour stakater Reloader's annotations, on Secrets stagesync does not manage too.
    pub reloader_compatible: bool,
    /// Label selector narrowing the unmanaged Secrets watched in Reloader-compatible mode.
    pub reloader_secret_selector: Option<String>,
    /// A rollout not finished this long after stagesync started it is stuck (workloads without
    /// a deadline of their own: StatefulSets, DaemonSets, Rollouts).
    pub rollout_deadline: Duration,
}

impl Default for RestartConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            debounce: Duration::from_secs(5),
            max_rollouts_per_minute: 30,
            reloader_compatible: false,
            reloader_secret_selector: None,
            rollout_deadline: Duration::from_secs(600),
        }
    }
}

/// (namespace, Secret name).
pub type SecretRef = (String, String);

/// How the workloads restarted for one Secret's changes are doing. Entries are
/// "Kind name: detail".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RolloutOutcome {
    /// Workloads whose rollout finished.
    pub finished: Vec<String>,
    /// Workloads still rolling.
    pub in_progress: Vec<String>,
    /// Workloads whose rollout failed or stalled.
    pub stuck: Vec<String>,
}

/// State shared between the ExternalSecret controller and the restart engine.
#[derive(Debug)]
pub struct RestartHub {
    debounce: Duration,
    in_flight: Mutex<HashMap<SecretRef, Instant>>,
    notes: Mutex<HashMap<SecretRef, String>>,
    outcomes: Mutex<HashMap<SecretRef, RolloutOutcome>>,
    settled: Notify,
    es_wakes: broadcast::Sender<EsRef>,
}

impl RestartHub {
    /// A hub; `debounce` bounds how long an expected write holds rollouts back.
    pub fn new(debounce: Duration) -> Self {
        Self {
            debounce,
            in_flight: Mutex::default(),
            notes: Mutex::default(),
            outcomes: Mutex::default(),
            settled: Notify::new(),
            es_wakes: broadcast::channel(1024).0,
        }
    }

    /// A version change was seen for the ExternalSecret writing `secret`: it is about to be
    /// rewritten, so rollouts depending on it wait (at most the debounce window).
    pub fn expect_write(&self, secret: SecretRef) {
        self.in_flight
            .lock()
            .expect("in-flight lock")
            .insert(secret, Instant::now() + self.debounce);
    }

    /// The reconcile of the ExternalSecret writing `secret` is over (written, unchanged or
    /// failed).
    pub fn settled(&self, secret: &SecretRef) {
        if self
            .in_flight
            .lock()
            .expect("in-flight lock")
            .remove(secret)
            .is_some()
        {
            self.settled.notify_one();
        }
    }

    /// A guard that marks `secret` settled when dropped (every way out of a reconcile).
    pub fn settle_on_drop(&self, secret: SecretRef) -> SettleGuard<'_> {
        SettleGuard { hub: self, secret }
    }

    /// Whether a write of `secret` is expected and its wait not over.
    pub fn in_flight(&self, secret: &SecretRef) -> bool {
        let mut map = self.in_flight.lock().expect("in-flight lock");
        match map.get(secret) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                map.remove(secret);
                false
            }
            None => false,
        }
    }

    /// Records which AWS versions the last write of `secret` moved between ("prod/db v1 → v2").
    pub fn note_versions(&self, secret: SecretRef, note: String) {
        self.notes.lock().expect("notes lock").insert(secret, note);
    }

    /// The last version note of `secret`.
    pub fn versions_note(&self, secret: &SecretRef) -> Option<String> {
        self.notes.lock().expect("notes lock").get(secret).cloned()
    }

    /// The rollout outcome of the workloads restarted for `secret`'s changes.
    pub fn outcome(&self, secret: &SecretRef) -> Option<RolloutOutcome> {
        self.outcomes
            .lock()
            .expect("outcomes lock")
            .get(secret)
            .cloned()
    }

    /// Sets (or with `None` clears) an outcome; true when it changed.
    fn set_outcome(&self, secret: &SecretRef, outcome: Option<RolloutOutcome>) -> bool {
        let mut map = self.outcomes.lock().expect("outcomes lock");
        let before = match outcome {
            Some(o) => map.insert(secret.clone(), o.clone()).filter(|b| *b == o),
            None => return map.remove(secret).is_some(),
        };
        before.is_none()
    }

    /// ExternalSecrets to reconcile because the outcome of their workloads changed.
    pub fn es_wakes(&self) -> broadcast::Receiver<EsRef> {
        self.es_wakes.subscribe()
    }

    fn wake(&self, es: EsRef) {
        // No receiver: the controller is not running (tests of the engine alone).
        let _ = self.es_wakes.send(es);
    }

    async fn settled_notified(&self) {
        self.settled.notified().await;
    }
}

/// Marks a Secret settled when dropped.
#[derive(Debug)]
pub struct SettleGuard<'a> {
    hub: &'a RestartHub,
    secret: SecretRef,
}

impl Drop for SettleGuard<'_> {
    fn drop(&mut self) {
        self.hub.settled(&self.secret);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(name: &str) -> SecretRef {
        ("ns".to_owned(), name.to_owned())
    }

    #[test]
    fn expected_writes_hold_until_settled_or_the_window_ends() {
        let hub = RestartHub::new(Duration::from_secs(60));
        hub.expect_write(secret("db"));
        assert!(hub.in_flight(&secret("db")));
        assert!(!hub.in_flight(&secret("api")));
        drop(hub.settle_on_drop(secret("db")));
        assert!(!hub.in_flight(&secret("db")));

        let short = RestartHub::new(Duration::ZERO);
        short.expect_write(secret("db"));
        assert!(!short.in_flight(&secret("db")));
    }

    #[test]
    fn outcome_changes_are_reported_once() {
        let hub = RestartHub::new(Duration::from_secs(5));
        let o = RolloutOutcome {
            in_progress: vec!["Deployment web: 1 of 3 replicas updated".into()],
            ..RolloutOutcome::default()
        };
        assert!(hub.set_outcome(&secret("db"), Some(o.clone())));
        assert!(!hub.set_outcome(&secret("db"), Some(o.clone())));
        assert_eq!(hub.outcome(&secret("db")), Some(o));
        assert!(hub.set_outcome(&secret("db"), None));
        assert!(!hub.set_outcome(&secret("db"), None));
    }
}
