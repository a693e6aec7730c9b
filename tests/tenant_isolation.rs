//! Tenant isolation, shown as a tenant sees it: a ServiceAccount with only namespace-scoped RBAC
//! (a Role and RoleBinding in its own namespace granting what a tenant usually gets) creates its
//! own credentials, stores and ExternalSecrets with its own client, and tries every way of
//! reaching another namespace's secrets or the operator's own AWS identity. Each attempt is
//! refused with its reason (`Ready=False`, a Warning event) and nothing is written or read; what
//! the tenant is allowed (its own store, its own Secret, merging into its own Secret) works in
//! the same setup.
//!
//! AWS is reached through a counting proxy that records which access key signed each request:
//! the operator's own identity (what the SDK's default chain gives it in EKS) has an access key
//! of its own, so the proxy shows it is never used on a tenant's behalf. The list of refusals
//! proven is written into `docs/reliability.md`.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use stagesync::api::externalsecret::ExternalSecret;
use stagesync::controller::ControllerConfig;
use stagesync::provider::aws::{AwsClientConfig, CredentialSource};
use stagesync::store::{BackendFactory, aws_backend_factory};
use stagesync::value::SecretBytes;
use support::aws_proxy::AwsProxy;
use support::cluster::{TestCluster, eventually, test_policy};
use support::moto::{REGION, moto};
use support::objects::*;
use support::unique_name;

/// The access key of the operator's own identity (its default credential chain).
const OPERATOR_KEY: &str = "AKIAOPERATOROWNIDENTITY";
/// The tenant's own access key.
const TENANT_KEY: &str = "AKIATENANTOWNKEY";
/// The other namespace's access key.
const VICTIM_KEY: &str = "AKIAOTHERNAMESPACEKEY";

/// The operator's identity: what the default chain resolves to, as static keys the proxy can
/// recognise (the chain itself would read this process's environment).
fn with_operator_identity() -> BackendFactory {
    let aws = aws_backend_factory();
    Arc::new(move |mut config: AwsClientConfig| {
        if matches!(config.credentials, CredentialSource::DefaultChain) {
            config.credentials = CredentialSource::Static {
                access_key_id: OPERATOR_KEY.to_owned(),
                secret_access_key: SecretBytes::from(format!("operator-{}", unique_name("sk"))),
                session_token: None,
            };
        }
        aws(config)
    })
}

/// One row of what the test proved.
struct Proven {
    tried: String,
    outcome: String,
}

/// The world: a tenant namespace with its ServiceAccount, another namespace with its own store,
/// credentials and ServiceAccount, the operator, and the proxy.
struct World {
    cluster: TestCluster,
    proxy: AwsProxy,
    aws: aws_sdk_secretsmanager::Client,
    tenant_ns: String,
    other_ns: String,
    tenant: Client,
    _operator: support::cluster::OperatorHandle,
}

impl World {
    async fn start() -> World {
        let proxy = AwsProxy::start(&moto().endpoint);
        let cluster = TestCluster::start().await;
        let tenant_ns = cluster.namespace("tenant").await;
        let other_ns = cluster.namespace("other").await;
        let admin = cluster.client.clone();
        // The tenant: a ServiceAccount with a Role in its own namespace, as a platform team
        // grants it.
        create::<ServiceAccount>(
            &admin,
            &tenant_ns,
            json!({
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "dev", "namespace": tenant_ns},
            }),
        )
        .await;
        let all = json!([
            "get", "list", "watch", "create", "update", "patch", "delete"
        ]);
        create::<Role>(&admin, &tenant_ns, json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "tenant", "namespace": tenant_ns},
            "rules": [
                {"apiGroups": ["stagesync.io"], "resources": ["externalsecrets", "secretstores"], "verbs": all},
                {"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": all},
                {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": all},
                {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["get", "list", "watch"]},
            ],
        })).await;
        create::<RoleBinding>(&admin, &tenant_ns, json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "tenant", "namespace": tenant_ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tenant"},
            "subjects": [{"kind": "ServiceAccount", "name": "dev", "namespace": tenant_ns}],
        })).await;
        let tenant = cluster.client_as_service_account(&tenant_ns, "dev").await;

        // The other namespace: its credentials, its store, a ServiceAccount with a role.
        credentials(&admin, &other_ns, "aws-credentials", VICTIM_KEY).await;
        create_store_spec(
            &admin,
            &other_ns,
            "aws",
            json!({"provider": provider(&proxy, "aws-credentials", None)}),
        )
        .await;
        create::<ServiceAccount>(&admin, &other_ns, json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "app", "namespace": other_ns,
                "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/other-app"}},
        })).await;

        let operator = cluster.run_operator_with_backends(
            test_policy(&proxy.endpoint),
            ControllerConfig {
                backoff_base: Duration::from_millis(200),
                backoff_cap: Duration::from_secs(2),
                ..ControllerConfig::default()
            },
            with_operator_identity(),
        );
        World {
            aws: moto().admin_client().await,
            proxy,
            tenant_ns,
            other_ns,
            tenant,
            _operator: operator,
            cluster,
        }
    }

    /// Requests signed by an access key, as (operation, secret id).
    fn signed_by(&self, key: &str) -> Vec<(String, Option<String>)> {
        self.proxy
            .log()
            .into_iter()
            .filter(|r| r.access_key.as_deref() == Some(key))
            .map(|r| (r.operation, r.secret_id))
            .collect()
    }

    /// Whether any request named this AWS secret.
    fn was_read(&self, key: &str) -> bool {
        self.proxy
            .log()
            .iter()
            .any(|r| r.secret_id.as_deref().is_some_and(|id| id.contains(key)))
    }

    /// Every Secret of the other namespace, with its resourceVersion.
    async fn other_secrets(&self) -> BTreeMap<String, String> {
        Api::<Secret>::namespaced(self.cluster.client.clone(), &self.other_ns)
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|s| (s.name_any(), s.resource_version().unwrap_or_default()))
            .collect()
    }

    /// Waits for a refusal: `Ready=False` with `reason`, a Warning event with it, and no Secret
    /// `target` in the tenant's namespace.
    async fn refused(&self, es: &str, target: &str, reason: &str) {
        let (status, message) = wait_reason(&self.tenant, &self.tenant_ns, es, reason).await;
        assert_eq!(status, "False", "{es}: {message}");
        eventually(
            WAIT,
            &format!("a Warning event {reason} about {es}"),
            || async {
                typed_events_about(&self.tenant, &self.tenant_ns, es)
                    .await
                    .iter()
                    .any(|(t, r, _)| t == "Warning" && r == reason)
                    .then_some(())
            },
        )
        .await;
        assert!(
            secret_data(&self.tenant, &self.tenant_ns, target)
                .await
                .is_none(),
            "{es}: nothing may be written, but Secret {target} exists"
        );
    }
}

/// A credential Secret with this access key id and a unique secret access key (a leak-scan
/// canary; the key id is an identifier AWS receives in clear, and the SDK logs it).
async fn credentials(client: &Client, ns: &str, name: &str, key_id: &str) {
    let secret_key = format!("secret-access-key-{}", unique_name("k"));
    support::leak::register(&secret_key);
    let secret = plain_secret(
        ns,
        name,
        json!({"access-key-id": key_id, "secret-access-key": secret_key}),
    );
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
}

/// A store's `provider` through the proxy with credentials from `secret` (namespace `ns` when
/// set).
fn provider(proxy: &AwsProxy, secret: &str, ns: Option<&str>) -> Value {
    let selector = |key: &str| {
        let mut s = json!({"name": secret, "key": key});
        if let Some(ns) = ns {
            s["namespace"] = json!(ns);
        }
        s
    };
    json!({"aws": {
        "service": "SecretsManager", "region": REGION, "endpoint": proxy.endpoint,
        "auth": {"secretRef": {
            "accessKeyIDSecretRef": selector("access-key-id"),
            "secretAccessKeySecretRef": selector("secret-access-key"),
        }},
    }})
}

/// Creates a namespaced object of kind `K` from its manifest.
async fn create<K>(client: &Client, ns: &str, manifest: Value)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    let object: K = serde_json::from_value(manifest).unwrap();
    Api::<K>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &object)
        .await
        .unwrap();
}

/// An ExternalSecret reading `remote` into key `v` through `store` (a `secretStoreRef`).
fn reads(store: Value, remote: &str) -> Value {
    json!({
        "secretStoreRef": store,
        "refreshInterval": "1h",
        "data": [{"secretKey": "v", "remoteRef": {"key": remote}}],
    })
}

#[tokio::test]
async fn a_tenant_cannot_reach_another_namespace_or_the_operators_identity() {
    let w = World::start().await;
    let (t, ns) = (&w.tenant, w.tenant_ns.as_str());
    let other = w.other_ns.as_str();
    let mut proven: Vec<Proven> = Vec::new();
    // Every refused ExternalSecret asks for an AWS secret nobody else reads: none may be read.
    let wanted = |case: &str| unique_name(&format!("tenant-wants/{case}"));

    // The tenant's own world, with its own client: credentials, a store, a Secret of its own.
    let own_value = format!("tenant-own-value-{}", unique_name("v"));
    let own_key = unique_name("tenant/db");
    create_aws(&w.aws, &own_key, &own_value).await;
    credentials(t, ns, "tenant-aws", TENANT_KEY).await;
    create_store_spec(
        t,
        ns,
        "own",
        json!({"provider": provider(&w.proxy, "tenant-aws", None)}),
    )
    .await;
    create_secret(
        t,
        ns,
        "app-config",
        json!({"mode": "production", "owner": "the tenant"}),
    )
    .await;

    // What the tenant tries. (The store of another namespace is named as the tenant would.)
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "the SecretStore of another namespace (`secretStoreRef.name` naming it)",
            "other-store",
            reads(
                json!({"name": "aws", "kind": "SecretStore"}),
                &wanted("other-store"),
            ),
            "StoreNotFound",
        ),
        (
            "a Secret it does not own (`target.name` of an existing Secret, creationPolicy Owner)",
            "take-over",
            json!({
                "secretStoreRef": {"name": "own"}, "refreshInterval": "1h",
                "target": {"name": "app-config"},
                "data": [{"secretKey": "v", "remoteRef": {"key": own_key}}],
            }),
            "SecretConflict",
        ),
        (
            "another namespace's credential Secret (`auth.secretRef` with `namespace`)",
            "borrowed-keys",
            reads(json!({"name": "borrowed-keys"}), &wanted("borrowed-keys")),
            "InvalidStoreConfig",
        ),
        (
            "a ServiceAccount of another namespace (`auth.jwt.serviceAccountRef` with `namespace`)",
            "borrowed-account",
            reads(
                json!({"name": "borrowed-account"}),
                &wanted("borrowed-account"),
            ),
            "InvalidStoreConfig",
        ),
        (
            "the operator's own AWS identity (a SecretStore without `auth`)",
            "ambient",
            reads(json!({"name": "ambient"}), &wanted("ambient")),
            "AmbientCredentialsNotAllowed",
        ),
    ];
    // The tenant's stores for the attempts.
    create_store_spec(
        t,
        ns,
        "borrowed-keys",
        json!({"provider": provider(&w.proxy, "aws-credentials", Some(other))}),
    )
    .await;
    create_store_spec(
        t,
        ns,
        "borrowed-account",
        json!({"provider": {"aws": {
            "service": "SecretsManager", "region": REGION, "endpoint": w.proxy.endpoint,
            "auth": {"jwt": {"serviceAccountRef": {"name": "app", "namespace": other}}},
        }}}),
    )
    .await;
    create_store_spec(
        t,
        ns,
        "ambient",
        json!({"provider": {"aws": {
            "service": "SecretsManager", "region": REGION, "endpoint": w.proxy.endpoint,
        }}}),
    )
    .await;
    let other_before = w.other_secrets().await;
    for (_, name, spec, _) in &cases {
        create_es(t, ns, name, spec.clone()).await;
    }
    // The positive control, in the same setup: its own store into its own Secret, and a merge
    // into its own Secret.
    create_es(t, ns, "own", reads(json!({"name": "own"}), &own_key)).await;
    create_es(
        t,
        ns,
        "merge-in",
        json!({
            "secretStoreRef": {"name": "own"}, "refreshInterval": "1h",
            "target": {"name": "app-config", "creationPolicy": "Merge"},
            "data": [{"secretKey": "password", "remoteRef": {"key": own_key}}],
        }),
    )
    .await;

    for (tried, name, spec, reason) in &cases {
        let target = spec["target"]["name"].as_str().unwrap_or(name);
        if *reason == "SecretConflict" {
            // The Secret exists (the tenant's own): it is not taken over (the merging
            // ExternalSecret adds its key; both checked below).
            let (status, message) = wait_reason(t, ns, name, reason).await;
            assert_eq!(status, "False", "{name}: {message}");
        } else {
            w.refused(name, target, reason).await;
        }
        proven.push(Proven {
            tried: tried.to_string(),
            outcome: format!("refused: `{reason}`"),
        });
    }
    wait_data(t, ns, "own", &[("v", &own_value)]).await;
    let merged = wait_data(
        t,
        ns,
        "app-config",
        &[
            ("mode", "production"),
            ("owner", "the tenant"),
            ("password", &own_value),
        ],
    )
    .await;
    assert!(
        owner_name(&merged).is_none(),
        "a merge never takes a Secret over"
    );
    assert!(
        !merged
            .annotations()
            .contains_key("stagesync.io/external-secret"),
        "the refused ExternalSecret did not take the Secret over"
    );
    wait_events(
        t,
        ns,
        "take-over",
        "a SecretConflict warning about take-over",
        |e| e.0 == "Warning" && e.1 == "SecretConflict",
    )
    .await;
    proven.push(Proven {
        tried: "its own SecretStore (its own credentials) into its own Secret".into(),
        outcome: "allowed: `SecretSynced`".into(),
    });
    proven.push(Proven {
        tried: "`creationPolicy: Merge` into a Secret of its own namespace".into(),
        outcome: "allowed: its key added, the Secret's other keys kept".into(),
    });

    // Nothing was read for the refused attempts, the operator's identity signed nothing, the
    // tenant's key signed its own store's calls, and the other namespace is untouched.
    for (_, name, spec, _) in &cases {
        let remote = spec["data"][0]["remoteRef"]["key"].as_str().unwrap();
        if remote.starts_with("tenant-wants/") {
            assert!(!w.was_read(remote), "{name}: AWS secret {remote} was read");
        }
    }
    assert_eq!(
        w.signed_by(OPERATOR_KEY),
        vec![],
        "the operator's own identity was used"
    );
    assert!(
        w.signed_by(TENANT_KEY)
            .iter()
            .any(|(op, _)| op == "GetSecretValue" || op == "BatchGetSecretValue"),
        "the tenant's own store reads with the tenant's key"
    );
    assert_eq!(
        w.proxy.count("sts:AssumeRoleWithWebIdentity"),
        0,
        "no other namespace's ServiceAccount was used"
    );
    assert_eq!(
        w.other_secrets().await,
        other_before,
        "the other namespace's Secrets are untouched"
    );

    // The tenant's own RBAC cannot read the other namespace's credentials either.
    let forbidden = Api::<Secret>::namespaced(t.clone(), other)
        .get("aws-credentials")
        .await;
    assert!(
        matches!(&forbidden, Err(kube::Error::Api(s)) if s.code == 403),
        "{forbidden:?}"
    );
    proven.push(Proven {
        tried: "reading another namespace's credential Secret with its own RBAC".into(),
        outcome: "refused by the API server: 403".into(),
    });

    // Writing into another namespace: no field allows it.
    for bad in [format!("{other}/db"), format!("../{other}")] {
        let refused = Api::<ExternalSecret>::namespaced(t.clone(), ns)
            .create(
                &PostParams::default(),
                &es_object(
                    ns,
                    "elsewhere",
                    json!({
                        "secretStoreRef": {"name": "own"}, "target": {"name": bad},
                        "data": [{"secretKey": "v", "remoteRef": {"key": own_key}}],
                    }),
                ),
            )
            .await;
        assert!(
            matches!(&refused, Err(kube::Error::Api(s)) if s.code == 422),
            "{bad}: {refused:?}"
        );
    }
    proven.push(Proven {
        tried: "another namespace as `target.name` (`<namespace>/db`, `../<namespace>`)".into(),
        outcome: "refused by the API server: 422 (a Secret name has no `/`)".into(),
    });
    let elsewhere = Api::<ExternalSecret>::namespaced(t.clone(), other)
        .create(
            &PostParams::default(),
            &es_object(other, "elsewhere", reads(json!({"name": "aws"}), &own_key)),
        )
        .await;
    assert!(
        matches!(&elsewhere, Err(kube::Error::Api(s)) if s.code == 403),
        "{elsewhere:?}"
    );
    proven.push(Proven {
        tried: "an ExternalSecret in another namespace".into(),
        outcome: "refused by the API server: 403".into(),
    });
    create_es(
        t,
        ns,
        "named-like",
        json!({
            "secretStoreRef": {"name": "own"}, "refreshInterval": "1h",
            "target": {"name": other, "namespace": other},
            "data": [{"secretKey": "v", "remoteRef": {"key": own_key}}],
        }),
    )
    .await;
    wait_data(t, ns, other, &[("v", &own_value)]).await;
    let stored = Api::<ExternalSecret>::namespaced(t.clone(), ns)
        .get("named-like")
        .await
        .unwrap();
    assert!(
        serde_json::to_value(&stored.spec.target)
            .unwrap()
            .get("namespace")
            .is_none()
    );
    assert_eq!(
        w.other_secrets().await,
        other_before,
        "nothing was written in the other namespace"
    );
    proven.push(Proven {
        tried:
            "another namespace's name as `target.name`, plus a `target.namespace` (no such field)"
                .into(),
        outcome: "the field is dropped; the Secret is written in its own namespace only".into(),
    });

    // A ClusterSecretStore of the platform (the operator's own identity) that does not admit
    // the tenant's namespace. The platform's own ExternalSecret shows the proxy would see that
    // identity if it were used.
    let platform_ns = w.cluster.namespace("platform").await;
    let css = unique_name("platform").replace('/', "-");
    create_cluster_store(&w.cluster.client, &css, json!({
        "provider": {"aws": {"service": "SecretsManager", "region": REGION, "endpoint": w.proxy.endpoint}},
        "conditions": [{"namespaces": [platform_ns]}],
    }))
    .await;
    let platform_key = unique_name("platform/db");
    let platform_value = format!("platform-value-{}", unique_name("v"));
    create_aws(&w.aws, &platform_key, &platform_value).await;
    create_es(
        &w.cluster.client,
        &platform_ns,
        "db",
        reads(
            json!({"name": css, "kind": "ClusterSecretStore"}),
            &platform_key,
        ),
    )
    .await;
    wait_data(
        &w.cluster.client,
        &platform_ns,
        "db",
        &[("v", &platform_value)],
    )
    .await;
    assert!(
        w.signed_by(OPERATOR_KEY)
            .iter()
            .any(|(op, _)| op == "GetSecretValue" || op == "BatchGetSecretValue"),
        "the platform's store reads with the operator's identity: the proxy sees it"
    );
    let not_admitted = wanted("not-admitted");
    create_es(
        t,
        ns,
        "not-admitted",
        reads(
            json!({"name": css, "kind": "ClusterSecretStore"}),
            &not_admitted,
        ),
    )
    .await;
    w.refused("not-admitted", "not-admitted", "StoreNotAllowed")
        .await;
    assert!(
        !w.was_read(&not_admitted),
        "nothing was read for the tenant"
    );
    proven.push(Proven {
        tried: "a ClusterSecretStore whose `conditions` do not admit its namespace".into(),
        outcome: "refused: `StoreNotAllowed`".into(),
    });

    support::docs::check_block("docs/reliability.md", "tenant-isolation", &table(&proven));
}

fn es_object(ns: &str, name: &str, spec: Value) -> ExternalSecret {
    serde_json::from_value(json!({
        "apiVersion": "stagesync.io/v1alpha1", "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }))
    .unwrap()
}

fn table(proven: &[Proven]) -> String {
    let mut out = String::from(
        "A tenant ServiceAccount with a Role in its own namespace (ExternalSecrets, SecretStores, \
         Secrets, ConfigMaps, Deployments; events read) works with its own client on the API \
         server fake, which enforces RBAC (`tests/tenant_isolation.rs`). Each refusal by the \
         operator is `Ready=False` with the reason below and a Warning event; nothing is written \
         and the AWS secret asked for is never read; a counting proxy in front of AWS shows no \
         request signed by the operator's own identity on the tenant's behalf, while the \
         platform's own ClusterSecretStore does use it.\n\n| The tenant tries | Outcome |\n|---|---|\n",
    );
    for p in proven {
        out.push_str(&format!("| {} | {} |\n", p.tried, p.outcome));
    }
    out
}
