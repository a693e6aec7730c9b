//! Garbage collection (background, foreground, orphan, dangling owners) and namespace deletion.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, DeleteParams, PostParams, PropagationPolicy};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::support::{eventually, namespace, start};

async fn owner_and_dependents(
    api_cm: &Api<ConfigMap>,
    api_s: &Api<Secret>,
    block: bool,
) -> ConfigMap {
    let owner: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "owner"}})).unwrap();
    let owner = api_cm.create(&PostParams::default(), &owner).await.unwrap();
    let mut oref = owner.controller_owner_ref(&()).unwrap();
    oref.block_owner_deletion = Some(block);
    for i in 0..3 {
        let mut s: Secret =
            serde_json::from_value(json!({"metadata": {"name": format!("dep{i}")}})).unwrap();
        s.metadata.owner_references = Some(vec![oref.clone()]);
        api_s.create(&PostParams::default(), &s).await.unwrap();
    }
    owner
}

async fn count(api: &Api<Secret>) -> usize {
    api.list(&Default::default()).await.unwrap().items.len()
}

#[tokio::test]
async fn background_deletion_collects_dependents() {
    let (_fake, client) = start().await;
    namespace(&client, "gc-a").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "gc-a");
    let secrets: Api<Secret> = Api::namespaced(client, "gc-a");
    owner_and_dependents(&cms, &secrets, false).await;
    cms.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    assert!(
        cms.get_opt("owner").await.unwrap().is_none(),
        "owner gone at once"
    );
    eventually("dependents collected", || async {
        count(&secrets).await == 0
    })
    .await;
}

#[tokio::test]
async fn foreground_deletion_waits_for_blocking_dependents() {
    let (_fake, client) = start().await;
    namespace(&client, "gc-b").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "gc-b");
    let secrets: Api<Secret> = Api::namespaced(client, "gc-b");
    owner_and_dependents(&cms, &secrets, true).await;
    // A finalizer on one dependent keeps it, and so the owner, around.
    let mut held = secrets.get("dep0").await.unwrap();
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    secrets
        .replace("dep0", &PostParams::default(), &held)
        .await
        .unwrap();
    let res = cms
        .delete("owner", &DeleteParams::foreground())
        .await
        .unwrap();
    let owner = res.left().expect("owner returned while dependents remain");
    assert!(
        owner
            .finalizers()
            .contains(&"foregroundDeletion".to_string())
    );
    assert!(owner.metadata.deletion_timestamp.is_some());
    eventually("other dependents deleted", || async {
        count(&secrets).await == 1
    })
    .await;
    assert!(
        cms.get_opt("owner").await.unwrap().is_some(),
        "blocked by dep0"
    );
    let mut held = secrets.get("dep0").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    held.metadata.finalizers = None;
    secrets
        .replace("dep0", &PostParams::default(), &held)
        .await
        .unwrap();
    eventually("owner deleted after its dependents", || async {
        cms.get_opt("owner").await.unwrap().is_none()
    })
    .await;
}

#[tokio::test]
async fn orphan_deletion_strips_owner_references() {
    let (_fake, client) = start().await;
    namespace(&client, "gc-c").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "gc-c");
    let secrets: Api<Secret> = Api::namespaced(client, "gc-c");
    owner_and_dependents(&cms, &secrets, false).await;
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Orphan),
        ..Default::default()
    };
    cms.delete("owner", &dp).await.unwrap();
    eventually("owner deleted", || async {
        cms.get_opt("owner").await.unwrap().is_none()
    })
    .await;
    let left = secrets.list(&Default::default()).await.unwrap().items;
    assert_eq!(left.len(), 3);
    assert!(left.iter().all(|s| s.owner_references().is_empty()));
}

#[tokio::test]
async fn dangling_owner_reference_is_collected() {
    let (_fake, client) = start().await;
    namespace(&client, "gc-d").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "gc-d");
    let secrets: Api<Secret> = Api::namespaced(client, "gc-d");
    let owner = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "live"}})).unwrap(),
        )
        .await
        .unwrap();
    let good = owner.controller_owner_ref(&()).unwrap();
    let mut wrong_uid = good.clone();
    wrong_uid.uid = "00000000-0000-0000-0000-000000000000".into();
    let mut s: Secret = serde_json::from_value(json!({"metadata": {"name": "orphaned"}})).unwrap();
    s.metadata.owner_references = Some(vec![wrong_uid.clone()]);
    secrets.create(&PostParams::default(), &s).await.unwrap();
    // One live owner plus one dangling reference: only the dangling reference goes.
    let mut mixed: Secret = serde_json::from_value(json!({"metadata": {"name": "mixed"}})).unwrap();
    let mut second = good.clone();
    second.controller = Some(false);
    let mut dangling = wrong_uid.clone();
    dangling.controller = Some(false);
    dangling.uid = "11111111-0000-0000-0000-000000000000".into();
    mixed.metadata.owner_references = Some(vec![second, dangling]);
    secrets
        .create(&PostParams::default(), &mixed)
        .await
        .unwrap();
    eventually("dangling dependent collected", || async {
        secrets.get_opt("orphaned").await.unwrap().is_none()
    })
    .await;
    eventually("dangling reference removed", || async {
        secrets.get("mixed").await.unwrap().owner_references().len() == 1
    })
    .await;
    assert_eq!(
        secrets.get("mixed").await.unwrap().owner_references()[0].uid,
        owner.uid().unwrap()
    );
}

#[tokio::test]
async fn namespace_deletion_removes_contents_then_itself() {
    let (_fake, client) = start().await;
    namespace(&client, "gc-e").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "gc-e");
    for i in 0..3 {
        secrets
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": format!("s{i}")}})).unwrap(),
            )
            .await
            .unwrap();
    }
    let mut held: Secret = serde_json::from_value(
        json!({"metadata": {"name": "held", "finalizers": ["example.com/x"]}}),
    )
    .unwrap();
    secrets.create(&PostParams::default(), &held).await.unwrap();
    let nss: Api<Namespace> = Api::all(client.clone());
    let res = nss.delete("gc-e", &DeleteParams::default()).await.unwrap();
    let ns = res.left().expect("namespace returned while terminating");
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    // Creating in a terminating namespace is forbidden.
    let e = secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "late"}})).unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(crate::support::api_err(e).code, 403);
    eventually("contents deleted", || async { count(&secrets).await == 1 }).await;
    assert!(
        nss.get_opt("gc-e").await.unwrap().is_some(),
        "held back by the finalizer"
    );
    held = secrets.get("held").await.unwrap();
    held.metadata.finalizers = None;
    secrets
        .replace("held", &PostParams::default(), &held)
        .await
        .unwrap();
    eventually("namespace gone", || async {
        nss.get_opt("gc-e").await.unwrap().is_none()
    })
    .await;
    let _ = held.meta();
}
