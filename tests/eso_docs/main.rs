//! ESO's documented examples for AWS Secrets Manager (`tests/fixtures/eso/docs/`, one file an
//! example, see its README) work with only `apiVersion` changed: every document is admitted
//! unchanged by our CRDs, and each example, applied in a namespace of its own with the AWS
//! secrets it needs in moto, gives the Secret ESO documents — or the refusal ESO gives, or the
//! one stagesync gives for what is out of its scope.
//!
//! One cluster and one operator for the whole corpus: the examples are applied together and
//! their outcomes awaited concurrently; every mismatch is reported, not only the first.

#[path = "../support/mod.rs"]
mod support;

mod expected;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use apiserver_fake::schema::CrdSchema;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_secretsmanager::primitives::Blob;
use expected::{expectations, remotes};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use support::cluster::{TestCluster, test_policy};
use support::moto::moto;
use support::objects::*;

/// The Secret holding the static keys of the corpus's stores, as ESO's snippets name it.
const CREDENTIALS: &str = "awssm-secret";
/// Where the ClusterSecretStores of the corpus read their credentials.
const SHARED_NS: &str = "eso-docs-shared";

fn corpus_dir() -> PathBuf {
    support::workspace_root().join("tests/fixtures/eso/docs")
}

/// Every example file, by stem.
fn corpus() -> BTreeMap<String, Vec<Value>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
        out.insert(stem, documents(&path));
    }
    out
}

/// The documents of a file, ESO's with only `apiVersion` changed.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| {
            let mut doc: Value = serde::Deserialize::deserialize(d).unwrap();
            if doc["apiVersion"] == "external-secrets.io/v1" {
                doc["apiVersion"] = json!("stagesync.io/v1alpha1");
            } else {
                assert_eq!(
                    doc["apiVersion"],
                    "v1",
                    "{}: only ESO v1 and core objects",
                    path.display()
                );
            }
            doc
        })
        .collect()
}

fn is_stagesync(doc: &Value) -> bool {
    doc["apiVersion"] == "stagesync.io/v1alpha1"
}

// ---------------------------------------------------------------------------------------------
// What each example needs in AWS.

/// A file of `src/render/template/testdata/` (certificates, keys, PKCS#12 archives).
pub(crate) fn testdata(name: &str) -> Vec<u8> {
    std::fs::read(
        support::workspace_root()
            .join("src/render/template/testdata")
            .join(name),
    )
    .unwrap()
}

pub(crate) fn testdata_text(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| String::from_utf8(testdata(n)).unwrap())
        .collect()
}

/// An AWS secret an example reads.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Remote {
    pub(crate) region: &'static str,
    pub(crate) name: &'static str,
    pub(crate) value: Vec<u8>,
    pub(crate) binary: bool,
    pub(crate) tags: Vec<(&'static str, &'static str)>,
    /// Values written before `value`, oldest first (the last becomes AWSPREVIOUS).
    pub(crate) earlier: Vec<&'static str>,
    /// The version id of the first version written.
    pub(crate) first_version_id: Option<&'static str>,
    /// A role whose account holds the secret (moto's default account when `None`).
    pub(crate) account_role: Option<&'static str>,
}

const REGION: &str = "eu-central-1";

pub(crate) fn text(name: &'static str, value: &str) -> Remote {
    Remote {
        region: REGION,
        name,
        value: value.as_bytes().to_vec(),
        binary: false,
        tags: Vec::new(),
        earlier: Vec::new(),
        first_version_id: None,
        account_role: None,
    }
}

pub(crate) fn binary(name: &'static str, value: Vec<u8>) -> Remote {
    Remote {
        binary: true,
        value,
        ..text(name, "")
    }
}

impl Remote {
    pub(crate) fn in_region(mut self, region: &'static str) -> Self {
        self.region = region;
        self
    }
    pub(crate) fn tagged(mut self, tags: &[(&'static str, &'static str)]) -> Self {
        self.tags = tags.to_vec();
        self
    }
}

/// A Secrets Manager client of moto in `region` with static keys, or with the credentials of
/// `role` (assumed through moto's STS) to write into that role's account.
async fn aws_client(region: &'static str, role: Option<&str>) -> aws_sdk_secretsmanager::Client {
    let endpoint = &moto().endpoint;
    let mut credentials = Credentials::new("testing", "testing", None, None, "tests");
    if let Some(role) = role {
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(region))
                .credentials_provider(credentials.clone())
                .endpoint_url(endpoint)
                .build(),
        );
        let c = sts
            .assume_role()
            .role_arn(role)
            .role_session_name("eso-docs-setup")
            .send()
            .await
            .unwrap()
            .credentials
            .unwrap();
        credentials = Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            None,
            "assumed",
        );
    }
    aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(credentials)
            .endpoint_url(endpoint)
            .build(),
    )
}

async fn create_remote(r: &Remote) {
    let aws = aws_client(r.region, r.account_role).await;
    let mut create = aws.create_secret().name(r.name);
    let first = r.earlier.first().map(|v| v.as_bytes().to_vec());
    create = match (&first, r.binary) {
        (Some(v), _) => create.secret_string(String::from_utf8(v.clone()).unwrap()),
        (None, true) => create.secret_binary(Blob::new(r.value.clone())),
        (None, false) => create.secret_string(String::from_utf8(r.value.clone()).unwrap()),
    };
    if let Some(id) = r.first_version_id {
        create = create.client_request_token(id);
    }
    for (k, v) in &r.tags {
        create = create.tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key(*k)
                .value(*v)
                .build(),
        );
    }
    create
        .send()
        .await
        .unwrap_or_else(|e| panic!("create {}: {e:?}", r.name));
    if first.is_none() {
        return;
    }
    let later = r.earlier[1..]
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .chain([r.value.clone()]);
    for value in later {
        aws.put_secret_value()
            .secret_id(r.name)
            .secret_string(String::from_utf8(value).unwrap())
            .send()
            .await
            .unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// What each example must give.

/// An expected value of a Secret key.
pub(crate) enum Want {
    Text(String),
    /// Lines `user:hash` in user order, each hash a bcrypt of that user's password.
    Htpasswd(Vec<(&'static str, &'static str)>),
}

pub(crate) fn t(s: &str) -> Want {
    Want::Text(s.to_owned())
}

/// An expected annotation value.
pub(crate) enum Note {
    Exact(&'static str),
    /// A four-digit year (`now | date "2006"`).
    Year,
}

pub(crate) enum Outcome {
    Synced {
        secret: &'static str,
        data: Vec<(&'static str, Want)>,
        type_: Option<&'static str>,
        labels: Vec<(&'static str, &'static str)>,
        annotations: Vec<(&'static str, Note)>,
    },
    Refused {
        reason: &'static str,
        message: &'static str,
        secret: &'static str,
    },
}

pub(crate) fn synced(secret: &'static str, data: Vec<(&'static str, Want)>) -> Outcome {
    Outcome::Synced {
        secret,
        data,
        type_: None,
        labels: Vec::new(),
        annotations: Vec::new(),
    }
}

/// A synced outcome whose Secret has this `type`.
pub(crate) fn typed(
    type_: &'static str,
    secret: &'static str,
    data: Vec<(&'static str, Want)>,
) -> Outcome {
    Outcome::Synced {
        secret,
        data,
        type_: Some(type_),
        labels: Vec::new(),
        annotations: Vec::new(),
    }
}

/// Why a value differs from what is wanted, if it does.
fn value_mismatch(key: &str, value: &[u8], want: &Want) -> Option<String> {
    match want {
        Want::Text(text) if value != text.as_bytes() => Some(format!(
            "{key} = {:?}, want {text:?}",
            String::from_utf8_lossy(value)
        )),
        Want::Text(_) => None,
        Want::Htpasswd(users) => {
            let text = String::from_utf8_lossy(value);
            let lines: Vec<&str> = text.split('\n').collect();
            if lines.len() != users.len() {
                return Some(format!("{key}: {} lines", lines.len()));
            }
            for (line, (user, password)) in lines.iter().zip(users) {
                let (name, hash) = line.split_once(':').unwrap_or((line, ""));
                if name != *user || !hash.starts_with("$2a$10$") {
                    return Some(format!("{key}: line for {name:?}, want {user:?}"));
                }
                if !bcrypt::verify(password, hash).unwrap_or(false) {
                    return Some(format!("{key}: {user}'s hash does not verify"));
                }
            }
            None
        }
    }
}

/// Why a Secret is not (yet) what the example documents, or `None` when it is.
fn mismatch(secret: &Secret, outcome: &Outcome) -> Option<String> {
    let Outcome::Synced {
        data,
        type_,
        labels,
        annotations,
        ..
    } = outcome
    else {
        return Some("a refused example has a Secret".into());
    };
    let got: BTreeMap<&str, &[u8]> = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.0.as_slice()))
        .collect();
    let want_keys: BTreeSet<&str> = data.iter().map(|(k, _)| *k).collect();
    let got_keys: BTreeSet<&str> = got.keys().copied().collect();
    if want_keys != got_keys {
        return Some(format!("keys {got_keys:?}, want {want_keys:?}"));
    }
    if let Some(why) = data
        .iter()
        .find_map(|(key, want)| value_mismatch(key, got[key], want))
    {
        return Some(why);
    }
    if let Some(type_) = type_
        && secret.type_.as_deref() != Some(*type_)
    {
        return Some(format!("type {:?}, want {type_}", secret.type_));
    }
    let meta =
        |m: &Option<BTreeMap<String, String>>, k: &str| m.as_ref().and_then(|m| m.get(k)).cloned();
    for (k, v) in labels {
        if meta(&secret.metadata.labels, k).as_deref() != Some(*v) {
            return Some(format!("label {k}: {:?}", secret.metadata.labels));
        }
    }
    for (k, note) in annotations {
        let got = meta(&secret.metadata.annotations, k);
        let ok = match note {
            Note::Exact(v) => got.as_deref() == Some(*v),
            Note::Year => got.is_some_and(|y| y.len() == 4 && y.starts_with("20")),
        };
        if !ok {
            return Some(format!("annotation {k}: {:?}", secret.metadata.annotations));
        }
    }
    None
}

/// Waits for one example's outcome; `Err` says what differs.
async fn await_outcome(
    client: &kube::Client,
    ns: &str,
    es: &str,
    outcome: &Outcome,
) -> Result<(), String> {
    let secrets = Api::<Secret>::namespaced(client.clone(), ns);
    let deadline = tokio::time::Instant::now() + WAIT * 2;
    let mut last = String::from("nothing yet");
    while tokio::time::Instant::now() < deadline {
        match outcome {
            Outcome::Synced { secret, .. } => match secrets.get_opt(secret).await {
                Ok(Some(s)) => match mismatch(&s, outcome) {
                    None => return Ok(()),
                    Some(why) => last = why,
                },
                _ => {
                    last = format!(
                        "no Secret {secret}; Ready: {:?}",
                        ready(client, ns, es).await
                    )
                }
            },
            Outcome::Refused {
                reason,
                message,
                secret,
            } => match ready(client, ns, es).await {
                Some((status, r, m)) if r == *reason => {
                    if status != "False" || !m.contains(message) {
                        return Err(format!("{status} {r}: {m}"));
                    }
                    if secrets.get_opt(secret).await.ok().flatten().is_some() {
                        return Err(format!("Secret {secret} written"));
                    }
                    return Ok(());
                }
                other => last = format!("Ready: {other:?}"),
            },
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    Err(last)
}

// ---------------------------------------------------------------------------------------------
// Applying the corpus.

fn api_resource(doc: &Value) -> (ApiResource, bool) {
    let api_version = doc["apiVersion"].as_str().unwrap();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let kind = doc["kind"].as_str().unwrap();
    let (plural, namespaced) = match kind {
        "ExternalSecret" => ("externalsecrets", true),
        "SecretStore" => ("secretstores", true),
        "ClusterSecretStore" => ("clustersecretstores", false),
        "ConfigMap" => ("configmaps", true),
        "Secret" => ("secrets", true),
        "ServiceAccount" => ("serviceaccounts", true),
        other => panic!("no such kind in the corpus: {other}"),
    };
    (
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural),
        namespaced,
    )
}

/// Applies a document as a user's `kubectl apply --server-side` would, in `ns` if namespaced.
async fn apply(client: &kube::Client, ns: &str, doc: &Value) {
    let (ar, namespaced) = api_resource(doc);
    let api: Api<DynamicObject> = if namespaced {
        Api::namespaced_with(client.clone(), ns, &ar)
    } else {
        Api::all_with(client.clone(), &ar)
    };
    let name = doc["metadata"]["name"].as_str().unwrap();
    api.patch(
        name,
        &PatchParams::apply("eso-docs").force(),
        &Patch::Apply(doc),
    )
    .await
    .unwrap_or_else(|e| panic!("apply {} {name}: {e}", doc["kind"]));
}

/// A namespace of exactly this name (created unless it exists).
async fn ensure_namespace(client: &kube::Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    match Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(e) => panic!("namespace {name}: {e}"),
    }
}

async fn credentials(client: &kube::Client, ns: &str) {
    let mut secret = serde_json::to_value(plain_secret(
        ns,
        CREDENTIALS,
        json!({"access-key": "testing", "secret-access-key": "testing", "session-token": "testing"}),
    ))
    .unwrap();
    secret["apiVersion"] = json!("v1");
    secret["kind"] = json!("Secret");
    apply(client, ns, &secret).await;
}

fn schemas() -> BTreeMap<String, CrdSchema> {
    stagesync::api::open_api_schemas()
        .into_iter()
        .map(|(kind, _, schema)| (kind, CrdSchema::new(&schema).unwrap()))
        .collect()
}

#[test]
fn every_documented_example_is_admitted_unchanged_and_has_an_expectation() {
    let schemas = schemas();
    let corpus = corpus();
    assert!(corpus.len() >= 40, "{} files", corpus.len());
    let expected: BTreeSet<(&str, &str)> = expectations()
        .iter()
        .map(|(file, es, _)| (*file, *es))
        .collect();
    let mut found = BTreeSet::new();
    for (file, docs) in &corpus {
        for doc in docs.iter().filter(|d| is_stagesync(d)) {
            let kind = doc["kind"].as_str().unwrap();
            if let Err(errors) = support::admission::admit_with(&schemas[kind], doc) {
                panic!(
                    "{file}: {kind} {} refused: {errors:#?}",
                    doc["metadata"]["name"]
                );
            }
            if kind == "ExternalSecret" {
                found.insert((file.as_str(), doc["metadata"]["name"].as_str().unwrap()));
            }
        }
    }
    // Each ExternalSecret of the corpus is checked, and each check has its ExternalSecret.
    assert_eq!(found, expected);
}

#[tokio::test]
async fn each_documented_example_gives_the_documented_secret() {
    // The manifests name no endpoint, as ESO's documentation does: the SDK's own variables point
    // every Secrets Manager client at moto and give the operator an identity of its own (the
    // stores without `auth`: pod identity in ESO's documentation).
    // SAFETY: this binary's other test reads no variable, and no client is built yet.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL_SECRETS_MANAGER", &moto().endpoint);
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    }
    let mut created: Vec<Remote> = Vec::new();
    for r in remotes() {
        assert!(
            !created
                .iter()
                .any(|s| s.region == r.region && s.name == r.name),
            "{} twice",
            r.name
        );
        create_remote(&r).await;
        created.push(r);
    }

    // auth.jwt needs the chart's jwtAuth rules.
    let rbac = support::chart::operator_rbac_for(&[("jwtAuth.enabled", "true")]);
    let cluster = TestCluster::start_with_rbac(Some(rbac)).await;
    let client = &cluster.client;
    let corpus = corpus();
    ensure_namespace(client, SHARED_NS).await;
    credentials(client, SHARED_NS).await;
    let mut namespaces = BTreeMap::new();
    for file in corpus.keys() {
        let ns = cluster.namespace(&format!("docs-{file}")).await;
        credentials(client, &ns).await;
        namespaces.insert(file.clone(), ns);
    }
    let mut policy = test_policy(&moto().endpoint);
    // ESO's pod-identity examples: a namespaced store without auth uses the operator's identity
    // (refused by default in stagesync, see the README's tenancy rules).
    policy.allow_ambient_credentials_in_namespaced_stores = true;
    let _operator = cluster.run_operator_with(
        policy,
        stagesync::controller::ControllerConfig {
            namespaces: namespaces
                .values()
                .cloned()
                .chain([SHARED_NS.to_owned()])
                .collect(),
            backoff_base: std::time::Duration::from_millis(200),
            backoff_cap: std::time::Duration::from_secs(2),
            ..Default::default()
        },
    );
    for (file, docs) in &corpus {
        for doc in docs {
            apply(client, &namespaces[file], doc).await;
        }
    }

    let expectations = expectations();
    let results = futures::future::join_all(expectations.iter().map(|(file, es, outcome)| {
        let ns = &namespaces[*file];
        async move {
            await_outcome(client, ns, es, outcome)
                .await
                .map_err(|why| format!("{file} {es}: {why}"))
        }
    }))
    .await;
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(
        failures.is_empty(),
        "{} of {} examples differ from ESO's documentation:\n{}",
        failures.len(),
        expectations.len(),
        failures.join("\n")
    );
    let synced = expectations
        .iter()
        .filter(|(_, _, o)| matches!(o, Outcome::Synced { .. }))
        .count();
    assert!(synced >= 35, "{synced} synced examples");

    // The PushSecret-only settings are accepted and said to have no effect.
    let ns = &namespaces["aws-push-settings"];
    let events = typed_events_about(client, ns, "aws-secretsmanager").await;
    assert!(
        events
            .iter()
            .any(|(_, reason, note)| reason == "NoEffect" && note.contains("secretsManager")),
        "{events:?}"
    );
}
