//! Custom resources: CRD lifecycle, schema validation (422), defaulting, pruning, status
//! subresource, generation, Table printer columns, 415 for strategic merge patch.

use std::path::Path;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::discovery::Discovery;
use serde_json::json;

use crate::support::{CRD_FIXTURE, api_err, eventually, namespace, start};

fn widget_ar() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    )
}

fn widget(name: &str, spec: serde_json::Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": name}, "spec": spec,
    }))
    .unwrap()
}

#[tokio::test]
async fn crd_established_and_discoverable() {
    let (fake, client) = start().await;
    assert_eq!(fake.load_crds(Path::new(CRD_FIXTURE)).unwrap(), 2);
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = crds.get("widgets.example.com").await.unwrap();
    let conds = crd.status.unwrap().conditions.unwrap();
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );
    assert!(
        crd.metadata
            .finalizers
            .unwrap()
            .contains(&"customresourcecleanup.apiextensions.k8s.io".to_string())
    );
    let discovery = Discovery::new(client).run().await.unwrap();
    let group = discovery.get("example.com").expect("group discovered");
    let kinds: Vec<String> = group
        .recommended_resources()
        .into_iter()
        .map(|(ar, _)| ar.kind)
        .collect();
    assert!(
        kinds.contains(&"Widget".to_string()) && kinds.contains(&"Gadget".to_string()),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn schema_validation_defaulting_and_pruning() {
    let (fake, client) = start().await;
    fake.load_crds(Path::new(CRD_FIXTURE)).unwrap();
    namespace(&client, "crd-a").await;
    let api: Api<DynamicObject> = Api::namespaced_with(client, "crd-a", &widget_ar());
    let e = api_err(
        api.create(
            &PostParams::default(),
            &widget("w", json!({"color": "red"})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert!(
        e.message
            .starts_with("Widget.example.com \"w\" is invalid: "),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("spec.size: Required value"),
        "{}",
        e.message
    );
    let e = api_err(
        api.create(&PostParams::default(), &widget("w", json!({"size": -1})))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422, "{}", e.message);
    let w = api
        .create(
            &PostParams::default(),
            &widget("w", json!({"size": 1, "unknown": true})),
        )
        .await
        .unwrap();
    assert_eq!(w.data["spec"]["color"], "blue", "default applied");
    assert!(
        w.data["spec"].get("unknown").is_none(),
        "unknown field pruned"
    );
    assert_eq!(w.metadata.generation, Some(1));
}

#[tokio::test]
async fn status_subresource_and_generation() {
    let (fake, client) = start().await;
    fake.load_crds(Path::new(CRD_FIXTURE)).unwrap();
    namespace(&client, "crd-b").await;
    let api: Api<DynamicObject> = Api::namespaced_with(client, "crd-b", &widget_ar());
    let mut w = widget("w", json!({"size": 1}));
    w.data["status"] = json!({"phase": "Ignored"});
    let w = api.create(&PostParams::default(), &w).await.unwrap();
    assert!(w.data.get("status").is_none(), "status dropped on create");
    let w2 = api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Nope"}, "metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap();
    assert!(w2.data.get("status").is_none());
    assert_eq!(w2.metadata.generation, Some(1), "metadata-only change");
    let w3 = api
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 99}, "status": {"phase": "Ready"}})),
        )
        .await
        .unwrap();
    assert_eq!(w3.data["status"]["phase"], "Ready");
    assert_eq!(w3.data["spec"]["size"], 1, "spec ignored on /status");
    assert_eq!(
        w3.metadata.generation,
        Some(1),
        "status change does not bump generation"
    );
    let w4 = api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(w4.metadata.generation, Some(2));
    // Strategic merge patch is not supported for custom resources.
    let e = api_err(
        api.patch(
            "w",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"size": 3}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (415, "UnsupportedMediaType"));
    // Server-side apply with the CRD's schema.
    let applied = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 5}});
    let w5 = api
        .patch(
            "w",
            &PatchParams::apply("tester").force(),
            &Patch::Apply(applied),
        )
        .await
        .unwrap();
    assert_eq!(w5.data["spec"]["size"], 5);
}

#[tokio::test]
async fn table_with_printer_columns() {
    let (fake, client) = start().await;
    fake.load_crds(Path::new(CRD_FIXTURE)).unwrap();
    namespace(&client, "crd-c").await;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "crd-c", &widget_ar());
    api.create(&PostParams::default(), &widget("w", json!({"size": 3})))
        .await
        .unwrap();
    api.patch_status(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})),
    )
    .await
    .unwrap();
    let req = http::Request::get("/apis/example.com/v1/namespaces/crd-c/widgets")
        .header(
            "accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .body(Vec::new())
        .unwrap();
    let table: serde_json::Value = client.request(req).await.unwrap();
    assert_eq!(table["kind"], "Table");
    let cols: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cols, vec!["Name", "Size", "Ready", "Age"]);
    let cells = &table["rows"][0]["cells"];
    assert_eq!(cells[0], "w");
    assert_eq!(cells[1], 3);
    assert_eq!(cells[2], "True");
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
}

#[tokio::test]
async fn deleting_the_crd_deletes_its_resources() {
    let (fake, client) = start().await;
    fake.load_crds(Path::new(CRD_FIXTURE)).unwrap();
    namespace(&client, "crd-d").await;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "crd-d", &widget_ar());
    for i in 0..3 {
        api.create(
            &PostParams::default(),
            &widget(&format!("w{i}"), json!({"size": i})),
        )
        .await
        .unwrap();
    }
    let gadgets: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("example.com", "v1", "Gadget"),
            "gadgets",
        ),
    );
    let g: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}, "anything": {"goes": 1}})).unwrap();
    let g = gadgets.create(&PostParams::default(), &g).await.unwrap();
    assert_eq!(
        g.data["anything"]["goes"], 1,
        "preserve-unknown-fields keeps data"
    );
    assert!(g.metadata.namespace.is_none(), "cluster scoped");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    eventually("CRD gone", || async {
        crds.get_opt("widgets.example.com").await.unwrap().is_none()
    })
    .await;
    let e = api_err(api.list(&Default::default()).await.unwrap_err());
    assert_eq!(e.code, 404, "resource no longer served");
    // Re-creating the CRD serves an empty collection: the old objects are gone.
    let again: CustomResourceDefinition = serde_yaml_ng::from_str(
        std::fs::read_to_string(Path::new(CRD_FIXTURE).join("widgets.yaml"))
            .unwrap()
            .split("---")
            .next()
            .unwrap(),
    )
    .unwrap();
    crds.create(&PostParams::default(), &again).await.unwrap();
    assert!(
        api.list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn field_validation_strict_warn_ignore() {
    let (fake, client) = start().await;
    fake.load_crds(Path::new(CRD_FIXTURE)).unwrap();
    namespace(&client, "crd-e").await;
    let body = |name: &str| {
        serde_json::to_vec(&json!({
            "apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": name}, "spec": {"size": 1, "typo": true},
        }))
        .unwrap()
    };
    let post = |q: &str, name: &str| {
        http::Request::post(format!("/apis/example.com/v1/namespaces/crd-e/widgets{q}"))
            .header("content-type", "application/json")
            .body(body(name))
            .unwrap()
    };
    let e = api_err(
        client
            .request::<DynamicObject>(post("?fieldValidation=Strict", "a"))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400);
    assert_eq!(
        e.message,
        "strict decoding error: unknown field \"spec.typo\""
    );
    let resp = client
        .send(post("?fieldValidation=Warn", "b").map(Into::into))
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let warning = resp
        .headers()
        .get("warning")
        .expect("warning header")
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(warning, "299 - \"unknown field \\\"spec.typo\\\"\"");
    let resp = client
        .send(post("?fieldValidation=Ignore", "c").map(Into::into))
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert!(resp.headers().get("warning").is_none());
    // Built-ins: unknown fields dropped (the typed decode), reported the same way.
    let req = http::Request::post("/api/v1/namespaces/crd-e/configmaps?fieldValidation=Strict")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "dat": {"a": "b"}})).unwrap())
        .unwrap();
    let e = api_err(client.request::<serde_json::Value>(req).await.unwrap_err());
    assert_eq!(e.message, "strict decoding error: unknown field \"dat\"");
    // Wrong types are a 400 as upstream's decoder reports.
    let req = http::Request::post("/apis/apps/v1/namespaces/crd-e/deployments")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": "three"}})).unwrap())
        .unwrap();
    let e = api_err(client.request::<serde_json::Value>(req).await.unwrap_err());
    assert_eq!(e.code, 400);
    assert!(
        e.message
            .starts_with("Deployment in version \"v1\" cannot be handled as a Deployment"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn multi_version_crd_serves_every_version_and_watches_end_with_it() {
    use futures::StreamExt;
    let (_fake, client) = start().await;
    namespace(&client, "crd-f").await;
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.org"},
        "spec": {
            "group": "example.org", "scope": "Namespaced",
            "names": {"plural": "things", "singular": "thing", "kind": "Thing"},
            "versions": [
                {"name": "v1alpha1", "served": true, "storage": false,
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                {"name": "v1", "served": true, "storage": true,
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
            ],
        },
    }))
    .unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let ar = |v: &str| {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("example.org", v, "Thing"),
            "things",
        )
    };
    let old: Api<DynamicObject> = Api::namespaced_with(client.clone(), "crd-f", &ar("v1alpha1"));
    let new: Api<DynamicObject> = Api::namespaced_with(client.clone(), "crd-f", &ar("v1"));
    let mut w = new.watch(&Default::default(), "0").await.unwrap().boxed();
    let t: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.org/v1alpha1", "kind": "Thing", "metadata": {"name": "t"}, "x": 1})).unwrap();
    let created = old.create(&PostParams::default(), &t).await.unwrap();
    assert_eq!(created.types.unwrap().api_version, "example.org/v1alpha1");
    let via_v1 = new.get("t").await.unwrap();
    assert_eq!(via_v1.types.unwrap().api_version, "example.org/v1");
    assert_eq!(via_v1.data["x"], 1);
    match tokio::time::timeout(std::time::Duration::from_secs(5), w.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
    {
        kube::api::WatchEvent::Added(o) => {
            assert_eq!(o.types.unwrap().api_version, "example.org/v1")
        }
        other => panic!("expected ADDED, got {other:?}"),
    }
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let group = discovery.get("example.org").unwrap();
    assert_eq!(group.preferred_version_or_latest(), "v1");
    // Deleting the CRD deletes the object (DELETED event) and ends the watch.
    crds.delete("things.example.org", &DeleteParams::default())
        .await
        .unwrap();
    let rest: Vec<_> =
        tokio::time::timeout(std::time::Duration::from_secs(5), w.collect::<Vec<_>>())
            .await
            .unwrap();
    assert!(
        rest.iter()
            .any(|e| matches!(e, Ok(kube::api::WatchEvent::Deleted(_)))),
        "{rest:?}"
    );
}

#[tokio::test]
async fn non_structural_crd_is_rejected() {
    let (_fake, client) = start().await;
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "bads.example.org"},
        "spec": {
            "group": "example.org", "scope": "Namespaced",
            "names": {"plural": "bads", "singular": "bad", "kind": "Bad"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"properties": {"n": {"type": "integer"}}}}}}}],
        },
    }))
    .unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    let e = api_err(crds.create(&PostParams::default(), &crd).await.unwrap_err());
    assert_eq!(e.code, 422);
    assert!(
        e.message.contains(
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value"
        ),
        "{}",
        e.message
    );
}

/// The Argo Rollouts CRD fixture of the operator's tests (`tests/fixtures/argo-rollouts` at the
/// workspace root): loads, serves `Rollout`, and takes a server-side-applied `spec.restartAt`.
const ROLLOUTS_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/argo-rollouts"
);

#[tokio::test]
async fn argo_rollouts_fixture_loads_and_takes_restart_at() {
    let (fake, client) = start().await;
    assert_eq!(fake.load_crds(Path::new(ROLLOUTS_FIXTURE)).unwrap(), 1);
    namespace(&client, "crd-ro").await;
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let (ar, caps) = discovery
        .get("argoproj.io")
        .expect("argoproj.io discovered")
        .recommended_kind("Rollout")
        .expect("Rollout served");
    assert_eq!(
        (ar.plural.as_str(), ar.version.as_str()),
        ("rollouts", "v1alpha1")
    );
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    assert!(
        caps.subresources
            .iter()
            .any(|(s, _)| s.plural == "rollouts/status" || s.plural == "status")
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "crd-ro", &ar);
    let rollout: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
        },
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &rollout).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(
        created.data["spec"]["strategy"]["canary"]["steps"][0]["setWeight"], 20,
        "undeclared spec fields are preserved"
    );
    // What a restarter sends: only spec.restartAt, under its own field manager.
    let restart = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "web"},
        "spec": {"restartAt": "2026-01-02T03:04:05Z"},
    });
    let applied = api
        .patch(
            "web",
            &PatchParams::apply("stagesync").force(),
            &Patch::Apply(restart),
        )
        .await
        .unwrap();
    assert_eq!(applied.data["spec"]["restartAt"], "2026-01-02T03:04:05Z");
    assert_eq!(applied.metadata.generation, Some(2));
    let got = api.get("web").await.unwrap();
    assert_eq!(got.data["spec"]["restartAt"], "2026-01-02T03:04:05Z");
    assert_eq!(got.data["spec"]["replicas"], 2, "the rest of spec is kept");
    assert_eq!(
        got.data["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx"
    );
    let mf = got.metadata.managed_fields.unwrap();
    let entry = mf
        .iter()
        .find(|m| m.manager.as_deref() == Some("stagesync"))
        .expect("stagesync entry");
    assert_eq!(entry.operation.as_deref(), Some("Apply"));
    let owned = serde_json::to_string(&entry.fields_v1).unwrap();
    assert!(owned.contains("f:restartAt"), "{owned}");
    // The schema is enforced: restartAt is a date-time, paused a boolean.
    let e = api_err(
        api.patch(
            "web",
            &PatchParams::apply("stagesync").force(),
            &Patch::Apply(json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "web"},
                "spec": {"restartAt": "now", "paused": "yes"},
            })),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(
        (e.code, e.reason.as_str()),
        (422, "Invalid"),
        "{}",
        e.message
    );
    assert!(e.message.contains("spec.restartAt"), "{}", e.message);
    assert!(e.message.contains("spec.paused"), "{}", e.message);
    // A JSON merge patch (what a non-SSA client would send) works too.
    let merged = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"restartAt": "2026-01-03T00:00:00Z"}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.data["spec"]["restartAt"], "2026-01-03T00:00:00Z");
    // Status through the subresource only.
    let st = api
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"phase": "Healthy", "restartedAt": "2026-01-03T00:00:01Z"}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(st.data["status"]["restartedAt"], "2026-01-03T00:00:01Z");
    assert_eq!(st.metadata.generation, merged.metadata.generation);
}
