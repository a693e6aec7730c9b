//! The chart's RBAC is least privilege, proven on the API server fake (which enforces RBAC for
//! ServiceAccount tokens as the real authorizer does): one scenario exercises everything the
//! operator does — stores and their status, ClusterSecretStore admission, templateFrom
//! ConfigMaps, creating, merging into and deleting Secrets, finalizers, events and their series,
//! workload restarts of every kind, the leader Lease — and passes as the chart's ServiceAccount
//! with exactly the rendered rules; dropping any one rendered rule makes it fail.
//!
//! (Every other operator test runs as that ServiceAccount too: see `tests/support/cluster.rs`.)

mod support;

use std::time::Duration;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::DeleteParams;
use serde_json::{Value, json};
use stagesync::api::externalsecret::ExternalSecret;
use stagesync::controller::{Context, ControllerConfig};
use stagesync::leader::{LeaderConfig, run_elected};
use stagesync::metrics::Metrics;
use stagesync::restart::workload::Kind;
use stagesync::store::{StoreRegistry, aws_backend_factory};
use support::aws_proxy::AwsProxy;
use support::chart::{operator_rbac, rule_positions, without_rule};
use support::cluster::{TestCluster, test_policy};
use support::moto::moto;
use support::objects::*;
use support::unique_name;
use support::workloads::*;

/// How long each step of the scenario may take.
const STEP: Duration = Duration::from_secs(20);

/// Polls `check` until it gives `Some` or `STEP` passes.
async fn within<T, F, Fut>(what: &str, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("{what}: not within {STEP:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The operator as the chart runs it: leader election on the chart's Lease, then the
/// controllers, all with the operator's own client (the chart's ServiceAccount).
fn start_operator(cluster: &TestCluster, proxy: &AwsProxy) -> tokio::sync::oneshot::Sender<()> {
    let client = cluster.operator_client.clone();
    let metrics = std::sync::Arc::new(Metrics::default());
    let stores = StoreRegistry::new(
        client.clone(),
        test_policy(&proxy.endpoint),
        aws_backend_factory(),
        metrics.clone(),
    );
    let config = ControllerConfig {
        backoff_base: Duration::from_millis(200),
        backoff_cap: Duration::from_secs(2),
        ..ControllerConfig::default()
    };
    let ctx = std::sync::Arc::new(Context::new(
        client.clone(),
        stores,
        config,
        metrics.clone(),
    ));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = stopped.map(|_| ()).boxed().shared();
    let leader = LeaderConfig {
        enabled: true,
        namespace: support::chart::NAMESPACE.to_owned(),
        lease_name: "stagesync".to_owned(),
        lease_duration: Duration::from_secs(5),
        identity: unique_name("rbac-operator"),
    };
    let ready = ctx.ready.clone();
    tokio::spawn(async move {
        let _ = run_elected(
            client,
            leader,
            ready,
            move |l| metrics.set_leader(l),
            shutdown,
            |stop| stagesync::controller::run(ctx, stop),
        )
        .await;
    });
    stop
}

/// Everything the operator does, step by step; the first step that does not happen is the
/// error.
async fn scenario(cluster: &TestCluster) -> Result<(), String> {
    let client = &cluster.client;
    let proxy = AwsProxy::start(&moto().endpoint);
    let aws = moto().admin_client().await;
    let ns = cluster.namespace("rbac").await;
    install_rollout_crd(client).await;
    // Stores: a SecretStore, and a ClusterSecretStore admitting the namespace by name.
    create_credentials(client, &ns).await;
    create_store_with(client, &ns, "aws", aws_provider(&proxy.endpoint, None)).await;
    let css = unique_name("rbac-css").replace('/', "-");
    create_cluster_store(
        client,
        &css,
        json!({"provider": aws_provider(&proxy.endpoint, Some(&ns)), "conditions": [{"namespaces": [ns]}]}),
    )
    .await;
    let key = unique_name("rbac/db");
    let v1 = create_aws(&aws, &key, "one").await;
    // A templateFrom ConfigMap.
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), &ns);
    cms.create(
        &Default::default(),
        &serde_json::from_value(json!({"metadata": {"name": "tpl"}, "data": {"t": "pw={{ .v }}"}}))
            .unwrap(),
    )
    .await
    .map_err(|e| e.to_string())?;
    // A Secret someone else owns, to merge into.
    create_secret(client, &ns, "shared", json!({"theirs": "x"})).await;
    let _stop = start_operator(cluster, &proxy);

    // Through the ClusterSecretStore, templated, deleted with its AWS secret.
    create_es(
        client,
        &ns,
        "db",
        json!({
            "secretStoreRef": {"name": css, "kind": "ClusterSecretStore"},
            "refreshInterval": "1s",
            "target": {"deletionPolicy": "Delete", "template": {"mergePolicy": "Merge", "templateFrom": [{"configMap": {"name": "tpl", "items": [{"key": "t"}]}}]}},
            "data": [{"secretKey": "v", "remoteRef": {"key": key}}],
        }),
    )
    .await;
    within(
        "the Secret written through the ClusterSecretStore",
        || async {
            (secret_data(client, &ns, "db").await?
                == expected_data(&[("v", "one"), ("t", "pw=one")]))
            .then_some(())
        },
    )
    .await?;
    within("a Created event on the ExternalSecret", || async {
        typed_events_about(client, &ns, "db")
            .await
            .into_iter()
            .find(|e| e.1 == "Created")
    })
    .await?;
    within("the SecretStore Ready", || async {
        let s = Api::<stagesync::api::SecretStore>::namespaced(client.clone(), &ns)
            .get("aws")
            .await
            .ok()?;
        s.status?
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && format!("{:?}", c.status) == "True")
            .then_some(())
    })
    .await?;
    within("the ClusterSecretStore Ready", || async {
        let s = Api::<stagesync::api::ClusterSecretStore>::all(client.clone())
            .get(&css)
            .await
            .ok()?;
        s.status?
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && format!("{:?}", c.status) == "True")
            .then_some(())
    })
    .await?;

    // Merging into someone else's Secret: a finalizer on the ExternalSecret, a patch of the Secret.
    create_es(
        client,
        &ns,
        "merger",
        json!({
            "secretStoreRef": {"name": "aws"},
            "refreshInterval": "1s",
            "target": {"name": "shared", "creationPolicy": "Merge"},
            "data": [{"secretKey": "mine", "remoteRef": {"key": key}}],
        }),
    )
    .await;
    within("the merged key", || async {
        (secret_data(client, &ns, "shared").await?
            == expected_data(&[("theirs", "x"), ("mine", "one")]))
        .then_some(())
    })
    .await?;
    within("the merge finalizer", || async {
        let es = Api::<ExternalSecret>::namespaced(client.clone(), &ns)
            .get("merger")
            .await
            .ok()?;
        (!es.metadata.finalizers.unwrap_or_default().is_empty()).then_some(())
    })
    .await?;

    // A repeated warning: the event series is patched.
    create_es(client, &ns, "broken", json!({"secretStoreRef": {"name": "missing"}, "data": [{"secretKey": "v", "remoteRef": {"key": key}}]})).await;
    within("a repeated StoreNotFound event series", || async {
        let events = Api::<Event>::namespaced(client.clone(), &ns)
            .list(&Default::default())
            .await
            .ok()?;
        events
            .items
            .into_iter()
            .any(|e| {
                e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("broken")
                    && e.series.as_ref().is_some_and(|s| s.count >= 2)
            })
            .then_some(())
    })
    .await?;

    // Restarts of every kind.
    let kinds = [
        (Kind::Deployment, "env"),
        (Kind::CronJob, "volume"),
        (Kind::Rollout, "envFrom"),
    ];
    for (kind, form) in kinds {
        let name = kind.as_str().to_lowercase();
        create(
            client,
            &ns,
            kind,
            workload(
                kind,
                &name,
                json!({"stagesync.io/reload": "true"}),
                pod_template(form, "db", false),
            ),
        )
        .await;
    }
    for (kind, _) in kinds {
        let name = kind.as_str().to_lowercase();
        within(&format!("{name} recorded"), || async {
            get(client, &ns, kind, &name)
                .await
                .metadata
                .annotations?
                .get("stagesync.io/secrets-seen")
                .cloned()
        })
        .await?;
    }
    promote(&aws, &key, &v1, &stage_pending(&aws, &key, "two").await).await;
    for (kind, _) in kinds {
        let name = kind.as_str().to_lowercase();
        within(&format!("{name} restarted"), || async {
            restart_mark(kind, &get(client, &ns, kind, &name).await)
        })
        .await?;
    }

    // The AWS secret goes: deletionPolicy Delete deletes the Secret.
    aws.delete_secret()
        .secret_id(&key)
        .force_delete_without_recovery(true)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    within("the Secret deleted", || async {
        Api::<Secret>::namespaced(client.clone(), &ns)
            .get_opt("db")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await?;
    // Deleting the merging ExternalSecret removes its key and its finalizer.
    Api::<ExternalSecret>::namespaced(client.clone(), &ns)
        .delete("merger", &DeleteParams::default())
        .await
        .map_err(|e| e.to_string())?;
    within("the merged key removed", || async {
        (secret_data(client, &ns, "shared").await? == expected_data(&[("theirs", "x")]))
            .then_some(())
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn the_chart_rules_suffice_for_everything_the_operator_does() {
    let cluster = TestCluster::start().await;
    if cluster
        .faults(
            "the_chart_rules_suffice (RBAC runs as the kubeconfig's identity on a real cluster)",
        )
        .is_none()
    {
        return;
    }
    scenario(&cluster).await.unwrap();
}

#[tokio::test]
async fn dropping_any_rendered_rule_breaks_the_operator() {
    if std::env::var_os(support::cluster::E2E_KUBECONFIG).is_some() {
        eprintln!("SKIPPED dropping_any_rendered_rule: needs the API server fake's RBAC");
        return;
    }
    let rbac = operator_rbac();
    let positions = rule_positions(rbac);
    assert!(
        positions.len() >= 15,
        "the chart renders every rule: {}",
        positions.len()
    );
    let results: Vec<((usize, usize), Result<(), String>)> = futures::stream::iter(positions)
        .map(|at| async move {
            let cluster = TestCluster::start_with_rbac(Some(without_rule(rbac, at))).await;
            (at, scenario(&cluster).await)
        })
        .buffer_unordered(6)
        .collect()
        .await;
    let unneeded: Vec<Value> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|((o, r), _)| {
            json!({"role": rbac[*o]["metadata"]["name"], "rule": rbac[*o]["rules"][*r]})
        })
        .collect();
    assert!(unneeded.is_empty(), "rules nothing needs: {unneeded:#?}");
    for ((o, r), result) in &results {
        eprintln!(
            "without {} rule {r}: {}",
            rbac[*o]["metadata"]["name"],
            result.as_ref().unwrap_err()
        );
    }
}
