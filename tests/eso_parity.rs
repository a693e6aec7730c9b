//! ESO fields beyond the basics, each as ESO documents it: store `prefix`, `additionalRoles`,
//! `sessionTagsPolicy`/`customSessionTags`/`transitiveTagKeys`, `secretsManager` (no effect),
//! the controller class; ExternalSecret `sourceRef.storeRef`, `nullBytePolicy`, template
//! `finalizers`, `rewrite.merge`, `syncWindows`, and the refused `generatorRef`/`manifest`.

mod support;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::{Value, json};
use support::cluster::eventually;
use support::objects::*;
use support::rig::*;
use support::unique_name;

/// The store `aws` of the rig with extra `provider.aws` fields.
fn provider_with(r: &Rig, extra: Value) -> Value {
    let mut provider = aws_provider(&r.proxy.endpoint, None);
    provider["aws"]
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    provider
}

async fn secret(r: &Rig, name: &str) -> Option<Secret> {
    Api::<Secret>::namespaced(r.client().clone(), &r.ns)
        .get_opt(name)
        .await
        .unwrap()
}

fn valid_key(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[tokio::test]
async fn a_store_prefix_applies_to_keys_and_extract_but_not_to_find() {
    let r = Rig::start("eso-prefix", |_| {}).await;
    let prefix = format!("{}/", unique_name("team-x"));
    create_aws(&r.aws, &format!("{prefix}db"), "db-value").await;
    create_aws(&r.aws, &format!("{prefix}app"), r#"{"mode":"prod"}"#).await;
    create_store_spec(
        r.client(),
        &r.ns,
        "prefixed",
        json!({"provider": provider_with(&r, json!({"prefix": prefix})), "refreshInterval": 1}),
    )
    .await;
    create_es(
        r.client(),
        &r.ns,
        "app",
        json!({
            "secretStoreRef": {"name": "prefixed"},
            "refreshInterval": "1s",
            "data": [{"secretKey": "db", "remoteRef": {"key": "db"}}],
            "dataFrom": [
                {"extract": {"key": "app"}},
                // find takes full names, as in ESO.
                {"find": {"name": {"regexp": format!("^{}db$", regex_quote(&prefix))}}},
            ],
        }),
    )
    .await;
    let found = valid_key(&format!("{prefix}db"));
    wait_data(
        r.client(),
        &r.ns,
        "app",
        &[
            ("db", "db-value"),
            ("mode", "prod"),
            (found.as_str(), "db-value"),
        ],
    )
    .await;
    let status = r.es("app").await.status.unwrap();
    assert!(
        status.synced_versions.contains_key(&format!("{prefix}db")),
        "{:?}",
        status.synced_versions
    );
}

fn regex_quote(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[tokio::test]
async fn roles_are_chained_and_session_tags_name_each_namespace() {
    let (r, teams) = Rig::bare("eso-tags", 2, |_| {}, QUICK).await;
    create_credentials(r.client(), &r.ns).await;
    let key = unique_name("eso/tagged");
    create_aws(&r.aws, &key, "tagged").await;
    let css = unique_name("tagged").replace('/', "-");
    let mut provider = aws_provider(&r.proxy.endpoint, Some(&r.ns));
    provider["aws"]["role"] = json!("arn:aws:iam::123456789012:role/reader");
    provider["aws"]["additionalRoles"] = json!(["arn:aws:iam::123456789012:role/hub"]);
    provider["aws"]["sessionTagsPolicy"] = json!("Custom");
    provider["aws"]["customSessionTags"] = json!({"team": "platform"});
    provider["aws"]["transitiveTagKeys"] = json!(["esoNamespace"]);
    create_cluster_store(
        r.client(),
        &css,
        json!({"provider": provider, "conditions": [{"namespaces": teams}], "refreshInterval": 1}),
    )
    .await;
    for team in &teams {
        create_es(
            r.client(),
            team,
            "db",
            reads(
                json!({"name": css, "kind": "ClusterSecretStore"}),
                &key,
                json!({}),
            ),
        )
        .await;
        wait_data(r.client(), team, "db", &[("v", "tagged")]).await;
    }
    let requests = r.proxy.sts_requests();
    let assumed = |role: &str| -> Vec<&BTreeMap<String, String>> {
        requests
            .iter()
            .filter(|q| q.get("Action").map(String::as_str) == Some("AssumeRole"))
            .filter(|q| q.get("RoleArn").is_some_and(|a| a.ends_with(role)))
            .collect()
    };
    assert!(
        !assumed("role/hub").is_empty(),
        "the additional role is assumed first: {requests:?}"
    );
    let tags = |q: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        (1..=10)
            .filter_map(|i| {
                Some((
                    q.get(&format!("Tags.member.{i}.Key"))?.clone(),
                    q.get(&format!("Tags.member.{i}.Value"))?.clone(),
                ))
            })
            .collect()
    };
    for team in &teams {
        let session = assumed("role/reader")
            .into_iter()
            .find(|q| tags(q).get("esoNamespace") == Some(team))
            .unwrap_or_else(|| panic!("no session for {team}: {requests:?}"));
        let t = tags(session);
        assert_eq!(t["esoStoreName"], css);
        assert_eq!(t["esoStoreKind"], "ClusterSecretStore");
        assert_eq!(t["team"], "platform");
        assert_eq!(session["TransitiveTagKeys.member.1"], "esoNamespace");
    }
}

#[tokio::test]
async fn reserved_custom_session_tags_are_refused_by_the_schema() {
    let r = Rig::start("eso-reserved", |_| {}).await;
    let store: stagesync::api::SecretStore = serde_json::from_value(json!({
        "apiVersion": "stagesync.io/v1alpha1", "kind": "SecretStore",
        "metadata": {"name": "bad", "namespace": r.ns},
        "spec": {"provider": provider_with(&r, json!({
            "sessionTagsPolicy": "Custom",
            "customSessionTags": {"esoNamespace": "spoofed"},
        }))},
    }))
    .unwrap();
    let err = Api::<stagesync::api::SecretStore>::namespaced(r.client().clone(), &r.ns)
        .create(&Default::default(), &store)
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("not an API error: {err}")
    };
    assert_eq!(status.code, 422);
    assert!(
        status.message.contains("reserved keys"),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn push_secret_settings_are_accepted_and_reported_as_without_effect() {
    let r = Rig::start("eso-noeffect", |_| {}).await;
    create_store_spec(
        r.client(),
        &r.ns,
        "push",
        json!({"provider": provider_with(&r, json!({
            "secretsManager": {"forceDeleteWithoutRecovery": false, "recoveryWindowInDays": 7},
        }))}),
    )
    .await;
    let (kind, _, note) = eventually(WAIT, "a NoEffect event", || async {
        typed_events_about(r.client(), &r.ns, "push")
            .await
            .into_iter()
            .find(|e| e.1 == "NoEffect")
    })
    .await;
    assert_eq!(kind, "Normal");
    assert!(note.contains("secretsManager"), "{note}");
}

#[tokio::test]
async fn stores_of_another_controller_class_are_left_to_their_controller() {
    let mut r = Rig::start("eso-class", |_| {}).await;
    let key = unique_name("eso/class");
    create_aws(&r.aws, &key, "classy").await;
    create_store_spec(
        r.client(),
        &r.ns,
        "eso-store",
        json!({"controller": "eso", "provider": aws_provider(&r.proxy.endpoint, None), "refreshInterval": 1}),
    )
    .await;
    create_es(
        r.client(),
        &r.ns,
        "foreign",
        reads(json!({"name": "eso-store"}), &key, json!({})),
    )
    .await;
    create_es(r.client(), &r.ns, "mine", current(&key)).await;
    wait_data(r.client(), &r.ns, "mine", &[("v", "classy")]).await;
    // The classless operator synced its own ExternalSecret and left the other alone.
    let foreign = r.es("foreign").await;
    assert!(foreign.status.is_none(), "{:?}", foreign.status);
    assert!(foreign.metadata.finalizers.is_none());
    assert!(secret(&r, "foreign").await.is_none());

    // A stagesync of class `eso` takes it (and every classless store too).
    r.config.controller_class = Some("eso".into());
    r.restart_operator().await;
    wait_data(r.client(), &r.ns, "foreign", &[("v", "classy")]).await;
    put_current(&r.aws, &key, "classier").await;
    wait_data(r.client(), &r.ns, "mine", &[("v", "classier")]).await;
}

#[tokio::test]
async fn entries_read_through_other_stores_under_their_own_tenancy() {
    let (r, others) = Rig::bare("eso-source", 1, |_| {}, QUICK).await;
    create_credentials(r.client(), &r.ns).await;
    r.store("aws", json!({})).await;
    let main_key = unique_name("eso/main");
    create_aws(&r.aws, &main_key, "from-main").await;
    let stg = format!("{}/", unique_name("stg"));
    create_aws(&r.aws, &format!("{stg}db"), r#"{"user":"staging-user"}"#).await;
    create_store_spec(
        r.client(),
        &r.ns,
        "staging",
        json!({"provider": provider_with(&r, json!({"prefix": stg})), "refreshInterval": 1}),
    )
    .await;
    create_es(
        r.client(),
        &r.ns,
        "mixed",
        json!({
            "secretStoreRef": {"name": "aws"},
            "refreshInterval": "1s",
            "data": [
                {"secretKey": "main", "remoteRef": {"key": main_key}},
                {"secretKey": "db", "remoteRef": {"key": "db", "property": "user"},
                 "sourceRef": {"storeRef": {"name": "staging"}}},
            ],
            "dataFrom": [{"extract": {"key": "db"}, "sourceRef": {"storeRef": {"name": "staging"}}}],
        }),
    )
    .await;
    wait_data(
        r.client(),
        &r.ns,
        "mixed",
        &[
            ("main", "from-main"),
            ("db", "staging-user"),
            ("user", "staging-user"),
        ],
    )
    .await;

    // A ClusterSecretStore that does not admit this namespace stays out of reach per entry.
    let css = unique_name("elsewhere").replace('/', "-");
    create_cluster_store(
        r.client(),
        &css,
        json!({"provider": aws_provider(&r.proxy.endpoint, Some(&r.ns)), "conditions": [{"namespaces": others}]}),
    )
    .await;
    create_es(
        r.client(),
        &r.ns,
        "sneaky",
        json!({
            "secretStoreRef": {"name": "aws"},
            "data": [{"secretKey": "x", "remoteRef": {"key": main_key},
                      "sourceRef": {"storeRef": {"name": css, "kind": "ClusterSecretStore"}}}],
        }),
    )
    .await;
    let (_, message) = wait_reason(r.client(), &r.ns, "sneaky", "StoreNotAllowed").await;
    assert!(message.contains(&css), "{message}");
    assert!(secret(&r, "sneaky").await.is_none());
}

#[tokio::test]
async fn null_bytes_are_refused_only_under_policy_fail_and_the_secret_is_kept() {
    let r = Rig::start("eso-nul", |_| {}).await;
    let key = unique_name("eso/binary");
    r.aws
        .create_secret()
        .name(&key)
        .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(
            b"ab\0cd".to_vec(),
        ))
        .send()
        .await
        .unwrap();
    let spec = |policy: &str| {
        json!({
            "secretStoreRef": {"name": "aws"},
            "refreshInterval": "1s",
            "data": [{"secretKey": "blob", "remoteRef": {"key": key, "nullBytePolicy": policy}}],
        })
    };
    create_es(r.client(), &r.ns, "bin", spec("Ignore")).await;
    let written = eventually(WAIT, "binary data written", || async {
        secret(&r, "bin").await.and_then(|s| s.data)
    })
    .await;
    assert_eq!(written["blob"].0, b"ab\0cd");
    apply_es_spec(r.client(), &r.ns, "bin", spec("Fail")).await;
    let (_, message) = wait_reason(r.client(), &r.ns, "bin", "NullBytesRefused").await;
    assert!(
        message.contains("\"blob\"") && message.contains("null bytes"),
        "{message}"
    );
    assert_eq!(secret(&r, "bin").await.unwrap().data, Some(written));
    wait_events(
        r.client(),
        &r.ns,
        "bin",
        "a NullBytesRefused warning",
        |e| e.0 == "Warning" && e.1 == "NullBytesRefused",
    )
    .await;
}

#[tokio::test]
async fn template_finalizers_are_set_on_the_secret_and_removed_with_the_spec() {
    let r = Rig::start("eso-finalizers", |_| {}).await;
    let key = unique_name("eso/fin");
    create_aws(&r.aws, &key, "v").await;
    let mut spec = current(&key);
    spec["target"] = json!({"template": {"metadata": {"finalizers": ["example.com/backup"]}}});
    // Applied from Git, so that applying the spec without the finalizer removes it.
    apply_es_spec(r.client(), &r.ns, "fin", spec).await;
    eventually(WAIT, "the finalizer", || async {
        secret(&r, "fin")
            .await?
            .metadata
            .finalizers
            .filter(|f| f.contains(&"example.com/backup".to_owned()))
    })
    .await;
    apply_es_spec(r.client(), &r.ns, "fin", current(&key)).await;
    eventually(WAIT, "the finalizer removed", || async {
        let s = secret(&r, "fin").await?;
        s.metadata
            .finalizers
            .unwrap_or_default()
            .is_empty()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn rewrite_merge_combines_found_values_and_refuses_conflicts() {
    let r = Rig::start("eso-merge", |_| {}).await;
    let path = format!("{}/", unique_name("merge"));
    create_aws(
        &r.aws,
        &format!("{path}a"),
        r#"{"user":"app","host":"db.local"}"#,
    )
    .await;
    create_aws(&r.aws, &format!("{path}b"), r#"{"port":5432}"#).await;
    let spec = |merge: Value| {
        json!({
            "secretStoreRef": {"name": "aws"},
            "refreshInterval": "1s",
            // Found keys are AWS names (`path/a`); the regexp makes the JSON strategy's kept
            // input keys valid Secret keys.
            "dataFrom": [{"find": {"path": path}, "rewrite": [
                {"merge": merge},
                {"regexp": {"source": "[^-._a-zA-Z0-9]", "target": "_"}},
            ]}],
        })
    };
    create_es(r.client(), &r.ns, "merged", spec(json!({}))).await;
    wait_data(
        r.client(),
        &r.ns,
        "merged",
        &[("user", "app"), ("host", "db.local"), ("port", "5432")],
    )
    .await;
    create_aws(&r.aws, &format!("{path}c"), r#"{"user":"intruder"}"#).await;
    create_es(r.client(), &r.ns, "conflict", spec(json!({}))).await;
    let (_, message) = wait_reason(r.client(), &r.ns, "conflict", "RewriteFailed").await;
    assert!(message.contains("\"user\""), "{message}");
    assert!(!message.contains("intruder"), "a value leaked: {message}");
    create_es(
        r.client(),
        &r.ns,
        "as-json",
        spec(
            json!({"strategy": "JSON", "into": "config", "conflictPolicy": "Ignore",
                    "priority": [format!("{path}a")]}),
        ),
    )
    .await;
    let got = eventually(WAIT, "merged JSON", || async {
        secret(&r, "as-json").await?.data?.get("config").cloned()
    })
    .await;
    let config: Value = serde_json::from_slice(&got.0).unwrap();
    // The priority key is merged last: its user wins.
    assert_eq!(
        config,
        json!({"user": "app", "host": "db.local", "port": 5432})
    );
}

#[tokio::test]
async fn sync_windows_hold_back_periodic_refreshes_but_not_the_first_sync() {
    let r = Rig::start("eso-windows", |_| {}).await;
    let key = unique_name("eso/windowed");
    create_aws(&r.aws, &key, "before").await;
    let mut spec = current(&key);
    // A deny window that is always open: only the first sync may write.
    spec["syncWindows"] =
        json!({"kind": "deny", "windows": [{"schedule": "@every 1m", "duration": "1h"}]});
    // Applied from Git, so that applying the spec without the windows removes them.
    apply_es_spec(r.client(), &r.ns, "windowed", spec).await;
    wait_data(r.client(), &r.ns, "windowed", &[("v", "before")]).await;
    put_current(&r.aws, &key, "after").await;
    let (_, _, message) = eventually(WAIT, "held back", || async {
        es_condition(r.client(), &r.ns, "windowed", "Ready")
            .await
            .filter(|c| c.2.contains("held back by syncWindows"))
    })
    .await;
    assert!(
        message.contains("no window lets them run") || message.contains("until"),
        "{message}"
    );
    assert_eq!(
        secret_data(r.client(), &r.ns, "windowed").await,
        Some(expected_data(&[("v", "before")]))
    );
    // Removing the windows is a spec change: written at once.
    apply_es_spec(r.client(), &r.ns, "windowed", current(&key)).await;
    wait_data(r.client(), &r.ns, "windowed", &[("v", "after")]).await;
}

#[tokio::test]
async fn generators_and_manifests_are_refused_naming_the_field() {
    let r = Rig::start("eso-refused", |_| {}).await;
    let key = unique_name("eso/refused");
    create_aws(&r.aws, &key, "v").await;
    create_es(
        r.client(),
        &r.ns,
        "generated",
        json!({
            "secretStoreRef": {"name": "aws"},
            "dataFrom": [{"sourceRef": {"generatorRef": {"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "Password", "name": "pw"}}}],
        }),
    )
    .await;
    let (_, message) = wait_reason(r.client(), &r.ns, "generated", "InvalidSpec").await;
    assert!(
        message.contains("dataFrom[0].sourceRef.generatorRef"),
        "{message}"
    );
    let mut spec = current(&key);
    spec["target"] = json!({"manifest": {"apiVersion": "v1", "kind": "ConfigMap"}});
    create_es(r.client(), &r.ns, "manifest", spec).await;
    let (_, message) = wait_reason(r.client(), &r.ns, "manifest", "InvalidSpec").await;
    assert!(message.contains("target.manifest"), "{message}");
    assert!(secret(&r, "manifest").await.is_none());
}

/// A cluster whose operator (the chart's ServiceAccount) has `rbac`, a namespace with two
/// ServiceAccounts (one associated with an IAM role, one not) and a store using each through
/// `auth.jwt`, read through a proxy.
async fn jwt_world(
    rbac: Vec<Value>,
) -> (
    support::cluster::TestCluster,
    String,
    support::aws_proxy::AwsProxy,
    support::cluster::OperatorHandle,
    String,
) {
    let cluster = support::cluster::TestCluster::start_with_rbac(Some(rbac)).await;
    let ns = cluster.namespace("eso-jwt").await;
    let proxy = support::aws_proxy::AwsProxy::start(&support::moto::moto().endpoint);
    let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(cluster.client.clone(), &ns);
    for (name, annotations) in [
        (
            "tenant",
            json!({"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/tenant-a"}),
        ),
        ("bare", json!({})),
    ] {
        sas.create(
            &Default::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": name, "annotations": annotations}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    }
    for (store, sa) in [("jwt", "tenant"), ("no-role", "bare")] {
        let mut provider = aws_provider(&proxy.endpoint, None);
        provider["aws"]["auth"] =
            json!({"jwt": {"serviceAccountRef": {"name": sa, "audiences": ["extra-audience"]}}});
        create_store_with(&cluster.client, &ns, store, provider).await;
    }
    let key = unique_name("eso/jwt");
    create_aws(
        &support::moto::moto().admin_client().await,
        &key,
        "as-tenant",
    )
    .await;
    let operator = cluster.run_operator_with(
        support::cluster::test_policy(&proxy.endpoint),
        stagesync::controller::ControllerConfig {
            namespaces: vec![ns.clone()],
            backoff_base: std::time::Duration::from_millis(200),
            backoff_cap: std::time::Duration::from_secs(2),
            ..Default::default()
        },
    );
    (cluster, ns, proxy, operator, key)
}

#[tokio::test]
async fn auth_jwt_exchanges_the_tenant_service_account_for_its_role() {
    let rbac = support::chart::operator_rbac_for(&[("jwtAuth.enabled", "true")]);
    let (cluster, ns, proxy, _op, key) = jwt_world(rbac).await;
    let c = &cluster.client;
    create_es(c, &ns, "db", reads(json!({"name": "jwt"}), &key, json!({}))).await;
    wait_data(c, &ns, "db", &[("v", "as-tenant")]).await;
    let exchange = proxy
        .sts_requests()
        .into_iter()
        .find(|q| q.get("Action").map(String::as_str) == Some("AssumeRoleWithWebIdentity"))
        .expect("an AssumeRoleWithWebIdentity call");
    assert_eq!(
        exchange["RoleArn"],
        "arn:aws:iam::123456789012:role/tenant-a"
    );
    use base64::Engine as _;
    let payload = exchange["WebIdentityToken"]
        .split('.')
        .nth(1)
        .unwrap()
        .to_owned();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], format!("system:serviceaccount:{ns}:tenant"));
    assert_eq!(
        claims["aud"],
        json!(["sts.amazonaws.com", "extra-audience"])
    );

    // A ServiceAccount without a role: the store says which one and what is missing.
    create_es(
        c,
        &ns,
        "norole",
        reads(json!({"name": "no-role"}), &key, json!({})),
    )
    .await;
    let (_, message) = wait_reason(c, &ns, "norole", "InvalidStoreConfig").await;
    assert!(
        message.contains("\"bare\"") && message.contains("eks.amazonaws.com/role-arn"),
        "{message}"
    );
}

#[tokio::test]
async fn auth_jwt_without_the_right_to_mint_tokens_is_a_clear_store_error() {
    let rbac = support::chart::operator_rbac_for(&[("jwtAuth.enabled", "true")]);
    let token_rule = support::chart::rule_positions(&rbac)
        .into_iter()
        .find(|(o, r)| rbac[*o]["rules"][*r]["resources"] == json!(["serviceaccounts/token"]))
        .expect("jwtAuth renders the token rule");
    let (cluster, ns, _proxy, _op, key) =
        jwt_world(support::chart::without_rule(&rbac, token_rule)).await;
    create_es(
        &cluster.client,
        &ns,
        "db",
        reads(json!({"name": "jwt"}), &key, json!({})),
    )
    .await;
    let (_, message) = wait_reason(&cluster.client, &ns, "db", "InvalidStoreConfig").await;
    assert!(
        message.contains("\"tenant\"") && message.contains("forbidden"),
        "{message}"
    );
    let written = Api::<Secret>::namespaced(cluster.client.clone(), &ns)
        .get_opt("db")
        .await
        .unwrap();
    assert!(written.is_none());
}
