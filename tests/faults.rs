//! The operator survives API server faults (the fake's fault injection; skipped on a real
//! cluster): errors on writes, dropped and expired watches, a restarting API server, a stale
//! cache.

mod support;

use std::time::Duration;

use apiserver_fake::FaultRule;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use support::cluster::{TestCluster, test_policy};
use support::moto::moto;
use support::objects::*;
use support::unique_name;

#[tokio::test]
async fn secret_writes_failing_for_a_while_are_retried_until_they_land() {
    let m = moto();
    let cluster = TestCluster::start().await;
    let Some(faults) =
        cluster.faults("secret_writes_failing_for_a_while_are_retried_until_they_land")
    else {
        return;
    };
    let ns = cluster.namespace("fault-write").await;
    create_store(&cluster.client, &ns, &m.endpoint).await;
    let aws = m.admin_client().await;
    let key = unique_name("fault/write");
    create_aws(&aws, &key, "eventually-written").await;
    for status in [500, 503, 429] {
        faults.add(FaultRule {
            verb: Some("patch".into()),
            resource: Some("secrets".into()),
            namespace: Some(ns.clone()),
            status: Some(status),
            times: Some(1),
            ..Default::default()
        });
    }
    let _operator = cluster.run_operator(test_policy(&m.endpoint));
    create_es(
        &cluster.client,
        &ns,
        "w",
        json!({
            "secretStoreRef": {"name": "aws"},
            "data": [{"secretKey": "v", "remoteRef": {"key": key}}],
        }),
    )
    .await;
    wait_data(&cluster.client, &ns, "w", &[("v", "eventually-written")]).await;
    wait_reason(&cluster.client, &ns, "w", "SecretSynced").await;
}

#[tokio::test]
async fn dropped_and_expired_watches_and_a_restart_do_not_stop_the_operator() {
    let m = moto();
    let cluster = TestCluster::start_without_operator_identity().await;
    let Some(faults) =
        cluster.faults("dropped_and_expired_watches_and_a_restart_do_not_stop_the_operator")
    else {
        return;
    };
    let ns = cluster.namespace("fault-watch").await;
    create_store(&cluster.client, &ns, &m.endpoint).await;
    let aws = m.admin_client().await;
    let key = unique_name("fault/watch");
    create_aws(&aws, &key, r#"{"a":"1","b":"2"}"#).await;
    let _operator = cluster.run_operator(test_policy(&m.endpoint));
    create_es(
        &cluster.client,
        &ns,
        "w",
        json!({
            "secretStoreRef": {"name": "aws"},
            "data": [{"secretKey": "a", "remoteRef": {"key": key, "property": "a"}}],
        }),
    )
    .await;
    wait_data(&cluster.client, &ns, "w", &[("a", "1")]).await;

    // Watches of ExternalSecrets are dropped, then answered 410 Gone once.
    faults.add(FaultRule {
        verb: Some("watch".into()),
        resource: Some("externalsecrets".into()),
        drop_watch_after_events: Some(0),
        times: Some(2),
        ..Default::default()
    });
    faults.add(FaultRule {
        verb: Some("watch".into()),
        resource: Some("externalsecrets".into()),
        watch_gone: Some(true),
        times: Some(1),
        ..Default::default()
    });
    // The API server "restarts": connections refused for a second.
    faults.refuse_connections(Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // A spec change made after all that is still seen and applied.
    apply_es_spec(
        &cluster.client,
        &ns,
        "w",
        json!({
            "secretStoreRef": {"name": "aws"},
            "data": [
                {"secretKey": "a", "remoteRef": {"key": key, "property": "a"}},
                {"secretKey": "b", "remoteRef": {"key": key, "property": "b"}},
            ],
        }),
    )
    .await;
    wait_data(&cluster.client, &ns, "w", &[("a", "1"), ("b", "2")]).await;
}

#[tokio::test]
async fn a_stale_copy_of_a_deleted_external_secret_does_not_recreate_its_secret() {
    let m = moto();
    let cluster = TestCluster::start().await;
    let Some(faults) =
        cluster.faults("a_stale_copy_of_a_deleted_external_secret_does_not_recreate_its_secret")
    else {
        return;
    };
    let ns = cluster.namespace("fault-stale").await;
    create_store(&cluster.client, &ns, &m.endpoint).await;
    let aws = m.admin_client().await;
    let key = unique_name("fault/stale");
    create_aws(&aws, &key, "stale-value").await;
    let _operator = cluster.run_operator(test_policy(&m.endpoint));
    let spec = json!({
        "secretStoreRef": {"name": "aws"},
        "data": [{"secretKey": "v", "remoteRef": {"key": key}}],
    });
    create_es(&cluster.client, &ns, "gone", spec).await;
    wait_data(&cluster.client, &ns, "gone", &[("v", "stale-value")]).await;

    // The operator stops seeing ExternalSecrets (its watches end and cannot start again), then
    // the ExternalSecret is deleted without its finalizer: the operator's copy is stale.
    let watches = || {
        faults.count_requests(|k| {
            k.user.starts_with("system:serviceaccount:")
                && k.resource == "externalsecrets"
                && k.verb == "watch"
        })
    };
    let watched = watches();
    faults.add(FaultRule {
        verb: Some("watch".into()),
        resource: Some("externalsecrets".into()),
        status: Some(503),
        ..Default::default()
    });
    faults.end_watches();
    support::cluster::eventually(WAIT, "a watch of ExternalSecrets refused", || async {
        (watches() > watched).then_some(())
    })
    .await;
    let api = Api::<stagesync::api::ExternalSecret>::namespaced(cluster.client.clone(), &ns);
    let no_finalizers = json!({"metadata": {"finalizers": null}});
    api.patch(
        "gone",
        &PatchParams::default(),
        &Patch::Merge(&no_finalizers),
    )
    .await
    .expect("finalizer removed");
    api.delete("gone", &Default::default())
        .await
        .expect("deleted");
    let operator_writes = || {
        faults.count_requests(|k| {
            k.user.starts_with("system:serviceaccount:")
                && k.namespace == ns
                && k.resource == "secrets"
                && matches!(k.verb.as_str(), "create" | "update" | "patch")
        })
    };
    let looked_up = || {
        faults.count_requests(|k| {
            k.user.starts_with("system:serviceaccount:")
                && k.namespace == ns
                && k.resource == "externalsecrets"
                && k.verb == "get"
        })
    };
    let writes = operator_writes();
    let lookups = looked_up();

    // Garbage collection deletes the Secret (its owner is gone); that deletion wakes the stale
    // copy, which finds the Secret missing. It looks the ExternalSecret up before creating.
    let secrets = Api::<Secret>::namespaced(cluster.client.clone(), &ns);
    support::cluster::eventually(WAIT, "the Secret collected", || async {
        secrets
            .get_opt("gone")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    support::cluster::eventually(WAIT, "the stale copy reconciled", || async {
        (looked_up() > lookups || operator_writes() > writes).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        operator_writes(),
        writes,
        "the stale copy wrote its Secret again"
    );
    assert!(secrets.get_opt("gone").await.unwrap().is_none());
    faults.clear();
}
