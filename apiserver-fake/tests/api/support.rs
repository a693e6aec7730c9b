//! Helpers shared by the in-process tests.

use std::time::Duration;

use apiserver_fake::{FakeApiServer, Options};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use serde_json::json;

pub const CRD_FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/crds");

/// A fake with fast bookmarks, and a fresh namespace in it.
pub async fn start() -> (FakeApiServer, kube::Client) {
    start_with(Options {
        bookmark_interval: Duration::from_millis(200),
        ..Default::default()
    })
    .await
}

pub async fn start_with(opts: Options) -> (FakeApiServer, kube::Client) {
    let fake = FakeApiServer::start(opts).expect("fake starts");
    let client = fake.client();
    (fake, client)
}

pub async fn namespace(client: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
    )
    .await
    .expect("namespace created");
}

/// Poll `f` until it returns true (at most 5 s).
pub async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if f().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn api_err(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}
