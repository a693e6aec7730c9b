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

#[tokio::test]
async fn apply_merges_keyed_lists_of_builtins() {
    use k8s_openapi::api::apps::v1::Deployment;
    let (_fake, client) = start().await;
    namespace(&client, "ssa-c").await;
    let api: Api<Deployment> = Api::namespaced(client, "ssa-c");
    let deploy = |containers: serde_json::Value| {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {
                "selector": {"matchLabels": {"app": "d"}},
                "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": containers}},
            }
        })
    };
    api.patch(
        "d",
        &PatchParams::apply("app"),
        &Patch::Apply(deploy(json!([{"name": "app", "image": "app:1"}]))),
    )
    .await
    .unwrap();
    // A second manager adds a sidecar: containers merge by name.
    let both = api
        .patch(
            "d",
            &PatchParams::apply("mesh"),
            &Patch::Apply(deploy(json!([{"name": "sidecar", "image": "proxy:1"}]))),
        )
        .await
        .unwrap();
    let names: Vec<String> = both
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, vec!["app", "sidecar"]);
    // Changing the other manager's container image conflicts.
    let e = api_err(
        api.patch(
            "d",
            &PatchParams::apply("mesh"),
            &Patch::Apply(deploy(
                json!([{"name": "sidecar", "image": "proxy:1"}, {"name": "app", "image": "app:2"}]),
            )),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 409);
    assert!(e.message.contains("conflict with \"app\""), "{}", e.message);
    // managedFields in an apply body are rejected.
    let mut bad = deploy(json!([{"name": "app", "image": "app:1"}]));
    bad["metadata"]["managedFields"] = json!([{"manager": "x", "operation": "Apply"}]);
    let e = api_err(
        api.patch("d", &PatchParams::apply("app"), &Patch::Apply(bad))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400, "{}", e.message);
}

#[tokio::test]
async fn apply_to_status_subresource() {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    let (fake, client) = start().await;
    fake.load_crds(std::path::Path::new(crate::support::CRD_FIXTURE))
        .unwrap();
    namespace(&client, "ssa-d").await;
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client, "ssa-d", &ar);
    let w = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}});
    api.patch("w", &PatchParams::apply("user"), &Patch::Apply(w))
        .await
        .unwrap();
    let st = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 9}, "status": {"phase": "Ready"}});
    let out = api
        .patch_status("w", &PatchParams::apply("controller"), &Patch::Apply(st))
        .await
        .unwrap();
    assert_eq!(out.data["status"]["phase"], "Ready");
    assert_eq!(
        out.data["spec"]["size"], 1,
        "spec is not written through /status"
    );
    let mf = out.metadata.managed_fields.unwrap();
    let ctrl = mf
        .iter()
        .find(|m| m.manager.as_deref() == Some("controller"))
        .expect("controller entry");
    assert_eq!(ctrl.subresource.as_deref(), Some("status"));
}

#[tokio::test]
async fn apply_without_a_name_updates_an_existing_object_but_cannot_create_one() {
    // kube-lease-manager applies Lease specs without metadata.name; the API server merges the
    // applied configuration into the live object, whose name it keeps.
    let (_fake, client) = start().await;
    namespace(&client, "ssa-noname").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "ssa-noname");
    let nameless = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}});
    let e = api_err(
        api.patch(
            "cfg",
            &PatchParams::apply("m"),
            &Patch::Apply(nameless.clone()),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 400);
    assert!(
        e.message
            .contains("does not match the name on the URL (cfg)"),
        "{}",
        e.message
    );
    api.patch(
        "cfg",
        &PatchParams::apply("m"),
        &Patch::Apply(applied(json!({"b": "2"}))),
    )
    .await
    .unwrap();
    let updated = api
        .patch("cfg", &PatchParams::apply("m"), &Patch::Apply(nameless))
        .await
        .unwrap();
    assert_eq!(updated.metadata.name.as_deref(), Some("cfg"));
    assert_eq!(updated.data.unwrap()["a"], "1");
    // A different name is still refused.
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    assert_eq!(
        api_err(
            api.patch("cfg", &PatchParams::apply("m"), &Patch::Apply(other))
                .await
                .unwrap_err()
        )
        .code,
        400
    );
}
