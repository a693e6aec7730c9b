//! What the fault-matrix tests share (`tests/fault_matrix_*.rs`): the rows they measure and
//! the table they render into `docs/reliability.md`, Secrets snapshotted before a fault and
//! compared after it, the operator's requests to the API server counted by the fake, and
//! waiting for every ExternalSecret to be Ready again.
//!
//! Measured times vary from run to run, so the document states checked facts ("≤ bound"): each
//! test asserts the figure it measured is within the bound it prints, and prints the figures
//! themselves on its output.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use apiserver_fake::Faults;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use stagesync::api::externalsecret::ExternalSecret;

use super::objects::WAIT;

/// One row of a fault matrix.
#[derive(Clone, Debug)]
pub struct Row {
    /// The fault.
    pub fault: String,
    /// How long it lasted (and how it was scaled down).
    pub duration: String,
    /// What became of the managed Secrets.
    pub secrets: String,
    /// Every ExternalSecret Ready again, this long after the fault ended.
    pub ready_after: String,
    /// Requests during the fault against their bounds.
    pub rate: String,
    /// The condition reason and event that name the fault.
    pub reported: String,
}

/// The table of `rows`, as markdown (ends with a newline).
pub fn render(rows: &[Row]) -> String {
    let mut out = String::from(
        "| Fault | Duration | Secrets | Ready again after the fault | Requests during the fault | Reason and event |\n\
         |---|---|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.fault, r.duration, r.secrets, r.ready_after, r.rate, r.reported
        ));
    }
    out
}

/// A Secret as it was: data and resourceVersion.
pub type Snapshot = BTreeMap<String, (BTreeMap<String, Vec<u8>>, String)>;

/// The data and resourceVersion of the Secrets `names` of `ns` (missing ones are left out).
pub async fn snapshot(client: &Client, ns: &str, names: &[String]) -> Option<Snapshot> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut out = Snapshot::new();
    for name in names {
        let Some(s) = api.get_opt(name).await.ok()? else {
            continue;
        };
        let data = s
            .data
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        out.insert(
            name.clone(),
            (data, s.resource_version().unwrap_or_default()),
        );
    }
    Some(out)
}

/// Whether a Secret changed between two snapshots (absent from either counts as changed).
pub fn same(before: &Snapshot, after: &Snapshot, name: &str) -> bool {
    before.get(name).is_some() && before.get(name) == after.get(name)
}

/// The user name of the operator's ServiceAccount token on the fake.
pub fn is_operator(user: &str) -> bool {
    user.starts_with("system:serviceaccount:")
}

/// The operator's requests counted by the fake in namespace `ns` (every request when `None`).
pub fn operator_requests(faults: &Faults, ns: Option<&str>) -> u64 {
    faults.count_requests(|k| is_operator(&k.user) && ns.is_none_or(|ns| k.namespace == ns))
}

/// The operator's requests in `ns` between two readings of the fake's counters, by
/// `verb resource` (for the tests' output).
pub fn request_breakdown(
    before: &BTreeMap<apiserver_fake::faults::RequestKey, u64>,
    after: &BTreeMap<apiserver_fake::faults::RequestKey, u64>,
    ns: &str,
) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (k, n) in after {
        if !is_operator(&k.user) || k.namespace != ns {
            continue;
        }
        let d = n - before.get(k).copied().unwrap_or(0);
        if d > 0 {
            *out.entry(format!("{} {}", k.verb, k.resource)).or_default() += d;
        }
    }
    out
}

/// All the operator's requests between two readings of the fake's counters, by
/// `verb resource` (for the tests' output).
pub fn request_breakdown_all(
    before: &BTreeMap<apiserver_fake::faults::RequestKey, u64>,
    after: &BTreeMap<apiserver_fake::faults::RequestKey, u64>,
) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (k, n) in after {
        let d = n - before.get(k).copied().unwrap_or(0);
        if is_operator(&k.user) && d > 0 {
            *out.entry(format!("{} {}", k.verb, k.resource)).or_default() += d;
        }
    }
    out
}

/// What one ExternalSecret should end up with: its name, its Secret's name and data.
#[derive(Clone, Debug)]
pub struct Expected {
    pub es: String,
    pub secret: String,
    pub data: BTreeMap<String, String>,
}

impl Expected {
    /// ExternalSecret `es` writing Secret `es` with one key `v` = `value`.
    pub fn one(es: &str, value: &str) -> Self {
        Self {
            es: es.to_owned(),
            secret: es.to_owned(),
            data: BTreeMap::from([("v".to_owned(), value.to_owned())]),
        }
    }
}

/// Whether every ExternalSecret of `ns` in `want` is `Ready=True` (`SecretSynced`, for its
/// current generation) and its Secret holds the expected data. Errors count as not yet.
pub async fn all_ready(client: &Client, ns: &str, want: &[Expected]) -> bool {
    let ess: Api<ExternalSecret> = Api::namespaced(client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let Ok(listed) = ess.list(&ListParams::default()).await else {
        return false;
    };
    let Ok(written) = secrets.list(&ListParams::default()).await else {
        return false;
    };
    let ready = |name: &str| {
        listed.items.iter().any(|es| {
            es.name_any() == name
                && es.status.as_ref().is_some_and(|s| {
                    s.conditions.iter().any(|c| {
                        c.type_ == "Ready"
                            && c.reason.as_deref() == Some("SecretSynced")
                            && c.observed_generation == es.metadata.generation
                    })
                })
        })
    };
    let holds = |e: &Expected| {
        written.items.iter().any(|s| {
            s.name_any() == e.secret
                && s.data
                    .as_ref()
                    .map(|d| {
                        d.iter()
                            .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
                            .collect::<BTreeMap<_, _>>()
                    })
                    .as_ref()
                    == Some(&e.data)
        })
    };
    want.iter().all(|e| ready(&e.es) && holds(e))
}

/// Waits until [`all_ready`]; returns how long it took (panics after `timeout`).
pub async fn wait_all_ready(
    client: &Client,
    ns: &str,
    want: &[Expected],
    timeout: Duration,
) -> Duration {
    let started = Instant::now();
    let deadline = started + timeout;
    loop {
        if all_ready(client, ns, want).await {
            return started.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "{ns}: not every ExternalSecret Ready with its data within {timeout:?}: {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the ExternalSecret's Ready condition (current generation) has `reason`;
/// returns its (status, message). `None` when `until` passes first.
pub async fn reason_before(
    client: &Client,
    ns: &str,
    name: &str,
    reason: &str,
    until: Instant,
) -> Option<(String, String)> {
    loop {
        if let Some((status, r, message)) = super::objects::ready(client, ns, name).await
            && r == reason
        {
            return Some((status, message));
        }
        if Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The Warning events about `name` whose reason is `reason`: their notes.
pub async fn warnings(client: &Client, ns: &str, name: &str, reason: &str) -> Vec<String> {
    let events = tokio::time::timeout(WAIT, super::objects::typed_events_about(client, ns, name))
        .await
        .expect("events listed");
    events
        .into_iter()
        .filter(|(t, r, _)| t == "Warning" && r == reason)
        .map(|(_, _, note)| note)
        .collect()
}

/// Requests per second, for a table cell.
pub fn per_second(count: u64, during: Duration) -> f64 {
    count as f64 / during.as_secs_f64().max(0.001)
}

/// A bound on a rate for a table cell: `≤ 3/s`, `≤ 0.5/s`.
pub fn rate_bound(bound: f64) -> String {
    if bound.fract() == 0.0 {
        format!("≤ {bound:.0}/s")
    } else {
        format!("≤ {bound}/s")
    }
}

/// One fault's world for the Kubernetes and process matrices: its own API server fake, a
/// counting proxy in front of moto, a namespace with a SecretStore `aws` (on the proxy) and
/// `n` ExternalSecrets `es-<i>` (refreshed every second, each reading its own AWS secret
/// `initial-<i>`), and the operator as a process watching the namespace.
pub struct World {
    pub cluster: super::cluster::TestCluster,
    pub faults: Faults,
    pub proxy: super::aws_proxy::AwsProxy,
    pub aws: aws_sdk_secretsmanager::Client,
    pub ns: String,
    /// The AWS secrets of the ExternalSecrets, by index.
    pub names: Vec<String>,
    /// `stagesync run`'s arguments (for restarts).
    pub args: Vec<String>,
}

impl World {
    /// Sets it all up (`None` on a real cluster: the caller skips); the operator is started
    /// with [`World::operator`].
    pub async fn new(test: &str, prefix: &str, n: usize) -> Option<Self> {
        use super::objects::{create_aws, create_es, create_store};
        let cluster = super::cluster::TestCluster::start().await;
        let faults = cluster.faults(test)?;
        let proxy = super::aws_proxy::AwsProxy::start(&super::moto::moto().endpoint);
        let aws = super::moto::moto().admin_client().await;
        let ns = cluster.namespace(prefix).await;
        create_store(&cluster.client, &ns, &proxy.endpoint).await;
        let mut names = Vec::new();
        for i in 0..n {
            let name = super::unique_name(&format!("fm/{prefix}/{i}"));
            create_aws(&aws, &name, &format!("initial-{i}")).await;
            create_es(&cluster.client, &ns, &format!("es-{i}"), reads(&name)).await;
            names.push(name);
        }
        let args = vec![
            "--namespace".into(),
            ns.clone(),
            "--sts-endpoint".into(),
            proxy.endpoint.clone(),
        ];
        Some(Self {
            cluster,
            faults,
            proxy,
            aws,
            ns,
            names,
            args,
        })
    }

    /// Starts an operator process named `name` with the world's arguments.
    pub fn operator(&self, name: &str) -> super::process::OperatorProcess {
        super::process::OperatorProcess::start(&self.cluster, name, &self.args)
    }

    /// The steady state: every `es-<i>` synced with `initial-<i>`.
    pub fn steady(&self) -> Vec<Expected> {
        (0..self.names.len())
            .map(|i| Expected::one(&format!("es-{i}"), &format!("initial-{i}")))
            .collect()
    }

    /// The names of the steady ExternalSecrets (and their Secrets).
    pub fn es_names(&self) -> Vec<String> {
        (0..self.names.len()).map(|i| format!("es-{i}")).collect()
    }

    /// The user name the operator's requests carry (once it made one).
    pub fn operator_user(&self) -> String {
        self.faults
            .requests()
            .keys()
            .find(|k| is_operator(&k.user))
            .map(|k| k.user.clone())
            .expect("the operator made requests")
    }

    /// AWS calls the operator made so far (on the wire).
    pub fn aws_calls(&self) -> u64 {
        self.proxy.log().len() as u64
    }
}

/// An ExternalSecret reading AWS secret `key` into key `v`, refreshed every second.
pub fn reads(key: &str) -> serde_json::Value {
    serde_json::json!({
        "secretStoreRef": {"name": "aws"},
        "refreshInterval": "1s",
        "data": [{"secretKey": "v", "remoteRef": {"key": key}}],
    })
}
