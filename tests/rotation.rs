//! Rotation-aware refresh, end to end: the operator runs in-process against the cluster harness,
//! and every store reaches moto through a counting proxy of its own, so each test can say how
//! many AWS calls a user's story cost — a value is read once per version however many
//! ExternalSecrets read it, our own writes and drift repairs cost nothing, and rotations (staged,
//! promoted, stuck), deletions, denied permissions and stale listings are followed as documented.
//!
//! Counts are compared only after the behaviour settled (data written, then a few tracker cycles
//! observed at the proxy), never against the fake's timing, so the same tests run on a real
//! cluster. Each operator watches only its test's namespaces.
//!
//! `ROTATION_TEST_LOG=stagesync=debug cargo test --test rotation -- --nocapture` shows the
//! operator's logs (each tracker cycle with its calls).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::Api;
use serde_json::json;
use support::cluster::eventually;
use support::objects::*;
use support::rig::*;
use support::unique_name;

#[tokio::test]
async fn one_value_read_serves_every_namespace_and_a_rotation_costs_one_more() {
    let (r, teams) = Rig::bare("dedup", 2, |_| {}, QUICK).await;
    // The platform team keeps the credentials in its own namespace and offers a
    // ClusterSecretStore to two application namespaces.
    create_credentials(r.client(), &r.ns).await;
    let css = unique_name("shared").replace('/', "-");
    create_cluster_store(
        r.client(),
        &css,
        json!({
            "provider": aws_provider(&r.proxy.endpoint, Some(&r.ns)),
            "conditions": [{"namespaces": teams}],
            "refreshInterval": 1,
        }),
    )
    .await;
    let key = unique_name("shared/db");
    create_aws(&r.aws, &key, "shared-one").await;
    let store = json!({"name": css, "kind": "ClusterSecretStore"});

    // Team A onboards, then team B: both read the same AWS secret.
    for team in &teams {
        create_es(
            r.client(),
            team,
            "db",
            reads(store.clone(), &key, json!({})),
        )
        .await;
        wait_data(r.client(), team, "db", &[("v", "shared-one")]).await;
    }
    r.cycles(2).await;
    assert_eq!(
        r.value_calls(),
        1,
        "one value read for two ExternalSecrets of one store: {:?}",
        r.proxy.counts()
    );

    // A rotation: both Secrets follow, for one more value read in total.
    let before = r.value_calls();
    put_current(&r.aws, &key, "shared-two").await;
    for team in &teams {
        wait_data(r.client(), team, "db", &[("v", "shared-two")]).await;
    }
    r.cycles(2).await;
    assert_eq!(
        r.value_calls(),
        before + 1,
        "the new version is read once for both: {:?}",
        r.proxy.counts()
    );
}

#[tokio::test]
async fn an_operator_restart_on_a_warm_cluster_reads_no_value() {
    let mut r = Rig::start("restart", |_| {}).await;
    let mut keys = Vec::new();
    for i in 0..3 {
        let key = unique_name("app/warm");
        create_aws(&r.aws, &key, &format!("warm-{i}")).await;
        create_es(r.client(), &r.ns, &format!("warm-{i}"), current(&key)).await;
        keys.push(key);
    }
    for i in 0..3 {
        wait_data(
            r.client(),
            &r.ns,
            &format!("warm-{i}"),
            &[("v", &format!("warm-{i}"))],
        )
        .await;
    }
    r.cycles(2).await;
    let synced_at = r.es("warm-0").await.status.unwrap().refresh_time;
    let reads = r.value_calls();

    r.restart_operator().await;
    // The new operator reconciles every ExternalSecret (its status is written again) and its
    // tracker checks the secrets, yet no value is read: versions and Secrets are as written.
    eventually(WAIT, "warm-0 reconciled by the new operator", || async {
        (r.es("warm-0").await.status.unwrap().refresh_time != synced_at).then_some(())
    })
    .await;
    r.cycles(3).await;
    assert_eq!(r.value_calls(), reads, "{:?}", r.proxy.counts());
    for i in 0..3 {
        let (status, _) =
            wait_reason(r.client(), &r.ns, &format!("warm-{i}"), "SecretSynced").await;
        assert_eq!(status, "True");
    }

    // A rotation after the restart is still followed, with one value read.
    put_current(&r.aws, &keys[1], "warm-1-rotated").await;
    wait_data(r.client(), &r.ns, "warm-1", &[("v", "warm-1-rotated")]).await;
    assert_eq!(r.value_calls(), reads + 1, "{:?}", r.proxy.counts());
}

#[tokio::test]
async fn our_own_writes_and_drift_repairs_read_no_value() {
    let r = Rig::start("own-write", |_| {}).await;
    let key = unique_name("app/own");
    create_aws(&r.aws, &key, "own-value").await;
    create_es(r.client(), &r.ns, "own", current(&key)).await;
    wait_data(r.client(), &r.ns, "own", &[("v", "own-value")]).await;
    r.cycles(3).await;
    let reads = r.value_calls();
    assert_eq!(reads, 1, "{:?}", r.proxy.counts());

    // Refreshing every second, the tracker keeps checking; nothing is read again.
    let checks = r.check_calls();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(r.check_calls() > checks, "the tracker kept checking");
    assert_eq!(r.value_calls(), reads, "{:?}", r.proxy.counts());

    // Someone edits the Secret by hand: repaired from the cached value.
    let secrets = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(r.client().clone(), &r.ns);
    secrets
        .patch(
            "own",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"data": {"v": "aGFja2Vk"}})),
        )
        .await
        .unwrap();
    wait_data(r.client(), &r.ns, "own", &[("v", "own-value")]).await;
    r.cycles(2).await;
    assert_eq!(
        r.value_calls(),
        reads,
        "a drift repair reads no value: {:?}",
        r.proxy.counts()
    );
}

#[tokio::test]
async fn pending_and_previous_consumers_follow_the_stages_as_aws_moves_them() {
    let r = Rig::start("stages", |_| {}).await;
    let key = unique_name("app/stages");
    let v1 = create_aws(&r.aws, &key, "stage-one").await;
    for (name, stage) in [
        ("current", "AWSCURRENT"),
        ("pending", "AWSPENDING"),
        ("previous", "AWSPREVIOUS"),
    ] {
        let spec = reads(store_ref(), &key, json!({"versionStage": stage}));
        create_es(r.client(), &r.ns, name, spec).await;
    }
    wait_data(r.client(), &r.ns, "current", &[("v", "stage-one")]).await;
    // Before any rotation there is no AWSPENDING nor AWSPREVIOUS: VersionNotFound, nothing
    // written.
    for name in ["pending", "previous"] {
        let (status, message) = wait_reason(r.client(), &r.ns, name, "VersionNotFound").await;
        assert_eq!(status, "False");
        assert!(message.contains(&key), "{message}");
        assert!(secret_data(r.client(), &r.ns, name).await.is_none());
    }

    // The rotation function stages a new version: only the AWSPENDING consumer gets it.
    let v2 = stage_pending(&r.aws, &key, "stage-two").await;
    wait_data(r.client(), &r.ns, "pending", &[("v", "stage-two")]).await;
    r.cycles(2).await;
    assert_eq!(
        secret_data(r.client(), &r.ns, "current").await.unwrap()["v"],
        "stage-one"
    );
    assert!(secret_data(r.client(), &r.ns, "previous").await.is_none());

    // Promotion: AWSCURRENT gets the new value, AWSPREVIOUS the old current.
    promote(&r.aws, &key, &v1, &v2).await;
    wait_data(r.client(), &r.ns, "current", &[("v", "stage-two")]).await;
    wait_data(r.client(), &r.ns, "previous", &[("v", "stage-one")]).await;
    let (status, _) = wait_reason(r.client(), &r.ns, "previous", "SecretSynced").await;
    assert_eq!(status, "True");
}

#[tokio::test]
async fn a_rotation_between_two_first_reads_still_reaches_the_current_reader() {
    // A slow tracker tick leaves a window between the first reads of a secret and the tracker's
    // first check of it.
    let r = Rig::start("first-reads", |p| {
        p.tracking.tick = Duration::from_secs(8);
    })
    .await;
    // Another ExternalSecret of the store makes every tracker cycle visible at the proxy.
    let pacer = unique_name("app/pacer");
    create_aws(&r.aws, &pacer, "pace").await;
    create_es(r.client(), &r.ns, "pacer", current(&pacer)).await;
    wait_data(r.client(), &r.ns, "pacer", &[("v", "pace")]).await;
    r.cycles(1).await;

    // Right after a cycle: the app reads v1 as AWSCURRENT (and is left alone for a few seconds,
    // so every reconcile its first sync set off is done); a rotation; then a sibling reads v1
    // again, now as AWSPREVIOUS — all before the tracker first checks the secret.
    let key = unique_name("app/first-reads");
    let v1 = create_aws(&r.aws, &key, "first-one").await;
    create_es(r.client(), &r.ns, "app", current(&key)).await;
    wait_data(r.client(), &r.ns, "app", &[("v", "first-one")]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    rotate(&r.aws, &key, &v1, "first-two").await;
    let previous = reads(store_ref(), &key, json!({"versionStage": "AWSPREVIOUS"}));
    create_es(r.client(), &r.ns, "previous", previous).await;
    wait_data(r.client(), &r.ns, "previous", &[("v", "first-one")]).await;

    // The tracker's first check sees v2 as AWSCURRENT: the app, which holds v1, must follow.
    wait_data_within(
        r.client(),
        &r.ns,
        "app",
        &[("v", "first-two")],
        Duration::from_secs(15),
    )
    .await;
}

#[tokio::test]
async fn describe_mode_follows_a_rotation_without_listing_or_batching() {
    let (r, _) = Rig::bare("describe", 0, |_| {}, QUICK).await;
    // The identity of examples/secretstore-least-privilege.yaml: GetSecretValue and
    // DescribeSecret only. A call it is denied would still reach AWS (and CloudTrail).
    r.proxy.deny("ListSecrets");
    r.proxy.deny("BatchGetSecretValue");
    create_credentials(r.client(), &r.ns).await;
    r.store("aws", json!({"mode": "Describe"})).await;
    let key = unique_name("app/least-privilege");
    create_aws(&r.aws, &key, "lp-one").await;
    create_es(r.client(), &r.ns, "lp", current(&key)).await;
    wait_data(r.client(), &r.ns, "lp", &[("v", "lp-one")]).await;
    put_current(&r.aws, &key, "lp-two").await;
    wait_data(r.client(), &r.ns, "lp", &[("v", "lp-two")]).await;
    r.cycles(2).await;
    let counts = r.proxy.counts();
    assert!(r.proxy.count("DescribeSecret") > 0, "{counts:?}");
    assert_eq!(r.proxy.count("ListSecrets"), 0, "{counts:?}");
    assert_eq!(r.proxy.count("BatchGetSecretValue"), 0, "{counts:?}");
    let tracking = eventually(WAIT, "store status in Describe mode", || async {
        r.tracking("aws").await.filter(|t| t.mode == "Describe")
    })
    .await;
    assert_eq!(tracking.strategy, "DescribeSecret");
}

#[tokio::test]
async fn a_store_denied_list_secrets_falls_back_to_describe_and_says_so() {
    let (r, _) = Rig::bare("list-denied", 0, |_| {}, QUICK).await;
    r.proxy.deny("ListSecrets");
    create_credentials(r.client(), &r.ns).await;
    r.store("aws", json!({})).await;
    let key = unique_name("app/denied-list");
    create_aws(&r.aws, &key, "dl-one").await;
    create_es(r.client(), &r.ns, "dl", current(&key)).await;
    wait_data(r.client(), &r.ns, "dl", &[("v", "dl-one")]).await;
    put_current(&r.aws, &key, "dl-two").await;
    wait_data(r.client(), &r.ns, "dl", &[("v", "dl-two")]).await;
    assert!(r.proxy.count("ListSecrets") >= 1, "{:?}", r.proxy.counts());
    assert!(
        r.proxy.count("DescribeSecret") >= 1,
        "{:?}",
        r.proxy.counts()
    );
    let tracking = eventually(WAIT, "status.versionTracking.listSecretsDenied", || async {
        r.tracking("aws").await.filter(|t| t.list_secrets_denied)
    })
    .await;
    assert_eq!(tracking.mode, "List");
    // Denied once, not asked again every cycle.
    let denied = r.proxy.count("ListSecrets");
    r.cycles(3).await;
    assert_eq!(r.proxy.count("ListSecrets"), denied);
}

#[tokio::test]
async fn a_stale_listing_delays_a_rotation_at_most_until_the_next_confirmation() {
    let r = Rig::start("stale", |p| {
        p.tracking.list_confirm_interval = Duration::from_secs(3);
    })
    .await;
    let key = unique_name("app/stale");
    create_aws(&r.aws, &key, "stale-one").await;
    create_es(r.client(), &r.ns, "stale", current(&key)).await;
    wait_data(r.client(), &r.ns, "stale", &[("v", "stale-one")]).await;
    // A sweep listed the secret; from now on ListSecrets answers from that old view. (A listing
    // counted when it arrived could still be on its way to AWS and see the rotation below.)
    let listed = r.proxy.lists_recorded();
    eventually(WAIT, "a listing answered after the first sync", || async {
        (r.proxy.lists_recorded() > listed).then_some(())
    })
    .await;
    r.proxy.serve_stale_lists(true);
    let described = r.proxy.count("DescribeSecret");

    // The secret is confirmed with DescribeSecret at least every 3 s: the new value lands within
    // a few seconds (20 s allowed), although the listing never shows it.
    put_current(&r.aws, &key, "stale-two").await;
    wait_data_within(
        r.client(),
        &r.ns,
        "stale",
        &[("v", "stale-two")],
        Duration::from_secs(20),
    )
    .await;
    // (A confirmation counted before the rotation may have reached AWS after it and carried the
    // news; confirmations keep coming every 3 s, so one after it is waited for.)
    eventually(
        WAIT,
        "DescribeSecret confirmed what the listing hid",
        || async { (r.proxy.count("DescribeSecret") > described).then_some(()) },
    )
    .await;
    // The listing keeps answering from the old view; the Secret does not go back.
    stay(
        r.client(),
        &r.ns,
        &["stale"],
        &[("v", "stale-two")],
        Duration::from_secs(6),
    )
    .await;
}

#[tokio::test]
async fn a_pinned_version_that_is_gone_is_version_not_found_and_the_secret_is_kept() {
    let r = Rig::start("pinned", |_| {}).await;
    let key = unique_name("app/pinned");
    let v1 = create_aws(&r.aws, &key, "pinned-one").await;
    let pinned = |id: &str| reads(store_ref(), &key, json!({"versionId": id}));
    create_es(r.client(), &r.ns, "pinned", pinned(&v1)).await;
    wait_data(r.client(), &r.ns, "pinned", &[("v", "pinned-one")]).await;

    // Two rotations: v1 loses its last label (moto keeps the version itself, as AWS does until
    // it cleans up deprecated versions); a pinned reference never moves with the stages.
    put_current(&r.aws, &key, "pinned-two").await;
    put_current(&r.aws, &key, "pinned-three").await;
    r.cycles(3).await;
    assert_eq!(
        secret_data(r.client(), &r.ns, "pinned").await.unwrap()["v"],
        "pinned-one"
    );

    // The pinned version is no longer there (here: the pin now names an id AWS never had):
    // VersionNotFound, and the Secret keeps what it held.
    let gone = "00000000-0000-4000-8000-000000000000";
    let before = secret_data(r.client(), &r.ns, "pinned").await;
    apply_es_spec(r.client(), &r.ns, "pinned", pinned(gone)).await;
    let (status, message) = wait_reason(r.client(), &r.ns, "pinned", "VersionNotFound").await;
    assert_eq!(status, "False");
    assert!(message.contains(gone), "{message}");
    assert_eq!(secret_data(r.client(), &r.ns, "pinned").await, before);

    // Pinned to a missing version from the start: nothing is ever written.
    create_es(r.client(), &r.ns, "never", pinned(gone)).await;
    wait_reason(r.client(), &r.ns, "never", "VersionNotFound").await;
    r.cycles(2).await;
    assert!(secret_data(r.client(), &r.ns, "never").await.is_none());
}

#[tokio::test]
async fn a_rotation_stuck_in_pending_is_reported_and_the_secret_keeps_the_current_value() {
    let r = Rig::start("stuck", |p| {
        p.tracking.rotation_stuck_after = Duration::from_secs(2);
    })
    .await;
    let key = unique_name("app/stuck");
    create_aws(&r.aws, &key, "stuck-current").await;
    create_es(r.client(), &r.ns, "stuck", current(&key)).await;
    wait_data(r.client(), &r.ns, "stuck", &[("v", "stuck-current")]).await;

    // The rotation function stages a version and then keeps failing: it is never promoted.
    stage_pending(&r.aws, &key, "stuck-pending").await;
    let (status, reason, message) = eventually(WAIT, "RotationHealthy=False", || async {
        es_condition(r.client(), &r.ns, "stuck", "RotationHealthy")
            .await
            .filter(|(s, _, _)| s == "False")
    })
    .await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "RotationStuck")
    );
    assert!(message.contains(&key), "{message}");
    assert!(!message.contains("stuck-pending"), "no values in status");
    let events = wait_events(r.client(), &r.ns, "stuck", "a RotationStuck event", |e| {
        e.1 == "RotationStuck"
    })
    .await;
    assert!(
        events
            .iter()
            .any(|(t, reason, _)| t == "Warning" && reason == "RotationStuck"),
        "{events:?}"
    );
    assert_eq!(
        ready(r.client(), &r.ns, "stuck")
            .await
            .map(|(s, _, _)| s)
            .as_deref(),
        Some("True")
    );
    assert_eq!(
        secret_data(r.client(), &r.ns, "stuck").await.unwrap()["v"],
        "stuck-current"
    );
    let label = r.store_label("aws");
    let stuck = eventually(WAIT, "stagesync_rotations_stuck", || async {
        let text = r.operator.metrics.render();
        samples(&text, "stagesync_rotations_stuck")
            .into_iter()
            .find(|(l, _)| l.get("store") == Some(&label))
            .map(|(_, v)| v)
    })
    .await;
    assert_eq!(stuck, 1.0);
}

#[tokio::test]
async fn a_secret_scheduled_for_deletion_is_reported_and_the_data_kept() {
    let r = Rig::start("scheduled", |_| {}).await;
    let key = unique_name("app/scheduled");
    create_aws(&r.aws, &key, "kept-value").await;
    create_es(r.client(), &r.ns, "scheduled", current(&key)).await;
    wait_data(r.client(), &r.ns, "scheduled", &[("v", "kept-value")]).await;

    r.aws
        .delete_secret()
        .secret_id(&key)
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    let (status, message) =
        wait_reason(r.client(), &r.ns, "scheduled", "SecretScheduledForDeletion").await;
    assert_eq!(status, "False");
    assert!(message.contains(&key), "{message}");
    let what = "a SecretScheduledForDeletion event";
    let events = wait_events(r.client(), &r.ns, "scheduled", what, |e| {
        e.1 == "SecretScheduledForDeletion"
    })
    .await;
    assert!(
        events
            .iter()
            .any(|(t, reason, _)| t == "Warning" && reason == "SecretScheduledForDeletion"),
        "{events:?}"
    );
    assert_eq!(
        secret_data(r.client(), &r.ns, "scheduled").await.unwrap()["v"],
        "kept-value"
    );
}

#[tokio::test]
async fn force_sync_reads_from_aws_once_per_new_annotation_value() {
    let r = Rig::start("force", |_| {}).await;
    let key = unique_name("app/force");
    create_aws(&r.aws, &key, "force-value").await;
    create_es(r.client(), &r.ns, "force", current(&key)).await;
    wait_data(r.client(), &r.ns, "force", &[("v", "force-value")]).await;
    r.cycles(2).await;
    let reads = r.value_calls();

    let forced = |value: &'static str| {
        let r = &r;
        async move {
            eventually(WAIT, &format!("status.forceSynced {value}"), || async {
                let es = r.es("force").await;
                (es.status?.force_synced.as_deref() == Some(value)).then_some(())
            })
            .await
        }
    };
    annotate_es(r.client(), &r.ns, "force", json!({"force-sync": "1"})).await;
    forced("1").await;
    assert_eq!(r.value_calls(), reads + 1, "{:?}", r.proxy.counts());

    // Another change of the ExternalSecret, force-sync still "1": reconciled, nothing read.
    let refreshed = r.es("force").await.status.unwrap().refresh_time.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    annotate_es(r.client(), &r.ns, "force", json!({"note": "touched"})).await;
    eventually(WAIT, "a reconcile after the annotation change", || async {
        let t = r.es("force").await.status?.refresh_time?;
        (t != refreshed).then_some(())
    })
    .await;
    r.cycles(1).await;
    assert_eq!(r.value_calls(), reads + 1, "{:?}", r.proxy.counts());

    // stagesync's own annotation works the same way.
    annotate_es(
        r.client(),
        &r.ns,
        "force",
        json!({"stagesync.io/force-sync": "2"}),
    )
    .await;
    forced("2").await;
    assert_eq!(r.value_calls(), reads + 2, "{:?}", r.proxy.counts());
}

#[tokio::test]
async fn a_credentials_secret_that_appears_wakes_its_external_secrets() {
    let (r, _) = Rig::bare("creds-appear", 0, |_| {}, SLOW).await;
    r.store("aws", json!({})).await;
    let key = unique_name("app/creds-appear");
    create_aws(&r.aws, &key, "late-creds").await;
    create_es(r.client(), &r.ns, "late", current(&key)).await;
    let (status, _) = wait_reason(r.client(), &r.ns, "late", "CredentialsNotFound").await;
    assert_eq!(status, "False");

    // The next retry is 30 s away; the credentials appearing wakes the ExternalSecret now.
    create_credentials(r.client(), &r.ns).await;
    wait_data_within(r.client(), &r.ns, "late", &[("v", "late-creds")], WAKE).await;
}

#[tokio::test]
async fn a_merge_target_that_appears_wakes_its_external_secret() {
    let (r, _) = Rig::bare("merge-appear", 0, |_| {}, SLOW).await;
    create_credentials(r.client(), &r.ns).await;
    r.store("aws", json!({})).await;
    let key = unique_name("app/merge-appear");
    create_aws(&r.aws, &key, "merged-late").await;
    create_es(
        r.client(),
        &r.ns,
        "merger",
        json!({
            "secretStoreRef": store_ref(),
            "refreshInterval": "1s",
            "target": {"name": "shared", "creationPolicy": "Merge"},
            "data": [{"secretKey": "from-aws", "remoteRef": {"key": key}}],
        }),
    )
    .await;
    let (status, _) = wait_reason(r.client(), &r.ns, "merger", "SecretMissing").await;
    assert_eq!(status, "False");

    // The next retry is 30 s away; the target appearing wakes the ExternalSecret now.
    create_secret(r.client(), &r.ns, "shared", json!({"foreign": "kept"})).await;
    wait_data_within(
        r.client(),
        &r.ns,
        "shared",
        &[("foreign", "kept"), ("from-aws", "merged-late")],
        WAKE,
    )
    .await;
}

#[tokio::test]
async fn aws_call_metrics_agree_with_the_requests_on_the_wire() {
    let r = Rig::start("metrics", |_| {}).await;
    let key = unique_name("app/metrics");
    let v1 = create_aws(&r.aws, &key, "metrics-one").await;
    create_es(r.client(), &r.ns, "m", current(&key)).await;
    create_es(
        r.client(),
        &r.ns,
        "m-previous",
        reads(store_ref(), &key, json!({"versionStage": "AWSPREVIOUS"})),
    )
    .await;
    wait_data(r.client(), &r.ns, "m", &[("v", "metrics-one")]).await;
    // No AWSPREVIOUS yet: failed reads are billed and counted too.
    wait_reason(r.client(), &r.ns, "m-previous", "VersionNotFound").await;
    r.cycles(2).await;
    rotate(&r.aws, &key, &v1, "metrics-two").await;
    wait_data(r.client(), &r.ns, "m", &[("v", "metrics-two")]).await;
    wait_data(r.client(), &r.ns, "m-previous", &[("v", "metrics-one")]).await;
    r.cycles(2).await;

    let label = r.store_label("aws");
    let (metrics, wire) = eventually(WAIT, "metrics equal to the proxy's counts", || async {
        let wire: BTreeMap<String, u64> = r
            .proxy
            .counts()
            .into_iter()
            .filter(|(op, _)| !op.starts_with("sts:"))
            .collect();
        let metrics: BTreeMap<String, u64> = metric_calls(&r.operator.metrics.render(), &label)
            .into_iter()
            .filter(|(op, _)| !op.starts_with("sts:"))
            .collect();
        (metrics == wire).then_some((metrics, wire))
    })
    .await;
    // Both saw the work: values, and metadata checks.
    assert!(
        wire.get("GetSecretValue").copied().unwrap_or(0)
            + wire.get("BatchGetSecretValue").copied().unwrap_or(0)
            >= 2,
        "{wire:?}"
    );
    assert!(
        wire.get("ListSecrets").copied().unwrap_or(0)
            + wire.get("DescribeSecret").copied().unwrap_or(0)
            >= 1,
        "{wire:?}"
    );
    assert_eq!(metrics, wire);
}

#[tokio::test]
async fn a_store_shows_how_its_versions_are_tracked_and_what_that_costs() {
    let r = Rig::start("store-status", |_| {}).await;
    let key = unique_name("app/store-status");
    create_aws(&r.aws, &key, "status-value").await;
    create_es(r.client(), &r.ns, "s", current(&key)).await;
    wait_data(r.client(), &r.ns, "s", &[("v", "status-value")]).await;
    let tracking = eventually(WAIT, "status.versionTracking with calls", || async {
        r.tracking("aws")
            .await
            .filter(|t| t.tracked_secrets >= 1 && !t.last_cycle_calls.is_empty())
    })
    .await;
    assert_eq!(tracking.mode, "List");
    assert!(!tracking.strategy.is_empty());
    assert_ne!(tracking.strategy, "Idle", "{tracking:?}");
    let cost: f64 = tracking
        .estimated_monthly_cost_usd
        .parse()
        .unwrap_or_else(|e| panic!("{:?}: {e}", tracking.estimated_monthly_cost_usd));
    assert!(cost > 0.0, "calls were made: {tracking:?}");
}

#[tokio::test]
async fn the_naive_baseline_rereads_every_value_every_interval_from_the_start() {
    // The benchmarks compare against this mode: it must not wait for a tracker it does not have.
    let r = Rig::start("naive", |p| p.tracking.naive = true).await;
    let key = unique_name("naive/db");
    create_aws(&r.aws, &key, "v").await;
    create_es(r.client(), &r.ns, "db", current(&key)).await;
    wait_data(r.client(), &r.ns, "db", &[("v", "v")]).await;
    let before = r.value_calls();
    let started = std::time::Instant::now();
    // refreshInterval 1s: a read about every second (each after the reconcile before it), where
    // the tracked mode would read nothing more at all.
    eventually(WAIT, "three more value reads", || async {
        (r.value_calls() - before >= 3).then_some(())
    })
    .await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(15), "three reads took {took:?}");
}

/// `stagesync_tracked_references` of one store (`None`: not reported yet).
fn tracked_references(r: &Rig, store: &str) -> Option<f64> {
    let label = r.store_label(store);
    samples(&r.operator.metrics.render(), "stagesync_tracked_references")
        .into_iter()
        .find(|(labels, _)| labels.get("store") == Some(&label))
        .map(|(_, value)| value)
}

async fn wait_references(r: &Rig, store: &str, want: f64) {
    eventually(
        WAIT,
        &format!("{want} tracked references in store {store}"),
        || async { (tracked_references(r, store) == Some(want)).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn an_external_secret_deleted_while_the_operator_was_not_watching_is_no_longer_tracked() {
    let r = Rig::start("forget-unseen", |_| {}).await;
    let test =
        "an_external_secret_deleted_while_the_operator_was_not_watching_is_no_longer_tracked";
    let Some(faults) = r.cluster.faults(test) else {
        return;
    };
    for name in ["kept", "gone"] {
        let key = unique_name(&format!("forget/{name}"));
        create_aws(&r.aws, &key, &format!("{name}-value")).await;
        create_es(r.client(), &r.ns, name, current(&key)).await;
        wait_data(r.client(), &r.ns, name, &[("v", &format!("{name}-value"))]).await;
    }
    wait_references(&r, "aws", 2.0).await;

    // The operator's watches of ExternalSecrets end and cannot start again meanwhile ...
    faults.add(apiserver_fake::FaultRule {
        verb: Some("watch".into()),
        resource: Some("externalsecrets".into()),
        namespace: Some(r.ns.clone()),
        status: Some(503),
        ..Default::default()
    });
    faults.end_watches();
    // ... while someone removes the finalizer by hand and deletes the ExternalSecret.
    let api = Api::<stagesync::api::ExternalSecret>::namespaced(r.client().clone(), &r.ns);
    let no_finalizers = json!({"metadata": {"finalizers": null}});
    api.patch(
        "gone",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&no_finalizers),
    )
    .await
    .expect("finalizer removed");
    api.delete("gone", &Default::default())
        .await
        .expect("deleted");
    assert!(api.get_opt("gone").await.unwrap().is_none());
    // The history is gone too (as after an API server restart): the operator must list again,
    // and the list brings no Delete event.
    r.cluster
        .fake()
        .expect("the fake")
        .cluster()
        .store
        .expire_watches();
    faults.clear();

    wait_references(&r, "aws", 1.0).await;
    // The one left is still served.
    let key = unique_name("forget/after");
    create_aws(&r.aws, &key, "after-value").await;
    create_es(r.client(), &r.ns, "after", current(&key)).await;
    wait_data(r.client(), &r.ns, "after", &[("v", "after-value")]).await;
    wait_references(&r, "aws", 2.0).await;
}

#[tokio::test]
async fn an_external_secret_moved_to_another_store_is_tracked_by_that_one_only() {
    let r = Rig::start("forget-moved", |_| {}).await;
    r.store("other", json!({})).await;
    let key = unique_name("forget/moved");
    create_aws(&r.aws, &key, "moved-value").await;
    create_es(r.client(), &r.ns, "m", current(&key)).await;
    wait_data(r.client(), &r.ns, "m", &[("v", "moved-value")]).await;
    wait_references(&r, "aws", 1.0).await;

    let mut moved = current(&key);
    moved["secretStoreRef"]["name"] = json!("other");
    apply_es_spec(r.client(), &r.ns, "m", moved).await;
    wait_references(&r, "other", 1.0).await;
    wait_references(&r, "aws", 0.0).await;

    // A spec the operator refuses keeps nothing tracked either.
    let mut refused = current(&key);
    refused["secretStoreRef"]["name"] = json!("other");
    refused["dataFrom"] =
        json!([{"sourceRef": {"generatorRef": {"kind": "Password", "name": "p"}}}]);
    apply_es_spec(r.client(), &r.ns, "m", refused).await;
    wait_references(&r, "other", 0.0).await;
}
