//! Server-side apply through kube: ownership, conflicts, force, field removal, create.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::support::{api_err, namespace, start};

fn applied(data: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": data})
}

#[tokio::test]
async fn apply_creates_owns_conflicts_and_forces() {
    let (_fake, client) = start().await;
    namespace(&client, "ssa-a").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "ssa-a");
    let alice = PatchParams::apply("alice");
    let created = api
        .patch(
            "cfg",
            &alice,
            &Patch::Apply(applied(json!({"a": "1", "b": "2"}))),
        )
        .await
        .unwrap();
    assert_eq!(created.data.as_ref().unwrap().len(), 2);
    let mf = created.metadata.managed_fields.unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0].manager.as_deref(), Some("alice"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));

    // Bob applies a different value for a field Alice owns: 409 with the manager named.
    let bob = PatchParams::apply("bob");
    let e = api_err(
        api.patch("cfg", &bob, &Patch::Apply(applied(json!({"a": "9"}))))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert!(
        e.message.contains("conflict with \"alice\""),
        "{}",
        e.message
    );
    assert!(e.message.contains(".data.a"), "{}", e.message);
    // With force Bob takes the field over.
    let forced = api
        .patch(
            "cfg",
            &bob.clone().force(),
            &Patch::Apply(applied(json!({"a": "9"}))),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.as_ref().unwrap()["a"], "9");
    let managers: Vec<_> = forced
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.contains(&"bob".to_string()));

    // Alice re-applies without `b` (and without `a`, now Bob's): `b` is removed.
    let after = api
        .patch("cfg", &alice, &Patch::Apply(applied(json!({}))))
        .await
        .unwrap();
    let data = after.data.unwrap();
    assert!(
        !data.contains_key("b"),
        "field removal by re-apply: {data:?}"
    );
    assert_eq!(data["a"], "9", "Bob's field stays");
}

#[tokio::test]
async fn apply_requires_field_manager_and_tracks_updates() {
    let (_fake, client) = start().await;
    namespace(&client, "ssa-b").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "ssa-b");
    let req = http::Request::patch("/api/v1/namespaces/ssa-b/configmaps/cfg")
        .header("content-type", "application/apply-patch+yaml")
        .body(b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: x\n".to_vec())
        .unwrap();
    let e = api_err(client.request::<ConfigMap>(req).await.unwrap_err());
    assert_eq!(e.code, 400, "{}", e.message);
    assert!(e.message.contains("fieldManager"), "{}", e.message);
    // YAML body with a manager creates the object.
    let req =
        http::Request::patch("/api/v1/namespaces/ssa-b/configmaps/cfg?fieldManager=yaml-tool")
            .header("content-type", "application/apply-patch+yaml")
            .body(
                b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: x\n"
                    .to_vec(),
            )
            .unwrap();
    let cm = client.request::<ConfigMap>(req).await.unwrap();
    assert_eq!(cm.data.unwrap()["a"], "x");
    // A merge patch by another manager is tracked as an Update entry.
    let pp = PatchParams {
        field_manager: Some("editor".into()),
        ..Default::default()
    };
    let patched = api
        .patch("cfg", &pp, &Patch::Merge(json!({"data": {"b": "y"}})))
        .await
        .unwrap();
    let ops: Vec<_> = patched
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|m| {
            (
                m.manager.unwrap_or_default(),
                m.operation.unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        ops.contains(&("yaml-tool".into(), "Apply".into())),
        "{ops:?}"
    );
    assert!(ops.contains(&("editor".into(), "Update".into())), "{ops:?}");
}
