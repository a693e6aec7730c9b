//! The AWS provider against a real `moto_server`: values, versions through a rotation, metadata,
//! find, and every error a user can run into — each mapped to its stable reason.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::Tag;
use regex::Regex;
use stagesync::api::VersionSelector;
use stagesync::provider::aws::{AssumeRole, AwsBackend, Timeouts};
use stagesync::provider::{FindQuery, Payload, ProviderError, SecretsBackend};
use stagesync::render::{extract::extract_map, property::get_property, tags::tags_value};
use support::objects::{create_aws, promote, stage_pending};
use support::{moto::moto, unique_name};

fn stage(s: &str) -> VersionSelector {
    VersionSelector::Stage(s.to_owned())
}

fn text(p: &Payload) -> String {
    match p {
        Payload::Text(b) => String::from_utf8(b.expose().to_vec()).unwrap(),
        Payload::Binary(_) => panic!("expected a text payload"),
    }
}

#[tokio::test]
async fn reads_a_string_secret_by_name_and_by_arn() {
    let m = moto();
    let admin = m.admin_client().await;
    let name = unique_name("app/string");
    let version = create_aws(&admin, &name, "plain-value").await;
    let backend = m.backend().await;

    let got = backend
        .get_secret(&name, &VersionSelector::default())
        .await
        .unwrap();
    assert_eq!(text(&got.payload), "plain-value");
    assert_eq!(got.name, name);
    assert_eq!(got.version_id, version);
    assert!(got.version_stages.contains(&"AWSCURRENT".to_owned()));
    assert!(
        got.arn.starts_with("arn:aws:secretsmanager:"),
        "{}",
        got.arn
    );

    let by_arn = backend
        .get_secret(&got.arn, &VersionSelector::default())
        .await
        .unwrap();
    assert_eq!(text(&by_arn.payload), "plain-value");
}

#[tokio::test]
async fn reads_a_binary_secret() {
    let m = moto();
    let admin = m.admin_client().await;
    let name = unique_name("app/binary");
    let bytes = vec![0u8, 159, 146, 150, 255];
    admin
        .create_secret()
        .name(&name)
        .secret_binary(Blob::new(bytes.clone()))
        .send()
        .await
        .unwrap();
    let got = m
        .backend()
        .await
        .get_secret(&name, &VersionSelector::default())
        .await
        .unwrap();
    assert_eq!(got.payload, Payload::Binary(bytes.into()));
}

#[tokio::test]
async fn properties_nested_properties_and_extract() {
    let m = moto();
    let admin = m.admin_client().await;
    let name = unique_name("app/json");
    create_aws(
        &admin,
        &name,
        r#"{"username":"admin","port":5432,"db":{"host":"db.internal","replicas":["r0","r1"]},"db.host":"dotted"}"#,
    )
    .await;
    let got = m
        .backend()
        .await
        .get_secret(&name, &VersionSelector::default())
        .await
        .unwrap();
    let value = got.payload.bytes().expose();
    let prop =
        |p: &str| String::from_utf8(get_property(&name, value, p).unwrap().into_exposed()).unwrap();
    assert_eq!(prop("username"), "admin");
    assert_eq!(prop("port"), "5432");
    assert_eq!(prop("db.replicas.1"), "r1");
    assert_eq!(
        prop("db.host"),
        "dotted",
        "a whole dotted key wins over the nested path"
    );
    assert_eq!(prop(r"db\.host"), "dotted");

    let all = extract_map(&name, value, None).unwrap();
    assert_eq!(
        all.keys().collect::<Vec<_>>(),
        ["db", "db.host", "port", "username"]
    );
    assert_eq!(all["port"].expose(), b"5432");
    assert_eq!(
        all["db"].expose(),
        br#"{"host":"db.internal","replicas":["r0","r1"]}"#
    );
    let db = extract_map(&name, value, Some("db")).unwrap();
    assert_eq!(db["host"].expose(), b"db.internal");
}

/// Reads `name` at a stage and checks which version and value came back.
async fn reads(backend: &AwsBackend, name: &str, stage_label: &str, version: &str, value: &str) {
    let got = backend.get_secret(name, &stage(stage_label)).await.unwrap();
    assert_eq!(
        (got.version_id.as_str(), text(&got.payload).as_str()),
        (version, value),
        "{stage_label}"
    );
}

#[tokio::test]
async fn follows_stages_through_a_rotation() {
    let m = moto();
    let admin = m.admin_client().await;
    let backend = m.backend().await;
    let name = unique_name("app/rotating");
    let v1 = create_aws(&admin, &name, "password-one").await;

    // Step 1 of a rotation: the new version is staged AWSPENDING; AWSCURRENT does not move.
    let v2 = stage_pending(&admin, &name, "password-two").await;
    reads(&backend, &name, "AWSCURRENT", &v1, "password-one").await;
    reads(&backend, &name, "AWSPENDING", &v2, "password-two").await;
    let meta = backend.describe_secret(&name).await.unwrap();
    assert_eq!(meta.version_id_for(&stage("AWSCURRENT")), Some(v1.as_str()));
    assert_eq!(meta.version_id_for(&stage("AWSPENDING")), Some(v2.as_str()));

    // Last step: AWSCURRENT moves to the new version; the old one becomes AWSPREVIOUS.
    promote(&admin, &name, &v1, &v2).await;
    reads(&backend, &name, "AWSCURRENT", &v2, "password-two").await;
    reads(&backend, &name, "AWSPREVIOUS", &v1, "password-one").await;
    let meta = backend.describe_secret(&name).await.unwrap();
    assert_eq!(meta.version_id_for(&stage("AWSCURRENT")), Some(v2.as_str()));
    assert_eq!(
        meta.version_id_for(&stage("AWSPREVIOUS")),
        Some(v1.as_str())
    );

    // A pinned version id keeps reading the same value whatever the stages do.
    let pinned = backend
        .get_secret(&name, &VersionSelector::Id(v1.clone()))
        .await
        .unwrap();
    assert_eq!(text(&pinned.payload), "password-one");
    assert!(pinned.version_stages.contains(&"AWSPREVIOUS".to_owned()));
}

#[tokio::test]
async fn reads_a_custom_staging_label() {
    let m = moto();
    let admin = m.admin_client().await;
    let name = unique_name("app/custom-stage");
    create_aws(&admin, &name, "blue-one").await;
    admin
        .put_secret_value()
        .secret_id(&name)
        .secret_string("green-two")
        .version_stages("green")
        .send()
        .await
        .unwrap();
    let backend = m.backend().await;
    let green = backend.get_secret(&name, &stage("green")).await.unwrap();
    assert_eq!(text(&green.payload), "green-two");
    let current = backend
        .get_secret(&name, &VersionSelector::default())
        .await
        .unwrap();
    assert_eq!(text(&current.payload), "blue-one");
}

#[tokio::test]
async fn missing_secret_stage_version_property_and_invalid_json_have_their_reasons() {
    let m = moto();
    let admin = m.admin_client().await;
    let backend = m.backend().await;
    let name = unique_name("app/errors");
    create_aws(&admin, &name, r#"{"user":"admin-user-value"}"#).await;

    let missing = unique_name("app/does-not-exist");
    let err = backend
        .get_secret(&missing, &VersionSelector::default())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ProviderError::SecretNotFound {
            key: missing.clone()
        }
    );
    assert_eq!(err.reason().as_str(), "SecretNotFound");
    assert_eq!(
        backend
            .describe_secret(&missing)
            .await
            .unwrap_err()
            .reason()
            .as_str(),
        "SecretNotFound"
    );

    let err = backend
        .get_secret(&name, &stage("AWSPENDING"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ProviderError::VersionNotFound {
            key: name.clone(),
            version: stage("AWSPENDING")
        }
    );
    assert!(
        err.to_string().contains("AWSPENDING") && err.to_string().contains(&name),
        "{err}"
    );

    let unknown_id = VersionSelector::Id("00000000-0000-0000-0000-000000000000".into());
    let err = backend.get_secret(&name, &unknown_id).await.unwrap_err();
    assert_eq!(err.reason().as_str(), "VersionNotFound", "{err}");

    let got = backend
        .get_secret(&name, &VersionSelector::default())
        .await
        .unwrap();
    let err = get_property(&name, got.payload.bytes().expose(), "password").unwrap_err();
    assert_eq!(err.reason().as_str(), "PropertyNotFound");
    assert!(!err.to_string().contains("admin-user-value"));

    let not_json = unique_name("app/not-json");
    create_aws(&admin, &not_json, "just-a-password").await;
    let got = backend
        .get_secret(&not_json, &VersionSelector::default())
        .await
        .unwrap();
    let err = get_property(&not_json, got.payload.bytes().expose(), "user").unwrap_err();
    assert_eq!(err.reason().as_str(), "InvalidJSON");
    assert!(!err.to_string().contains("just-a-password"));
    let err = extract_map(&not_json, got.payload.bytes().expose(), None).unwrap_err();
    assert_eq!(err.reason().as_str(), "InvalidJSON");
}

#[tokio::test]
async fn secret_scheduled_for_deletion() {
    let m = moto();
    let admin = m.admin_client().await;
    let backend = m.backend().await;
    let name = unique_name("app/deleted");
    create_aws(&admin, &name, "soon-gone").await;
    admin
        .delete_secret()
        .secret_id(&name)
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();

    let err = backend
        .get_secret(&name, &VersionSelector::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::ScheduledForDeletion { key, deleted_date: Some(_) } if *key == name),
        "{err:?}"
    );
    assert!(err.to_string().contains("deletion date 20"), "{err}");
    assert_eq!(err.reason().as_str(), "SecretScheduledForDeletion");
    let meta = backend.describe_secret(&name).await.unwrap();
    assert!(meta.deleted_date.is_some());
    let q = FindQuery {
        path: Some(name.clone()),
        ..Default::default()
    };
    assert!(
        backend.find_secrets(&q).await.unwrap().is_empty(),
        "deleted secrets are not found"
    );
}

#[tokio::test]
async fn describe_reports_versions_and_tags_without_values() {
    let m = moto();
    let admin = m.admin_client().await;
    let name = unique_name("app/described");
    let v1 = create_aws(&admin, &name, "described-value").await;
    admin
        .tag_resource()
        .secret_id(&name)
        .tags(Tag::builder().key("team").value("payments").build())
        .send()
        .await
        .unwrap();
    let meta = m.backend().await.describe_secret(&name).await.unwrap();
    assert_eq!(meta.name, name);
    assert_eq!(meta.versions.get(&v1), Some(&vec!["AWSCURRENT".to_owned()]));
    assert_eq!(meta.tags.get("team").map(String::as_str), Some("payments"));
    assert!(!meta.rotation.enabled);
    assert!(meta.deleted_date.is_none());
    assert!(!format!("{meta:?}").contains("described-value"));

    // metadataPolicy: Fetch renders the tags instead of the value.
    assert_eq!(
        tags_value(&name, &meta.tags, None).unwrap().expose(),
        br#"{"team":"payments"}"#
    );
    assert_eq!(
        tags_value(&name, &meta.tags, Some("team"))
            .unwrap()
            .expose(),
        b"payments"
    );
}

#[tokio::test]
async fn find_by_regexp_path_and_tags() {
    let m = moto();
    let admin = m.admin_client().await;
    let backend = m.backend().await;
    let root = unique_name("find");
    let tagged = |team: &str, env: &str| {
        vec![
            Tag::builder().key("team").value(team).build(),
            Tag::builder().key("env").value(env).build(),
        ]
    };
    for (suffix, team, env) in [
        ("svc-a/db-password", "a", "prod"),
        ("svc-a/api-key", "a", "dev"),
        ("svc-b/db-password", "b", "prod"),
        // Tags crossed over: team=prod-like values must not satisfy team=a,env=prod.
        ("svc-c/db-password", "prod", "a"),
    ] {
        admin
            .create_secret()
            .name(format!("{root}/{suffix}"))
            .secret_string("v")
            .set_tags(Some(tagged(team, env)))
            .send()
            .await
            .unwrap();
    }
    let names = |found: Vec<stagesync::provider::SecretMetadata>| {
        found
            .into_iter()
            .map(|s| s.name.trim_start_matches(&format!("{root}/")).to_owned())
            .collect::<Vec<_>>()
    };

    let by_path = FindQuery {
        path: Some(format!("{root}/svc-a/")),
        ..Default::default()
    };
    assert_eq!(
        names(backend.find_secrets(&by_path).await.unwrap()),
        ["svc-a/api-key", "svc-a/db-password"]
    );

    let by_regexp = FindQuery {
        name_regexp: Some(
            Regex::new(&format!("^{}/svc-[ab]/db-.*", regex::escape(&root))).unwrap(),
        ),
        ..Default::default()
    };
    assert_eq!(
        names(backend.find_secrets(&by_regexp).await.unwrap()),
        ["svc-a/db-password", "svc-b/db-password"]
    );

    let by_tags = FindQuery {
        path: Some(root.clone()),
        tags: BTreeMap::from([("team".into(), "a".into()), ("env".into(), "prod".into())]),
        ..Default::default()
    };
    let found = backend.find_secrets(&by_tags).await.unwrap();
    assert_eq!(found.len(), 1);
    assert!(
        found[0]
            .versions
            .values()
            .any(|stages| stages.contains(&"AWSCURRENT".to_owned()))
    );
    assert_eq!(names(found), ["svc-a/db-password"]);
}

#[tokio::test]
async fn find_pages_through_more_than_one_listing_page() {
    let m = moto();
    let admin = m.admin_client().await;
    let root = unique_name("paged");
    for i in 0..105 {
        create_aws(&admin, &format!("{root}/s{i:03}"), "v").await;
    }
    let q = FindQuery {
        path: Some(format!("{root}/")),
        ..Default::default()
    };
    let found = m.backend().await.find_secrets(&q).await.unwrap();
    assert_eq!(found.len(), 105);
}

#[tokio::test]
async fn chains_additional_roles_before_the_role() {
    let m = moto();
    let admin = m.admin_client().await;
    let name = unique_name("app/chained");
    create_aws(&admin, &name, "through-three-roles").await;
    let proxy = support::aws_proxy::AwsProxy::start(&m.endpoint);
    let mut config = m.store_config();
    config.endpoint = Some(proxy.endpoint.clone());
    config.sts_endpoint = Some(proxy.endpoint.clone());
    config.additional_roles = vec![
        "arn:aws:iam::123456789012:role/hub".into(),
        "arn:aws:iam::123456789012:role/spoke".into(),
    ];
    config.assume_role = Some(AssumeRole {
        role_arn: "arn:aws:iam::123456789012:role/reader".into(),
        external_id: None,
        session_tags: vec![("team".into(), "a".into())],
        session_name: "stagesync-chain".into(),
        transitive_tag_keys: vec!["team".into()],
    });
    let backend = AwsBackend::from_config(&config).await.unwrap();
    let got = backend
        .get_secret(&name, &VersionSelector::default())
        .await
        .unwrap();
    assert_eq!(text(&got.payload), "through-three-roles");
    // hub, then spoke with hub's credentials, then reader with spoke's (one account: moto
    // keeps secrets per account, and an assumed role acts in its own).
    assert_eq!(proxy.count("sts:AssumeRole"), 3, "{:?}", proxy.counts());
    let keys = proxy.access_keys();
    assert!(
        keys.len() >= 3,
        "each hop signs with the previous role's keys: {keys:?}"
    );
}

#[tokio::test]
async fn assumes_a_role_through_sts_before_reading() {
    let m = moto();
    let admin = m.admin_client().await;
    let name = unique_name("app/assumed");
    create_aws(&admin, &name, "read-through-role").await;
    let mut config = m.store_config();
    config.assume_role = Some(AssumeRole {
        role_arn: "arn:aws:iam::123456789012:role/stagesync-reader".into(),
        external_id: Some("tenant-42".into()),
        session_tags: vec![("namespace".into(), "team-a".into())],
        session_name: "stagesync-test".into(),
        transitive_tag_keys: vec!["namespace".into()],
    });
    let backend = AwsBackend::from_config(&config).await.unwrap();
    let got = backend
        .get_secret(&name, &VersionSelector::default())
        .await
        .unwrap();
    assert_eq!(text(&got.payload), "read-through-role");
}

#[tokio::test]
async fn unreachable_endpoint_is_unavailable_and_quick() {
    let mut config = moto().store_config();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    config.endpoint = Some(format!("http://127.0.0.1:{port}"));
    config.max_attempts = 1;
    config.timeouts = Timeouts {
        connect: Duration::from_millis(500),
        attempt: Duration::from_secs(1),
        operation: Duration::from_secs(2),
    };
    let backend = AwsBackend::from_config(&config).await.unwrap();
    let started = std::time::Instant::now();
    let err = backend
        .get_secret("any", &VersionSelector::default())
        .await
        .unwrap_err();
    assert_eq!(err.reason().as_str(), "Unavailable", "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn list_pages_carry_versions_and_planned_deletions_without_values() {
    let m = moto();
    let admin = m.admin_client().await;
    let root = unique_name("listing");
    let a = format!("{root}/a");
    let b = format!("{root}/b");
    let va = create_aws(&admin, &a, "value-a").await;
    create_aws(&admin, &b, "value-b").await;
    admin
        .delete_secret()
        .secret_id(&b)
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    let backend = m.backend().await;
    let page = backend
        .list_page(std::slice::from_ref(&root), None)
        .await
        .unwrap();
    let by_name: BTreeMap<&str, _> = page.secrets.iter().map(|s| (s.name.as_str(), s)).collect();
    assert_eq!(by_name.len(), 2, "{:?}", by_name.keys());
    assert_eq!(
        by_name[a.as_str()].versions[&va],
        vec!["AWSCURRENT".to_owned()]
    );
    assert!(by_name[a.as_str()].deleted_date.is_none());
    assert!(by_name[b.as_str()].deleted_date.is_some());

    // Every page of the whole account is reachable by its token.
    let mut token = None;
    let mut seen = 0;
    loop {
        let page = backend.list_page(&[], token.take()).await.unwrap();
        seen += page
            .secrets
            .iter()
            .filter(|s| s.name.starts_with(&root))
            .count();
        match page.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(seen, 2);
}

#[tokio::test]
async fn batch_get_reads_current_values_and_leaves_out_failures() {
    let m = moto();
    let admin = m.admin_client().await;
    let root = unique_name("batch");
    let names: Vec<String> = (0..3).map(|i| format!("{root}/{i}")).collect();
    for (i, n) in names.iter().enumerate() {
        create_aws(&admin, n, &format!("batch-{i}")).await;
    }
    let rotated = rotate_value(&admin, &names[1], "batch-1-new").await;
    let backend = m.backend().await;
    let mut asked = names.clone();
    asked.push(format!("{root}/missing"));
    let mut got = backend.batch_get_current(&asked).await.unwrap();
    got.sort_by(|x, y| x.name.cmp(&y.name));
    let values: Vec<(String, String)> = got
        .iter()
        .map(|v| (v.name.clone(), text(&v.payload)))
        .collect();
    assert_eq!(
        values,
        vec![
            (names[0].clone(), "batch-0".to_owned()),
            (names[1].clone(), "batch-1-new".to_owned()),
            (names[2].clone(), "batch-2".to_owned()),
        ]
    );
    assert_eq!(got[1].version_id, rotated);
    assert!(got[1].version_stages.contains(&"AWSCURRENT".to_owned()));
}

async fn rotate_value(admin: &aws_sdk_secretsmanager::Client, name: &str, value: &str) -> String {
    admin
        .put_secret_value()
        .secret_id(name)
        .secret_string(value)
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap()
}
