//! The operator survives API server faults (the fake's fault injection; skipped on a real
//! cluster): errors on writes, dropped and expired watches, a restarting API server.

mod support;

use std::time::Duration;

use apiserver_fake::FaultRule;
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
