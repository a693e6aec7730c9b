//! The test proxy in front of moto (`support::aws_proxy`): it forwards what the AWS SDK sends and
//! counts it per operation, refuses denied operations the way AWS does (so the provider maps them
//! to `AccessDenied`), serves stale `ListSecrets` answers on demand, adds latency, keeps
//! connections alive, and stops when dropped. Its faults (for the fault matrix) reach the
//! provider as AWS's would: 5xx, throttling with and without `Retry-After`, bad credentials (STS
//! included), a disabled KMS key on some secrets, hung requests and refused connections — for
//! everyone or for the requests of one access key, logged, and healed on demand.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use stagesync::api::VersionSelector;
use stagesync::provider::aws::AwsBackend;
use stagesync::provider::{FindQuery, ProviderError, SecretsBackend};
use support::aws_proxy::{AwsFault, AwsProxy};
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

/// The backend on the proxy signing with `access_key`, one attempt per call, `attempt` timeout.
async fn backend_as(proxy: &AwsProxy, access_key: &str, attempt: Duration) -> AwsBackend {
    let mut cfg = moto().store_config();
    cfg.endpoint = Some(proxy.endpoint.clone());
    cfg.sts_endpoint = Some(proxy.endpoint.clone());
    cfg.credentials = stagesync::provider::aws::CredentialSource::Static {
        access_key_id: access_key.to_owned(),
        secret_access_key: stagesync::value::SecretBytes::from("testing".to_owned()),
        session_token: None,
    };
    cfg.max_attempts = 1;
    cfg.timeouts.attempt = attempt;
    cfg.timeouts.operation = attempt * 2;
    AwsBackend::from_config(&cfg).await.expect("backend builds")
}

#[tokio::test]
async fn service_errors_and_throttling_reach_the_provider_as_aws_sends_them() {
    let proxy = AwsProxy::start(&moto().endpoint);
    let admin = moto().admin_client().await;
    let name = unique_name("proxy/errors");
    create_aws(&admin, &name, "v1").await;
    let faulty = backend_as(&proxy, "AKIAFAULTY", Duration::from_secs(5)).await;
    let healthy = backend_as(&proxy, "AKIAHEALTHY", Duration::from_secs(5)).await;

    for (fault, code) in [
        (AwsFault::internal_error(), "InternalServiceError"),
        (AwsFault::unavailable(), "ServiceUnavailable"),
    ] {
        proxy.inject(Some("AKIAFAULTY"), fault);
        match faulty.describe_secret(&name).await {
            Err(ProviderError::Unavailable { detail, .. }) => {
                assert!(detail.starts_with(code), "{detail}")
            }
            other => panic!("expected Unavailable ({code}), got {other:?}"),
        }
        // Another identity on the same proxy is not affected.
        healthy.describe_secret(&name).await.unwrap();
    }
    proxy.inject(Some("AKIAFAULTY"), AwsFault::throttling());
    assert!(matches!(
        faulty.describe_secret(&name).await,
        Err(ProviderError::Throttled {
            retry_after: None,
            ..
        })
    ));
    proxy.inject(Some("AKIAFAULTY"), AwsFault::too_many_requests(7));
    assert!(matches!(
        faulty.describe_secret(&name).await,
        Err(ProviderError::Throttled { retry_after: Some(d), .. }) if d == Duration::from_secs(7)
    ));
    // Outages of Secrets Manager leave STS alone.
    faulty.check_credentials().await.unwrap();

    proxy.heal(Some("AKIAFAULTY"));
    faulty.describe_secret(&name).await.unwrap();
    let faults: Vec<_> = proxy
        .log()
        .into_iter()
        .filter(|l| l.access_key.as_deref() == Some("AKIAFAULTY"))
        .map(|l| (l.operation, l.secret_id, l.fault))
        .collect();
    let described = |fault| ("DescribeSecret".to_owned(), Some(name.clone()), fault);
    assert_eq!(
        faults,
        [
            described(Some("InternalServiceError")),
            described(Some("ServiceUnavailable")),
            described(Some("ThrottlingException")),
            described(Some("TooManyRequestsException")),
            ("sts:GetCallerIdentity".to_owned(), None, None),
            described(None),
        ]
    );
}

#[tokio::test]
async fn bad_credentials_are_refused_by_secrets_manager_and_sts() {
    let proxy = AwsProxy::start(&moto().endpoint);
    let name = unique_name("proxy/creds");
    create_aws(&moto().admin_client().await, &name, "v1").await;
    let backend = backend_as(&proxy, "AKIAEXPIRED", Duration::from_secs(5)).await;
    for (code, sts_code) in [
        ("ExpiredTokenException", "ExpiredToken"),
        ("UnrecognizedClientException", "InvalidClientTokenId"),
        ("AccessDeniedException", "AccessDenied"),
    ] {
        proxy.inject(Some("AKIAEXPIRED"), AwsFault::credentials(code));
        // Credentials refused outright fail every call alike; a refused permission may concern
        // one secret only.
        let detail = match backend.get_secret(&name, &VersionSelector::default()).await {
            Err(ProviderError::CredentialsRejected { detail })
                if code != "AccessDeniedException" =>
            {
                detail
            }
            Err(ProviderError::AccessDenied {
                detail,
                key: Some(_),
            }) if code == "AccessDeniedException" => detail,
            other => panic!("expected the credentials rejected ({code}), got {other:?}"),
        };
        assert!(detail.starts_with(code), "{detail}");
        let detail = match backend.check_credentials().await {
            Err(
                ProviderError::CredentialsRejected { detail }
                | ProviderError::AccessDenied { detail, .. },
            ) => detail,
            other => panic!("expected a refusal from STS ({sts_code}), got {other:?}"),
        };
        assert!(detail.contains(sts_code), "{detail}");
    }
    proxy.heal(Some("AKIAEXPIRED"));
    backend.check_credentials().await.unwrap();
    backend
        .get_secret(&name, &VersionSelector::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_disabled_kms_key_fails_reads_of_its_secrets_only() {
    let proxy = AwsProxy::start(&moto().endpoint);
    let admin = moto().admin_client().await;
    let (broken, fine) = (unique_name("proxy/kms-off"), unique_name("proxy/kms-on"));
    create_aws(&admin, &broken, "b").await;
    create_aws(&admin, &fine, "f").await;
    let backend = backend_as(&proxy, "AKIAKMS", Duration::from_secs(5)).await;
    let arn = backend.describe_secret(&broken).await.unwrap().arn;
    proxy.inject(
        None,
        AwsFault::KmsDisabled(BTreeSet::from([broken.clone()])),
    );

    for id in [&broken, &arn] {
        match backend.get_secret(id, &VersionSelector::default()).await {
            Err(ProviderError::AccessDenied { detail, .. }) => {
                assert!(detail.starts_with("DecryptionFailure"), "{detail}")
            }
            other => panic!("expected DecryptionFailure for {id}, got {other:?}"),
        }
    }
    backend
        .get_secret(&fine, &VersionSelector::default())
        .await
        .unwrap();
    // Metadata needs no decryption.
    backend.describe_secret(&broken).await.unwrap();
    // A batch leaves the broken secret out (AWS lists it in its errors).
    let batch = backend
        .batch_get_current(&[broken.clone(), fine.clone()])
        .await
        .unwrap();
    let names: Vec<_> = batch.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, [fine.as_str()]);
    // The log names every secret a request names, a batch's too, and the SDK call it belongs
    // to (one invocation id per call).
    let log = proxy.log();
    let batched = log.last().unwrap();
    assert_eq!(batched.operation, "BatchGetSecretValue");
    assert_eq!(batched.secrets, [broken.clone(), fine.clone()]);
    assert_eq!(
        batched.fault, None,
        "a batch is answered, its failures inside"
    );
    let invocations: std::collections::BTreeSet<_> = log
        .iter()
        .map(|l| l.invocation.clone().expect("an invocation id"))
        .collect();
    assert_eq!(invocations.len(), log.len(), "one attempt per call here");

    proxy.heal(None);
    let batch = backend.batch_get_current(&[broken, fine]).await.unwrap();
    assert_eq!(batch.len(), 2);
}

#[tokio::test]
async fn hung_requests_time_out_and_refused_connections_fail_fast_until_healed() {
    let proxy = AwsProxy::start(&moto().endpoint);
    let name = unique_name("proxy/hang");
    create_aws(&moto().admin_client().await, &name, "v1").await;
    let backend = backend_as(&proxy, "AKIAHANG", Duration::from_secs(1)).await;
    backend.describe_secret(&name).await.unwrap(); // a kept-alive connection

    proxy.inject(Some("AKIAHANG"), AwsFault::Hang);
    let started = Instant::now();
    match backend.describe_secret(&name).await {
        Err(ProviderError::Unavailable { detail, .. }) => {
            assert!(detail.contains("timed out"), "{detail}")
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(started.elapsed() < Duration::from_secs(5));
    proxy.heal(Some("AKIAHANG"));
    backend.describe_secret(&name).await.unwrap();

    let address = proxy.endpoint.trim_start_matches("http://").to_owned();
    let kept = TcpStream::connect(&address).unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    proxy.refuse_connections(true);
    let refused = TcpStream::connect(&address).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    let mut rest = Vec::new();
    assert_eq!(
        (&kept).read_to_end(&mut rest).unwrap_or(0),
        0,
        "an open connection was kept"
    );
    let started = Instant::now();
    assert!(matches!(
        backend.describe_secret(&name).await,
        Err(ProviderError::Unavailable { .. })
    ));
    // A hang would take the three attempts' timeouts (3 s); a refusal fails well before.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at once"
    );

    proxy.refuse_connections(false);
    let listening = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(&address).is_err() {
        assert!(Instant::now() < listening, "not listening again");
        std::thread::sleep(Duration::from_millis(20));
    }
    backend.describe_secret(&name).await.unwrap();
}
