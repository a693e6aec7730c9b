//! Watch semantics through kube's raw watch API and kube::runtime::watcher.

use std::collections::BTreeMap;
use std::time::Duration;

use apiserver_fake::{FaultRule, Options};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher::{self, Event};
use serde_json::json;

use crate::support::{namespace, start, start_with};

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "data": {"v": "0"}}),
    )
    .unwrap()
}

async fn next_event(
    s: &mut (impl futures::Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin),
) -> WatchEvent<ConfigMap> {
    tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .expect("event in time")
        .expect("stream open")
        .expect("event ok")
}

fn kind(e: &WatchEvent<ConfigMap>) -> (&'static str, String) {
    match e {
        WatchEvent::Added(o) => ("ADDED", o.metadata.name.clone().unwrap()),
        WatchEvent::Modified(o) => ("MODIFIED", o.metadata.name.clone().unwrap()),
        WatchEvent::Deleted(o) => ("DELETED", o.metadata.name.clone().unwrap()),
        WatchEvent::Bookmark(b) => ("BOOKMARK", b.metadata.resource_version.clone()),
        WatchEvent::Error(e) => ("ERROR", e.code.to_string()),
    }
}

#[tokio::test]
async fn watch_from_zero_then_live_and_from_rv() {
    let (_fake, client) = start().await;
    namespace(&client, "w-a").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "w-a");
    let a = api
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    let mut s = api
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    assert_eq!(kind(&next_event(&mut s).await), ("ADDED", "a".into()));
    api.create(&PostParams::default(), &cm("b", json!({})))
        .await
        .unwrap();
    assert_eq!(kind(&next_event(&mut s).await), ("ADDED", "b".into()));
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "1"}})),
    )
    .await
    .unwrap();
    assert_eq!(kind(&next_event(&mut s).await), ("MODIFIED", "a".into()));
    api.delete("b", &DeleteParams::default()).await.unwrap();
    let del = next_event(&mut s).await;
    assert_eq!(kind(&del), ("DELETED", "b".into()));
    // From a resourceVersion: only what happened after it, in order.
    let rv = a.metadata.resource_version.unwrap();
    let mut s2 = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    let got: Vec<_> = [
        next_event(&mut s2).await,
        next_event(&mut s2).await,
        next_event(&mut s2).await,
    ]
    .iter()
    .map(kind)
    .collect();
    assert_eq!(
        got,
        vec![
            ("ADDED", "b".into()),
            ("MODIFIED", "a".into()),
            ("DELETED", "b".into())
        ]
    );
}

#[tokio::test]
async fn selector_transitions_are_added_and_deleted() {
    let (_fake, client) = start().await;
    namespace(&client, "w-b").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "w-b");
    api.create(&PostParams::default(), &cm("x", json!({"team": "a"})))
        .await
        .unwrap();
    let wp = WatchParams::default().labels("team=b");
    let mut s = api.watch(&wp, "0").await.unwrap().boxed();
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "b"}}})),
    )
    .await
    .unwrap();
    assert_eq!(kind(&next_event(&mut s).await), ("ADDED", "x".into()));
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await
    .unwrap();
    assert_eq!(kind(&next_event(&mut s).await), ("MODIFIED", "x".into()));
    let moved = api
        .patch(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "c"}}})),
        )
        .await
        .unwrap();
    match next_event(&mut s).await {
        WatchEvent::Deleted(o) => {
            assert_eq!(o.labels()["team"], "b", "previous content");
            assert_eq!(
                o.metadata.resource_version, moved.metadata.resource_version,
                "event's rv"
            );
        }
        other => panic!("expected DELETED, got {other:?}"),
    }
    use kube::ResourceExt;
    let _ = ResourceExt::name_any(&moved);
}

use kube::ResourceExt;

#[tokio::test]
async fn bookmarks_and_initial_events_end() {
    let (_fake, client) = start().await;
    namespace(&client, "w-c").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "w-c");
    api.create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    let wp = WatchParams::default().initial_events();
    let mut s = api.watch(&wp, "0").await.unwrap().boxed();
    assert_eq!(kind(&next_event(&mut s).await), ("ADDED", "a".into()));
    match next_event(&mut s).await {
        WatchEvent::Bookmark(b) => {
            assert!(
                b.metadata
                    .annotations
                    .contains_key("k8s.io/initial-events-end")
            );
        }
        other => panic!("expected the initial-events-end bookmark, got {other:?}"),
    }
    let b = api
        .create(&PostParams::default(), &cm("b", json!({})))
        .await
        .unwrap();
    assert_eq!(kind(&next_event(&mut s).await), ("ADDED", "b".into()));
    // Periodic bookmark (200ms in tests) carrying the current resourceVersion.
    match next_event(&mut s).await {
        WatchEvent::Bookmark(bm) => {
            assert_eq!(
                Some(bm.metadata.resource_version),
                b.metadata.resource_version
            );
            assert!(bm.metadata.annotations.is_empty());
        }
        other => panic!("expected a bookmark, got {other:?}"),
    }
}

#[tokio::test]
async fn timeout_ends_the_stream() {
    let (_fake, client) = start().await;
    namespace(&client, "w-d").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "w-d");
    let wp = WatchParams::default().timeout(1);
    let started = tokio::time::Instant::now();
    let s = api.watch(&wp, "0").await.unwrap();
    let events: Vec<_> = tokio::time::timeout(Duration::from_secs(5), s.collect::<Vec<_>>())
        .await
        .unwrap();
    // Only the final bookmark upstream sends before closing at the timeout.
    assert!(
        events
            .iter()
            .all(|e| matches!(e, Ok(WatchEvent::Bookmark(_)))),
        "{events:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn too_old_resource_version_is_410_in_stream_and_for_exact_list() {
    let (fake, client) = start_with(Options {
        history_limit: 3,
        ..Default::default()
    })
    .await;
    namespace(&client, "w-e").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "w-e");
    let first = api
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    for i in 0..5 {
        api.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"v": i.to_string()}})),
        )
        .await
        .unwrap();
    }
    let old = first.metadata.resource_version.unwrap();
    let mut s = api
        .watch(&WatchParams::default(), &old)
        .await
        .unwrap()
        .boxed();
    match next_event(&mut s).await {
        WatchEvent::Error(e) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
            assert!(
                e.message.starts_with("too old resource version"),
                "{}",
                e.message
            );
        }
        other => panic!("expected ERROR 410, got {other:?}"),
    }
    let lp = kube::api::ListParams::default()
        .at(&old)
        .matching(kube::api::VersionMatch::Exact);
    let e = crate::support::api_err(api.list(&lp).await.unwrap_err());
    assert_eq!(e.code, 410);
    // Shrinking the window at run time compacts at once.
    fake.cluster().store.set_history_limit(1);
    assert_eq!(
        fake.cluster().store.compacted_rv(),
        fake.cluster().store.current_rv() - 1
    );
    // compact() forces it for any older rv.
    let now = fake.cluster().store.current_rv();
    fake.cluster().store.compact();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "x"}})),
    )
    .await
    .unwrap();
    let mut s = api
        .watch(&WatchParams::default(), &(now - 1).to_string())
        .await
        .unwrap()
        .boxed();
    assert_eq!(kind(&next_event(&mut s).await).0, "ERROR");
}

/// Collect the watcher's view (name -> data.v) until `want` holds.
async fn run_watcher_until(
    api: Api<ConfigMap>,
    cfg: watcher::Config,
    want: BTreeMap<String, String>,
    mut during: impl FnMut(bool) -> Option<futures::future::BoxFuture<'static, ()>>,
) -> (BTreeMap<String, String>, usize) {
    let mut state: BTreeMap<String, String> = BTreeMap::new();
    let mut init: Option<BTreeMap<String, String>> = None;
    let mut errors = 0;
    let mut stream = watcher::watcher(api, cfg).boxed();
    let mut seen_rvs = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while state != want {
        let ev = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("watcher converged in time; state {state:?}"))
            .expect("stream open");
        let init_done = matches!(ev, Ok(Event::InitDone));
        match ev {
            Ok(Event::Init) => init = Some(BTreeMap::new()),
            Ok(Event::InitApply(o)) => {
                init.as_mut()
                    .expect("init started")
                    .insert(o.name_any(), o.data.unwrap()["v"].clone());
            }
            Ok(Event::InitDone) => state = init.take().expect("init started"),
            Ok(Event::Apply(o)) => {
                let rv = o.resource_version().unwrap();
                assert!(
                    seen_rvs.insert(rv.clone()),
                    "event at rv {rv} delivered twice"
                );
                state.insert(o.name_any(), o.data.unwrap()["v"].clone());
            }
            Ok(Event::Delete(o)) => {
                state.remove(&o.name_any());
            }
            Err(_) => errors += 1,
        }
        if let Some(f) = during(init_done) {
            // Writes run concurrently with the watch.
            tokio::spawn(f);
        }
    }
    (state, errors)
}

fn writer(api: Api<ConfigMap>, from: usize, to: usize) -> futures::future::BoxFuture<'static, ()> {
    Box::pin(async move {
        for i in from..to {
            api.create(&PostParams::default(), &cm(&format!("c{i:03}"), json!({})))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
}

#[tokio::test]
async fn watcher_recovers_from_forced_410_without_loss_or_duplicates() {
    let (fake, client) = start().await;
    namespace(&client, "w-f").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "w-f");
    writer(api.clone(), 0, 10).await;
    // The first resumed watch is answered with 410: the watcher must re-list.
    fake.faults().add(FaultRule {
        verb: Some("watch".into()),
        resource: Some("configmaps".into()),
        namespace: Some("w-f".into()),
        watch_gone: Some(true),
        times: Some(1),
        ..Default::default()
    });
    let want: BTreeMap<String, String> = (0..20)
        .map(|i| (format!("c{i:03}"), "0".to_string()))
        .collect();
    let api2 = api.clone();
    let mut fired = false;
    let (state, errors) = run_watcher_until(
        api.clone(),
        watcher::Config::default(),
        want.clone(),
        move |init_done| {
            if fired || !init_done {
                return None;
            }
            fired = true;
            Some(writer(api2.clone(), 10, 20))
        },
    )
    .await;
    assert_eq!(state, want);
    assert!(errors >= 1, "the 410 surfaced as a watcher error");
    assert_eq!(fake.faults().hits(), vec![1]);
}

#[tokio::test]
async fn watcher_recovers_from_dropped_streams() {
    let (fake, client) = start().await;
    namespace(&client, "w-g").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "w-g");
    // Every watch stream is cut after 3 events: the watcher resumes from its last rv.
    fake.faults().add(FaultRule {
        verb: Some("watch".into()),
        resource: Some("configmaps".into()),
        drop_watch_after_events: Some(3),
        ..Default::default()
    });
    let want: BTreeMap<String, String> = (0..30)
        .map(|i| (format!("c{i:03}"), "0".to_string()))
        .collect();
    let api2 = api.clone();
    let mut fired = false;
    let (state, _) = run_watcher_until(
        api.clone(),
        watcher::Config::default(),
        want.clone(),
        move |init_done| {
            if fired || !init_done {
                return None;
            }
            fired = true;
            Some(writer(api2.clone(), 0, 30))
        },
    )
    .await;
    assert_eq!(state, want);
    assert!(
        fake.faults().hits()[0] >= 5,
        "the stream was cut and resumed repeatedly"
    );
}

#[tokio::test]
async fn streaming_list_watcher_sees_everything() {
    let (_fake, client) = start().await;
    namespace(&client, "w-h").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "w-h");
    writer(api.clone(), 0, 5).await;
    let want: BTreeMap<String, String> = (0..8)
        .map(|i| (format!("c{i:03}"), "0".to_string()))
        .collect();
    let api2 = api.clone();
    let mut fired = false;
    let (state, errors) = run_watcher_until(
        api.clone(),
        watcher::Config::default().streaming_lists(),
        want.clone(),
        move |init_done| {
            if fired || !init_done {
                return None;
            }
            fired = true;
            Some(writer(api2.clone(), 5, 8))
        },
    )
    .await;
    assert_eq!(state, want);
    assert_eq!(errors, 0);
}

#[tokio::test]
async fn watches_end_with_their_crd_and_on_shutdown() {
    let (fake, client) = start().await;
    namespace(&client, "w-i").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "w-i");
    let s = api.watch(&WatchParams::default(), "0").await.unwrap();
    assert_eq!(fake.cluster().store.watch_count(), 1);
    fake.shutdown();
    let rest: Vec<_> = tokio::time::timeout(Duration::from_secs(5), s.try_collect::<Vec<_>>())
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(rest.is_empty());
}
