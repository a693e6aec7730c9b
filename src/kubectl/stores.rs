//! The stores an ExternalSecret reads through, as `status` shows them: ready or not, the
//! version tracker's mode and last cycle, and what that costs per month.
//!
//! The monthly estimate assumes every tracked secret falls due once per cycle, and a cycle
//! comes once per the shortest refresh interval among the store's ExternalSecrets (the tracker
//! checks a secret every shortest interval of its readers, `resolve::tracker`): calls of the
//! last cycle × cycles in 30 days × $0.05 per 10,000 calls (`metrics::DOLLARS_PER_CALL`). The
//! operator's own estimate, from the call rate it measured over the last ten minutes, is shown
//! beside it in `-o json|yaml`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kube::{Api, Client, ResourceExt};
use serde::Serialize;

use super::status::ConditionSummary;
use crate::api::externalsecret::{SecretStoreRef, StoreKind};
use crate::api::reason::CONDITION_READY;
use crate::api::shared::SecretStoreStatus;
use crate::api::{ClusterSecretStore, ExternalSecret, SecretStore};
use crate::controller::ControllerConfig;
use crate::controller::externalsecret::refresh_every;
use crate::metrics::DOLLARS_PER_CALL;

/// Seconds in the 30-day month of the estimate.
const MONTH_SECONDS: f64 = 30.0 * 86_400.0;

/// How the monthly estimate is made, for the reader of the output.
pub const COST_BASIS: &str = "est. $/month = calls last cycle × cycles in 30 days (one cycle per CYCLE, the shortest refreshInterval of the store's ExternalSecrets) × $0.05 per 10,000 calls";

/// A store, as an ExternalSecret references it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct StoreKey {
    /// `SecretStore` or `ClusterSecretStore`.
    pub kind: String,
    /// The namespace of a SecretStore.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
}

impl StoreKey {
    /// The store `reference` of `es` points at.
    pub fn of(es: &ExternalSecret, reference: &SecretStoreRef) -> Self {
        match reference.kind {
            StoreKind::SecretStore => Self {
                kind: "SecretStore".into(),
                namespace: es.namespace(),
                name: reference.name.clone(),
            },
            StoreKind::ClusterSecretStore => Self {
                kind: "ClusterSecretStore".into(),
                namespace: None,
                name: reference.name.clone(),
            },
        }
    }

    /// `Kind/name`, as shown.
    pub fn display(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// One store.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StoreStatus {
    /// Which store.
    #[serde(flatten)]
    pub key: StoreKey,
    /// Whether it exists (`None`: it could not be read).
    pub found: Option<bool>,
    /// Its `Ready` condition.
    pub ready: Option<ConditionSummary>,
    /// The tracker's configured mode (`List` or `Describe`).
    pub mode: Option<String>,
    /// How the last cycle checked versions.
    pub strategy: Option<String>,
    /// Remote secrets tracked.
    pub tracked_secrets: Option<i64>,
    /// AWS calls of the last cycle that made calls, by operation.
    pub last_cycle_calls: BTreeMap<String, i64>,
    /// Their sum.
    pub calls_last_cycle: i64,
    /// The shortest refresh interval of the store's periodic ExternalSecrets seen.
    pub cycle_seconds: Option<u64>,
    /// This plugin's estimate (see [`COST_BASIS`]), in US dollars.
    pub estimated_monthly_cost_usd: Option<String>,
    /// The operator's estimate at the call rate of its last ten minutes.
    pub operator_estimated_monthly_cost_usd: Option<String>,
}

impl StoreStatus {
    /// A store that is missing or not Ready.
    pub fn has_problems(&self) -> bool {
        self.found == Some(false)
            || (self.found == Some(true) && self.ready.as_ref().is_none_or(|r| r.status != "True"))
    }
}

/// Dollars per 30-day month for `calls` per cycle, one cycle every `cycle`.
pub fn monthly_cost(calls: i64, cycle: Duration) -> f64 {
    let cycles = MONTH_SECONDS / cycle.as_secs_f64().max(1.0);
    calls.max(0) as f64 * cycles * DOLLARS_PER_CALL
}

/// The stores `shown` reference; `all` (every ExternalSecret listed) gives their cycle.
pub(super) async fn gather_stores(
    client: &Client,
    shown: &[&ExternalSecret],
    all: &[ExternalSecret],
    notes: &mut BTreeSet<String>,
) -> Vec<StoreStatus> {
    let keys: BTreeSet<StoreKey> = shown
        .iter()
        .map(|es| StoreKey::of(es, &es.spec.secret_store_ref))
        .collect();
    let default_interval = ControllerConfig::default().default_refresh_interval;
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let read = match (&key.kind[..], &key.namespace) {
            ("SecretStore", Some(ns)) => Api::<SecretStore>::namespaced(client.clone(), ns)
                .get_opt(&key.name)
                .await
                .map(|s| s.map(|s| s.status)),
            _ => Api::<ClusterSecretStore>::all(client.clone())
                .get_opt(&key.name)
                .await
                .map(|s| s.map(|s| s.status)),
        };
        let (found, status) = match read {
            Ok(Some(status)) => (Some(true), status.unwrap_or_default()),
            Ok(None) => (Some(false), SecretStoreStatus::default()),
            Err(e) => {
                notes.insert(format!("{} could not be read: {e}", key.display()));
                (None, SecretStoreStatus::default())
            }
        };
        let cycle = all
            .iter()
            .filter(|es| StoreKey::of(es, &es.spec.secret_store_ref) == key)
            .filter_map(|es| refresh_every(&es.spec, default_interval))
            .min();
        out.push(store_status(key, found, &status, cycle));
    }
    out
}

fn store_status(
    key: StoreKey,
    found: Option<bool>,
    status: &SecretStoreStatus,
    cycle: Option<Duration>,
) -> StoreStatus {
    let tracking = status.version_tracking.as_ref();
    let last_cycle_calls = tracking
        .map(|t| t.last_cycle_calls.clone())
        .unwrap_or_default();
    let calls_last_cycle = last_cycle_calls.values().sum();
    StoreStatus {
        key,
        found,
        ready: ConditionSummary::of(&status.conditions, CONDITION_READY),
        mode: tracking.map(|t| t.mode.clone()),
        strategy: tracking.map(|t| t.strategy.clone()),
        tracked_secrets: tracking.map(|t| t.tracked_secrets),
        last_cycle_calls,
        calls_last_cycle,
        cycle_seconds: cycle.map(|c| c.as_secs()),
        estimated_monthly_cost_usd: tracking
            .zip(cycle)
            .map(|(_, c)| format!("{:.4}", monthly_cost(calls_last_cycle, c))),
        operator_estimated_monthly_cost_usd: tracking.map(|t| t.estimated_monthly_cost_usd.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monthly_cost_is_calls_per_cycle_times_cycles_per_month() {
        // 2 calls an hour: 1,440 calls in 30 days, $0.0072 at $0.05 per 10,000.
        let cost = monthly_cost(2, Duration::from_secs(3600));
        assert!((cost - 0.0072).abs() < 1e-12, "{cost}");
        // One ListSecrets page a minute.
        let cost = monthly_cost(1, Duration::from_secs(60));
        assert!((cost - 43_200.0 * DOLLARS_PER_CALL).abs() < 1e-12, "{cost}");
        assert_eq!(monthly_cost(0, Duration::from_secs(1)), 0.0);
    }

    #[test]
    fn a_store_without_a_periodic_reader_has_no_estimate() {
        let status = SecretStoreStatus {
            version_tracking: Some(crate::api::shared::VersionTrackingStatus {
                mode: "Describe".into(),
                strategy: "DescribeSecret".into(),
                tracked_secrets: 2,
                last_cycle_calls: BTreeMap::from([("DescribeSecret".into(), 2)]),
                estimated_monthly_cost_usd: "0.0100".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let key = StoreKey {
            kind: "SecretStore".into(),
            namespace: Some("team".into()),
            name: "aws".into(),
        };
        let none = store_status(key.clone(), Some(true), &status, None);
        assert_eq!(none.calls_last_cycle, 2);
        assert_eq!(none.estimated_monthly_cost_usd, None);
        let hourly = store_status(key, Some(true), &status, Some(Duration::from_secs(3600)));
        assert_eq!(hourly.estimated_monthly_cost_usd.as_deref(), Some("0.0072"));
        assert_eq!(
            hourly.operator_estimated_monthly_cost_usd.as_deref(),
            Some("0.0100")
        );
        assert!(hourly.has_problems(), "no Ready condition yet");
    }
}
