//! The ExternalSecret reconciler, running in-process against the cluster harness (the API
//! server fake over HTTPS, or a real cluster) and a real moto server. Each test reads like the
//! user's story it proves.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use stagesync::api::externalsecret::ExternalSecret;
use support::cluster::{TestCluster, env, eventually, test_policy};
use support::moto::{moto, moto_enforcing_auth};
use support::objects::*;
use support::unique_name;

#[tokio::test]
async fn first_sync_writes_the_secret_status_and_an_event() {
    let e = env("first").await;
    let key = unique_name("app/db");
    let version = create_aws(
        &e.aws,
        &key,
        r#"{"username":"admin","password":"first-sync-pw"}"#,
    )
    .await;
    create_es(
        e.client(),
        &e.ns,
        "db",
        json!({
            "secretStoreRef": store_ref(),
            "data": [
                {"secretKey": "username", "remoteRef": {"key": key, "property": "username"}},
                {"secretKey": "password", "remoteRef": {"key": key, "property": "password"}},
            ],
        }),
    )
    .await;
    let secret = wait_data(
        e.client(),
        &e.ns,
        "db",
        &[("username", "admin"), ("password", "first-sync-pw")],
    )
    .await;
    assert_eq!(secret.labels()["app.kubernetes.io/managed-by"], "stagesync");
    assert_eq!(secret.annotations()["stagesync.io/external-secret"], "db");
    assert_eq!(secret.annotations()["stagesync.io/data-hash"].len(), 64);
    assert_eq!(owner_name(&secret).as_deref(), Some("db"));
    assert!(
        secret
            .managed_fields()
            .iter()
            .any(|f| f.manager.as_deref() == Some("stagesync")
                && f.operation.as_deref() == Some("Apply"))
    );

    let (status, _) = wait_reason(e.client(), &e.ns, "db", "SecretSynced").await;
    assert_eq!(status, "True");
    let es = Api::<ExternalSecret>::namespaced(e.client().clone(), &e.ns)
        .get("db")
        .await
        .unwrap();
    let st = es.status.unwrap();
    assert_eq!(st.synced_versions[&key].version_id, version);
    assert!(
        st.synced_versions[&key]
            .version_stages
            .contains(&"AWSCURRENT".to_owned())
    );
    assert!(st.refresh_time.is_some());
    assert_eq!(st.binding.unwrap().name, "db");
    let events = eventually(WAIT, "a Created event", || async {
        let ev = events_about(e.client(), &e.ns, "db").await;
        ev.iter().any(|(r, _)| r == "Created").then_some(ev)
    })
    .await;
    assert!(
        events
            .iter()
            .all(|(_, note)| !note.contains("first-sync-pw"))
    );
}

#[tokio::test]
async fn property_extract_and_find_with_precedence() {
    let e = env("shapes").await;
    let root = unique_name("shapes");
    let config = format!("{root}/config");
    create_aws(
        &e.aws,
        &config,
        r#"{"host":"db.internal","port":5432,"mode":"from-extract"}"#,
    )
    .await;
    for name in ["a", "b"] {
        create_aws(
            &e.aws,
            &format!("{root}/certs/{name}"),
            &format!("cert-{name}"),
        )
        .await;
    }
    create_es(e.client(), &e.ns, "shapes", json!({
        "secretStoreRef": store_ref(),
        "dataFrom": [
            {"extract": {"key": config}},
            {"find": {"path": format!("{root}/certs/")}, "rewrite": [{"regexp": {"source": ".*/certs/(.*)", "target": "cert-$1"}}]},
        ],
        "data": [{"secretKey": "mode", "remoteRef": {"key": config, "property": "host"}}],
    }))
    .await;
    wait_data(
        e.client(),
        &e.ns,
        "shapes",
        &[
            ("host", "db.internal"),
            ("port", "5432"),
            ("mode", "db.internal"),
            ("cert-a", "cert-a"),
            ("cert-b", "cert-b"),
        ],
    )
    .await;
}

#[tokio::test]
async fn follows_a_rotation_within_the_refresh_interval() {
    let e = env("rotation").await;
    let key = unique_name("app/rotating");
    let v1 = create_aws(&e.aws, &key, "rotation-one").await;
    create_es(
        e.client(),
        &e.ns,
        "rot",
        json!({
            "secretStoreRef": store_ref(),
            "refreshInterval": "1s",
            "data": [
                {"secretKey": "current", "remoteRef": {"key": key}},
                {"secretKey": "previous", "remoteRef": {"key": key, "versionStage": "AWSPREVIOUS"}},
            ],
        }),
    )
    .await;
    // No AWSPREVIOUS before the first rotation: the reference cannot be read yet.
    wait_reason(e.client(), &e.ns, "rot", "VersionNotFound").await;
    rotate(&e.aws, &key, &v1, "rotation-two").await;
    wait_data(
        e.client(),
        &e.ns,
        "rot",
        &[("current", "rotation-two"), ("previous", "rotation-one")],
    )
    .await;
    wait_reason(e.client(), &e.ns, "rot", "SecretSynced").await;
}

#[tokio::test]
async fn owner_secret_is_garbage_collected_orphan_secret_stays() {
    let e = env("owner").await;
    let key = unique_name("app/owned");
    create_aws(&e.aws, &key, "owned-value").await;
    for (name, policy) in [("owned", "Owner"), ("orphaned", "Orphan")] {
        create_es(
            e.client(),
            &e.ns,
            name,
            json!({
                "secretStoreRef": store_ref(),
                "target": {"creationPolicy": policy},
                "data": [{"secretKey": "v", "remoteRef": {"key": key}}],
            }),
        )
        .await;
    }
    let orphan = wait_data(e.client(), &e.ns, "orphaned", &[("v", "owned-value")]).await;
    assert_eq!(owner_name(&orphan), None);
    wait_data(e.client(), &e.ns, "owned", &[("v", "owned-value")]).await;
    delete_es(e.client(), &e.ns, "owned").await;
    delete_es(e.client(), &e.ns, "orphaned").await;
    wait_secret_gone(e.client(), &e.ns, "owned").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        secret_data(e.client(), &e.ns, "orphaned").await.unwrap()["v"],
        "owned-value"
    );
}

#[tokio::test]
async fn merge_adds_keys_keeps_foreign_ones_and_removes_its_own_on_delete() {
    let e = env("merge").await;
    let key = unique_name("app/merge");
    create_aws(&e.aws, &key, "merged-value").await;
    // Merge never creates the Secret.
    create_es(
        e.client(),
        &e.ns,
        "merger",
        json!({
            "secretStoreRef": store_ref(),
            "target": {"name": "shared", "creationPolicy": "Merge"},
            "data": [{"secretKey": "from-aws", "remoteRef": {"key": key}}],
        }),
    )
    .await;
    let (status, _) = wait_reason(e.client(), &e.ns, "merger", "SecretMissing").await;
    assert_eq!(status, "False");

    create_secret(e.client(), &e.ns, "shared", json!({"foreign": "kept"})).await;
    let merged = wait_data(
        e.client(),
        &e.ns,
        "shared",
        &[("foreign", "kept"), ("from-aws", "merged-value")],
    )
    .await;
    assert_eq!(owner_name(&merged), None);
    assert!(!merged.labels().contains_key("app.kubernetes.io/managed-by"));

    delete_es(e.client(), &e.ns, "merger").await;
    wait_data(e.client(), &e.ns, "shared", &[("foreign", "kept")]).await;
}

#[tokio::test]
async fn creation_policy_none_and_create_or_merge() {
    let e = env("policies").await;
    let key = unique_name("app/policies");
    create_aws(&e.aws, &key, "policy-value").await;
    create_es(
        e.client(),
        &e.ns,
        "status-only",
        json!({
            "secretStoreRef": store_ref(),
            "target": {"creationPolicy": "None"},
            "data": [{"secretKey": "v", "remoteRef": {"key": key}}],
        }),
    )
    .await;
    create_es(
        e.client(),
        &e.ns,
        "create-or-merge",
        json!({
            "secretStoreRef": store_ref(),
            "target": {"creationPolicy": "CreateOrMerge"},
            "data": [{"secretKey": "v", "remoteRef": {"key": key}}],
        }),
    )
    .await;
    let created = wait_data(
        e.client(),
        &e.ns,
        "create-or-merge",
        &[("v", "policy-value")],
    )
    .await;
    assert_eq!(
        owner_name(&created),
        None,
        "CreateOrMerge creates without ownerReference"
    );
    let (status, _) = wait_reason(e.client(), &e.ns, "status-only", "SecretSynced").await;
    assert_eq!(status, "True");
    assert!(
        secret_data(e.client(), &e.ns, "status-only")
            .await
            .is_none()
    );
}

#[tokio::test]
async fn deletion_policies_when_the_aws_secret_is_deleted() {
    let e = env("deletion").await;
    let mut keys = Vec::new();
    for (name, policy) in [
        ("retain", "Retain"),
        ("delete", "Delete"),
        ("merge", "Merge"),
    ] {
        let key = unique_name(&format!("app/del-{name}"));
        create_aws(&e.aws, &key, &format!("{name}-value")).await;
        create_es(
            e.client(),
            &e.ns,
            name,
            json!({
                "secretStoreRef": store_ref(),
                "refreshInterval": "1s",
                "target": {"deletionPolicy": policy},
                "data": [{"secretKey": "v", "remoteRef": {"key": key}}],
            }),
        )
        .await;
        wait_data(e.client(), &e.ns, name, &[("v", &format!("{name}-value"))]).await;
        keys.push(key);
    }
    for key in &keys {
        e.aws
            .delete_secret()
            .secret_id(key)
            .force_delete_without_recovery(true)
            .send()
            .await
            .unwrap();
    }
    // Retain: an error, and the Secret exactly as it was.
    let (status, message) = wait_reason(e.client(), &e.ns, "retain", "SecretNotFound").await;
    assert_eq!(status, "False");
    assert!(message.contains(&keys[0]), "{message}");
    assert_eq!(
        secret_data(e.client(), &e.ns, "retain").await.unwrap()["v"],
        "retain-value"
    );
    // Delete: the Secret goes.
    wait_secret_gone(e.client(), &e.ns, "delete").await;
    wait_reason(e.client(), &e.ns, "delete", "SecretDeleted").await;
    // Merge: the keys go, the Secret stays.
    wait_data(e.client(), &e.ns, "merge", &[]).await;
}

#[tokio::test]
async fn template_renders_eso_v2_templates() {
    let e = env("template").await;
    let key = unique_name("app/template");
    create_aws(&e.aws, &key, r#"{"user":"admin","password":"tpl-pw"}"#).await;
    create_es(
        e.client(),
        &e.ns,
        "tpl",
        json!({
            "secretStoreRef": store_ref(),
            "target": {"template": {
                "type": "kubernetes.io/basic-auth",
                "metadata": {"labels": {"team": "a"}, "annotations": {"owner": "team-a"}},
                "data": {
                    "username": "{{ .user | upper }}",
                    "password": "{{ .password }}",
                    "dsn": "postgres://{{ .user }}:{{ .password | b64enc }}@db",
                },
            }},
            "dataFrom": [{"extract": {"key": key}}],
        }),
    )
    .await;
    let s = wait_data(
        e.client(),
        &e.ns,
        "tpl",
        &[
            ("username", "ADMIN"),
            ("password", "tpl-pw"),
            ("dsn", "postgres://admin:dHBsLXB3@db"),
        ],
    )
    .await;
    assert_eq!(s.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    assert_eq!(s.labels()["team"], "a");
    assert_eq!(s.annotations()["owner"], "team-a");
}

#[tokio::test]
async fn drift_is_repaired_and_spec_changes_apply_at_once() {
    let e = env("drift").await;
    let key = unique_name("app/drift");
    create_aws(&e.aws, &key, r#"{"a":"value-a","b":"value-b"}"#).await;
    let spec = |props: &[&str]| {
        json!({
            "secretStoreRef": store_ref(),
            "data": props.iter().map(|p| json!({"secretKey": p, "remoteRef": {"key": key, "property": p}})).collect::<Vec<_>>(),
        })
    };
    create_es(e.client(), &e.ns, "drift", spec(&["a"])).await;
    wait_data(e.client(), &e.ns, "drift", &[("a", "value-a")]).await;

    // Someone edits the managed key by hand: it is restored at once (the refresh is 1h).
    let secrets = Api::<Secret>::namespaced(e.client().clone(), &e.ns);
    secrets
        .patch(
            "drift",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": "aGFja2Vk"}})),
        )
        .await
        .unwrap();
    wait_data(e.client(), &e.ns, "drift", &[("a", "value-a")]).await;

    // A key added to the spec appears; a key removed from the spec disappears.
    apply_es_spec(e.client(), &e.ns, "drift", spec(&["a", "b"])).await;
    wait_data(
        e.client(),
        &e.ns,
        "drift",
        &[("a", "value-a"), ("b", "value-b")],
    )
    .await;
    apply_es_spec(e.client(), &e.ns, "drift", spec(&["b"])).await;
    wait_data(e.client(), &e.ns, "drift", &[("b", "value-b")]).await;
}

#[tokio::test]
async fn store_problems_have_their_reasons() {
    let e = env("stores").await;
    let m = moto();
    let key = unique_name("app/stores");
    create_aws(&e.aws, &key, "store-value").await;
    let data = json!([{"secretKey": "v", "remoteRef": {"key": key}}]);

    create_es(
        e.client(),
        &e.ns,
        "no-store",
        json!({"secretStoreRef": {"name": "missing"}, "data": data}),
    )
    .await;
    wait_reason(e.client(), &e.ns, "no-store", "StoreNotFound").await;

    // A ClusterSecretStore admitting only another namespace.
    let css = unique_name("css").replace('/', "-");
    create_cluster_store(
        e.client(),
        &css,
        json!({
            "provider": aws_provider(&m.endpoint, Some(&e.ns)),
            "conditions": [{"namespaces": ["somewhere-else"]}],
        }),
    )
    .await;
    create_es(
        e.client(),
        &e.ns,
        "not-allowed",
        json!({"secretStoreRef": {"name": css, "kind": "ClusterSecretStore"}, "data": data}),
    )
    .await;
    wait_reason(e.client(), &e.ns, "not-allowed", "StoreNotAllowed").await;

    // A store whose credentials Secret does not exist.
    let mut no_creds = aws_provider(&m.endpoint, None);
    no_creds["aws"]["auth"]["secretRef"]["accessKeyIDSecretRef"]["name"] = json!("nope");
    no_creds["aws"]["auth"]["secretRef"]["secretAccessKeySecretRef"]["name"] = json!("nope");
    create_store_with(e.client(), &e.ns, "no-creds", no_creds).await;
    create_es(
        e.client(),
        &e.ns,
        "no-creds",
        json!({"secretStoreRef": {"name": "no-creds"}, "data": data}),
    )
    .await;
    wait_reason(e.client(), &e.ns, "no-creds", "CredentialsNotFound").await;

    // A namespaced store without auth would lend the operator's identity: refused.
    let mut ambient = aws_provider(&m.endpoint, None);
    ambient["aws"].as_object_mut().unwrap().remove("auth");
    create_store_with(e.client(), &e.ns, "ambient", ambient).await;
    create_es(
        e.client(),
        &e.ns,
        "ambient",
        json!({"secretStoreRef": {"name": "ambient"}, "data": data}),
    )
    .await;
    wait_reason(e.client(), &e.ns, "ambient", "AmbientCredentialsNotAllowed").await;

    // The stores themselves report readiness.
    eventually(WAIT, "store aws Ready", || async {
        let s = Api::<stagesync::api::SecretStore>::namespaced(e.client().clone(), &e.ns)
            .get("aws")
            .await
            .ok()?;
        s.status?
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready" && c.reason.as_deref() == Some("Valid"))
            .map(|_| ())
    })
    .await;
}

#[tokio::test]
async fn aws_failures_leave_the_existing_secret_untouched() {
    let e = env("failures").await;
    let key = unique_name("app/fail");
    create_aws(&e.aws, &key, "good-value").await;
    create_es(
        e.client(),
        &e.ns,
        "fail",
        json!({
            "secretStoreRef": store_ref(),
            "data": [{"secretKey": "v", "remoteRef": {"key": key}}],
        }),
    )
    .await;
    let before = wait_data(e.client(), &e.ns, "fail", &[("v", "good-value")]).await;

    // Point the spec at a secret that does not exist: Ready=False, Secret unchanged.
    let missing = unique_name("app/never-created");
    apply_es_spec(
        e.client(),
        &e.ns,
        "fail",
        json!({
            "secretStoreRef": store_ref(),
            "data": [{"secretKey": "v", "remoteRef": {"key": missing}}],
        }),
    )
    .await;
    let (status, message) = wait_reason(e.client(), &e.ns, "fail", "SecretNotFound").await;
    assert_eq!(status, "False");
    assert!(message.contains(&missing));
    let after = Api::<Secret>::namespaced(e.client().clone(), &e.ns)
        .get("fail")
        .await
        .unwrap();
    assert_eq!(after.data, before.data);
    assert_eq!(
        after.resource_version(),
        before.resource_version(),
        "not even rewritten"
    );
    wait_events(e.client(), &e.ns, "fail", "a SecretNotFound event", |e| {
        e.1 == "SecretNotFound"
    })
    .await;
}

#[tokio::test]
async fn access_denied_is_reported() {
    let e = env("denied").await;
    let guarded = moto_enforcing_auth();
    create_store_with(
        e.client(),
        &e.ns,
        "guarded",
        aws_provider(&guarded.endpoint, None),
    )
    .await;
    create_es(
        e.client(),
        &e.ns,
        "denied",
        json!({
            "secretStoreRef": {"name": "guarded"},
            "data": [{"secretKey": "v", "remoteRef": {"key": "anything"}}],
        }),
    )
    .await;
    let (status, _) = wait_reason(e.client(), &e.ns, "denied", "AccessDenied").await;
    assert_eq!(status, "False");
    assert!(secret_data(e.client(), &e.ns, "denied").await.is_none());
}

#[tokio::test]
async fn a_second_external_secret_cannot_take_over_a_secret() {
    let e = env("conflict").await;
    let key = unique_name("app/conflict");
    create_aws(&e.aws, &key, "first-owner").await;
    let spec = json!({
        "secretStoreRef": store_ref(),
        "target": {"name": "contested"},
        "data": [{"secretKey": "v", "remoteRef": {"key": key}}],
    });
    create_es(e.client(), &e.ns, "first", spec.clone()).await;
    let before = wait_data(e.client(), &e.ns, "contested", &[("v", "first-owner")]).await;
    create_es(e.client(), &e.ns, "second", spec).await;
    let (_, message) = wait_reason(e.client(), &e.ns, "second", "SecretConflict").await;
    assert!(message.contains("first"), "{message}");
    let after = Api::<Secret>::namespaced(e.client().clone(), &e.ns)
        .get("contested")
        .await
        .unwrap();
    assert_eq!(after.annotations()["stagesync.io/external-secret"], "first");
    assert_eq!(after.resource_version(), before.resource_version());

    // An unmanaged Secret is not taken over either.
    create_secret(e.client(), &e.ns, "manual", json!({"mine": "hands-off"})).await;
    create_es(
        e.client(),
        &e.ns,
        "manual",
        json!({
            "secretStoreRef": store_ref(),
            "data": [{"secretKey": "v", "remoteRef": {"key": key}}],
        }),
    )
    .await;
    wait_reason(e.client(), &e.ns, "manual", "SecretConflict").await;
    assert_eq!(
        secret_data(e.client(), &e.ns, "manual").await.unwrap(),
        [("mine".to_owned(), "hands-off".to_owned())].into()
    );
}

#[tokio::test]
async fn invalid_keys_write_nothing() {
    let e = env("badkey").await;
    let key = unique_name("app/badkey");
    create_aws(&e.aws, &key, r#"{"ok":"1","not ok/key":"2"}"#).await;
    create_es(
        e.client(),
        &e.ns,
        "badkey",
        json!({
            "secretStoreRef": store_ref(),
            "dataFrom": [{"extract": {"key": key}}],
        }),
    )
    .await;
    let (_, message) = wait_reason(e.client(), &e.ns, "badkey", "InvalidKey").await;
    assert!(message.contains("not ok/key"), "{message}");
    assert!(secret_data(e.client(), &e.ns, "badkey").await.is_none());
}

#[tokio::test]
async fn roles_outside_the_operators_allow_list_are_refused() {
    let m = moto();
    let cluster = TestCluster::start().await;
    let ns = cluster.namespace("roles").await;
    create_credentials(&cluster.client, &ns).await;
    let mut policy = test_policy(&m.endpoint);
    policy.allowed_roles =
        Some(regex::Regex::new("^arn:aws:iam::123456789012:role/stagesync-.*$").unwrap());
    let _operator = cluster.run_operator(policy);
    let aws = m.admin_client().await;
    let key = unique_name("app/roles");
    create_aws(&aws, &key, "role-value").await;
    for (store, role) in [
        ("allowed", "arn:aws:iam::123456789012:role/stagesync-reader"),
        ("denied", "arn:aws:iam::999999999999:role/admin"),
    ] {
        let mut provider = aws_provider(&m.endpoint, None);
        provider["aws"]["role"] = json!(role);
        create_store_with(&cluster.client, &ns, store, provider).await;
        create_es(
            &cluster.client,
            &ns,
            store,
            json!({
                "secretStoreRef": {"name": store},
                "data": [{"secretKey": "v", "remoteRef": {"key": key}}],
            }),
        )
        .await;
    }
    // The allowed role is assumed (through moto's STS) and reads the secret.
    wait_data(&cluster.client, &ns, "allowed", &[("v", "role-value")]).await;
    let (_, message) = wait_reason(&cluster.client, &ns, "denied", "RoleNotAllowed").await;
    assert!(message.contains("999999999999"), "{message}");
}

#[tokio::test]
async fn deleting_a_merging_external_secret_never_recreates_a_deleted_secret() {
    let e = env("merge-gone").await;
    let key = unique_name("app/merge-gone");
    create_aws(&e.aws, &key, "merged").await;
    create_secret(e.client(), &e.ns, "shared", json!({"foreign": "kept"})).await;
    let secrets = Api::<Secret>::namespaced(e.client().clone(), &e.ns);
    create_es(
        e.client(),
        &e.ns,
        "merger",
        json!({
            "secretStoreRef": store_ref(),
            "target": {"name": "shared", "creationPolicy": "Merge"},
            "data": [{"secretKey": "v", "remoteRef": {"key": key}}],
        }),
    )
    .await;
    wait_data(
        e.client(),
        &e.ns,
        "shared",
        &[("foreign", "kept"), ("v", "merged")],
    )
    .await;
    secrets.delete("shared", &Default::default()).await.unwrap();
    delete_es(e.client(), &e.ns, "merger").await;
    assert!(secret_data(e.client(), &e.ns, "shared").await.is_none());
}

#[tokio::test]
async fn a_missing_template_source_is_a_template_failure_that_names_it() {
    let e = env("tplsrc").await;
    let key = unique_name("app/tplsrc");
    create_aws(&e.aws, &key, "v").await;
    create_es(
        e.client(),
        &e.ns,
        "tplsrc",
        json!({
            "secretStoreRef": store_ref(),
            "target": {"template": {"templateFrom": [{"configMap": {"name": "templates", "items": [{"key": "config"}]}}]}},
            "data": [{"secretKey": "v", "remoteRef": {"key": key}}],
        }),
    )
    .await;
    let (status, message) = wait_reason(e.client(), &e.ns, "tplsrc", "TemplateFailed").await;
    assert_eq!(status, "False");
    assert!(message.contains("templates"), "{message}");
    assert!(secret_data(e.client(), &e.ns, "tplsrc").await.is_none());
}

/// The race behind the test above, made deterministic: the Secret a merge read is deleted
/// before the apply lands. The apply creates a new Secret; the merge deletes it again and
/// reports the Secret missing.
#[tokio::test]
async fn a_merge_racing_a_deletion_undoes_the_secret_it_created() {
    use stagesync::write::secret::{WriteError, apply_merge};
    let cluster = TestCluster::start().await;
    let ns = cluster.namespace("merge-race").await;
    let secrets = Api::<Secret>::namespaced(cluster.client.clone(), &ns);
    let desired = plain_secret(&ns, "gone", json!({"k": "v"}));
    let result = apply_merge(
        &secrets,
        &desired,
        "stagesync:racer",
        "uid-of-the-deleted-secret",
    )
    .await;
    assert!(
        matches!(result, Err(WriteError::Missing { .. })),
        "{result:?}"
    );
    assert!(secrets.get_opt("gone").await.unwrap().is_none());
}
