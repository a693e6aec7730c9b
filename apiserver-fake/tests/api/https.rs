//! The HTTPS front door: a kube Client built from the generated kubeconfig, bearer tokens.

use apiserver_fake::{FakeApiServer, Options};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;

async fn client_from(kubeconfig: &std::path::Path) -> kube::Client {
    let kc = Kubeconfig::read_from(kubeconfig).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(cfg).unwrap()
}

#[tokio::test]
async fn https_with_token_from_generated_kubeconfig() {
    let fake = FakeApiServer::start(Options {
        token: Some("s3cret".into()),
        ..Default::default()
    })
    .unwrap();
    let ep = fake
        .serve_http("127.0.0.1:0".parse().unwrap(), true)
        .await
        .unwrap();
    assert!(ep.url.starts_with("https://127.0.0.1:"));
    let text = std::fs::read_to_string(&ep.kubeconfig).unwrap();
    assert!(text.contains("certificate-authority-data"));
    let client = client_from(&ep.kubeconfig).await;
    let nss: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = nss
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(names.contains(&"default".to_string()) && names.contains(&"kube-system".to_string()));
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "over-tls"}, "data": {"a": "b"}}))
            .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    // Watches work over TLS too.
    use futures::StreamExt;
    let mut w = cms.watch(&Default::default(), "0").await.unwrap().boxed();
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), w.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(first, kube::api::WatchEvent::Added(_)));

    // Without the token: 401 with a Status body.
    let no_token = text.replace("token: s3cret", "token: wrong");
    let path = ep.kubeconfig.with_file_name("kubeconfig-wrong");
    std::fs::write(&path, no_token).unwrap();
    let bad = client_from(&path).await;
    let e = Api::<Namespace>::all(bad)
        .list(&Default::default())
        .await
        .unwrap_err();
    let st = crate::support::api_err(e);
    assert_eq!((st.code, st.reason.as_str()), (401, "Unauthorized"));
}

#[tokio::test]
async fn plain_http_listener() {
    let fake = FakeApiServer::start(Options::default()).unwrap();
    let ep = fake
        .serve_http("127.0.0.1:0".parse().unwrap(), false)
        .await
        .unwrap();
    assert!(ep.url.starts_with("http://"));
    assert!(ep.ca_pem.is_none());
    let client = client_from(&ep.kubeconfig).await;
    let v = client.apiserver_version().await.unwrap();
    assert_eq!(v.major, "1");
}
