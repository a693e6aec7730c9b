//! Building and observing the objects of a stagesync test: credential Secrets, stores,
//! ExternalSecrets, and waiting for their conditions and Secrets.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use stagesync::api::externalsecret::ExternalSecret;
use stagesync::api::secretstore::{ClusterSecretStore, SecretStore};

use super::cluster::eventually;

/// How long a test waits for the operator.
pub const WAIT: Duration = Duration::from_secs(30);

/// Creates `aws-credentials` (moto accepts any keys) in `ns`. The secret access key is unique,
/// so the leak scan looks for it too.
pub async fn create_credentials(client: &Client, ns: &str) {
    let secret_access_key = format!("aws-secret-key-{}", super::unique_name("k"));
    create_secret(
        client,
        ns,
        "aws-credentials",
        json!({"access-key-id": "testing", "secret-access-key": secret_access_key}),
    )
    .await;
}

/// The Secret `name` with these `stringData` entries, as a user would write it.
pub fn plain_secret(ns: &str, name: &str, string_data: Value) -> Secret {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": ns},
        "stringData": string_data,
    }))
    .unwrap()
}

/// Creates a Secret that stagesync does not manage. Its values are leak-scan canaries.
pub async fn create_secret(client: &Client, ns: &str, name: &str, string_data: Value) {
    for value in string_data.as_object().into_iter().flat_map(|m| m.values()) {
        if let Some(text) = value.as_str() {
            super::leak::register(text);
        }
    }
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &plain_secret(ns, name, string_data))
        .await
        .unwrap();
}

/// The `provider.aws` block of a store reading moto at `endpoint` with the credentials Secret.
pub fn aws_provider(endpoint: &str, credentials_ns: Option<&str>) -> Value {
    let selector = |key: &str| {
        let mut s = json!({"name": "aws-credentials", "key": key});
        if let Some(ns) = credentials_ns {
            s["namespace"] = json!(ns);
        }
        s
    };
    json!({"aws": {
        "service": "SecretsManager",
        "region": super::moto::REGION,
        "endpoint": endpoint,
        "auth": {"secretRef": {
            "accessKeyIDSecretRef": selector("access-key-id"),
            "secretAccessKeySecretRef": selector("secret-access-key"),
        }},
    }})
}

/// Creates the credentials and a SecretStore `aws` in `ns` pointing at moto.
pub async fn create_store(client: &Client, ns: &str, endpoint: &str) {
    create_credentials(client, ns).await;
    create_store_with(client, ns, "aws", aws_provider(endpoint, None)).await;
}

/// Creates a SecretStore with the given `spec.provider`.
pub async fn create_store_with(client: &Client, ns: &str, name: &str, provider: Value) {
    create_store_spec(client, ns, name, json!({"provider": provider})).await;
}

/// Creates a stagesync object of kind `K` from its spec through `api` (`ns`: `None` for
/// cluster-scoped kinds).
async fn create_object<K>(api: Api<K>, ns: Option<&str>, name: &str, spec: Value) -> K
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    let mut metadata = json!({"name": name});
    if let Some(ns) = ns {
        metadata["namespace"] = json!(ns);
    }
    let object: K = serde_json::from_value(json!({
        "apiVersion": K::api_version(&()), "kind": K::kind(&()),
        "metadata": metadata,
        "spec": spec,
    }))
    .unwrap();
    api.create(&PostParams::default(), &object).await.unwrap()
}

/// Creates a ClusterSecretStore.
pub async fn create_cluster_store(client: &Client, name: &str, spec: Value) {
    create_object::<ClusterSecretStore>(Api::all(client.clone()), None, name, spec).await;
}

/// Creates an ExternalSecret from its spec.
pub async fn create_es(client: &Client, ns: &str, name: &str, spec: Value) -> ExternalSecret {
    create_object(Api::namespaced(client.clone(), ns), Some(ns), name, spec).await
}

/// Replaces an ExternalSecret's spec (as a GitOps tool would, by server-side apply).
pub async fn apply_es_spec(client: &Client, ns: &str, name: &str, spec: Value) {
    try_apply_es_spec(client, ns, name, spec).await.unwrap();
}

/// [`apply_es_spec`], with the API server's refusal as the answer.
pub async fn try_apply_es_spec(
    client: &Client,
    ns: &str,
    name: &str,
    spec: Value,
) -> kube::Result<()> {
    let patch = json!({
        "apiVersion": "stagesync.io/v1alpha1", "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    });
    Api::<ExternalSecret>::namespaced(client.clone(), ns)
        .patch(
            name,
            &PatchParams::apply("gitops").force(),
            &Patch::Apply(&patch),
        )
        .await
        .map(|_| ())
}

/// The Ready condition's (status, reason, message), once it was computed for the current spec.
pub async fn ready(client: &Client, ns: &str, name: &str) -> Option<(String, String, String)> {
    condition_of(client, ns, name, "Ready", true).await
}

/// Waits until Ready has `reason` (for the current generation); returns (status, message).
pub async fn wait_reason(client: &Client, ns: &str, name: &str, reason: &str) -> (String, String) {
    eventually(
        WAIT,
        &format!("{ns}/{name} Ready reason {reason}"),
        || async {
            ready(client, ns, name)
                .await
                .filter(|(_, r, _)| r == reason)
                .map(|(s, _, m)| (s, m))
        },
    )
    .await
}

/// A Secret's data as text.
pub async fn secret_data(
    client: &Client,
    ns: &str,
    name: &str,
) -> Option<BTreeMap<String, String>> {
    let s = Api::<Secret>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .ok()??;
    Some(
        s.data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
            .collect(),
    )
}

/// Expected Secret data, as `secret_data` returns it.
pub fn expected_data(want: &[(&str, &str)]) -> BTreeMap<String, String> {
    want.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Waits until a Secret's data equals `want`.
pub async fn wait_data(client: &Client, ns: &str, name: &str, want: &[(&str, &str)]) -> Secret {
    let want = expected_data(want);
    eventually(
        WAIT,
        &format!(
            "Secret {ns}/{name} data {:?}",
            want.keys().collect::<Vec<_>>()
        ),
        || async {
            let got = secret_data(client, ns, name).await?;
            if got == want {
                Api::<Secret>::namespaced(client.clone(), ns)
                    .get_opt(name)
                    .await
                    .ok()?
            } else {
                None
            }
        },
    )
    .await
}

/// Waits until a Secret is gone.
pub async fn wait_secret_gone(client: &Client, ns: &str, name: &str) {
    eventually(WAIT, &format!("Secret {ns}/{name} deleted"), || async {
        match Api::<Secret>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await
        {
            Ok(None) => Some(()),
            _ => None,
        }
    })
    .await
}

/// Deletes an ExternalSecret and waits until it is gone (finalizers done).
pub async fn delete_es(client: &Client, ns: &str, name: &str) {
    let api = Api::<ExternalSecret>::namespaced(client.clone(), ns);
    api.delete(name, &Default::default()).await.unwrap();
    eventually(
        WAIT,
        &format!("ExternalSecret {ns}/{name} deleted"),
        || async {
            match api.get_opt(name).await {
                Ok(None) => Some(()),
                _ => None,
            }
        },
    )
    .await
}

/// The reasons and notes of the events about an object (events.k8s.io/v1).
pub async fn events_about(client: &Client, ns: &str, name: &str) -> Vec<(String, String)> {
    use k8s_openapi::api::events::v1::Event;
    Api::<Event>::namespaced(client.clone(), ns)
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect()
}

/// Everything an ExternalSecret shows the world, as text: status and events.
pub async fn visible_text(client: &Client, ns: &str, name: &str) -> String {
    let es = Api::<ExternalSecret>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .unwrap();
    let status = es
        .map(|e| serde_json::to_string(&e.status).unwrap())
        .unwrap_or_default();
    let events = events_about(client, ns, name).await;
    format!("{status}\n{events:?}")
}

/// The name of a Secret's owner reference, if any.
pub fn owner_name(secret: &Secret) -> Option<String> {
    secret.owner_references().first().map(|o| o.name.clone())
}

/// Creates an AWS secret with a string value (a leak-scan canary); returns its version id.
pub async fn create_aws(aws: &aws_sdk_secretsmanager::Client, name: &str, value: &str) -> String {
    super::leak::register(value);
    aws.create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("create secret")
        .version_id
        .expect("version id")
}

/// Stages a new version as AWSPENDING, as the first step of an AWS rotation does; returns its
/// version id. The value is a leak-scan canary.
pub async fn stage_pending(
    aws: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
) -> String {
    super::leak::register(value);
    aws.put_secret_value()
        .secret_id(name)
        .secret_string(value)
        .version_stages("AWSPENDING")
        .send()
        .await
        .expect("put pending version")
        .version_id
        .expect("version id")
}

/// Promotes a version to AWSCURRENT, as the last step of an AWS rotation does (the old one
/// becomes AWSPREVIOUS).
pub async fn promote(aws: &aws_sdk_secretsmanager::Client, name: &str, from: &str, to: &str) {
    aws.update_secret_version_stage()
        .secret_id(name)
        .version_stage("AWSCURRENT")
        .move_to_version_id(to)
        .remove_from_version_id(from)
        .send()
        .await
        .expect("promote version");
}

/// A whole rotation as AWS performs it: `value` staged AWSPENDING, then promoted over `from`.
/// Returns the new version id.
pub async fn rotate(
    aws: &aws_sdk_secretsmanager::Client,
    name: &str,
    from: &str,
    value: &str,
) -> String {
    let new = stage_pending(aws, name, value).await;
    promote(aws, name, from, &new).await;
    new
}

/// A reference to the scenario's SecretStore `aws`.
pub fn store_ref() -> Value {
    json!({"name": "aws", "kind": "SecretStore"})
}

/// Creates a SecretStore from its whole `spec` (provider, refreshInterval, ...).
pub async fn create_store_spec(client: &Client, ns: &str, name: &str, spec: Value) {
    create_object::<SecretStore>(Api::namespaced(client.clone(), ns), Some(ns), name, spec).await;
}

/// Merges `annotations` into an ExternalSecret's metadata (as `kubectl annotate` does).
pub async fn annotate_es(client: &Client, ns: &str, name: &str, annotations: Value) {
    Api::<ExternalSecret>::namespaced(client.clone(), ns)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": annotations}})),
        )
        .await
        .unwrap();
}

/// One condition of an ExternalSecret by type: (status, reason, message).
pub async fn es_condition(
    client: &Client,
    ns: &str,
    name: &str,
    type_: &str,
) -> Option<(String, String, String)> {
    condition_of(client, ns, name, type_, false).await
}

/// An ExternalSecret's condition as (status, reason, message); with `current`, only once it was
/// computed for the current spec.
async fn condition_of(
    client: &Client,
    ns: &str,
    name: &str,
    type_: &str,
    current: bool,
) -> Option<(String, String, String)> {
    let es = Api::<ExternalSecret>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .ok()??;
    let c = es
        .status?
        .conditions
        .into_iter()
        .find(|c| c.type_ == type_)?;
    if current && c.observed_generation != es.metadata.generation {
        return None;
    }
    let status = serde_json::to_value(c.status)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    Some((
        status,
        c.reason.unwrap_or_default(),
        c.message.unwrap_or_default(),
    ))
}

/// The (type, reason, note) of the events about `name`, once one of them satisfies `wanted`
/// (the operator publishes an Event after the write it reports, so a test that has seen the
/// write waits for the Event).
pub async fn wait_events(
    client: &Client,
    ns: &str,
    name: &str,
    what: &str,
    wanted: impl Fn(&(String, String, String)) -> bool,
) -> Vec<(String, String, String)> {
    eventually(WAIT, what, || async {
        let events = typed_events_about(client, ns, name).await;
        events.iter().any(&wanted).then_some(events)
    })
    .await
}

/// The (type, reason, note) of the events about an object (events.k8s.io/v1).
pub async fn typed_events_about(
    client: &Client,
    ns: &str,
    name: &str,
) -> Vec<(String, String, String)> {
    use k8s_openapi::api::events::v1::Event;
    Api::<Event>::namespaced(client.clone(), ns)
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| {
            (
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.note.unwrap_or_default(),
            )
        })
        .collect()
}

/// A new AWSCURRENT version with `value` (what `aws secretsmanager put-secret-value` does);
/// returns its version id. The value is a leak-scan canary.
pub async fn put_current(aws: &aws_sdk_secretsmanager::Client, name: &str, value: &str) -> String {
    super::leak::register(value);
    aws.put_secret_value()
        .secret_id(name)
        .secret_string(value)
        .send()
        .await
        .expect("put secret value")
        .version_id
        .expect("version id")
}
