//! The test proxy in front of moto (`support::aws_proxy`): it forwards what the AWS SDK sends and
//! counts it per operation, refuses denied operations the way AWS does (so the provider maps them
//! to `AccessDenied`), serves stale `ListSecrets` answers on demand, adds latency, keeps
//! connections alive, and stops when dropped.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use stagesync::api::VersionSelector;
use stagesync::provider::aws::AwsBackend;
use stagesync::provider::{FindQuery, ProviderError, SecretsBackend};
use support::aws_proxy::AwsProxy;
use support::moto::{admin_client_at, moto};
use support::objects::create_aws;
use support::unique_name;

/// The stagesync backend with both its Secrets Manager and STS endpoints on the proxy.
async fn backend_via(proxy: &AwsProxy) -> AwsBackend {
    let mut cfg = moto().store_config();
    cfg.endpoint = Some(proxy.endpoint.clone());
    cfg.sts_endpoint = Some(proxy.endpoint.clone());
    AwsBackend::from_config(&cfg).await.expect("backend builds")
}

fn under(prefix: &str) -> FindQuery {
    FindQuery {
        path: Some(prefix.to_owned()),
        ..Default::default()
    }
}

async fn names(backend: &AwsBackend, prefix: &str) -> Vec<String> {
    let found = backend.find_secrets(&under(prefix)).await.expect("find");
    found.into_iter().map(|m| m.name).collect()
}

#[tokio::test]
async fn forwards_and_counts_every_operation() {
    let proxy = AwsProxy::start(&moto().endpoint);
    let admin = admin_client_at(&proxy.endpoint).await;
    let name = unique_name("proxy/counts");
    let version = create_aws(&admin, &name, "v1").await;
    let backend = backend_via(&proxy).await;

    let got = backend
        .get_secret(&name, &VersionSelector::default())
        .await
        .unwrap();
    assert_eq!(got.version_id, version);
    let meta = backend.describe_secret(&name).await.unwrap();
    assert_eq!(meta.name, name);
    backend.check_credentials().await.unwrap();

    let expected = BTreeMap::from(
        [
            ("CreateSecret", 1),
            ("DescribeSecret", 1),
            ("GetSecretValue", 1),
            ("sts:GetCallerIdentity", 1),
        ]
        .map(|(op, n)| (op.to_owned(), n)),
    );
    assert_eq!(proxy.counts(), expected);
    assert_eq!(proxy.count("GetSecretValue"), 1);
    assert_eq!(proxy.count("ListSecrets"), 0);
    assert_eq!(proxy.secrets_manager_calls(), 3);

    proxy.reset();
    assert!(proxy.counts().is_empty());
    backend.describe_secret(&name).await.unwrap();
    assert_eq!(
        proxy.counts(),
        BTreeMap::from([("DescribeSecret".to_owned(), 1)])
    );
}

#[tokio::test]
async fn denied_operations_map_to_access_denied_until_allowed() {
    let proxy = AwsProxy::start(&moto().endpoint);
    let admin = admin_client_at(&proxy.endpoint).await;
    let prefix = format!("{}/", unique_name("proxy/deny"));
    let name = format!("{prefix}one");
    create_aws(&admin, &name, "v1").await;
    let backend = backend_via(&proxy).await;
    assert_eq!(names(&backend, &prefix).await, [name.as_str()]);

    proxy.deny("ListSecrets");
    match backend.find_secrets(&under(&prefix)).await {
        Err(ProviderError::AccessDenied { key: None, detail }) => {
            assert!(
                detail.starts_with("AccessDeniedException: User: "),
                "{detail}"
            );
            assert!(detail.contains("secretsmanager:ListSecrets"), "{detail}");
        }
        other => panic!("expected AccessDenied, got {other:?}"),
    }
    // AWS's own classification, as the SDK reports it to any caller.
    let err = admin.list_secrets().send().await.unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    // Only the denied operation is refused; denied requests are counted, and not retried.
    backend.describe_secret(&name).await.unwrap();
    assert_eq!(proxy.count("ListSecrets"), 3);

    proxy.allow("ListSecrets");
    assert_eq!(names(&backend, &prefix).await, [name]);
    assert_eq!(proxy.count("ListSecrets"), 4);
}

#[tokio::test]
async fn stale_lists_replay_an_earlier_answer() {
    let proxy = AwsProxy::start(&moto().endpoint);
    let admin = moto().admin_client().await;
    let prefix = format!("{}/", unique_name("proxy/stale"));
    let (first, second) = (format!("{prefix}a"), format!("{prefix}b"));
    create_aws(&admin, &first, "v1").await;
    let backend = backend_via(&proxy).await;
    assert_eq!(names(&backend, &prefix).await, [first.as_str()]);

    proxy.serve_stale_lists(true);
    create_aws(&admin, &second, "v1").await;
    assert_eq!(names(&backend, &prefix).await, [first.as_str()]);
    assert_eq!(
        proxy.count("ListSecrets"),
        2,
        "the stale answer came from the proxy"
    );
    // moto itself already lists the new secret.
    assert_eq!(
        names(&moto().backend().await, &prefix).await,
        [first.clone(), second.clone()]
    );

    proxy.serve_stale_lists(false);
    assert_eq!(names(&backend, &prefix).await, [first, second]);
}

#[tokio::test]
async fn latency_delays_every_request() {
    let proxy = AwsProxy::start(&moto().endpoint);
    let backend = backend_via(&proxy).await;
    backend.check_credentials().await.unwrap(); // connection established
    proxy.set_latency(Duration::from_millis(400));
    let started = Instant::now();
    backend.check_credentials().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
}

/// Reads one HTTP/1.1 response with a `content-length`; returns its status line.
fn read_response(reader: &mut BufReader<TcpStream>) -> String {
    let mut next_line = || {
        let mut line = String::new();
        assert_ne!(reader.read_line(&mut line).unwrap(), 0, "connection closed");
        line
    };
    let status = next_line();
    let mut length = 0;
    loop {
        let line = next_line();
        if line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap();
        }
    }
    reader.read_exact(&mut vec![0; length]).unwrap();
    status.trim_end().to_owned()
}

#[test]
fn keeps_connections_alive_and_stops_when_dropped() {
    let proxy = AwsProxy::start(&moto().endpoint);
    let address = proxy.endpoint.trim_start_matches("http://").to_owned();
    let stream = TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for _ in 0..2 {
        let request = format!("GET /moto-api/ HTTP/1.1\r\nHost: {address}\r\n\r\n");
        (&stream).write_all(request.as_bytes()).unwrap();
        assert_eq!(read_response(&mut reader), "HTTP/1.1 200 OK");
    }

    drop(proxy);
    assert!(TcpStream::connect(&address).is_err(), "still listening");
    let mut rest = Vec::new();
    assert_eq!(
        reader.read_to_end(&mut rest).unwrap(),
        0,
        "connection still open"
    );
}
