//! The world of a rotation test: a namespace, the operator watching it, and a counting proxy in
//! front of moto that every store of the test uses, so a test can say how many AWS calls a
//! user's story cost. Shared by `tests/rotation.rs`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::api::Api;
use serde_json::{Value, json};
use stagesync::api::SecretStore;
use stagesync::api::externalsecret::ExternalSecret;
use stagesync::api::shared::VersionTrackingStatus;
use stagesync::controller::ControllerConfig;
use stagesync::store::StorePolicy;

use super::aws_proxy::AwsProxy;
use super::cluster::{OperatorHandle, TestCluster, eventually, test_policy};
use super::moto::moto;
use super::objects::*;

/// How long a wake-up (rather than a retry after backoff) may take.
pub const WAKE: Duration = Duration::from_secs(10);

/// One test's world: a namespace, a proxy in front of moto that every store of the test uses,
/// the operator (its STS endpoint on the proxy too) and an AWS admin client that talks to moto
/// directly, so the proxy counts only the operator's calls.
pub struct Rig {
    pub operator: OperatorHandle,
    pub proxy: AwsProxy,
    pub aws: aws_sdk_secretsmanager::Client,
    pub ns: String,
    pub cluster: TestCluster,
    /// The operator's controller settings (kept by [`Rig::restart_operator`]).
    pub config: ControllerConfig,
}

impl Rig {
    /// A namespace and the operator watching it (plus `more` namespaces), with no store yet.
    pub async fn bare(
        prefix: &str,
        more: usize,
        tune: impl FnOnce(&mut StorePolicy),
        backoff: (Duration, Duration),
    ) -> (Self, Vec<String>) {
        Self::bare_with(prefix, more, tune, |c| {
            c.backoff_base = backoff.0;
            c.backoff_cap = backoff.1;
        })
        .await
    }

    /// Like [`Rig::bare`], with the controller settings tuned by `configure`.
    pub async fn bare_with(
        prefix: &str,
        more: usize,
        tune: impl FnOnce(&mut StorePolicy),
        configure: impl FnOnce(&mut ControllerConfig),
    ) -> (Self, Vec<String>) {
        // The leak scan's subscriber first (it shows ROTATION_TEST_LOG's logs too); outside tests
        // (benchmarks) it installs nothing and this one does.
        super::leak::install();
        if let Ok(filter) = std::env::var("ROTATION_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
        let proxy = AwsProxy::start(&moto().endpoint);
        let cluster = TestCluster::start().await;
        let ns = cluster.namespace(prefix).await;
        let mut extra = Vec::new();
        for i in 0..more {
            extra.push(cluster.namespace(&format!("{prefix}-{i}")).await);
        }
        let mut policy = test_policy(&proxy.endpoint);
        tune(&mut policy);
        let mut config = ControllerConfig {
            backoff_base: QUICK.0,
            backoff_cap: QUICK.1,
            namespaces: std::iter::once(ns.clone())
                .chain(extra.iter().cloned())
                .collect(),
            ..ControllerConfig::default()
        };
        configure(&mut config);
        let operator = cluster.run_operator_with(policy, config.clone());
        let rig = Rig {
            operator,
            config,
            aws: moto().admin_client().await,
            proxy,
            ns,
            cluster,
        };
        (rig, extra)
    }

    /// The usual world: credentials and a SecretStore `aws` (checked every second) through the
    /// proxy, quick retries.
    pub async fn start(prefix: &str, tune: impl FnOnce(&mut StorePolicy)) -> Self {
        Self::configured(prefix, tune, |_| {}).await
    }

    /// The usual world, with the controller settings tuned by `configure`.
    pub async fn configured(
        prefix: &str,
        tune: impl FnOnce(&mut StorePolicy),
        configure: impl FnOnce(&mut ControllerConfig),
    ) -> Self {
        let (rig, _) = Self::bare_with(prefix, 0, tune, configure).await;
        create_credentials(rig.client(), &rig.ns).await;
        rig.store("aws", json!({})).await;
        rig
    }

    pub fn client(&self) -> &kube::Client {
        &self.cluster.client
    }

    /// Stops the operator and starts a new one (empty caches, the cluster as it was).
    pub async fn restart_operator(&mut self) {
        let fresh = self
            .cluster
            .run_operator_with(test_policy(&self.proxy.endpoint), self.config.clone());
        std::mem::replace(&mut self.operator, fresh).stop().await;
    }

    /// Creates a SecretStore on the proxy; `tracking` is its `versionTracking` block (`{}`: the
    /// default).
    pub async fn store(&self, name: &str, tracking: Value) {
        let mut provider = aws_provider(&self.proxy.endpoint, None);
        if tracking != json!({}) {
            provider["aws"]["versionTracking"] = tracking;
        }
        create_store_spec(
            self.client(),
            &self.ns,
            name,
            json!({"provider": provider, "refreshInterval": 1}),
        )
        .await;
    }

    /// The metrics label of a SecretStore of this test.
    pub fn store_label(&self, name: &str) -> String {
        format!("SecretStore/{}/{name}", self.ns)
    }

    /// Reads of values: `GetSecretValue` and `BatchGetSecretValue` requests.
    pub fn value_calls(&self) -> u64 {
        self.proxy.count("GetSecretValue") + self.proxy.count("BatchGetSecretValue")
    }

    /// Metadata calls of the version trackers.
    pub fn check_calls(&self) -> u64 {
        self.proxy.count("ListSecrets") + self.proxy.count("DescribeSecret")
    }

    /// Waits until the trackers made `cycles` more metadata calls: they have looked at AWS
    /// again since now (each cycle of a store with due secrets makes at least one).
    pub async fn cycles(&self, cycles: u64) {
        let start = self.check_calls();
        eventually(WAIT, &format!("{cycles} tracker cycles"), || async move {
            (self.check_calls() >= start + cycles).then_some(())
        })
        .await;
    }

    /// The SecretStore's `status.versionTracking`.
    pub async fn tracking(&self, store: &str) -> Option<VersionTrackingStatus> {
        Api::<SecretStore>::namespaced(self.client().clone(), &self.ns)
            .get_opt(store)
            .await
            .ok()??
            .status?
            .version_tracking
    }

    pub async fn es(&self, name: &str) -> ExternalSecret {
        Api::<ExternalSecret>::namespaced(self.client().clone(), &self.ns)
            .get(name)
            .await
            .unwrap()
    }
}

/// Retries after 200 ms, at most 2 s apart.
pub const QUICK: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(2));
/// Retries so slow that anything within [`WAKE`] must have been a wake-up.
pub const SLOW: (Duration, Duration) = (Duration::from_secs(30), Duration::from_secs(60));

/// An ExternalSecret reading `key` (at `version`, a remoteRef fragment) into key `v`, refreshed
/// every second.
pub fn reads(store: Value, key: &str, version: Value) -> Value {
    let mut remote = json!({"key": key});
    if let (Some(r), Some(v)) = (remote.as_object_mut(), version.as_object()) {
        r.extend(v.clone());
    }
    json!({
        "secretStoreRef": store,
        "refreshInterval": "1s",
        "data": [{"secretKey": "v", "remoteRef": remote}],
    })
}

pub fn current(key: &str) -> Value {
    reads(store_ref(), key, json!({}))
}

/// Asserts that each of these Secrets holds `want` for all of `during`.
pub async fn stay(
    client: &kube::Client,
    ns: &str,
    names: &[&str],
    want: &[(&str, &str)],
    during: Duration,
) {
    let want = expected_data(want);
    let until = Instant::now() + during;
    while Instant::now() < until {
        for name in names {
            let got = secret_data(client, ns, name).await;
            assert_eq!(got.as_ref(), Some(&want), "Secret {ns}/{name} changed");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (at most `timeout`) until a Secret's data equals `want`.
pub async fn wait_data_within(
    client: &kube::Client,
    ns: &str,
    name: &str,
    want: &[(&str, &str)],
    timeout: Duration,
) {
    let want = expected_data(want);
    let what = format!("Secret {ns}/{name} data {want:?}");
    eventually(timeout, &what, || async {
        (secret_data(client, ns, name).await.as_ref() == Some(&want)).then_some(())
    })
    .await;
}

/// The samples of one metric family in OpenMetrics text: (labels, value).
pub fn samples(text: &str, metric: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(metric)?.strip_prefix('{')?;
            let (labels, value) = rest.rsplit_once("} ")?;
            let labels = labels
                .split("\",")
                .filter_map(|kv| {
                    let (k, v) = kv.split_once("=\"")?;
                    Some((k.to_owned(), v.trim_end_matches('"').to_owned()))
                })
                .collect();
            Some((labels, value.trim().parse().ok()?))
        })
        .collect()
}

/// `stagesync_aws_calls_total` of one store, summed over outcomes, by operation.
pub fn metric_calls(text: &str, store: &str) -> BTreeMap<String, u64> {
    let mut by_op = BTreeMap::new();
    for (labels, value) in samples(text, "stagesync_aws_calls_total") {
        if labels.get("store").map(String::as_str) == Some(store) {
            *by_op.entry(labels["operation"].clone()).or_insert(0) += value as u64;
        }
    }
    by_op
}
