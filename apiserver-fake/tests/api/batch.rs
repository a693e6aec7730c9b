//! batch/v1 CronJob (and Job): typed decoding, defaults, validation, generation, server-side
//! apply and strategic merge patch of the job template's pod template, watch, discovery, Table.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::discovery::Discovery;
use serde_json::json;

use crate::support::{api_err, eventually, namespace, start};

fn cron_job(name: &str, schedule: &str) -> CronJob {
    serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {
            "schedule": schedule,
            "jobTemplate": {"spec": {"template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [{"name": "app", "image": "app:1"}],
                    "restartPolicy": "OnFailure",
                },
            }}},
        },
    }))
    .unwrap()
}

/// The job template's pod annotations.
fn pod_annotations(cj: &CronJob) -> std::collections::BTreeMap<String, String> {
    cj.spec
        .as_ref()
        .and_then(|s| s.job_template.spec.as_ref())
        .and_then(|j| j.template.metadata.as_ref())
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default()
}

fn containers(cj: &CronJob) -> Vec<(String, Option<String>)> {
    cj.spec
        .as_ref()
        .and_then(|s| s.job_template.spec.as_ref())
        .and_then(|j| j.template.spec.as_ref())
        .map(|p| {
            p.containers
                .iter()
                .map(|c| (c.name.clone(), c.image.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn managers(cj: &CronJob) -> Vec<(String, String)> {
    cj.metadata
        .managed_fields
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                m.manager.unwrap_or_default(),
                m.operation.unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn cron_job_apply_and_strategic_merge_of_the_pod_template() {
    let (_fake, client) = start().await;
    namespace(&client, "batch-a").await;
    let api: Api<CronJob> = Api::namespaced(client, "batch-a");
    let original = cron_job("nightly", "0 3 * * *");
    let pp = PostParams {
        field_manager: Some("creator".into()),
        ..Default::default()
    };
    let created = api.create(&pp, &original).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let spec = created.spec.as_ref().unwrap();
    // Upstream's defaults.
    assert_eq!(spec.concurrency_policy.as_deref(), Some("Allow"));
    assert_eq!(spec.suspend, Some(false));
    assert_eq!(spec.successful_jobs_history_limit, Some(3));
    assert_eq!(spec.failed_jobs_history_limit, Some(1));
    assert!(created.status.is_some(), "status initialized on create");

    // Manager "a" applies one pod annotation (the restart-annotation pattern), forced.
    let annotate = json!({
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
        "spec": {"jobTemplate": {"spec": {"template": {"metadata": {"annotations": {"x": "1"}}}}}},
    });
    let a = api
        .patch(
            "nightly",
            &PatchParams::apply("a").force(),
            &Patch::Apply(annotate),
        )
        .await
        .unwrap();
    assert_eq!(pod_annotations(&a).get("x").map(String::as_str), Some("1"));
    assert_eq!(a.metadata.generation, Some(2), "the template is in spec");
    assert_eq!(containers(&a), vec![("app".into(), Some("app:1".into()))]);
    assert_eq!(
        a.spec.as_ref().unwrap().schedule,
        "0 3 * * *",
        "apply of a partial object keeps the rest"
    );
    assert!(
        managers(&a).contains(&("a".into(), "Apply".into())),
        "{:?}",
        managers(&a)
    );

    // Manager "b" applies the whole CronJob without the annotation: "a"'s annotation stays
    // (annotations are a granular map, "b" never owned "x"), nothing in spec changes.
    let b = api
        .patch(
            "nightly",
            &PatchParams::apply("b"),
            &Patch::Apply(&original),
        )
        .await
        .unwrap();
    assert_eq!(pod_annotations(&b).get("x").map(String::as_str), Some("1"));
    assert_eq!(b.metadata.generation, Some(2), "same spec: no bump");
    assert!(
        managers(&b).contains(&("b".into(), "Apply".into())),
        "{:?}",
        managers(&b)
    );
    // "b" changes the schedule, which "creator" also owns: a conflict, then forced. The
    // generation bumps, the annotation still stays.
    let e = api_err(
        api.patch(
            "nightly",
            &PatchParams::apply("b"),
            &Patch::Apply(&cron_job("nightly", "0 4 * * *")),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 409);
    assert!(
        e.message.contains("conflict with \"creator\"") && e.message.contains(".spec.schedule"),
        "{}",
        e.message
    );
    let b2 = api
        .patch(
            "nightly",
            &PatchParams::apply("b").force(),
            &Patch::Apply(&cron_job("nightly", "0 4 * * *")),
        )
        .await
        .unwrap();
    assert_eq!(b2.spec.as_ref().unwrap().schedule, "0 4 * * *");
    assert_eq!(pod_annotations(&b2).get("x").map(String::as_str), Some("1"));
    assert_eq!(b2.metadata.generation, Some(3));
    // Re-applying the same thing is a no-op (same resourceVersion).
    let b3 = api
        .patch(
            "nightly",
            &PatchParams::apply("b"),
            &Patch::Apply(&cron_job("nightly", "0 4 * * *")),
        )
        .await
        .unwrap();
    assert_eq!(b3.metadata.resource_version, b2.metadata.resource_version);
    assert_eq!(b3.metadata.generation, Some(3));
    // "a" re-applies a new value for its annotation; the pod template's containers are "b"'s.
    let a2 = api
        .patch(
            "nightly",
            &PatchParams::apply("a"),
            &Patch::Apply(json!({
                "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
                "spec": {"jobTemplate": {"spec": {"template": {"metadata": {"annotations": {"x": "2"}}}}}},
            })),
        )
        .await
        .unwrap();
    assert_eq!(pod_annotations(&a2).get("x").map(String::as_str), Some("2"));
    assert_eq!(a2.metadata.generation, Some(4));
    // A conflicting container image from "a" names "b" as the owner.
    let e = api_err(
        api.patch(
            "nightly",
            &PatchParams::apply("a"),
            &Patch::Apply(json!({
                "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
                "spec": {"jobTemplate": {"spec": {"template": {"spec": {
                    "containers": [{"name": "app", "image": "app:2"}]}}}}},
            })),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 409, "{}", e.message);
    // Shared ownership: both "b" and "creator" applied/wrote that image.
    assert!(
        e.message.contains("conflicts with \"b\"") && e.message.contains("\"creator\""),
        "{}",
        e.message
    );
    assert!(
        e.message
            .contains(".spec.jobTemplate.spec.template.spec.containers[name=\"app\"].image"),
        "{}",
        e.message
    );

    // A watch from the current resourceVersion sees the strategic merge patch.
    let mut events = api
        .watch(
            &WatchParams::default(),
            a2.metadata.resource_version.as_deref().unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    // Strategic merge: annotations merge as a map, containers merge by name.
    let smp = api
        .patch(
            "nightly",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"jobTemplate": {"spec": {"template": {
                "metadata": {"annotations": {"y": "3"}},
                "spec": {"containers": [{"name": "sidecar", "image": "proxy:1"}]},
            }}}}})),
        )
        .await
        .unwrap();
    let ann = pod_annotations(&smp);
    assert_eq!(
        (
            ann.get("x").map(String::as_str),
            ann.get("y").map(String::as_str)
        ),
        (Some("2"), Some("3")),
        "{ann:?}"
    );
    // Upstream's order: items named by the patch first, then the server-only ones
    // (mergeSortedSlice: a new item has no server position, so it wins the comparison).
    assert_eq!(
        containers(&smp),
        vec![
            ("sidecar".into(), Some("proxy:1".into())),
            ("app".into(), Some("app:1".into()))
        ]
    );
    assert_eq!(smp.metadata.generation, Some(5));
    let ev = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("event in time")
        .expect("stream open")
        .expect("event ok");
    match ev {
        WatchEvent::Modified(cj) => {
            assert_eq!(cj.metadata.resource_version, smp.metadata.resource_version);
            assert_eq!(pod_annotations(&cj).get("y").map(String::as_str), Some("3"));
        }
        other => panic!("expected MODIFIED, got {other:?}"),
    }
    // A strategic merge that deletes the annotation with `null`.
    let del = api
        .patch(
            "nightly",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"jobTemplate": {"spec": {"template": {
                "metadata": {"annotations": {"y": null}}}}}}})),
        )
        .await
        .unwrap();
    assert!(!pod_annotations(&del).contains_key("y"));
    assert_eq!(
        pod_annotations(&del).get("x").map(String::as_str),
        Some("2")
    );
    assert_eq!(del.metadata.generation, Some(6));
    // Removing defaulted fields (which the defaults put back) is no spec change.
    let dflt = api
        .patch(
            "nightly",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"suspend": null, "concurrencyPolicy": null}})),
        )
        .await
        .unwrap();
    assert_eq!(dflt.spec.as_ref().unwrap().suspend, Some(false));
    assert_eq!(
        dflt.spec.as_ref().unwrap().concurrency_policy.as_deref(),
        Some("Allow")
    );
    assert_eq!(dflt.metadata.generation, Some(6));
    assert_eq!(
        dflt.metadata.resource_version,
        del.metadata.resource_version
    );

    // Status is ignored on the main resource and written through /status.
    let st = api
        .patch_status(
            "nightly",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"lastScheduleTime": "2026-01-01T03:00:00Z"}})),
        )
        .await
        .unwrap();
    assert!(st.status.unwrap().last_schedule_time.is_some());
    assert_eq!(st.metadata.generation, del.metadata.generation);
}

#[tokio::test]
async fn cron_job_types_defaults_and_validation() {
    let (_fake, client) = start().await;
    namespace(&client, "batch-b").await;
    let api: Api<CronJob> = Api::namespaced(client.clone(), "batch-b");
    // Wrong types are a 400 from decoding.
    let req = http::Request::post("/apis/batch/v1/namespaces/batch-b/cronjobs")
        .header("content-type", "application/json")
        .body(
            serde_json::to_vec(&json!({
                "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "t"},
                "spec": {"schedule": 5, "jobTemplate": {}},
            }))
            .unwrap(),
        )
        .unwrap();
    let e = api_err(client.request::<CronJob>(req).await.unwrap_err());
    assert_eq!(
        (e.code, e.reason.as_str()),
        (400, "BadRequest"),
        "{}",
        e.message
    );
    assert!(
        e.message
            .starts_with("CronJob in version \"v1\" cannot be handled as a CronJob: "),
        "{}",
        e.message
    );
    // Upstream validation: restartPolicy must be OnFailure or Never (unset defaults to Always).
    let mut no_restart = cron_job("no-restart", "*/5 * * * *");
    if let Some(p) = no_restart
        .spec
        .as_mut()
        .and_then(|s| s.job_template.spec.as_mut())
        .and_then(|j| j.template.spec.as_mut())
    {
        p.restart_policy = None;
    }
    let e = api_err(
        api.create(&PostParams::default(), &no_restart)
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        e.message,
        "CronJob.batch \"no-restart\" is invalid: spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""
    );
    let e = api_err(
        api.create(&PostParams::default(), &cron_job("bad", "every day"))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    assert!(
        e.message.contains(
            "spec.schedule: Invalid value: \"every day\": expected exactly 5 fields, found 2: [every day]"
        ),
        "{}",
        e.message
    );
    let e = api_err(
        api.create(
            &PostParams::default(),
            &cron_job("tz", "CRON_TZ=UTC 0 3 * * *"),
        )
        .await
        .unwrap_err(),
    );
    assert!(
        e.message
            .contains("cannot use TZ or CRON_TZ in schedule, use timeZone field instead"),
        "{}",
        e.message
    );
    let long = "c".repeat(53);
    let e = api_err(
        api.create(&PostParams::default(), &cron_job(&long, "@hourly"))
            .await
            .unwrap_err(),
    );
    assert!(
        e.message.contains("metadata.name: Invalid value: \"ccc")
            && e.message.contains("must be no more than 52 characters"),
        "{}",
        e.message
    );
    let e = api_err(
        api.patch(
            "x",
            &PatchParams::apply("t"),
            &Patch::Apply(json!({
                "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "x"},
                "spec": {"schedule": "@daily", "concurrencyPolicy": "Sometimes",
                         "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": []}}}}},
            })),
        )
        .await
        .unwrap_err(),
    );
    assert!(
        e.message.contains("spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\""),
        "{}",
        e.message
    );
    // Explicit values are kept, `@` descriptors accepted.
    let mut cj = cron_job("weekly", "@weekly");
    let spec = cj.spec.as_mut().unwrap();
    spec.suspend = Some(true);
    spec.concurrency_policy = Some("Forbid".into());
    spec.time_zone = Some("Europe/Berlin".into());
    let created = api.create(&PostParams::default(), &cj).await.unwrap();
    let spec = created.spec.unwrap();
    assert_eq!(spec.suspend, Some(true));
    assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
    assert_eq!(spec.successful_jobs_history_limit, Some(3));

    // Table columns as upstream's printer.
    let req = http::Request::get("/apis/batch/v1/namespaces/batch-b/cronjobs")
        .header(
            "accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .body(Vec::new())
        .unwrap();
    let table: serde_json::Value = client.request(req).await.unwrap();
    let cols: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        cols,
        vec![
            "Name",
            "Schedule",
            "Timezone",
            "Suspend",
            "Active",
            "Last Schedule",
            "Age"
        ]
    );
    let cells = &table["rows"][0]["cells"];
    assert_eq!(cells[0], "weekly");
    assert_eq!(cells[1], "@weekly");
    assert_eq!(cells[2], "Europe/Berlin");
    assert_eq!(cells[3], "True");
    assert_eq!(cells[4], 0);
    assert_eq!(cells[5], "<none>");
}

#[tokio::test]
async fn batch_discovery_and_jobs() {
    let (_fake, client) = start().await;
    namespace(&client, "batch-c").await;
    let req = http::Request::get("/apis/batch/v1")
        .body(Vec::new())
        .unwrap();
    let list: serde_json::Value = client.request(req).await.unwrap();
    let resources = list["resources"].as_array().unwrap();
    let cj = resources
        .iter()
        .find(|r| r["name"] == "cronjobs")
        .expect("cronjobs listed");
    assert_eq!(cj["kind"], "CronJob");
    assert_eq!(cj["singularName"], "cronjob");
    assert_eq!(cj["namespaced"], true);
    assert_eq!(cj["shortNames"], json!(["cj"]));
    assert_eq!(cj["categories"], json!(["all"]));
    for sub in ["cronjobs/status", "jobs", "jobs/status"] {
        assert!(resources.iter().any(|r| r["name"] == sub), "{sub}: {list}");
    }
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let group = discovery.get("batch").expect("batch discovered");
    let kinds: Vec<String> = group
        .recommended_resources()
        .into_iter()
        .map(|(ar, _)| ar.kind)
        .collect();
    assert!(
        kinds.contains(&"CronJob".to_string()) && kinds.contains(&"Job".to_string()),
        "{kinds:?}"
    );
    // OpenAPI v3 carries k8s-openapi's schema.
    let req = http::Request::get("/openapi/v3/apis/batch/v1")
        .body(Vec::new())
        .unwrap();
    let doc: serde_json::Value = client.request(req).await.unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let cj_schema = schemas
        .iter()
        .find(|(_, s)| s["x-kubernetes-group-version-kind"][0]["kind"] == "CronJob")
        .map(|(_, s)| s)
        .expect("CronJob schema");
    assert!(cj_schema["properties"]["spec"].is_object(), "{cj_schema}");

    // Jobs: CRUD, generation, default deletion propagation Orphan (as upstream for batch/v1).
    let jobs: Api<Job> = Api::namespaced(client, "batch-c");
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": "once"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never"}}},
    }))
    .unwrap();
    let created = jobs.create(&PostParams::default(), &job).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let patched = jobs
        .patch(
            "once",
            &PatchParams::apply("t").force(),
            &Patch::Apply(json!({
                "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
                "spec": {"template": {"metadata": {"annotations": {"x": "1"}}}},
            })),
        )
        .await
        .unwrap();
    assert_eq!(patched.metadata.generation, Some(2));
    let deleted = jobs.delete("once", &DeleteParams::default()).await.unwrap();
    let pending = deleted.left().expect("the object while orphaning");
    assert!(
        pending
            .metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"orphan".to_string())
    );
    eventually("job deleted", || {
        let jobs = jobs.clone();
        async move { jobs.get_opt("once").await.unwrap().is_none() }
    })
    .await;
}
