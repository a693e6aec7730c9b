//! Workloads in restart tests: building Deployments, StatefulSets, DaemonSets, CronJobs and Argo
//! Rollouts that use Secrets in each of the ways a pod template can, and observing what stagesync
//! did to them. The API server fake has no workload controllers, so a test that follows a
//! rollout writes the status the controller would.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use stagesync::restart::plan::{
    ANNOTATION_SECRETS_HASH, ANNOTATION_SECRETS_SEEN, Seen, data_digest,
};
use stagesync::restart::workload::Kind;

use super::cluster::eventually;
use super::objects::WAIT;

/// A container reading Secret `name` through `form`: `env` (secretKeyRef), `envFrom`, or any
/// other form as a volume (`volume`, `projected`); returns (containers, volumes).
pub fn uses(form: &str, name: &str) -> (Value, Value) {
    let container = |extra: Value| {
        let mut c = json!({"name": "app", "image": "registry.example/app:1"});
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    };
    match form {
        "env" => (
            json!([container(
                json!({"env": [{"name": "V", "valueFrom": {"secretKeyRef": {"name": name, "key": "v"}}}]})
            )]),
            json!([]),
        ),
        "envFrom" => (
            json!([container(
                json!({"envFrom": [{"secretRef": {"name": name}}]})
            )]),
            json!([]),
        ),
        "volume" => (
            json!([container(json!({}))]),
            json!([{"name": "s", "secret": {"secretName": name}}]),
        ),
        "projected" => (
            json!([container(json!({}))]),
            json!([{"name": "s", "projected": {"sources": [{"secret": {"name": name}}]}}]),
        ),
        other => panic!("unknown reference form {other}"),
    }
}

/// A pod template whose containers and volumes come from [`uses`] (`init`: the using container
/// is an init container).
pub fn pod_template(form: &str, secret: &str, init: bool) -> Value {
    let (containers, volumes) = uses(form, secret);
    let mut spec = json!({"volumes": volumes});
    if init {
        spec["initContainers"] = containers;
        spec["containers"] = json!([{"name": "main", "image": "registry.example/app:1"}]);
    } else {
        spec["containers"] = containers;
    }
    json!({"metadata": {"labels": {"app": "x"}}, "spec": spec})
}

/// A workload manifest of `kind` with `annotations` and `template`.
pub fn workload(kind: Kind, name: &str, annotations: Value, template: Value) -> Value {
    let r = kind.api_resource();
    let spec = match kind {
        Kind::CronJob => {
            let mut template = template;
            template["spec"]["restartPolicy"] = json!("OnFailure");
            json!({"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}})
        }
        Kind::DaemonSet => json!({"selector": {"matchLabels": {"app": "x"}}, "template": template}),
        _ => {
            json!({"replicas": 2, "selector": {"matchLabels": {"app": "x"}}, "template": template})
        }
    };
    let mut spec = spec;
    if kind == Kind::StatefulSet {
        spec["serviceName"] = json!(name);
    }
    json!({
        "apiVersion": r.api_version, "kind": r.kind,
        "metadata": {"name": name, "annotations": annotations},
        "spec": spec,
    })
}

/// The dynamic API of a kind in a namespace.
pub fn api(client: &Client, ns: &str, kind: Kind) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &kind.api_resource())
}

/// Creates a workload from a manifest.
pub async fn create(client: &Client, ns: &str, kind: Kind, manifest: Value) -> DynamicObject {
    let obj: DynamicObject = serde_json::from_value(manifest).unwrap();
    api(client, ns, kind)
        .create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("create {}: {e}", kind.as_str()))
}

/// Reads a workload.
pub async fn get(client: &Client, ns: &str, kind: Kind, name: &str) -> DynamicObject {
    api(client, ns, kind).get(name).await.unwrap()
}

/// The workload's generation (moves with every spec change, so every template change).
pub async fn generation(client: &Client, ns: &str, kind: Kind, name: &str) -> i64 {
    get(client, ns, kind, name)
        .await
        .metadata
        .generation
        .unwrap_or_default()
}

/// The restart mark stagesync put on the workload: the pod-template hash (a Rollout's
/// `spec.restartAt`).
pub fn restart_mark(kind: Kind, obj: &DynamicObject) -> Option<String> {
    let spec = &obj.data["spec"];
    let v = match kind {
        Kind::Rollout => &spec["restartAt"],
        _ => &kind.template_annotations(spec)[ANNOTATION_SECRETS_HASH],
    };
    v.as_str().map(str::to_owned)
}

/// What stagesync must have recorded on a workload that depends on `secrets` (their data as
/// now in the cluster).
pub async fn expected_record(client: &Client, ns: &str, uid: &str, secrets: &[&str]) -> Seen {
    let api = Api::<Secret>::namespaced(client.clone(), ns);
    let mut digests = BTreeMap::new();
    for name in secrets {
        if let Some(s) = api.get_opt(name).await.unwrap() {
            digests.insert((*name).to_owned(), data_digest(s.data.as_ref()));
        }
    }
    Seen::of(uid, &digests)
}

/// Waits until the workload's record is the current data of exactly `secrets`: stagesync has
/// seen their present state, so nothing about them is pending any more.
pub async fn wait_recorded(
    client: &Client,
    ns: &str,
    kind: Kind,
    name: &str,
    secrets: &[&str],
) -> DynamicObject {
    eventually(
        WAIT,
        &format!("{} {name} records {secrets:?}", kind.as_str()),
        || async move {
            let obj = get(client, ns, kind, name).await;
            let want = expected_record(client, ns, &obj.uid().unwrap(), secrets).await;
            (obj.annotations().get(ANNOTATION_SECRETS_SEEN) == Some(&want.encode())).then_some(obj)
        },
    )
    .await
}

/// Server-side applies a workload's status as its controller would.
pub async fn set_status(client: &Client, ns: &str, kind: Kind, name: &str, status: Value) {
    let r = kind.api_resource();
    api(client, ns, kind)
        .patch_status(
            name,
            &PatchParams::apply("kube-controller-manager").force(),
            &Patch::Apply(json!({
                "apiVersion": r.api_version, "kind": r.kind,
                "metadata": {"name": name}, "status": status,
            })),
        )
        .await
        .unwrap();
}

/// Installs the Argo Rollouts CRD (already there on a cluster running Argo Rollouts).
pub async fn install_rollout_crd(client: &Client) {
    let text = std::fs::read_to_string(
        super::workspace_root().join("tests/fixtures/argo-rollouts/crd.yaml"),
    )
    .unwrap();
    let crd: CustomResourceDefinition = serde_yaml_ng::from_str(&text).unwrap();
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    match crds.create(&PostParams::default(), &crd).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("create the Rollout CRD: {e}"),
    }
    eventually(WAIT, "Rollouts served", || async {
        api(client, "default", Kind::Rollout)
            .list(&Default::default())
            .await
            .ok()
            .map(|_| ())
    })
    .await;
}
