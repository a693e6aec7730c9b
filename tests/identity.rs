//! The operator's own AWS identity as it runs in EKS, through the SDK's default credential
//! chain: IRSA (a web identity token file and a role → `AssumeRoleWithWebIdentity`, served by
//! moto's STS) and EKS Pod Identity (the container credentials endpoint, served by a small
//! loopback stand-in for the agent). A counting proxy in front of moto shows which identity
//! signed the Secrets Manager calls. A namespaced store still may not borrow that identity.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use serde_json::json;
use support::aws_proxy::AwsProxy;
use support::cluster::TestCluster;
use support::moto::{REGION, moto};
use support::objects::*;
use support::unique_name;

/// Starts `stagesync run` with no AWS credentials of its own but `identity` (environment
/// variables of the default credential chain).
fn operator(cluster: &TestCluster, ns: &str, identity: &[(&str, String)]) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_stagesync"));
    cmd.arg("run")
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .args(["--namespace", ns, "--leader-elect=false"])
        .args(["--metrics-addr", "127.0.0.1:0"]);
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_REGION", REGION)
        .envs(identity.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .kill_on_drop(true);
    support::leak::log_to_scanned_file(&mut cmd, "stagesync run (tests/identity.rs)");
    cmd.spawn().expect("stagesync starts")
}

/// A ClusterSecretStore without `auth` (the operator's own identity) and a namespaced
/// SecretStore without `auth`, both reading moto through `proxy`; an ExternalSecret on each.
async fn stores_and_secrets(cluster: &TestCluster, ns: &str, proxy: &AwsProxy) -> String {
    let aws = moto().admin_client().await;
    let key = unique_name("identity/db");
    create_aws(&aws, &key, "from-own-identity").await;
    let provider =
        json!({"aws": {"service": "SecretsManager", "region": REGION, "endpoint": proxy.endpoint}});
    let css = unique_name("ambient").replace('/', "-");
    create_cluster_store(
        &cluster.client,
        &css,
        json!({"provider": provider, "conditions": [{"namespaces": [ns]}]}),
    )
    .await;
    create_store_with(&cluster.client, ns, "tenant", provider.clone()).await;
    let data = json!([{"secretKey": "v", "remoteRef": {"key": key}}]);
    create_es(
        &cluster.client,
        ns,
        "platform",
        json!({"secretStoreRef": {"name": css, "kind": "ClusterSecretStore"}, "data": data}),
    )
    .await;
    create_es(
        &cluster.client,
        ns,
        "tenant",
        json!({"secretStoreRef": {"name": "tenant"}, "data": data}),
    )
    .await;
    key
}

/// The Secrets Manager calls were signed only by `keys`, and the tenant's store was refused.
async fn check(cluster: &TestCluster, ns: &str, proxy: &AwsProxy, keys: impl Fn(&str) -> bool) {
    wait_data(
        &cluster.client,
        ns,
        "platform",
        &[("v", "from-own-identity")],
    )
    .await;
    let (_, message) = wait_reason(
        &cluster.client,
        ns,
        "tenant",
        "AmbientCredentialsNotAllowed",
    )
    .await;
    assert!(message.contains("--allow-ambient-credentials"), "{message}");
    let used: BTreeSet<String> = proxy.access_keys();
    assert!(!used.is_empty());
    assert!(used.iter().all(|k| keys(k)), "calls signed by {used:?}");
}

#[tokio::test]
async fn irsa_web_identity_is_the_operators_own_identity() {
    let cluster = TestCluster::start().await;
    let ns = cluster.namespace("irsa").await;
    let proxy = AwsProxy::start(&moto().endpoint);
    stores_and_secrets(&cluster, &ns, &proxy).await;
    let dir = tempfile_dir("irsa");
    let token = dir.join("token");
    // The projected service account token EKS mounts (moto's STS does not verify it).
    std::fs::write(&token, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6c3RhZ2VzeW5jOnN0YWdlc3luYyJ9.c2ln").unwrap();
    let _op = operator(
        &cluster,
        &ns,
        &[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", token.display().to_string()),
            (
                "AWS_ROLE_ARN",
                "arn:aws:iam::123456789012:role/stagesync-operator".into(),
            ),
            ("AWS_ROLE_SESSION_NAME", "stagesync".into()),
            ("AWS_ENDPOINT_URL_STS", proxy.endpoint.clone()),
        ],
    );
    check(&cluster, &ns, &proxy, |k| k != "testing").await;
    assert!(
        proxy.count("sts:AssumeRoleWithWebIdentity") >= 1,
        "{:?}",
        proxy.counts()
    );
}

#[tokio::test]
async fn eks_pod_identity_credentials_endpoint_is_the_operators_own_identity() {
    let cluster = TestCluster::start().await;
    let ns = cluster.namespace("podid").await;
    let proxy = AwsProxy::start(&moto().endpoint);
    stores_and_secrets(&cluster, &ns, &proxy).await;
    let dir = tempfile_dir("podid");
    let token = dir.join("eks-pod-identity-token");
    std::fs::write(&token, "pod-identity-token-1").unwrap();
    let agent = Agent::start();
    let _op = operator(
        &cluster,
        &ns,
        &[
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                format!("{}/v1/credentials", agent.url),
            ),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                token.display().to_string(),
            ),
        ],
    );
    check(&cluster, &ns, &proxy, |k| k == Agent::ACCESS_KEY).await;
    let seen = agent.authorizations.lock().unwrap().clone();
    assert!(
        !seen.is_empty() && seen.iter().all(|a| a == "pod-identity-token-1"),
        "{seen:?}"
    );
}

fn tempfile_dir(prefix: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(unique_name(prefix).replace('/', "-"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A stand-in for the EKS Pod Identity agent: answers the container credentials request with
/// temporary credentials and records the `Authorization` header it got.
struct Agent {
    url: String,
    authorizations: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    const ACCESS_KEY: &str = "ASIAPODIDENTITYAGENT";

    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let authorizations: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = authorizations.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let mut auth = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("authorization:") {
                        auth = line[line.len() - v.len()..].trim().to_owned();
                    }
                    line.clear();
                }
                seen.lock().unwrap().push(auth);
                let expiration = (k8s_openapi::jiff::Timestamp::now()
                    + k8s_openapi::jiff::SignedDuration::from_hours(1))
                .to_string();
                let body = json!({
                    "AccessKeyId": Self::ACCESS_KEY,
                    "SecretAccessKey": "pod-identity-secret",
                    "Token": "pod-identity-session",
                    "AccountId": "123456789012",
                    "Expiration": expiration,
                })
                .to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self {
            url,
            authorizations,
        }
    }
}
