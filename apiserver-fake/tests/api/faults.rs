//! Fault injection through both front doors.

use std::time::{Duration, Instant};

use apiserver_fake::{FakeApiServer, FaultRule, Options};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::support::{api_err, namespace, start};

#[tokio::test]
async fn error_statuses_with_counts_and_retry_after() {
    let (fake, client) = start().await;
    namespace(&client, "f-a").await;
    let api: Api<Secret> = Api::namespaced(client.clone(), "f-a");
    fake.faults().add(FaultRule {
        verb: Some("list".into()),
        resource: Some("secrets".into()),
        status: Some(500),
        times: Some(2),
        ..Default::default()
    });
    for _ in 0..2 {
        let e = api_err(api.list(&Default::default()).await.unwrap_err());
        assert_eq!((e.code, e.reason.as_str()), (500, "InternalError"));
    }
    api.list(&Default::default())
        .await
        .expect("rule spent after 2");
    // 429 carries Retry-After (header and details.retryAfterSeconds).
    fake.faults().add(FaultRule {
        verb: Some("create".into()),
        name: None,
        status: Some(429),
        retry_after_seconds: Some(3),
        times: Some(1),
        ..Default::default()
    });
    let req = http::Request::post("/api/v1/namespaces/f-a/configmaps")
        .header("content-type", "application/json")
        .body(
            serde_json::to_vec(
                &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
            )
            .unwrap(),
        )
        .unwrap();
    let e = api_err(client.request::<ConfigMap>(req).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (429, "TooManyRequests"));
    assert_eq!(e.details.unwrap().retry_after_seconds, 3);
    // Only the matching namespace/name is affected.
    fake.faults().add(FaultRule {
        verb: Some("get".into()),
        namespace: Some("f-a".into()),
        name: Some("only-me".into()),
        status: Some(503),
        ..Default::default()
    });
    assert_eq!(api_err(api.get("only-me").await.unwrap_err()).code, 503);
    assert_eq!(
        api_err(api.get("someone-else").await.unwrap_err()).code,
        404
    );
}

#[tokio::test]
async fn latency_is_added() {
    let (fake, client) = start().await;
    fake.faults().add(FaultRule {
        verb: Some("get".into()),
        latency_ms: Some(300),
        times: Some(1),
        ..Default::default()
    });
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let t = Instant::now();
    let _ = api.get_opt("x").await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn refused_connections_then_recovery_over_tcp() {
    let fake = FakeApiServer::start(Options::default()).unwrap();
    let ep = fake
        .serve_http("127.0.0.1:0".parse().unwrap(), false)
        .await
        .unwrap();
    let kc = kube::config::Kubeconfig::read_from(&ep.kubeconfig).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(cfg).unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.list(&Default::default()).await.unwrap();
    // An open watch is cut by the simulated restart.
    let w = api.watch(&Default::default(), "0").await.unwrap();
    // The window is long enough for the list below to land in it on a loaded machine.
    fake.faults().refuse_connections(Duration::from_secs(3));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let ended: Vec<_> = tokio::time::timeout(
        Duration::from_secs(3),
        futures::StreamExt::collect::<Vec<_>>(w),
    )
    .await
    .expect("watch cut");
    assert!(
        ended
            .iter()
            .all(|e| e.is_err() || matches!(e, Ok(kube::api::WatchEvent::Bookmark(_)))),
        "{ended:?}"
    );
    let e = api.list(&Default::default()).await.unwrap_err();
    assert!(
        !matches!(e, kube::Error::Api(_)),
        "a transport error, not a Status: {e:?}"
    );
    // Refused connections are counted (the client may have tried more than once).
    assert!(fake.faults().refused_connections() >= 1);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "after"}})).unwrap();
    api.create(&PostParams::default(), &cm)
        .await
        .expect("serving again after the window");
}

#[tokio::test]
async fn refuse_rule_in_process() {
    let (fake, client) = start().await;
    fake.faults().add(FaultRule {
        verb: Some("list".into()),
        resource: Some("configmaps".into()),
        refuse_connections_ms: Some(2000),
        times: Some(1),
        ..Default::default()
    });
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    assert!(api.list(&Default::default()).await.is_err());
    assert!(api.get_opt("x").await.is_err(), "still refusing");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    api.list(&Default::default()).await.unwrap();
}

#[tokio::test]
async fn dropped_watch_ends_right_after_n_events() {
    use futures::StreamExt;
    let (fake, client) = start().await;
    namespace(&client, "f-d").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "f-d");
    for i in 0..3 {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).unwrap();
        api.create(&PostParams::default(), &cm).await.unwrap();
    }
    fake.faults().add(FaultRule {
        verb: Some("watch".into()),
        drop_watch_after_events: Some(0),
        times: Some(1),
        ..Default::default()
    });
    fake.faults().add(FaultRule {
        verb: Some("watch".into()),
        drop_watch_after_events: Some(2),
        times: Some(1),
        ..Default::default()
    });
    let collect = |s| {
        tokio::time::timeout(
            Duration::from_secs(3),
            futures::StreamExt::collect::<Vec<_>>(s),
        )
    };
    // First watch: both rules match, the later one wins (2 events).
    let first = collect(api.watch(&Default::default(), "0").await.unwrap())
        .await
        .expect("ends by itself");
    assert_eq!(first.len(), 2);
    fake.faults().clear();
    fake.faults().add(FaultRule {
        verb: Some("watch".into()),
        drop_watch_after_events: Some(0),
        times: Some(1),
        ..Default::default()
    });
    let none = collect(api.watch(&Default::default(), "0").await.unwrap())
        .await
        .expect("ends at once");
    assert!(none.is_empty());
    // Spent: the next watch streams normally.
    let mut s = api.watch(&Default::default(), "0").await.unwrap().boxed();
    for _ in 0..3 {
        tokio::time::timeout(Duration::from_secs(3), s.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

#[tokio::test]
async fn requests_are_counted_per_user_and_a_rule_can_fault_one_user_only() {
    use apiserver_fake::faults::RequestKey;
    use k8s_openapi::api::core::v1::ServiceAccount;
    let (fake, client) = start().await;
    namespace(&client, "f-u").await;
    let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "op"}})).unwrap();
    Api::<ServiceAccount>::namespaced(client.clone(), "f-u")
        .create(&PostParams::default(), &sa)
        .await
        .unwrap();
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "op-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "f-u"}],
    });
    Api::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(binding).unwrap(),
        )
        .await
        .unwrap();
    let operator = fake
        .client_as(&fake.service_account_token("f-u", "op").unwrap())
        .unwrap();
    let user = "system:serviceaccount:f-u:op";
    fake.faults().reset_requests();
    fake.faults().add(FaultRule {
        user: Some(user.into()),
        verb: Some("list".into()),
        status: Some(429),
        retry_after_seconds: Some(2),
        ..Default::default()
    });

    let as_operator: Api<ConfigMap> = Api::namespaced(operator, "f-u");
    let as_admin: Api<ConfigMap> = Api::namespaced(client, "f-u");
    for _ in 0..3 {
        let e = api_err(as_operator.list(&Default::default()).await.unwrap_err());
        assert_eq!(e.code, 429);
    }
    as_operator.get_opt("x").await.unwrap();
    as_admin.list(&Default::default()).await.unwrap();

    let faults = fake.faults();
    let key = |verb: &str| RequestKey {
        user: user.into(),
        verb: verb.into(),
        resource: "configmaps".into(),
        namespace: "f-u".into(),
        ..Default::default()
    };
    assert_eq!(faults.requests().get(&key("list")), Some(&3));
    assert_eq!(faults.requests().get(&key("get")), Some(&1));
    assert_eq!(faults.count_requests(|k| k.user == user), 4);
    assert_eq!(
        faults.count_requests(|k| k.user != user && k.resource == "configmaps"),
        1,
        "the admin's list, not faulted"
    );
    assert_eq!(faults.hits(), vec![3]);
}

#[tokio::test]
async fn open_watches_end_when_asked_and_watch_rules_apply_to_the_next_ones() {
    use futures::StreamExt;
    let (fake, client) = start().await;
    namespace(&client, "f-e").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "f-e");
    let open = api.watch(&Default::default(), "0").await.unwrap().boxed();
    // A rule added now does not touch the open stream...
    fake.faults().add(FaultRule {
        verb: Some("watch".into()),
        watch_gone: Some(true),
        ..Default::default()
    });
    let ended = tokio::spawn(async move {
        let mut open = open;
        let mut events = 0;
        while let Some(e) = open.next().await {
            assert!(e.is_ok(), "{e:?}");
            events += 1;
        }
        events
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!ended.is_finished(), "the open watch ended by itself");
    // ...until the open watches are ended: the stream closes, and the next watch is gone.
    fake.faults().end_watches();
    tokio::time::timeout(Duration::from_secs(3), ended)
        .await
        .expect("the open watch ended")
        .unwrap();
    let mut next = api.watch(&Default::default(), "0").await.unwrap().boxed();
    let first = tokio::time::timeout(Duration::from_secs(3), next.next())
        .await
        .unwrap()
        .unwrap();
    match first {
        Ok(kube::api::WatchEvent::Error(e)) => assert_eq!(e.code, 410),
        other => panic!("expected 410 Gone, got {other:?}"),
    }
}

#[tokio::test]
async fn expired_watches_end_and_resuming_them_is_gone_while_a_new_list_works() {
    use futures::StreamExt;
    use kube::api::{ListParams, Patch, PatchParams, WatchEvent};
    let (fake, client) = start().await;
    namespace(&client, "f-x").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "f-x");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "a"}})).unwrap();
    api.create(&PostParams::default(), &cm).await.unwrap();
    let seen = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let open = api.watch(&Default::default(), &seen).await.unwrap().boxed();

    fake.cluster().store.expire_watches();
    let rest: Vec<_> = tokio::time::timeout(Duration::from_secs(3), open.collect::<Vec<_>>())
        .await
        .expect("the open watch ended");
    assert!(
        rest.iter()
            .all(|e| matches!(e, Ok(WatchEvent::Bookmark(_)))),
        "{rest:?}"
    );
    let mut resumed = api.watch(&Default::default(), &seen).await.unwrap().boxed();
    match resumed.next().await {
        Some(Ok(WatchEvent::Error(e))) => assert_eq!(e.code, 410),
        other => panic!("expected 410 Gone, got {other:?}"),
    }
    // A new list gives a resourceVersion to watch from again.
    let fresh = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    assert_ne!(fresh, seen);
    let mut watch = api
        .watch(&Default::default(), &fresh)
        .await
        .unwrap()
        .boxed();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "1"}})),
    )
    .await
    .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(3), watch.next())
        .await
        .expect("an event")
        .unwrap()
        .unwrap();
    assert!(matches!(event, WatchEvent::Modified(_)), "{event:?}");
}
